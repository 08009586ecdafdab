/**
 * `npm run package` (scripts/package.js) for real, in a copy of the project, without the
 * internet: every download address electron-builder and @electron/get use points at a closed
 * loopback port. Where Electron cannot be downloaded it says so in one sentence; given an
 * Electron dist (here a placeholder with a fuse wire, since the real binary is not available),
 * electron-builder packs app.asar and flips the fuses on the copy it ships.
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { join, relative } from 'node:path';
import { FuseState, FuseV1Options, getCurrentFuseWire } from '@electron/fuses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { tempDir } from '../support/peers';
// @ts-expect-error -- plain JS module run by `npm run package`; it has no type declarations.
import { targetsOnlyThisMachine } from '../../scripts/package.js';

const root = new URL('../../', import.meta.url).pathname;
const electronVersion = (
  JSON.parse(readFileSync(join(root, 'node_modules/electron/package.json'), 'utf8')) as {
    version: string;
  }
).version;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const config = parse(readFileSync(join(root, 'electron-builder.yml'), 'utf8')) as {
  electronFuses: Record<string, boolean>;
};

/** Left out of the project copy: outputs, caches and what the build does not read. */
const notCopied = new Set([
  'node_modules',
  'out',
  'dist',
  '.git',
  'test',
  'bench',
  'docs',
  'test-results',
  'playwright-report',
  '.scratch',
  '.captures',
]);

let work: string;
let project: string;
let closedPort: number;

function freePortThenClose(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The environment for a run: no proxy, no user mirror, every download address closed. */
function offlineEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/proxy|^npm_(package_)?config_electron|^electron_|^debug$/i.test(key)) continue;
    env[key] = value;
  }
  const closed = `http://127.0.0.1:${closedPort}/`;
  return {
    ...env,
    ELECTRON_MIRROR: closed,
    ELECTRON_BUILDER_BINARIES_MIRROR: closed,
    ELECTRON_BUILDER_BINARIES_ALLOW_HTTP: 'true',
    ELECTRON_BUILDER_CACHE: join(work, 'cache/builder'),
    electron_config_cache: join(work, 'cache/electron'),
    XDG_CACHE_HOME: join(work, 'cache/xdg'),
    // TMPDIR stays the system's: electron-builder refuses to pack files whose real path is
    // under /tmp unless /tmp is its temporary folder, and CI may clone the project there.
    NO_UPDATE_NOTIFIER: '1',
    ...extra,
  };
}

function runPackage(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/package.js', ...args], {
      cwd: project,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output, stderr }));
  });
}

function expectNoStackTrace(output: string): void {
  expect(output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(output).not.toMatch(/stackTrace=/);
}

/** An asar archive: an 8-byte size pickle, then a pickle holding the JSON header. */
function writeAsar(file: string, header: object): void {
  const json = Buffer.from(JSON.stringify(header));
  const headerPickle = Buffer.alloc(8 + Math.ceil(json.length / 4) * 4);
  headerPickle.writeUInt32LE(headerPickle.length - 4, 0);
  headerPickle.writeUInt32LE(json.length, 4);
  json.copy(headerPickle, 8);
  const sizePickle = Buffer.alloc(8);
  sizePickle.writeUInt32LE(4, 0);
  sizePickle.writeUInt32LE(headerPickle.length, 4);
  writeFileSync(file, Buffer.concat([sizePickle, headerPickle]));
}

/** Every file path in an asar archive, from its header. */
function asarFiles(file: string): string[] {
  const archive = readFileSync(file);
  const header = JSON.parse(archive.subarray(16, 16 + archive.readUInt32LE(12)).toString()) as {
    files: Record<string, unknown>;
  };
  const found: string[] = [];
  const walk = (node: { files?: Record<string, unknown> }, at: string): void => {
    for (const [name, child] of Object.entries(node.files ?? {})) {
      const path = at ? `${at}/${name}` : name;
      if ((child as { files?: unknown }).files)
        walk(child as { files: Record<string, unknown> }, path);
      else found.push(path);
    }
  };
  walk(header, '');
  return found;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(project, join(entry.parentPath, entry.name)));
}

/** The marker in Electron's binary that the fuse wire follows (@electron/fuses's SENTINEL). */
const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
const camel = (name: string): string => name[0]!.toLowerCase() + name.slice(1);
const fuseNames = Object.keys(FuseV1Options).filter((key) => Number.isNaN(Number(key)));
const fuseIndex = (name: string): number => FuseV1Options[name as keyof typeof FuseV1Options];

/**
 * A stand-in for the Electron executable: a shell script that carries a fuse wire, each fuse set
 * to the opposite of electron-builder.yml (so a skipped fuses step shows), unknown ones enabled.
 */
function placeholderElectron(): Buffer {
  const wire = Buffer.alloc(Math.max(...fuseNames.map(fuseIndex)) + 1, FuseState.ENABLE);
  for (const name of fuseNames) {
    const wanted = config.electronFuses[camel(name)];
    if (wanted !== undefined) wire[fuseIndex(name)] = wanted ? FuseState.DISABLE : FuseState.ENABLE;
  }
  return Buffer.concat([
    Buffer.from('#!/bin/sh\necho "a placeholder, not Electron" >&2\nexit 1\n'),
    Buffer.from(SENTINEL),
    Buffer.from([1, wire.length]),
    wire,
  ]);
}

beforeAll(async () => {
  work = tempDir();
  project = join(work, 'project');
  mkdirSync(project);
  for (const entry of readdirSync(root)) {
    if (notCopied.has(entry) || entry.endsWith('.tsbuildinfo')) continue;
    cpSync(join(root, entry), join(project, entry), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(project, 'node_modules'), 'dir');
  closedPort = await freePortThenClose();
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the Electron npm start downloaded', () => {
  it('is reused only for a package for this machine, never for another platform or arch', () => {
    const other = process.platform === 'win32' ? 'linux' : 'win';
    const otherArch = process.arch === 'arm64' ? 'x64' : 'arm64';
    const check = targetsOnlyThisMachine as (options: Record<string, unknown>) => boolean;
    expect(check({})).toBe(true);
    expect(check({ [process.arch]: true })).toBe(true);
    expect(check({ [other]: [] })).toBe(false);
    expect(check({ [otherArch]: true })).toBe(false);
  });
});

describe('npm run package', () => {
  it('says in one sentence, without a stack trace, that Electron could not be downloaded', async () => {
    // An empty dist/ stands in for the electron package's, so an Electron that `npm start`
    // downloaded on this machine is not reused and the download is really attempted.
    const emptyDist = join(work, 'empty-dist');
    mkdirSync(emptyDist);
    const run = await runPackage(['--dir'], offlineEnv({ ELECTRON_OVERRIDE_DIST_PATH: emptyDist }));

    expect(run.code, run.output).toBe(1);
    expectNoStackTrace(run.output);
    const lines = run.stderr.trimEnd().split('\n');
    const last = lines.at(-1)!;
    const zip = `electron-v${electronVersion}-${process.platform}-${process.arch}.zip`;
    expect(last).toBe(
      `Socket Workbench cannot be packaged: the download of ${zip} from 127.0.0.1:${closedPort} ` +
        'failed: the connection was refused; set ELECTRON_MIRROR to a mirror you can reach, run ' +
        '`npx install-electron` (packaging then reuses that Electron), or pass a folder holding an ' +
        `unpacked Electron ${electronVersion} (or its release zip) with ` +
        '`npm run package -- -c.electronDist=FOLDER`.',
    );
    expect(lines.filter((line) => line.includes('cannot be packaged'))).toHaveLength(1);
  }, 120_000);

  it.runIf(process.platform === 'linux')(
    'packs app.asar from an Electron already downloaded, and flips the fuses on the shipped copy',
    async () => {
      // Laid out like the electron package's dist/ after a download.
      const dist = join(work, 'electron-dist');
      mkdirSync(join(dist, 'resources'), { recursive: true });
      const placeholder = placeholderElectron();
      writeFileSync(join(dist, 'electron'), placeholder, { mode: 0o755 });
      writeAsar(join(dist, 'resources', 'default_app.asar'), { files: {} });
      writeFileSync(join(dist, 'version'), electronVersion);
      writeFileSync(join(dist, 'LICENSE'), 'Electron license');

      const run = await runPackage(['--dir'], offlineEnv({ ELECTRON_OVERRIDE_DIST_PATH: dist }));
      expect(run.code, run.output).toBe(0);
      expectNoStackTrace(run.output);
      expect(run.stderr).toContain(`Packaging with the Electron already in ${dist}.`);

      const app = join(project, 'dist', 'linux-unpacked');
      const packed = asarFiles(join(app, 'resources', 'app.asar'));
      // What the app loads, and everything else the build wrote.
      for (const file of [
        'out/main/index.js',
        'out/preload/index.cjs',
        'out/renderer/index.html',
      ]) {
        expect(packed).toContain(file);
      }
      expect(packed).toEqual(
        expect.arrayContaining([...filesUnder(join(project, 'out')), 'package.json']),
      );
      // The main process's runtime dependencies (externalised by electron-vite), and no dev ones.
      for (const name of Object.keys(pkg.dependencies)) {
        expect(packed).toContain(`node_modules/${name}/package.json`);
      }
      for (const name of Object.keys(pkg.devDependencies)) {
        expect(packed).not.toContain(`node_modules/${name}/package.json`);
      }
      expect(packed.filter((file) => /^(src|test|scripts)\//.test(file))).toEqual([]);

      // The electron package's default app and version file are not shipped.
      expect(readdirSync(join(app, 'resources')).sort()).toEqual(['app.asar']);
      expect(existsSync(join(app, 'version'))).toBe(false);

      // The executable is renamed, and its fuses are electron-builder.yml's.
      const executable = join(app, pkg.name);
      const wire = (await getCurrentFuseWire(executable)) as unknown as Record<string, number>;
      for (const name of fuseNames) {
        const wanted = config.electronFuses[camel(name)];
        const state =
          wanted === undefined ? FuseState.ENABLE : wanted ? FuseState.ENABLE : FuseState.DISABLE;
        expect([name, wire[fuseIndex(name)]]).toEqual([name, state]);
      }
      // Flipped on the copy: the Electron it was given is untouched.
      expect(readFileSync(join(dist, 'electron')).equals(placeholder)).toBe(true);
    },
    120_000,
  );
});
