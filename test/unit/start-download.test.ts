/**
 * `npm start` when the Electron binary has not been downloaded yet: it downloads it (with
 * progress, verified against the electron package's checksums.json, unpacked where the package
 * expects it) and opens the window; when the download fails it says why in one paragraph, within
 * 30 seconds, with how to retry and `npm run serve`, never a stack trace.
 *
 * Each run uses a private copy of the app root: scripts/ copied, an out/ that needs no build, and
 * a node_modules/ whose `electron` is a private copy of the package (package.json and
 * checksums.json) while everything else links to the real node_modules. So the real
 * node_modules/electron is never written to. Downloads come from real local HTTP servers.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  describeDownloadError,
  progressReporter,
  retryAdvice,
  STALL_SECONDS,
  // @ts-expect-error -- plain JS module used by `npm start`; it has no type declarations.
} from '../../scripts/electron-download.js';
import { hasCommand, tempDir } from '../support/peers';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);
const electronPackage = JSON.parse(
  fs.readFileSync(require.resolve('electron/package.json'), 'utf8'),
) as { version: string };
const version = electronPackage.version;
const zipName = `electron-v${version}-${process.platform}-${process.arch}.zip`;
const zipPath = `/v${version}/${zipName}`;

/** Registers a clean-up for the running test (they run concurrently, so none is shared). */
type Defer = (cleanup: () => void | Promise<void>) => void;

/** A private app root whose node_modules/electron has no binary yet. */
function privateRoot(
  defer: Defer,
  checksums?: Record<string, string>,
): { root: string; electronDir: string } {
  const root = tempDir();
  defer(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.writeFileSync(path.join(root, 'package.json'), '{ "type": "module" }\n');
  fs.mkdirSync(path.join(root, 'scripts'));
  for (const file of ['start.js', 'serve.js', 'electron-download.js']) {
    fs.copyFileSync(path.join(repo, 'scripts', file), path.join(root, 'scripts', file));
  }
  const modules = path.join(root, 'node_modules');
  fs.mkdirSync(modules);
  for (const entry of fs.readdirSync(path.join(repo, 'node_modules'))) {
    if (entry === 'electron' || entry.startsWith('.')) continue;
    fs.symlinkSync(path.join(repo, 'node_modules', entry), path.join(modules, entry));
  }
  const electronDir = path.join(modules, 'electron');
  fs.mkdirSync(electronDir);
  const realElectron = path.dirname(require.resolve('electron/package.json'));
  fs.copyFileSync(path.join(realElectron, 'package.json'), path.join(electronDir, 'package.json'));
  fs.writeFileSync(
    path.join(electronDir, 'checksums.json'),
    checksums
      ? JSON.stringify(checksums)
      : fs.readFileSync(path.join(realElectron, 'checksums.json')),
  );
  // A complete, up-to-date build, so `npm start` has nothing to build here.
  const later = new Date(Date.now() + 60_000);
  for (const file of [
    'out/main/index.js',
    'out/main/serve.js',
    'out/main/capture.js',
    'out/preload/index.cjs',
    'out/renderer/index.html',
  ]) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), '');
    fs.utimesSync(path.join(root, file), later, later);
  }
  return { root, electronDir };
}

/** The environment of a user's shell, minus anything that would steer Electron's download. */
function userEnv(root: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(electron_|npm_config_electron|npm_package_config_electron|force_no_cache)/i.test(key))
      continue;
    if (/^(https?_proxy|no_proxy|node_use_env_proxy|wayland_display)$/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, DISPLAY: ':99', electron_config_cache: path.join(root, 'cache'), ...extra };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runStart(root: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<Run> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(root, 'scripts', 'start.js'), ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  return new Promise((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

async function listen(defer: Defer, server: http.Server | net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(
    () =>
      new Promise<void>((resolve) => {
        if (server instanceof http.Server) server.closeAllConnections();
        if (server.listening) server.close(() => resolve());
        else resolve();
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const stackFrame = /^\s+at .*(:\d+:\d+\)?|\(native\))$/m;

/** The one-paragraph fallback, with the reason exactly as given. */
function expectFallback(run: Run, reason: string, mirror: string): void {
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr).not.toMatch(stackFrame);
  expect(run.stderr).not.toMatch(/node:internal|TypeError|\bat async\b/);
  const paragraph = run.stderr.trimEnd().split('\n').at(-1) ?? '';
  expect(paragraph).toBe(
    'Socket Workbench cannot open its desktop window: downloading Electron failed. ' +
      `${reason}. ${retryAdvice({ mirror })} Run \`npm run serve\` to use Socket Workbench in ` +
      'your browser. It is the same workbench, served on 127.0.0.1 with a one-time token in the URL.',
  );
  expect(paragraph).toContain('`npx install-electron`');
  expect(paragraph).toContain(`ELECTRON_MIRROR (now ${mirror})`);
  // The promise to a user: the fallback comes within 30 seconds.
  expect(run.ms).toBeLessThan(30_000);
}

/** A zip like Electron's: an executable `electron` (a shell script), version, electron.d.ts. */
function fakeElectronZip(dir: string): Buffer {
  const file = path.join(dir, zipName);
  const script = [
    'import os, sys, zipfile',
    'with zipfile.ZipFile(sys.argv[1], "w") as z:',
    '    info = zipfile.ZipInfo("electron")',
    '    info.create_system = 3',
    '    info.external_attr = 0o100755 << 16',
    '    z.writestr(info, "#!/bin/sh\\n" +',
    '        "echo \\"fake electron $*\\"\\n" +',
    '        "echo \\"ELECTRON_RUN_AS_NODE=${ELECTRON_RUN_AS_NODE-unset}\\"\\n")',
    `    z.writestr("version", "v${version}")`,
    '    z.writestr("electron.d.ts", "// fake type definitions\\n")',
    // Incompressible padding, so the download arrives in several chunks and shows progress.
    '    z.writestr("LICENSES.chromium.html", os.urandom(1 << 20))',
  ].join('\n');
  const result = spawnSync('python3', ['-c', script, file]);
  expect(result.stderr.toString()).toBe('');
  return fs.readFileSync(file);
}

/** Serves `body` at Electron's release path in eight pieces; counts the requests. */
function zipServer(body: Buffer): { server: http.Server; requests: string[] } {
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    requests.push(request.url ?? '');
    if (request.url !== zipPath) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-length': body.length });
    const piece = Math.ceil(body.length / 8);
    let offset = 0;
    const next = (): void => {
      if (offset >= body.length) return void response.end();
      response.write(body.subarray(offset, offset + piece));
      offset += piece;
      setTimeout(next, 20);
    };
    next();
  });
  return { server, requests };
}

describe.concurrent('npm start without the Electron binary', () => {
  it('says the connection was refused, within 30 s, when the mirror is a closed port', async ({
    onTestFinished,
  }) => {
    const { root, electronDir } = privateRoot(onTestFinished);
    const port = await closedPort();
    const mirror = `http://127.0.0.1:${port}/`;
    const run = await runStart(root, userEnv(root, { ELECTRON_MIRROR: mirror }));
    expectFallback(
      run,
      `Connection refused by 127.0.0.1:${port} (ECONNREFUSED): nothing is listening there`,
      mirror,
    );
    expect(run.stderr).toContain(`downloading it once from ${mirror}v${version}/${zipName}\n`);
    expect(fs.existsSync(path.join(electronDir, 'path.txt'))).toBe(false);
  });

  it('names the HTTP status and host when the mirror answers 404', async ({ onTestFinished }) => {
    const { root } = privateRoot(onTestFinished);
    const requests: string[] = [];
    const port = await listen(
      onTestFinished,
      http.createServer((request, response) => {
        requests.push(request.url ?? '');
        response.writeHead(404, { 'content-type': 'text/plain' }).end('no such release');
      }),
    );
    const mirror = `http://127.0.0.1:${port}/`;
    const run = await runStart(root, userEnv(root, { ELECTRON_MIRROR: mirror }));
    expectFallback(
      run,
      `HTTP 404 from 127.0.0.1:${port} (Not Found): the server has no such file`,
      mirror,
    );
    expect(requests).toEqual([zipPath]);
  });

  it('says the checksum did not match, and installs nothing, when the zip is not the one listed', async ({
    onTestFinished,
  }) => {
    const { root, electronDir } = privateRoot(onTestFinished, { [zipName]: 'ab'.repeat(32) });
    const { server } = zipServer(fakeElectronZip(root));
    const mirror = `http://127.0.0.1:${await listen(onTestFinished, server)}/`;
    const run = await runStart(root, userEnv(root, { ELECTRON_MIRROR: mirror }));
    expectFallback(
      run,
      `Checksum mismatch: the downloaded ${zipName} does not match its SHA-256 in the electron ` +
        "package's checksums, so it was not used (a corrupted download or a mirror serving other files)",
      mirror,
    );
    expect(fs.existsSync(path.join(electronDir, 'path.txt'))).toBe(false);
    expect(fs.existsSync(path.join(electronDir, 'dist'))).toBe(false);
  });

  it(
    `gives up after ${STALL_SECONDS} s of silence, within 30 s, when the server never answers`,
    { timeout: 45_000 },
    async ({ onTestFinished }) => {
      const { root } = privateRoot(onTestFinished);
      const port = await listen(
        onTestFinished,
        http.createServer(() => undefined),
      );
      const mirror = `http://127.0.0.1:${port}/`;
      const run = await runStart(root, userEnv(root, { ELECTRON_MIRROR: mirror }));
      expectFallback(
        run,
        `Timeout: 127.0.0.1:${port} sent nothing for ${STALL_SECONDS} seconds`,
        mirror,
      );
    },
  );

  it.skipIf(process.platform === 'win32' || process.platform === 'darwin')(
    'downloads nothing on a machine without a display, and says so at once',
    async ({ onTestFinished }) => {
      const { root } = privateRoot(onTestFinished);
      const { server, requests } = zipServer(Buffer.alloc(0));
      const mirror = `http://127.0.0.1:${await listen(onTestFinished, server)}/`;
      const env = userEnv(root, { ELECTRON_MIRROR: mirror });
      delete env.DISPLAY;
      const run = await runStart(root, env);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /^Socket Workbench cannot open its desktop window: there is no graphical display .*Run `npm run serve`/,
      );
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(requests).toEqual([]);
    },
  );

  it.skipIf(process.platform === 'win32' || !hasCommand('python3'))(
    'downloads with progress, verifies, unpacks, writes path.txt, then runs Electron',
    async ({ onTestFinished }) => {
      const { root, electronDir } = privateRoot(onTestFinished, {});
      const zip = fakeElectronZip(root);
      const sha256 = createHash('sha256').update(zip).digest('hex');
      fs.writeFileSync(
        path.join(electronDir, 'checksums.json'),
        JSON.stringify({ [zipName]: sha256 }),
      );
      const { server, requests } = zipServer(zip);
      const mirror = `http://127.0.0.1:${await listen(onTestFinished, server)}/`;
      const env = userEnv(root, { ELECTRON_MIRROR: mirror, ELECTRON_RUN_AS_NODE: '1' });
      const run = await runStart(root, env, ['--sw-test-flag']);

      expect(run.stderr).not.toMatch(stackFrame);
      expect(run.code).toBe(0);
      expect(requests).toEqual([zipPath]);
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines[0]).toBe(
        `Electron ${version} is not downloaded yet; downloading it once from ${mirror}v${version}/${zipName}`,
      );
      // Not a terminal: a few progress lines, not one per chunk, ending at 100%.
      const progress = lines.filter((line) => line.startsWith(`Downloading ${zipName}: `));
      expect(progress.length).toBeGreaterThanOrEqual(2);
      expect(progress.length).toBeLessThanOrEqual(6);
      const size = (zip.length / 1e6).toFixed(1);
      expect(progress.at(-1)).toBe(`Downloading ${zipName}: 100% (${size} MB of ${size} MB)`);
      expect(lines.slice(-2)).toEqual([
        `Verified; unpacking Electron ${version}...`,
        `Electron ${version} is ready: ${path.join(electronDir, 'dist', 'electron')}`,
      ]);

      // Where the electron package itself looks for it, as its installer leaves it.
      expect(fs.readFileSync(path.join(electronDir, 'path.txt'), 'utf8')).toBe('electron');
      expect(fs.readFileSync(path.join(electronDir, 'dist', 'version'), 'utf8')).toBe(
        `v${version}`,
      );
      expect(fs.existsSync(path.join(electronDir, 'electron.d.ts'))).toBe(true);
      expect(fs.existsSync(path.join(electronDir, 'dist', 'electron.d.ts'))).toBe(false);

      // Then the "window": the executable ran with the app root and the user's arguments.
      expect(run.stdout).toBe(
        `fake electron ${fs.realpathSync(root)}/ --sw-test-flag\n` + 'ELECTRON_RUN_AS_NODE=unset\n',
      );

      // The next start finds it and downloads nothing, even with the server gone.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const again = await runStart(root, env, ['--again']);
      expect(again.code).toBe(0);
      expect(again.stderr).toBe('');
      expect(again.stdout).toContain('--again');
      expect(requests).toHaveLength(1);
    },
  );
});

describe('the reason a download failed, in plain words', () => {
  const hostError = (code: string, message: string, fields: object = {}): Error =>
    new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }, fields) });
  const url = `https://github.com/electron/electron/releases/download/v${version}/${zipName}`;
  const sumchecker = require('sumchecker') as Record<string, new (...args: unknown[]) => Error>;

  it.each([
    [
      'DNS: no such name',
      hostError('ENOTFOUND', 'getaddrinfo ENOTFOUND github.com', { hostname: 'github.com' }),
      'DNS failure: github.com could not be looked up (ENOTFOUND, the name does not resolve), ' +
        'so this machine seems to be offline',
    ],
    [
      'DNS: no answer',
      hostError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN github.com'),
      'DNS failure: github.com could not be looked up (EAI_AGAIN, no DNS server answered in ' +
        'time), so this machine seems to be offline',
    ],
    [
      'connection refused',
      hostError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9', {
        address: '127.0.0.1',
        port: 9,
      }),
      'Connection refused by 127.0.0.1:9 (ECONNREFUSED): nothing is listening there',
    ],
    [
      'connection refused on every address (happy eyeballs)',
      new TypeError('fetch failed', {
        cause: new AggregateError([
          Object.assign(new Error('connect ECONNREFUSED ::1:9'), {
            code: 'ECONNREFUSED',
            address: '::1',
            port: 9,
          }),
        ]),
      }),
      'Connection refused by ::1:9 (ECONNREFUSED): nothing is listening there',
    ],
    [
      'connection reset',
      hostError('ECONNRESET', 'read ECONNRESET'),
      'The connection to github.com was cut before the download finished (ECONNRESET), as a ' +
        'firewall or proxy may do',
    ],
    [
      'connect timeout',
      hostError('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error'),
      'Timeout: github.com did not answer in time (UND_ERR_CONNECT_TIMEOUT)',
    ],
    [
      'stall',
      Object.assign(new Error('no data'), { code: 'SW_STALLED', host: 'example.org', seconds: 15 }),
      'Timeout: example.org sent nothing for 15 seconds',
    ],
    [
      'no route',
      hostError('ENETUNREACH', 'connect ENETUNREACH'),
      'Network unreachable: there is no route to github.com (ENETUNREACH)',
    ],
    [
      'certificate',
      hostError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
      'The TLS certificate of github.com is not trusted (SELF_SIGNED_CERT_IN_CHAIN), as happens ' +
        'behind a proxy that inspects HTTPS; NODE_EXTRA_CA_CERTS can name its certificate',
    ],
    [
      'HTTP 404',
      Object.assign(new Error('Response code 404 (Not Found)'), {
        name: 'HTTPError',
        response: { status: 404, statusText: 'Not Found', url: 'https://mirror.example/x.zip' },
      }),
      'HTTP 404 from mirror.example (Not Found): the server has no such file',
    ],
    [
      'HTTP 407',
      Object.assign(new Error('Response code 407'), {
        name: 'HTTPError',
        response: { status: 407, statusText: 'Proxy Authentication Required', url: '' },
      }),
      'HTTP 407 from github.com (Proxy Authentication Required): the proxy wants credentials',
    ],
    [
      'checksum mismatch',
      new sumchecker.ChecksumMismatchError(zipName),
      `Checksum mismatch: the downloaded ${zipName} does not match its SHA-256 in the electron ` +
        "package's checksums, so it was not used (a corrupted download or a mirror serving other files)",
    ],
    [
      'no checksum listed',
      new sumchecker.NoChecksumFoundError(zipName),
      `No checksum is listed for ${zipName}, so it cannot be verified`,
    ],
    [
      'unreadable SHASUMS256.txt',
      new sumchecker.ChecksumParseError(1, '<html>'),
      'The checksum list (SHASUMS256.txt) from github.com is not a checksum list',
    ],
    [
      'disk full while unpacking',
      Object.assign(new Error('unpacking failed'), {
        code: 'SW_EXTRACT',
        cause: Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }),
      }),
      'The disk is full (ENOSPC)',
    ],
    [
      'not writable',
      Object.assign(new Error("EACCES: permission denied, open '/x/dist/electron'"), {
        code: 'EACCES',
        path: '/x/dist/electron',
      }),
      'Permission denied writing /x/dist/electron (EACCES)',
    ],
    [
      'a broken zip',
      Object.assign(new Error('unpacking failed'), {
        code: 'SW_EXTRACT',
        cause: new Error('invalid Zip archive: could not find central directory\nmore'),
      }),
      'The download was verified but could not be unpacked: invalid Zip archive: could not find ' +
        'central directory',
    ],
    [
      'a bad ELECTRON_MIRROR',
      Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL', input: 'mirror/x' }),
      'The download address mirror/x is not a valid URL (check ELECTRON_MIRROR)',
    ],
    [
      'a port fetch refuses',
      new TypeError('fetch failed', { cause: new Error('bad port') }),
      "Node's fetch refuses the port of github.com, which is reserved for another protocol",
    ],
    [
      'anything else: the innermost message and its code',
      new TypeError('fetch failed', {
        cause: Object.assign(new Error('something odd\n    at x (y.js:1:2)'), { code: 'EODD' }),
      }),
      'something odd (EODD)',
    ],
    ['a thrown string', 'oops', 'oops'],
  ])('%s', (_kind, error, sentence) => {
    const described = describeDownloadError(error, { url }) as string;
    expect(described).toBe(sentence);
    expect(described).not.toMatch(stackFrame);
  });

  it('advises the proxy setting this Node supports, and names a mirror that is set', () => {
    expect(retryAdvice({ nodeVersion: '20.20.2' })).toBe(
      'To retry, run `npx install-electron` or `npm start` again once this machine is online; ' +
        'or set ELECTRON_MIRROR to a mirror you can reach (its URL ending in /); or, behind a ' +
        'proxy, use Node 22.21, 24.5 or newer (this is 20.20.2) with HTTPS_PROXY and ' +
        'NODE_USE_ENV_PROXY=1 set.',
    );
    for (const nodeVersion of ['22.21.0', '24.5.0', '26.1.0']) {
      expect(retryAdvice({ nodeVersion })).toContain(
        'behind a proxy, set HTTPS_PROXY and NODE_USE_ENV_PROXY=1.',
      );
    }
    expect(retryAdvice({ nodeVersion: '24.4.1' })).toContain('use Node 22.21, 24.5 or newer');
    expect(retryAdvice({ nodeVersion: '22.20.0', mirror: 'https://m.example/' })).toContain(
      'or check ELECTRON_MIRROR (now https://m.example/) or unset it;',
    );
  });
});

describe('download progress', () => {
  const recorder = (isTTY: boolean) => {
    const written: string[] = [];
    return { stream: { isTTY, write: (text: string) => written.push(text) }, written };
  };
  /** What a reporter writes for 100 MB arriving a megabyte at a time, then finishing. */
  const wholeDownload = (isTTY: boolean): string[] => {
    const { stream, written } = recorder(isTTY);
    const progress = progressReporter(stream, 'Downloading e.zip');
    for (let bytes = 0; bytes <= 100e6; bytes += 1e6) {
      progress.update({ transferred: bytes, total: 100e6 });
    }
    progress.update({ transferred: 100e6, total: 100e6 }, true);
    progress.end();
    return written;
  };

  it('is a few whole lines when stderr is not a terminal', () => {
    expect(wholeDownload(false)).toEqual([
      'Downloading e.zip: 0% (0.0 MB of 100.0 MB)\n',
      'Downloading e.zip: 25% (25.0 MB of 100.0 MB)\n',
      'Downloading e.zip: 50% (50.0 MB of 100.0 MB)\n',
      'Downloading e.zip: 75% (75.0 MB of 100.0 MB)\n',
      'Downloading e.zip: 100% (100.0 MB of 100.0 MB)\n',
    ]);
  });

  it('is one line redrawn in place on a terminal, finished with a newline', () => {
    // Redrawn at most ten times a second: here, the first update and the final one.
    expect(wholeDownload(true)).toEqual([
      '\r\x1b[KDownloading e.zip: 0% (0.0 MB of 100.0 MB)',
      '\r\x1b[KDownloading e.zip: 100% (100.0 MB of 100.0 MB)',
      '\n',
    ]);
  });

  it('counts bytes when the server does not say how many', () => {
    const { stream, written } = recorder(false);
    const progress = progressReporter(stream, 'Downloading e.zip');
    for (let bytes = 0; bytes <= 60e6; bytes += 5e6) progress.update({ transferred: bytes });
    expect(written).toEqual([
      'Downloading e.zip: 0.0 MB\n',
      'Downloading e.zip: 25.0 MB\n',
      'Downloading e.zip: 50.0 MB\n',
    ]);
  });
});
