/**
 * The packaged app's renderer is served from app://workbench/ (index.ts, serveRenderer) rather
 * than file://, because the GrantFileProtocolExtraPrivileges fuse is off. appAsset decides which
 * file a request may read: only files under the built renderer directory, with a Content-Type a
 * module script is accepted with.
 */
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appAsset, isAppUrl, APP_PAGE_URL } from '../../src/main/security';

const root = resolve('/opt/socket-workbench/resources/app.asar/out/renderer');

describe('appAsset', () => {
  it('serves the page and its assets with their types', () => {
    expect(appAsset(root, APP_PAGE_URL)).toEqual({
      file: join(root, 'index.html'),
      contentType: 'text/html; charset=utf-8',
    });
    expect(appAsset(root, 'app://workbench/')).toMatchObject({ file: join(root, 'index.html') });
    expect(appAsset(root, 'app://workbench/assets/index-Cp_GkET0.js?v=1#x')).toEqual({
      file: join(root, 'assets', 'index-Cp_GkET0.js'),
      contentType: 'text/javascript; charset=utf-8',
    });
    expect(appAsset(root, 'app://workbench/assets/index.css')?.contentType).toBe(
      'text/css; charset=utf-8',
    );
    expect(appAsset(root, 'app://workbench/assets/font.woff2')?.contentType).toBe('font/woff2');
    expect(appAsset(root, 'app://workbench/assets/blob.bin')?.contentType).toBe(
      'application/octet-stream',
    );
    expect(appAsset(root, 'app://workbench/my%20file.js')?.file).toBe(join(root, 'my file.js'));
  });

  it.each([
    'app://workbench/../../../../etc/passwd',
    'app://workbench/%2e%2e/%2e%2e/etc/passwd',
    'app://workbench/assets/..%2f..%2f..%2fetc%2fpasswd',
    'app://workbench/..%5c..%5cwindows',
    'app://workbench/assets%2f..%2f..%2fsecret',
    'app://workbench/%00index.html',
    'app://workbench/c:%5cwindows',
    'app://workbench/assets//index.js',
    'app://workbench/%zz',
  ])('never names a file outside the renderer directory: %s', (url) => {
    const asset = appAsset(root, url);
    // The URL parser folds a literal `..` away before appAsset sees it, so that request names
    // renderer/etc/passwd (which does not exist); encoded separators are refused outright.
    if (asset !== null) expect(asset.file.startsWith(`${root}/`), asset.file).toBe(true);
  });

  it('refuses encoded separators, NUL and drive letters rather than guessing', () => {
    for (const url of [
      'app://workbench/assets/..%2f..%2f..%2fetc%2fpasswd',
      'app://workbench/..%5c..%5cwindows',
      'app://workbench/%00index.html',
      'app://workbench/c:%5cwindows',
      'app://workbench/assets//index.js',
      'app://workbench/%zz',
    ]) {
      expect(appAsset(root, url), url).toBeNull();
    }
  });

  it('refuses another scheme or host', () => {
    for (const url of [
      'file:///opt/socket-workbench/resources/app.asar/out/renderer/index.html',
      'app://evil/index.html',
      'https://workbench/index.html',
      'not a url',
    ]) {
      expect(appAsset(root, url), url).toBeNull();
    }
  });
});

describe('isAppUrl for app://', () => {
  it('accepts the page only, as navigation target', () => {
    expect(isAppUrl('app://workbench/index.html#/x', APP_PAGE_URL)).toBe(true);
    expect(isAppUrl('app://workbench/other.html', APP_PAGE_URL)).toBe(false);
    expect(isAppUrl('app://evil/index.html', APP_PAGE_URL)).toBe(false);
    expect(isAppUrl('https://evil.example/', APP_PAGE_URL)).toBe(false);
  });
});
