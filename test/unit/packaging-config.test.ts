/**
 * The packaging config (electron-builder.yml) against what the app loads at runtime: the files it
 * ships cover every entry electron-vite builds and package.json's "main", and every icon it names
 * exists (packaging-fuses.test.ts pins the fuses and asar; packaging-script.test.ts packs a real
 * app.asar with electron-builder and reads it back).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import viteConfig from '../../electron.vite.config';

const root = new URL('../../', import.meta.url).pathname;
const config = parse(readFileSync(join(root, 'electron-builder.yml'), 'utf8')) as {
  files?: string[];
  directories?: { output?: string; buildResources?: string };
  extraMetadata?: { main?: string };
  [key: string]: unknown;
};
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { main: string };
const buildResources = config.directories?.buildResources ?? 'build';

/** A glob in electron-builder's `files` syntax (minimatch: *, **, ?, {a,b}) as a RegExp. */
function globToRegExp(glob: string): RegExp {
  let source = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        source += '(?:.*/)?';
      } else {
        source += '.*';
      }
    } else if (c === '*') {
      source += '[^/]*';
    } else if (c === '?') {
      source += '[^/]';
    } else if (c === '{') {
      braces++;
      source += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      source += ')';
    } else if (c === ',' && braces > 0) {
      source += '|';
    } else {
      source += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/** Whether a file (relative to the project) is packed, by the config's `files` patterns. */
function shipped(file: string, patterns: string[]): boolean {
  const matches = (pattern: string): boolean =>
    globToRegExp(pattern).test(file) ||
    // A plain folder name takes everything under it.
    (!/[*?{]/.test(pattern) && file.startsWith(`${pattern.replace(/\/$/, '')}/`));
  const included = patterns.filter((p) => !p.startsWith('!')).some(matches);
  const excluded = patterns.filter((p) => p.startsWith('!')).some((p) => matches(p.slice(1)));
  return included && !excluded;
}

type Entries = Record<string, string> | string[] | string;
type Side = {
  root?: string;
  build?: {
    outDir?: string;
    rolldownOptions?: { input?: Entries; output?: { entryFileNames?: string } };
  };
};
const sides = viteConfig as unknown as { main: Side; preload: Side; renderer: Side };

/** The entry names of one side of electron.vite.config.ts (the keys of its `input`). */
function entries(side: Side): Array<[string, string]> {
  const input = side.build?.rolldownOptions?.input ?? {};
  if (typeof input === 'string') return [[posix.parse(input).name, input]];
  if (Array.isArray(input)) return input.map((file) => [posix.parse(file).name, file]);
  return Object.entries(input);
}

/** What electron-vite writes and the app loads: each entry's output file, relative to root. */
function runtimeFiles(): string[] {
  const files: string[] = [];
  for (const name of ['main', 'preload'] as const) {
    const side = sides[name];
    const outDir = side.build?.outDir ?? `out/${name}`;
    const pattern = side.build?.rolldownOptions?.output?.entryFileNames ?? '[name].js';
    for (const [entry] of entries(side))
      files.push(`${outDir}/${pattern.replace('[name]', entry)}`);
  }
  const renderer = sides.renderer;
  const rendererOut = renderer.build?.outDir ?? 'out/renderer';
  for (const [, html] of entries(renderer)) {
    const page = renderer.root ? posix.relative(renderer.root, html) : posix.basename(html);
    files.push(`${rendererOut}/${page}`, `${rendererOut}/assets/index-0000.js`);
  }
  return files;
}

function iconPaths(node: unknown, at = ''): Array<[string, string]> {
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]): Array<[string, string]> => {
    const where = at ? `${at}.${key}` : key;
    if (/icon$/i.test(key) && typeof value === 'string') return [[where, value]];
    return iconPaths(value, where);
  });
}

/** electron-builder resolves an icon in buildResources first, then in the project. */
function resolveIcon(path: string): string | null {
  for (const candidate of [join(root, buildResources, path), join(root, path)]) {
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** Width and height of a PNG, from its IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const head = readFileSync(file).subarray(0, 24);
  expect(head.subarray(1, 4).toString('latin1'), `${file} is a PNG`).toBe('PNG');
  return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
}

describe('electron-builder.yml files', () => {
  const patterns = config.files ?? [];

  it('reads the entries from electron.vite.config.ts (so this test follows the build)', () => {
    const files = runtimeFiles();
    expect(files).toContain('out/main/index.js');
    expect(files).toContain('out/preload/index.cjs');
    expect(files).toContain('out/renderer/index.html');
    // package.json's "main" is one of the built main entries, and packaging does not move it.
    expect(files).toContain(pkg.main);
    expect(config.extraMetadata?.main ?? pkg.main).toBe(pkg.main);
  });

  it('ships every file the app loads at runtime, and package.json', () => {
    expect(patterns.length).toBeGreaterThan(0);
    for (const file of [...runtimeFiles(), 'package.json']) {
      expect(shipped(file, patterns), `${file} is packed`).toBe(true);
    }
  });

  it('reads patterns as electron-builder does (checked on patterns that must fail)', () => {
    expect(shipped('out/preload/index.cjs', ['out/main/**', 'package.json'])).toBe(false);
    expect(shipped('out/renderer/index.html', ['out/**', '!out/renderer/**'])).toBe(false);
    expect(shipped('out/renderer/assets/a.js', ['out/{main,renderer}/**'])).toBe(true);
    expect(shipped('out/main/index.js', ['out'])).toBe(true);
    expect(shipped('outside/main/index.js', ['out/**'])).toBe(false);
  });

  it('ships no sources, tests, build resources or earlier packages', () => {
    for (const file of [
      'src/main/index.ts',
      'test/unit/packaging-config.test.ts',
      'electron-builder.yml',
      `${config.directories?.output ?? 'dist'}/linux-unpacked/resources/app.asar`,
    ]) {
      expect(shipped(file, patterns), `${file} is not packed`).toBe(false);
    }
    // electron-builder leaves buildResources out of the app whatever `files` says: nothing the
    // app loads may live there.
    for (const file of runtimeFiles()) expect(file.startsWith(`${buildResources}/`)).toBe(false);
  });
});

describe('electron-builder.yml icons', () => {
  const named = iconPaths(config);

  it('names only icons that exist', () => {
    for (const [key, path] of named) {
      expect(resolveIcon(path), `${key}: ${path} (in ${buildResources}/ or the project)`).not.toBe(
        null,
      );
    }
  });

  it('has an app icon: named in the config, or icon.* in buildResources where electron-builder looks', () => {
    const defaults = ['icon.png', 'icon.icns', 'icon.ico', 'icon.svg', 'icons']
      .map((name) => join(root, buildResources, name))
      .filter((path) => existsSync(path));
    expect(
      named.length + defaults.length,
      `no icon: name one with icon: in electron-builder.yml, or add ${buildResources}/icon.png`,
    ).toBeGreaterThan(0);
  });

  it('gives macOS a PNG of at least 512x512 wherever the icon is a PNG', () => {
    const pngs = [
      ...named.map(([, path]) => resolveIcon(path)),
      join(root, buildResources, 'icon.png'),
    ].filter((file): file is string => !!file && file.endsWith('.png') && existsSync(file));
    for (const file of pngs) {
      if (!statSync(file).isFile()) continue;
      const { width, height } = pngSize(file);
      expect(Math.min(width, height), `${file} is ${width}x${height}`).toBeGreaterThanOrEqual(512);
    }
  });
});
