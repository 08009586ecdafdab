// npm start's first run: fetch the Electron binary the way the electron package's own installer
// (`npx install-electron`) does, with @electron/get and @electron-internal/extract-zip (both
// dependencies of the electron package), but with visible progress, a stall timeout, and errors
// turned into one plain sentence instead of a stack trace.
import { execSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A download that receives nothing (no answer, no bytes) for this long is given up. */
export const STALL_SECONDS = 15;

/** The executable inside dist/ for a platform, as written to the electron package's path.txt. */
export function platformPath(platform = process.platform) {
  if (platform === 'darwin' || platform === 'mas') return 'Electron.app/Contents/MacOS/Electron';
  if (platform === 'win32') return 'electron.exe';
  if (platform === 'linux' || platform === 'freebsd' || platform === 'openbsd') return 'electron';
  return null;
}

/** What the user can do about a failed download, in one or two sentences. */
export function retryAdvice({ nodeVersion = process.versions.node, mirror } = {}) {
  const [major, minor] = nodeVersion.split('.').map(Number);
  const nodeProxy = major > 24 || (major === 24 && minor >= 5) || (major === 22 && minor >= 21);
  const mirrorAdvice = mirror
    ? `check ELECTRON_MIRROR (now ${mirror}) or unset it`
    : 'set ELECTRON_MIRROR to a mirror you can reach (its URL ending in /)';
  const proxyAdvice = nodeProxy
    ? 'behind a proxy, set HTTPS_PROXY and NODE_USE_ENV_PROXY=1'
    : `behind a proxy, use Node 22.21, 24.5 or newer (this is ${nodeVersion}) with HTTPS_PROXY ` +
      'and NODE_USE_ENV_PROXY=1 set';
  return (
    'To retry, run `npx install-electron` or `npm start` again once this machine is online; ' +
    `or ${mirrorAdvice}; or, ${proxyAdvice}.`
  );
}

/** The error and everything it wraps (`cause`, an AggregateError's `errors`), outermost first. */
function errorChain(error) {
  const chain = [];
  const queue = [error];
  while (queue.length > 0 && chain.length < 20) {
    const item = queue.shift();
    if (!item || typeof item !== 'object' || chain.includes(item)) continue;
    chain.push(item);
    if (Array.isArray(item.errors)) queue.push(...item.errors);
    queue.push(item.cause);
  }
  return chain;
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

const certificateCodes = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * One plain sentence (no final full stop, never a stack) saying why downloading Electron failed.
 * `url` is the address being fetched, when known; errors from fetch, @electron/get, sumchecker,
 * the extractor and the file system are recognised through their `cause` chain.
 */
export function describeDownloadError(error, { url } = {}) {
  const chain = errorChain(error);
  const host = url ? hostOf(url) : 'the download server';
  for (const item of chain) {
    const code = typeof item.code === 'string' ? item.code : '';
    const message = typeof item.message === 'string' ? item.message : '';
    const kind = item.constructor?.name ?? '';
    if (item.name === 'HTTPError' && item.response) {
      const { status, statusText, url: responseUrl } = item.response;
      const from = responseUrl ? hostOf(responseUrl) : host;
      const text = statusText ? ` (${statusText})` : '';
      const hint =
        status === 407
          ? ': the proxy wants credentials'
          : status === 404
            ? ': the server has no such file'
            : '';
      return `HTTP ${status} from ${from}${text}${hint}`;
    }
    if (code === 'SW_STALLED') {
      return `Timeout: ${item.host ?? host} sent nothing for ${item.seconds ?? STALL_SECONDS} seconds`;
    }
    if (code === 'SW_NO_PLATFORM') {
      return `Electron has no build for this platform (${item.platform})`;
    }
    if (code === 'SW_NO_DOWNLOADER') {
      return (
        "The electron package's downloader (@electron/get or @electron-internal/extract-zip) " +
        'is not installed: run `npm ci`'
      );
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL') {
      const name = item.hostname ?? /getaddrinfo \S+ (\S+)/.exec(message)?.[1] ?? host;
      const why =
        code === 'EAI_AGAIN' ? 'no DNS server answered in time' : 'the name does not resolve';
      return `DNS failure: ${name} could not be looked up (${code}, ${why}), so this machine seems to be offline`;
    }
    if (code === 'ECONNREFUSED') {
      const where = item.address ? `${item.address}:${item.port}` : host;
      return `Connection refused by ${where} (ECONNREFUSED): nothing is listening there`;
    }
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') {
      return `The connection to ${host} was cut before the download finished (${code}), as a firewall or proxy may do`;
    }
    if (
      code === 'ETIMEDOUT' ||
      code === 'UND_ERR_CONNECT_TIMEOUT' ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT'
    ) {
      return `Timeout: ${host} did not answer in time (${code})`;
    }
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENETDOWN') {
      return `Network unreachable: there is no route to ${host} (${code})`;
    }
    if (certificateCodes.has(code)) {
      return (
        `The TLS certificate of ${host} is not trusted (${code}), as happens behind a proxy ` +
        'that inspects HTTPS; NODE_EXTRA_CA_CERTS can name its certificate'
      );
    }
    if (kind === 'ChecksumMismatchError' || /did not match expected checksum/.test(message)) {
      return (
        `Checksum mismatch: the downloaded ${item.filename ?? 'file'} does not match its ` +
        "SHA-256 in the electron package's checksums, so it was not used (a corrupted download " +
        'or a mirror serving other files)'
      );
    }
    if (kind === 'NoChecksumFoundError' || /No checksum found/.test(message)) {
      return `No checksum is listed for ${item.filename ?? 'the download'}, so it cannot be verified`;
    }
    if (kind === 'ChecksumParseError' || /Could not parse checksum file/.test(message)) {
      return `The checksum list (SHASUMS256.txt) from ${host} is not a checksum list`;
    }
    if (code === 'ENOSPC') return `The disk is full (ENOSPC)`;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return `Permission denied writing ${item.path ?? 'the download'} (${code})`;
    }
    if (code === 'ERR_INVALID_URL' || message === 'Invalid URL') {
      return `The download address ${item.input ?? url ?? ''} is not a valid URL (check ELECTRON_MIRROR)`;
    }
    if (message === 'bad port') {
      return `Node's fetch refuses the port of ${host}, which is reserved for another protocol`;
    }
  }
  const extracting = chain.findIndex((item) => item.code === 'SW_EXTRACT');
  if (extracting >= 0) {
    const inner = chain.slice(extracting + 1).find((item) => typeof item.message === 'string');
    const detail = inner ? `: ${inner.message.split('\n')[0]}` : '';
    return `The download was verified but could not be unpacked${detail}`;
  }
  // Unrecognised: the innermost message (fetch's own "fetch failed" says least) and any code.
  const deepest = chain.findLast((item) => typeof item.message === 'string' && item.message);
  const message = String(deepest?.message ?? error ?? 'Unknown error').split('\n')[0];
  const code = chain.map((item) => item.code).find((value) => typeof value === 'string');
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

function formatMB(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * Progress on a stream: one line redrawn in place on a terminal (at most ten times a second),
 * otherwise a line at each quarter (or every 25 MB when the size is unknown).
 */
export function progressReporter(stream, label) {
  const tty = Boolean(stream.isTTY);
  let lastDraw = 0;
  let lastStep = -1;
  let drawn = false;
  const describe = (transferred, total) =>
    total
      ? `${label}: ${Math.floor((transferred / total) * 100)}% (${formatMB(transferred)} of ${formatMB(total)})`
      : `${label}: ${formatMB(transferred)}`;
  return {
    update({ transferred, total }, final = false) {
      if (tty) {
        const now = Date.now();
        if (!final && now - lastDraw < 100) return;
        lastDraw = now;
        drawn = true;
        stream.write(`\r\x1b[K${describe(transferred, total)}`);
        return;
      }
      const step = total ? Math.floor((transferred / total) * 4) : Math.floor(transferred / 25e6);
      if (step === lastStep && !final) return;
      if (final && step === lastStep && drawn) return;
      lastStep = step;
      drawn = true;
      stream.write(`${describe(transferred, total)}\n`);
    },
    end() {
      if (tty && drawn) stream.write('\n');
    },
  };
}

async function importFrom(packageDir, name) {
  const require = createRequire(join(packageDir, 'package.json'));
  return import(pathToFileURL(require.resolve(name)).href);
}

function tagged(code, message, fields = {}) {
  return Object.assign(new Error(message), { code }, fields);
}

/**
 * Downloads, verifies and unpacks the Electron binary into `packageDir` (the electron package:
 * dist/ and path.txt, exactly where the package's own installer puts them) and returns the
 * executable's path. Progress goes to `stream`. On failure it throws an error whose `reason` is
 * describeDownloadError's sentence and whose `cause` is the original error.
 */
export async function downloadElectron({ packageDir, stream = process.stderr, env = process.env }) {
  const state = { url: undefined };
  const lock = join(packageDir, '.socket-workbench-download.lock');
  try {
    // Two starts at once: the second waits for the first's download instead of unpacking over
    // an Electron that may already be running.
    if (!(await takeLock(lock, stream))) return null;
    try {
      return await download(packageDir, stream, env, state);
    } finally {
      rmSync(lock, { force: true });
    }
  } catch (error) {
    const reason = describeDownloadError(error, { url: state.url });
    throw Object.assign(new Error(reason, { cause: error }), { code: 'SW_DOWNLOAD', reason });
  }
}

/**
 * Takes the download lock (a file naming this process). Resolves false when another running
 * process held it and has finished: its download is there to use, or it failed and said why.
 */
async function takeLock(lock, stream) {
  let waited = false;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return !waited;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    const holder = Number(readFileSync(lock, 'utf8'));
    if (!isRunning(holder)) {
      rmSync(lock, { force: true }); // left by a start that was killed
      continue;
    }
    if (!waited)
      stream.write(
        `Another start (process ${holder}) is downloading Electron; waiting for it...\n`,
      );
    waited = true;
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (!existsSync(lock)) return false;
  }
}

function isRunning(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/**
 * The platform and architecture to download for, as the electron package's own installer
 * chooses them: its environment overrides, and the arm64 build for x64 Node under Rosetta.
 */
export function targetOf(env = process.env, detectRosetta = isRosetta) {
  const platform = env.ELECTRON_INSTALL_PLATFORM || env.npm_config_platform || process.platform;
  let arch = env.ELECTRON_INSTALL_ARCH || env.npm_config_arch || process.arch;
  if (
    platform === 'darwin' &&
    process.platform === 'darwin' &&
    arch === 'x64' &&
    env.npm_config_arch === undefined &&
    detectRosetta()
  ) {
    arch = 'arm64';
  }
  return { platform, arch };
}

function isRosetta() {
  try {
    return execSync('sysctl -in sysctl.proc_translated').toString().trim() === '1';
  } catch {
    return false;
  }
}

async function download(packageDir, stream, env, state) {
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  const target = targetOf(env);
  const executable = platformPath(target.platform);
  if (!executable) throw tagged('SW_NO_PLATFORM', 'no build', { platform: target.platform });
  let get;
  let extractZip;
  try {
    get = await importFrom(packageDir, '@electron/get');
    extractZip = await importFrom(packageDir, '@electron-internal/extract-zip');
  } catch (cause) {
    throw tagged('SW_NO_DOWNLOADER', 'downloader missing', { cause });
  }
  // As install.js: the package's own checksums unless the user asks for the mirror's SHASUMS.
  const remoteChecksums =
    env.electron_use_remote_checksums || env.npm_config_electron_use_remote_checksums;
  const checksums = remoteChecksums
    ? undefined
    : JSON.parse(readFileSync(join(packageDir, 'checksums.json'), 'utf8'));

  const fetcher = new get.FetchDownloader();
  // Wraps @electron/get's own fetch downloader to show progress and to give up on a stall.
  const downloader = {
    async download(url, targetPath, options) {
      state.url = url;
      const file = basename(new URL(url).pathname);
      stream.write(
        file.endsWith('.zip')
          ? `Electron ${version} is not downloaded yet; downloading it once from ${url}\n`
          : `Downloading ${url}\n`,
      );
      const progress = progressReporter(stream, `Downloading ${file}`);
      const controller = new AbortController();
      let timer;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          const host = hostOf(url);
          controller.abort(
            tagged('SW_STALLED', `no data from ${host}`, { host, seconds: STALL_SECONDS }),
          );
        }, STALL_SECONDS * 1000);
      };
      arm();
      let last = { transferred: 0, total: null };
      try {
        await fetcher.download(url, targetPath, {
          ...options,
          signal: controller.signal,
          getProgressCallback: (update) => {
            arm();
            last = update;
            progress.update(update);
          },
        });
        progress.update(last, true);
      } finally {
        clearTimeout(timer);
        progress.end();
      }
    },
  };

  const zipPath = await get.downloadArtifact({
    version,
    artifactName: 'electron',
    platform: target.platform,
    arch: target.arch,
    checksums,
    cacheRoot: env.electron_config_cache || undefined,
    force: env.force_no_cache === 'true',
    downloader,
    downloadOptions: { quiet: true },
  });

  stream.write(`Verified; unpacking Electron ${version}...\n`);
  const dist = join(packageDir, 'dist');
  const pathFile = join(packageDir, 'path.txt');
  try {
    // path.txt is what marks a complete install, so it is written last.
    rmSync(pathFile, { force: true });
    await extractZip.extract(zipPath, { dir: dist });
    const typeDefinitions = join(dist, 'electron.d.ts');
    if (existsSync(typeDefinitions)) renameSync(typeDefinitions, join(packageDir, 'electron.d.ts'));
    writeFileSync(pathFile, executable);
  } catch (cause) {
    throw tagged('SW_EXTRACT', 'unpacking failed', { cause });
  }
  const path = join(dist, executable);
  stream.write(`Electron ${version} is ready: ${path}\n`);
  return { path, version };
}
