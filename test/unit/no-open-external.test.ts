/**
 * shell.openExternal (and shell.openPath) hand a string to the operating system's "open": a URL
 * handler, or an executable. Socket Workbench shows bytes from peers on the network, so it uses
 * neither; the project's ESLint config refuses them in every spelling, and `npm test` lints.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({ cwd: root });
});

async function restricted(code: string, file = 'src/main/probe.ts'): Promise<number> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-syntax').length;
}

describe('the ESLint rule against shell.openExternal', () => {
  it.each([
    ['a direct call', `import { shell } from 'electron';\nvoid shell.openExternal(String(1));\n`],
    ['through the module', `import * as e from 'electron';\nvoid e.shell.openExternal('x');\n`],
    ['a computed name', `import { shell } from 'electron';\nvoid shell['openExternal']('x');\n`],
    [
      'a destructured name',
      `import { shell } from 'electron';\nconst { openExternal } = shell;\nvoid openExternal('x');\n`,
    ],
    ['shell.openPath', `import { shell } from 'electron';\nvoid shell.openPath('/tmp/x');\n`],
  ])('reports %s', async (_how, code) => {
    expect(await restricted(code)).toBeGreaterThan(0);
  });

  it('applies in the renderer and the preload too', async () => {
    const code = `declare const shell: { openExternal(u: string): void };\nshell.openExternal('x');\n`;
    expect(await restricted(code, 'src/renderer/src/lib/probe.ts')).toBeGreaterThan(0);
    expect(await restricted(code, 'src/preload/probe.ts')).toBeGreaterThan(0);
  });

  it('leaves other shell calls alone', async () => {
    const code = `import { shell } from 'electron';\nshell.showItemInFolder('/tmp/x');\n`;
    expect(await restricted(code)).toBe(0);
  });
});

describe('src/', () => {
  it('never mentions openExternal or openPath', () => {
    const files = readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && /\.(ts|svelte|js|html)$/.test(entry.name))
      .map((entry) => join(entry.parentPath, entry.name));
    expect(files.length).toBeGreaterThan(10);
    const offenders = files.filter((file) =>
      /\bopen(External|Path)\b/.test(readFileSync(file, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });
});
