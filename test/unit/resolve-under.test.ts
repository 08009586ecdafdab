/**
 * resolveUnder maps a URL path to a file under one folder: browser mode's static files
 * (serve/static-files.ts) and the packaged app's app:// protocol (appAsset) both read through
 * it, so a path that could leave the folder is refused the same way in both.
 */
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveUnder } from '../../src/main/security';

const root = resolve('/srv/workbench/renderer');

describe('resolveUnder', () => {
  it('names files under the root, index.html for a folder', () => {
    expect(resolveUnder(root, '/')).toBe(join(root, 'index.html'));
    expect(resolveUnder(root, '')).toBe(join(root, 'index.html'));
    expect(resolveUnder(root, '/index.html')).toBe(join(root, 'index.html'));
    expect(resolveUnder(root, '/assets/')).toBe(join(root, 'assets', 'index.html'));
    expect(resolveUnder(root, '/assets/index-Cp_GkET0.js')).toBe(
      join(root, 'assets', 'index-Cp_GkET0.js'),
    );
    expect(resolveUnder(root, '/my%20file.js')).toBe(join(root, 'my file.js'));
    // A dot inside a name is only a name.
    expect(resolveUnder(root, '/..hidden/a..b')).toBe(join(root, '..hidden', 'a..b'));
  });

  it('accepts a root given with a trailing separator or relative parts', () => {
    expect(resolveUnder(`${root}/`, '/a.js')).toBe(join(root, 'a.js'));
    expect(resolveUnder(join(root, 'assets', '..'), '/a.js')).toBe(join(root, 'a.js'));
  });

  it.each([
    '/../etc/passwd',
    '/assets/../../etc/passwd',
    '/./index.html',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/%2E%2E/secret',
    '/assets/..%2f..%2fsecret',
    '/assets%2f..%2f..%2fsecret',
    '/..%5c..%5cwindows',
    '/%00index.html',
    '/c:%5cwindows',
    '/c:',
    '/assets//index.js',
    '//etc/passwd',
    '/%zz',
  ])('refuses %s', (path) => {
    expect(resolveUnder(root, path)).toBeNull();
  });
});
