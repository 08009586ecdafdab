// npm run package [-- electron-builder options]: build with electron-vite, then package the
// desktop app for this platform with electron-builder and electron-builder.yml (into dist/).
// Options after `--` are electron-builder's own, e.g. `--dir` (an unpacked app folder only) or
// `-c.electronDist=FOLDER` (an Electron already on disk, unpacked or as its release zip).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const prefix = 'Socket Workbench cannot be packaged:';

/** Prints one sentence and exits non-zero: never a stack trace. */
function fail(sentence) {
  process.stderr.write(`${prefix} ${sentence}\n`);
  process.exit(1);
}

function electronVersion() {
  try {
    return require('electron/package.json').version;
  } catch {
    return null;
  }
}

/** The executable inside an Electron dist/ folder for this platform (as in its path.txt). */
function executableIn(packageDir) {
  try {
    return readFileSync(join(packageDir, 'path.txt'), 'utf8').trim();
  } catch {
    if (process.platform === 'darwin') return 'Electron.app/Contents/MacOS/Electron';
    return process.platform === 'win32' ? 'electron.exe' : 'electron';
  }
}

/**
 * The electron package's dist/ folder when it holds the binary (`npm start` or
 * `npx install-electron` downloaded it), so electron-builder copies it instead of downloading
 * the same Electron again. ELECTRON_OVERRIDE_DIST_PATH, the electron package's own setting, wins.
 */
export function downloadedElectronDist() {
  let packageDir;
  try {
    packageDir = dirname(require.resolve('electron/package.json'));
  } catch {
    return null;
  }
  const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH || join(packageDir, 'dist');
  return existsSync(join(dist, executableIn(packageDir))) ? dist : null;
}

/** The error and what it wraps, outermost first. */
function errorChain(error) {
  const chain = [];
  for (let item = error; item && typeof item === 'object' && chain.length < 10; item = item.cause) {
    if (chain.includes(item)) break;
    chain.push(item);
  }
  return chain;
}

/** The address a failed download was fetching (got's RequestError and HTTPError carry it). */
function urlOf(error) {
  for (const item of errorChain(error)) {
    const url = item.options?.url ?? item.request?.requestUrl ?? item.response?.url;
    if (url) return String(url);
  }
  const match = /\bfor (https?:\/\/\S+)/.exec(String(error?.message));
  return match ? match[1] : null;
}

const networkReasons = {
  ENOTFOUND: 'its host name did not resolve, as when offline or when DNS is blocked',
  EAI_AGAIN: 'its host name did not resolve, as when offline or when DNS is blocked',
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'it timed out',
  ENETUNREACH: 'the network is unreachable',
  EHOSTUNREACH: 'the host is unreachable',
};

function downloadReason(error) {
  for (const item of errorChain(error)) {
    const status = item.response?.statusCode;
    if (typeof status === 'number') return `the server answered HTTP ${status}`;
    if (networkReasons[item.code]) return networkReasons[item.code];
  }
  const first = String(error?.message ?? error).split('\n')[0];
  return first.replace(/[.\s]+$/, '');
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** What went wrong, as one sentence to follow `prefix`: never a stack trace. */
export function describeFailure(error, { version = electronVersion() } = {}) {
  const message = String(error?.message ?? error);
  const url = urlOf(error);
  if (url) {
    const file = basename(new URL(url, 'http://x/').pathname) || url;
    const what = `the download of ${file} from ${hostOf(url)} failed: ${downloadReason(error)}`;
    if (/^electron-v|^SHASUMS256/.test(file)) {
      return (
        `${what}; set ELECTRON_MIRROR to a mirror you can reach, run \`npx install-electron\` ` +
        '(packaging then reuses that Electron), or pass a folder holding an unpacked ' +
        `${version ? `Electron ${version}` : 'Electron'} (or its release zip) with ` +
        '`npm run package -- -c.electronDist=FOLDER`.'
      );
    }
    return (
      `${what}; electron-builder needs that tool for this target: set ` +
      'ELECTRON_BUILDER_BINARIES_MIRROR to a mirror you can reach, or build only an unpacked app ' +
      'folder with `npm run package -- --dir`.'
    );
  }
  if (/Could not find sentinel/i.test(message)) {
    return (
      'the Electron executable it was given is not a real Electron build (it has no fuse ' +
      'sentinel), so the fuses in electron-builder.yml cannot be set; point electronDist at an ' +
      'unpacked Electron release.'
    );
  }
  // Its configuration errors come as one paragraph each (e.g. the deb target's missing metadata).
  const lines = message
    .split('\n')
    .map((line) => line.trim().replace(/[.\s]+$/, ''))
    .filter(Boolean)
    .slice(0, 4);
  return `electron-builder stopped: ${lines.join('; ')}.`;
}

function build() {
  let cli;
  try {
    cli = join(dirname(require.resolve('electron-vite/package.json')), 'bin', 'electron-vite.js');
  } catch {
    fail('electron-vite is not installed (run `npm ci`).');
  }
  process.stderr.write('Building Socket Workbench (electron-vite build)...\n');
  const result = spawnSync(process.execPath, [cli, 'build'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) fail('the build failed (see the messages above).');
}

/**
 * Removes what the electron package's dist/ has beyond a release zip (its default app and
 * version file), right after electron-builder copies it: before the asar integrity is computed.
 */
async function dropDefaultApp(context) {
  const resources = context.packager.getResourcesDir?.(context.appOutDir);
  if (resources) rmSync(join(resources, 'default_app.asar'), { force: true });
  rmSync(join(context.appOutDir, 'version'), { force: true });
}

/** True when the build asks for no platform or architecture other than this machine's. */
export function targetsOnlyThisMachine(options) {
  const platformFlags = { darwin: 'mac', win32: 'win', linux: 'linux' };
  const own = platformFlags[process.platform];
  const otherPlatform = Object.values(platformFlags).some(
    (flag) => flag !== own && options[flag] !== undefined && options[flag] !== false,
  );
  const archs = ['x64', 'ia32', 'armv7l', 'arm64', 'universal'];
  const otherArch = archs.some((arch) => arch !== process.arch && options[arch] === true);
  return !otherPlatform && !otherArch;
}

function show(path) {
  const shown = relative(root, path);
  return shown.startsWith('..') ? path : shown;
}

export async function packageApp(args = []) {
  let builder;
  try {
    // Its command line's own option parser (`-c.key=value`, `--dir`, `--linux deb`...), so the
    // options after `--` mean what electron-builder's documentation says.
    builder = require('electron-builder/out/builder');
  } catch {
    fail('electron-builder is not installed (run `npm ci`).');
  }
  const options = builder.configureBuildCommand(builder.createYargs()).parse(args);
  build();
  options.projectDir = root;
  options.publish ??= 'never';
  // `-c.key=value` arrives as an object; a config file path (`-c FILE`) is left as given.
  if (options.config == null) options.config = {};
  if (typeof options.config === 'object' && !Array.isArray(options.config)) {
    const configured =
      'electronDist' in options.config ||
      /^electronDist\s*:/m.test(readFileSync(join(root, 'electron-builder.yml'), 'utf8'));
    // The downloaded Electron is this machine's: never ship it in a package for another one.
    const dist = configured || !targetsOnlyThisMachine(options) ? null : downloadedElectronDist();
    if (dist) {
      process.stderr.write(`Packaging with the Electron already in ${show(dist)}.\n`);
      options.config.electronDist = dist;
      options.config.afterExtract ??= dropDefaultApp;
    }
  }
  try {
    const artifacts = await builder.build(options);
    const made = artifacts.filter((file) => !file.endsWith('.blockmap')).map(show);
    process.stderr.write(
      made.length > 0 ? `Packaged: ${made.join(', ')}\n` : 'Packaged (unpacked app folder only).\n',
    );
  } catch (error) {
    fail(describeFailure(error));
  }
}

function isEntry() {
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1] ?? '')).href;
  } catch {
    return false;
  }
}

if (isEntry()) {
  packageApp(process.argv.slice(2)).then(
    () => process.exit(0),
    (error) => fail(describeFailure(error)),
  );
}
