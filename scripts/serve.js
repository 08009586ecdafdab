// npm run serve -- [--host H] [--port P]: build when needed, then run the browser-mode server.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

const outputs = [
  'out/main/index.js',
  'out/main/serve.js',
  'out/main/capture.js',
  'out/preload/index.cjs',
  'out/renderer/index.html',
].map((file) => join(root, file));

const inputs = ['src', 'electron.vite.config.ts', 'svelte.config.js', 'package.json'].map((file) =>
  join(root, file),
);

function newestMtime(path) {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    return 0;
  }
  if (!stats.isDirectory()) return stats.mtimeMs;
  let newest = stats.mtimeMs;
  for (const entry of readdirSync(path)) {
    newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

/** Why a build is needed, or null when out/ is complete and newer than every source. */
export function staleReason() {
  const missing = outputs.find((file) => !existsSync(file));
  if (missing) return `${missing.slice(root.length)} is missing`;
  const oldestOutput = Math.min(...outputs.map((file) => statSync(file).mtimeMs));
  const newestInput = Math.max(...inputs.map(newestMtime));
  return newestInput > oldestOutput ? 'sources changed since the last build' : null;
}

/** Runs `electron-vite build` when out/ is missing or stale; exits the process if it fails. */
export function ensureBuilt() {
  const reason = staleReason();
  if (reason === null) return;
  let cli;
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve('electron-vite/package.json');
    cli = join(dirname(pkg), 'bin', 'electron-vite.js');
  } catch {
    process.stderr.write(
      `Socket Workbench needs a build (${reason}), but electron-vite is not installed. ` +
        'Run `npm install`, then try again.\n',
    );
    process.exit(1);
  }
  process.stderr.write(`Building Socket Workbench (${reason})...\n`);
  // Build output goes to stderr: stdout carries only the server's one-line URL.
  const result = spawnSync(process.execPath, [cli, 'build'], {
    cwd: root,
    stdio: ['ignore', 2, 2],
  });
  if (result.status !== 0) {
    process.stderr.write('Socket Workbench: the build failed (see the messages above).\n');
    process.exit(1);
  }
}

/**
 * Runs a child with inherited stdio until it exits, then exits with its status. A terminal's
 * Ctrl-C already reaches the child (same process group), so SIGINT is only passed on if the
 * child is still running a while later; SIGTERM and SIGHUP are passed on at once.
 */
export function runChild(command, args, options = {}) {
  const child = spawn(command, args, { stdio: 'inherit', ...options });
  let exited = false;
  child.on('exit', (code, signal) => {
    exited = true;
    process.exit(code ?? (signal ? 1 : 0));
  });
  child.on('error', (error) => {
    process.stderr.write(`Socket Workbench could not run ${command}: ${error.message}\n`);
    process.exit(1);
  });
  process.on('SIGINT', () => {
    setTimeout(() => {
      if (!exited) child.kill('SIGTERM');
    }, 3000).unref();
  });
  for (const signal of ['SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (!exited) child.kill(signal);
    });
  }
  return child;
}

export function serve(args) {
  ensureBuilt();
  runChild(process.execPath, [join(root, 'out/main/serve.js'), ...args], { cwd: root });
}

export function capture(args) {
  ensureBuilt();
  runChild(process.execPath, [join(root, 'out/main/capture.js'), ...args]);
}

function isEntry() {
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1] ?? '')).href;
  } catch {
    return false;
  }
}

if (isEntry()) serve(process.argv.slice(2));
