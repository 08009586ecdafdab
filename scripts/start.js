// npm start: build when needed, then open the desktop app in Electron if this machine can.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { downloadElectron, platformPath, retryAdvice } from './electron-download.js';
import { ensureBuilt, root, runChild } from './serve.js';

const fallback = 'Run `npm run serve` to use Socket Workbench in your browser.';

/**
 * The Electron executable, or why there is none: `{ path }` or `{ missing, packageDir? }`, where
 * `packageDir` (the electron package) is set when downloading the binary would fix it.
 * Deliberately not require('electron'): when the binary is missing that call downloads it with
 * no progress shown until 30 s have passed and no timeout, and fails with a stack trace offline.
 */
export function findElectron() {
  const override = process.env.ELECTRON_EXEC_PATH;
  if (override) {
    return existsSync(override)
      ? { path: override }
      : { missing: `ELECTRON_EXEC_PATH points at ${override}, which does not exist` };
  }
  let packageDir;
  try {
    packageDir = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return { missing: 'the electron package is not installed (run `npm ci`)' };
  }
  let relative = '';
  try {
    relative = readFileSync(join(packageDir, 'path.txt'), 'utf8').trim();
  } catch {
    // Not downloaded yet.
  }
  // The electron package's own override: a dist/ managed by the user, never downloaded into.
  const distOverride = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  if (distOverride) {
    const path = join(distOverride, relative || platformPath() || 'electron');
    return existsSync(path)
      ? { path }
      : { missing: `ELECTRON_OVERRIDE_DIST_PATH is set, but there is no Electron at ${path}` };
  }
  if (!relative) {
    return {
      missing: 'the electron package is installed but its binary was never downloaded',
      packageDir,
    };
  }
  const path = join(packageDir, 'dist', relative);
  return existsSync(path)
    ? { path }
    : { missing: `the Electron binary is missing (expected at ${path})`, packageDir };
}

/** Why no window can be shown, or null. Only Linux and the BSDs need a display server. */
export function missingDisplay() {
  if (process.platform === 'win32' || process.platform === 'darwin') return null;
  if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) return null;
  return (
    'there is no graphical display (neither DISPLAY nor WAYLAND_DISPLAY is set, as on a ' +
    'headless server or a plain SSH session)'
  );
}

/** Thrown by giveUp: start() stops there, and the process exits once the paragraph is out. */
class GaveUp extends Error {}

function giveUp(reason, advice = '') {
  // Exit only once the paragraph is written: a pipe's writes are asynchronous on macOS.
  process.stderr.write(
    `Socket Workbench cannot open its desktop window: ${reason}. ${advice}${advice ? ' ' : ''}` +
      `${fallback} It is the same workbench, served on 127.0.0.1 with a one-time token in the URL.\n`,
    () => process.exit(1),
  );
  throw new GaveUp();
}

export async function start(args = []) {
  try {
    await startWindow(args);
  } catch (error) {
    if (!(error instanceof GaveUp)) throw error;
  }
}

async function startWindow(args) {
  // Checked before downloading or building: no point in either when nothing can be shown. A
  // headless machine gets the browser-mode advice at once, without a 100 MB download.
  let electron = findElectron();
  if (electron.missing && !electron.packageDir) giveUp(electron.missing);
  const noDisplay = missingDisplay();
  if (noDisplay) giveUp(noDisplay);
  if (electron.missing) {
    try {
      await downloadElectron({ packageDir: electron.packageDir });
    } catch (error) {
      giveUp(
        `downloading Electron failed. ${error.reason ?? String(error)}`,
        retryAdvice({
          mirror: process.env.ELECTRON_MIRROR || process.env.npm_config_electron_mirror,
        }),
      );
    }
    electron = findElectron();
    if (electron.missing) giveUp(electron.missing);
  }
  ensureBuilt();
  const env = { ...process.env };
  // Set in some shells and CI images; it would make the binary behave as plain Node.
  delete env.ELECTRON_RUN_AS_NODE;
  runChild(electron.path, [root, ...args], { cwd: root, env });
}

function isEntry() {
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1] ?? '')).href;
  } catch {
    return false;
  }
}

if (isEntry()) await start(process.argv.slice(2));
