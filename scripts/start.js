// npm start: build when needed, then open the desktop app in Electron if this machine can.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBuilt, root, runChild } from './serve.js';

const fallback = 'Run `npm run serve` to use Socket Workbench in your browser.';

/**
 * The Electron executable, or why there is none. Deliberately not require('electron'): when the
 * binary is missing that call tries to download it, which hangs or fails with a stack offline.
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
    return { missing: 'the electron package is not installed (run `npm install`)' };
  }
  let relative;
  try {
    relative = readFileSync(join(packageDir, 'path.txt'), 'utf8').trim();
  } catch {
    return {
      missing:
        'the electron package is installed but its binary was never downloaded (Electron ' +
        'fetches it from the internet on first use, and that was not possible here)',
    };
  }
  const distDir = process.env.ELECTRON_OVERRIDE_DIST_PATH || join(packageDir, 'dist');
  const path = join(distDir, relative);
  return existsSync(path)
    ? { path }
    : { missing: `the Electron binary is missing (expected at ${path})` };
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

function giveUp(reason) {
  process.stderr.write(
    `Socket Workbench cannot open its desktop window: ${reason}. ${fallback} ` +
      'It is the same workbench, served on 127.0.0.1 with a one-time token in the URL.\n',
  );
  process.exit(1);
}

export function start(args = []) {
  // Checked before building: no point in a build that cannot be shown.
  const electron = findElectron();
  if (electron.missing) giveUp(electron.missing);
  const noDisplay = missingDisplay();
  if (noDisplay) giveUp(noDisplay);
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

if (isEntry()) start(process.argv.slice(2));
