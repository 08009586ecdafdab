/**
 * The command line of browser mode: `socket-workbench serve [--host H] [--port P] …`, read into
 * server options, then the server started, its URL printed, and stopped on SIGINT / SIGTERM.
 */
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeSystemError } from '../../shared/errors';
import { parseCaptureSettings, type CaptureSettings } from '../engine/capture-folder';
import {
  formatHost,
  isLoopbackHost,
  MIN_TOKEN_BITS,
  stripBrackets,
  weakTokenReason,
} from './access';
import { DEFAULT_HOST, DEFAULT_PORT, startServer, type RunningServer } from './server';

/**
 * Where browser mode keeps what the user saves (the payload library) unless --data-dir says:
 * the OS's per-user data folder, as other apps use it.
 */
export function defaultDataDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (platform === 'win32') {
    return join(env['APPDATA'] || join(home, 'AppData', 'Roaming'), 'Socket Workbench');
  }
  if (platform === 'darwin')
    return join(home, 'Library', 'Application Support', 'Socket Workbench');
  // XDG: a relative XDG_DATA_HOME is invalid and is ignored, as the spec says.
  const xdg = env['XDG_DATA_HOME'];
  const base = xdg && xdg.startsWith('/') ? xdg : join(home, '.local', 'share');
  return join(base, 'socket-workbench');
}

const USAGE = `Usage: socket-workbench serve [--host HOST] [--port PORT] [--capture-dir DIR]
                              [--capture-limit SIZE|unlimited] [--capture-floor SIZE]
                              [--data-dir DIR] [--workspace FILE]

Serves Socket Workbench to a browser at http://HOST:PORT/?token=TOKEN.
  --host HOST         address to listen on (default ${DEFAULT_HOST}; anything but loopback
                      exposes the workbench to your network)
  --port PORT         port to listen on (default ${DEFAULT_PORT}; 0 picks a free port)
  --capture-dir DIR   keep the capture files (every byte, and their index) in DIR, where they
                      stay after the server stops (default: a private temporary directory,
                      removed on exit; or SOCKET_WORKBENCH_CAPTURE_DIR)
  --capture-limit SIZE  the session's capture files stay under SIZE (e.g. 2GiB); the oldest
                      bytes go first (default: the smaller of 4 GiB and a quarter of the free
                      space; "unlimited" only if you mean it; or SOCKET_WORKBENCH_CAPTURE_LIMIT)
  --capture-floor SIZE  capture stops (reading pauses) while less than SIZE is free where it
                      is kept (default: the smaller of 1 GiB and half the free space at start;
                      or SOCKET_WORKBENCH_CAPTURE_FLOOR)
  --data-dir DIR      keep what you save (the payload library) in DIR (default here:
                      ${defaultDataDir()})
  --workspace FILE    open the workspace FILE (a .json file; made on the first change if it does
                      not exist) instead of the one in use last time (docs/workspaces.md)
The token is random (256 bits) unless SOCKET_WORKBENCH_TOKEN is set; a token set there must
have at least ${MIN_TOKEN_BITS} bits (e.g. \`openssl rand -hex 32\`), or the server does not start.`;

export function parseCommandLine(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
):
  | {
      host: string;
      port: number;
      captureDir?: string;
      token?: string;
      capture?: Partial<CaptureSettings>;
      /** Unset: the OS's per-user data folder (defaultDataDir). */
      dataDir?: string;
      /** The workspace file to open; unset: the one in use last time. */
      workspace?: string;
    }
  | string {
  let values: {
    host?: string;
    port?: string;
    'capture-dir'?: string;
    'capture-limit'?: string;
    'capture-floor'?: string;
    'data-dir'?: string;
    workspace?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'capture-dir': { type: 'string' },
        'capture-limit': { type: 'string' },
        'capture-floor': { type: 'string' },
        'data-dir': { type: 'string' },
        workspace: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return `${(error as Error).message}\n\n${USAGE}`;
  }
  if (values.help) return USAGE;
  const host = stripBrackets(values.host ?? DEFAULT_HOST);
  if (host.length === 0) return `--host is empty\n\n${USAGE}`;
  const portText = values.port ?? String(DEFAULT_PORT);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    return `--port must be a whole number from 0 to 65535, not "${portText}"\n\n${USAGE}`;
  }
  // From the environment only: a command-line argument is visible to every user in `ps`.
  const token = env['SOCKET_WORKBENCH_TOKEN'] || undefined;
  const weakToken = token === undefined ? null : weakTokenReason(token, 'SOCKET_WORKBENCH_TOKEN');
  if (weakToken !== null) return weakToken;
  const chosenToken = token === undefined ? {} : { token };
  const capture = parseCaptureSettings(
    values['capture-limit'] ?? env['SOCKET_WORKBENCH_CAPTURE_LIMIT'],
    values['capture-floor'] ?? env['SOCKET_WORKBENCH_CAPTURE_FLOOR'],
  );
  if (typeof capture === 'string') return `${capture}\n\n${USAGE}`;
  const chosenCapture = Object.keys(capture).length > 0 ? { capture } : {};
  const dataDirText = values['data-dir'];
  if (dataDirText === '') return `--data-dir is empty\n\n${USAGE}`;
  const dataDir = dataDirText === undefined ? {} : { dataDir: resolve(dataDirText) };
  const workspaceText = values.workspace;
  if (workspaceText === '') return `--workspace is empty\n\n${USAGE}`;
  if (workspaceText !== undefined && !workspaceText.toLowerCase().endsWith('.json')) {
    return `--workspace names a .json file, not "${workspaceText}"\n\n${USAGE}`;
  }
  const workspace = workspaceText === undefined ? {} : { workspace: resolve(workspaceText) };
  const captureDir = values['capture-dir'] ?? env['SOCKET_WORKBENCH_CAPTURE_DIR'];
  if (captureDir === undefined) {
    return { host, port, ...dataDir, ...workspace, ...chosenToken, ...chosenCapture };
  }
  if (captureDir.length === 0) return `--capture-dir is empty\n\n${USAGE}`;
  return {
    host,
    port,
    captureDir: resolve(captureDir),
    ...dataDir,
    ...workspace,
    ...chosenToken,
    ...chosenCapture,
  };
}

/**
 * The renderer folder beside the main one: out/renderer for the built out/main/serve.js, and
 * src/renderer when run from source (`tsx src/main/serve/index.ts`), one folder deeper.
 */
export function defaultRendererDir(moduleUrl: string = import.meta.url): string {
  const built = basename(dirname(fileURLToPath(moduleUrl))) === 'main';
  return fileURLToPath(new URL(built ? '../renderer/' : '../../renderer/', moduleUrl));
}

/** Why the server could not start, in a sentence that says what to do about it. */
function startFailure(
  error: NodeJS.ErrnoException,
  parsed: { host: string; port: number; captureDir?: string },
  rendererDir: string,
): string {
  const where = `${formatHost(parsed.host)}:${parsed.port}`;
  const hints: Record<string, string> = {
    EADDRINUSE: 'pick another with --port (0 picks a free one).',
    EADDRNOTAVAIL: 'pick one of its addresses with --host.',
    EACCES: 'pick a port above 1023.',
  };
  const hint = error.code === undefined ? undefined : hints[error.code];
  if (hint !== undefined) {
    const address = error.code === 'EADDRNOTAVAIL' ? parsed.host : where;
    const sentence = describeSystemError(error.code, error.message, {
      address,
      operation: 'listen',
    }).message;
    return `${sentence}; ${hint}`;
  }
  if (parsed.captureDir !== undefined && error.path?.startsWith(parsed.captureDir)) {
    return `the capture directory ${parsed.captureDir} cannot be used: ${error.message}`;
  }
  if (error.code === 'ENOENT') {
    return `the built renderer is missing (${rendererDir}); run \`npm run build\`.`;
  }
  return error.message;
}

export async function runCommandLine(): Promise<void> {
  const parsed = parseCommandLine(process.argv.slice(2), process.env);
  if (typeof parsed === 'string') {
    const help = parsed === USAGE;
    (help ? process.stdout : process.stderr).write(`${parsed}\n`);
    process.exit(help ? 0 : 2);
  }
  const rendererDir = defaultRendererDir();
  if (!isLoopbackHost(parsed.host)) {
    process.stderr.write(
      `Warning: listening on ${parsed.host}, which other machines can reach. Anyone with the ` +
        'URL and its token can open sockets from this machine. To use it remotely, prefer the ' +
        `default 127.0.0.1 and an SSH tunnel (ssh -L ${parsed.port || DEFAULT_PORT}:127.0.0.1:` +
        `${parsed.port || DEFAULT_PORT} this-host).\n`,
    );
  }
  // Installed before starting, so a signal during start-up is never lost or ignored.
  let running: RunningServer | undefined;
  let stopping = false;
  const stop = (exitCode: number): void => {
    // A second signal, or one before anything is open: nothing left worth waiting for.
    if (stopping || !running) process.exit(exitCode);
    stopping = true;
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop(130));
  process.on('SIGTERM', () => stop(143));

  try {
    running = await startServer({
      host: parsed.host,
      port: parsed.port,
      rendererDir,
      token: parsed.token,
      captureDir: parsed.captureDir,
      capture: parsed.capture,
      dataDir: parsed.dataDir ?? defaultDataDir(process.env),
      workspace: parsed.workspace,
    });
  } catch (error) {
    const reason = startFailure(error as NodeJS.ErrnoException, parsed, rendererDir);
    process.stderr.write(`Socket Workbench could not start: ${reason}\n`);
    process.exit(1);
  }
  process.stdout.write(`Socket Workbench: ${running.url}\n`);
  if (running.exposedAtStart.length > 0) {
    process.stderr.write(
      `Socket Workbench: the workspace opened these where other machines can reach them: ` +
        `${running.exposedAtStart.join(', ')}\n`,
    );
  }
}
