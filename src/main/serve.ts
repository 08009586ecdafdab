/**
 * Browser mode: the built renderer over HTTP and the router over WebSocket, on one port.
 *
 * Any web page the user visits can try to reach a localhost port. Every request must name this
 * server in its Host header (DNS rebinding); the page and the WebSocket need the token printed
 * at start, in the URL (`?token=`); the WebSocket also needs the page's own Origin. The scripts
 * and styles the page loads are the public build and need no token, so no cookie is ever set:
 * cookies are not bound to a port, and any other service on this host would receive one.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { realpath, readFile, stat } from 'node:fs/promises';
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { UserError } from '../shared/errors';
import { decodeWire, encodeWire, type ServerMessage } from '../shared/wire';
import { Engine } from './engine/engine';
import { createRouter, type Router } from './router';
import { contentSecurityPolicy } from './security';
import { contentTypeOf } from './content-types';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7357;
/** Largest WebSocket frame accepted: a maximal payload as hex text, plus framing. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/**
 * A page that stops reading its socket would make the server buffer events forever; past this
 * much unsent data it is disconnected (it can reload and start again from session.snapshot).
 */
const MAX_BUFFERED_BYTES = 256 * 1024 * 1024;

export interface ServerOptions {
  host?: string;
  port?: number;
  /** The built renderer: index.html and its assets (out/renderer). */
  rendererDir: string;
  token?: string;
  /** Share an engine the caller owns; otherwise the server makes one and disposes it on close. */
  engine?: Engine;
  /** Where the engine it makes keeps its capture (default: a private temporary directory). */
  captureDir?: string;
}

export interface RunningServer {
  /** The URL to open, token included. */
  url: string;
  host: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/** A host as it appears in a URL: IPv6 literals in brackets. */
export function formatHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '::0';
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time comparison: digests make the lengths equal whatever the candidate is. */
function tokenMatches(candidate: string | undefined, expected: Buffer): boolean {
  if (candidate === undefined || candidate.length === 0) return false;
  return timingSafeEqual(digest(candidate), expected);
}

/**
 * The Host header values that name this server. Anything else is a DNS-rebinding attempt (or a
 * proxy we were not told about), so it is refused before the token is even looked at.
 */
function allowedHostHeaders(host: string, port: number): Set<string> {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]', formatHost(host).toLowerCase()]);
  if (isWildcardHost(host)) {
    // Bound to every interface: the user reaches it by one of this machine's addresses.
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) {
        names.add(formatHost(address.address.toLowerCase()));
      }
    }
  }
  const allowed = new Set<string>();
  for (const name of names) {
    allowed.add(`${name}:${port}`);
    // Browsers leave the default port out of Host and Origin.
    if (port === 80) allowed.add(name);
  }
  return allowed;
}

/**
 * Maps a request path to a file under `root`, or null when the path tries to leave it. Each
 * segment is decoded first, so `%2e%2e` and `..%2f` are caught as well as a literal `..`.
 */
function resolveRequestPath(root: string, rawPath: string): string | null {
  const segments: string[] = [];
  for (const raw of rawPath.split('/').slice(1)) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (segment === '.' || segment === '..') return null;
    if (/[/\\\0:]/.test(segment)) return null;
    segments.push(segment);
  }
  if (segments.length === 0 || segments[segments.length - 1] === '') {
    segments[Math.max(segments.length - 1, 0)] = 'index.html';
  }
  if (segments.some((s) => s === '')) return null;
  const file = resolve(root, ...segments);
  return file.startsWith(root + sep) ? file : null;
}

function securityHeaders(websocketOrigin: string): OutgoingHttpHeaders {
  return {
    'Content-Security-Policy': contentSecurityPolicy(websocketOrigin),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: OutgoingHttpHeaders = {},
): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Refuses a WebSocket upgrade with a plain HTTP answer, before the handshake completes. */
function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      '\r\n' +
      body,
  );
}

function rawDataToText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function invalidFrame(message: string): UserError {
  return { code: 'INVALID_INPUT', message };
}

/** The id of a call, when the frame carries a usable one. */
function readableId(frame: unknown): number | undefined {
  if (frame === null || typeof frame !== 'object') return undefined;
  const id = (frame as Record<string, unknown>).id;
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}

function serveClient(ws: WebSocket, router: Router): void {
  const send = (message: ServerMessage): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    let text: string;
    try {
      text = encodeWire(message);
    } catch (error) {
      if (message.t !== 'result') return;
      text = encodeWire({
        t: 'result',
        id: message.id,
        result: { ok: false, error: { code: 'INTERNAL', message: String(error) } },
      });
    }
    if (ws.bufferedAmount + text.length > MAX_BUFFERED_BYTES) {
      ws.close(1008, 'Page is not reading its events');
      return;
    }
    ws.send(text);
  };
  const fail = (id: number, error: UserError): void =>
    send({ t: 'result', id, result: { ok: false, error } });

  // Each page is one flow-controlled view: it gets live data for the endpoints it watches
  // (view.watch) as fast as it acknowledges it (view.ack), so a slow tab never slows a socket.
  const view = router.subscribe((event) => send({ t: 'event', ...event }), { flowControl: true });
  ws.on('close', () => view.unsubscribe());
  // A broken socket is closed by ws after 'error'; the listener only stops it being thrown.
  ws.on('error', () => {});

  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      fail(-1, invalidFrame('Frames must be JSON text, not binary'));
      return;
    }
    let frame: unknown;
    try {
      frame = decodeWire(rawDataToText(data));
    } catch {
      fail(-1, invalidFrame('Frame is not valid JSON'));
      return;
    }
    const id = readableId(frame);
    const call = frame as Record<string, unknown>;
    if (id === undefined || call.t !== 'call') {
      fail(
        id ?? -1,
        invalidFrame('Frame must be {"t":"call","id":<whole number>,"command":...,"input":...}'),
      );
      return;
    }
    router.invoke(call.command, call.input, view).then(
      (result) => send({ t: 'result', id, result }),
      (error: unknown) => fail(id, { code: 'INTERNAL', message: String(error) }),
    );
  });
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = stripBrackets(options.host ?? DEFAULT_HOST);
  const token = options.token && options.token.length > 0 ? options.token : generateToken();
  const expectedDigest = digest(token);
  const rendererDir = await realpath(resolve(options.rendererDir));
  /**
   * The scripts and styles the page loads (the build's assets folder) are public; everything
   * else, the page above all, needs the token. An allowlist, because a name compared with the
   * page's would miss other spellings of it (`/INDEX.HTML` on a case-insensitive disk).
   */
  const publicDir = resolve(rendererDir, 'assets') + sep;
  const ownsEngine = options.engine === undefined;
  const engine = options.engine ?? new Engine({ captureDir: options.captureDir });
  const router = createRouter(engine);

  // Filled in once listening: with port 0 the port is only known then.
  let allowedHosts = new Set<string>();

  /** The Host header, if it names this server. */
  const checkHost = (req: IncomingMessage): string | null => {
    const value = req.headers.host?.toLowerCase();
    return value !== undefined && allowedHosts.has(value) ? value : null;
  };

  const hasToken = (url: URL): boolean =>
    tokenMatches(url.searchParams.get('token') ?? undefined, expectedDigest);

  const handleRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const hostHeader = checkHost(req);
    if (hostHeader === null) {
      sendText(res, 421, 'Socket Workbench: this server only answers to its own address.');
      return;
    }
    const headers = securityHeaders(`ws://${hostHeader}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'Socket Workbench: only GET and HEAD are served.', {
        ...headers,
        Allow: 'GET, HEAD',
      });
      return;
    }
    const rawUrl = req.url ?? '/';
    const url = new URL(rawUrl, `http://${hostHeader}`);
    // The raw path, not url.pathname: the URL parser would already have folded away `..`.
    const rawPath = rawUrl.split(/[?#]/, 1)[0] ?? '/';
    const file = rawPath.startsWith('/') ? resolveRequestPath(rendererDir, rawPath) : null;
    if (file === null) {
      sendText(res, 400, 'Socket Workbench: that path is not allowed.', headers);
      return;
    }
    if (!file.startsWith(publicDir) && !hasToken(url)) {
      sendText(
        res,
        401,
        'Socket Workbench needs its access token. Open the full URL printed when the server ' +
          'started (http://HOST:PORT/?token=...).',
        headers,
      );
      return;
    }
    let body: Buffer;
    try {
      const real = await realpath(file);
      if (!real.startsWith(rendererDir + sep) || !(await stat(real)).isFile()) throw new Error();
      body = await readFile(real);
    } catch {
      // Browsers ask for a favicon unprompted; an empty answer keeps the console clean.
      if (rawPath === '/favicon.ico') {
        res.writeHead(204, headers);
        res.end();
        return;
      }
      sendText(res, 404, 'Socket Workbench: not found.', headers);
      return;
    }
    const type = contentTypeOf(file);
    const responseHeaders: OutgoingHttpHeaders = {
      ...headers,
      'Content-Type': type,
      'Content-Length': body.length,
      'Cache-Control': 'no-cache',
    };
    res.writeHead(200, responseHeaders);
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const server = createServer((req, res) => {
    handleRequest(req, res).catch(() => {
      if (!res.headersSent) sendText(res, 500, 'Socket Workbench: internal error.');
      else res.destroy();
    });
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    // Traffic is mostly base64 bytes; compression costs CPU on the hot path for little gain.
    perMessageDeflate: false,
  });
  wss.on('connection', (ws) => serveClient(ws, router));

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const hostHeader = checkHost(req);
    if (hostHeader === null) {
      refuseUpgrade(socket, 421, 'This server only answers to its own address.');
      return;
    }
    const url = new URL(req.url ?? '/', `http://${hostHeader}`);
    if (url.pathname !== '/ws') {
      refuseUpgrade(socket, 404, 'The WebSocket is at /ws.');
      return;
    }
    if (!hasToken(url)) {
      refuseUpgrade(socket, 401, 'Missing or wrong token.');
      return;
    }
    // Only the page this server served may connect: a foreign page holding a leaked token
    // still cannot drive the engine from the user's browser.
    if (req.headers.origin?.toLowerCase() !== `http://${hostHeader}`) {
      refuseUpgrade(socket, 403, 'WebSocket Origin must be the page served by this server.');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  try {
    await new Promise<void>((resolveListen, rejectListen) => {
      server.once('error', rejectListen);
      server.listen(options.port ?? DEFAULT_PORT, host, () => {
        server.off('error', rejectListen);
        resolveListen();
      });
    });
  } catch (error) {
    if (ownsEngine) await engine.dispose();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  allowedHosts = allowedHostHeaders(host, port);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((done) => wss.close(() => done()));
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      if (ownsEngine) await engine.dispose();
    })();
    return closing;
  };

  return {
    url: `http://${formatHost(host)}:${port}/?token=${encodeURIComponent(token)}`,
    host,
    port,
    token,
    close,
  };
}

// ---------------------------------------------------------------------------------------------
// Command line: node out/main/serve.js [--host H] [--port P] [--capture-dir DIR]
// ---------------------------------------------------------------------------------------------

const USAGE = `Usage: socket-workbench serve [--host HOST] [--port PORT] [--capture-dir DIR]

Serves Socket Workbench to a browser at http://HOST:PORT/?token=TOKEN.
  --host HOST         address to listen on (default ${DEFAULT_HOST}; anything but loopback
                      exposes the workbench to your network)
  --port PORT         port to listen on (default ${DEFAULT_PORT}; 0 picks a free port)
  --capture-dir DIR   keep the capture files (every byte, and their index) in DIR, where they
                      stay after the server stops (default: a private temporary directory,
                      removed on exit; or SOCKET_WORKBENCH_CAPTURE_DIR)
The token is random unless SOCKET_WORKBENCH_TOKEN is set.`;

export function parseCommandLine(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): { host: string; port: number; captureDir?: string } | string {
  let values: { host?: string; port?: string; 'capture-dir'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'capture-dir': { type: 'string' },
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
  const captureDir = values['capture-dir'] ?? env['SOCKET_WORKBENCH_CAPTURE_DIR'];
  if (captureDir === undefined) return { host, port };
  if (captureDir.length === 0) return `--capture-dir is empty\n\n${USAGE}`;
  return { host, port, captureDir: resolve(captureDir) };
}

/** out/renderer, beside the built out/main/serve.js. */
export function defaultRendererDir(): string {
  return fileURLToPath(new URL('../renderer/', import.meta.url));
}

async function main(): Promise<void> {
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
      token: process.env.SOCKET_WORKBENCH_TOKEN,
      captureDir: parsed.captureDir,
    });
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    const where = `${formatHost(parsed.host)}:${parsed.port}`;
    const reason =
      err.code === 'EADDRINUSE'
        ? `${where} is already in use; pick another with --port (0 picks a free one).`
        : err.code === 'EADDRNOTAVAIL'
          ? `${parsed.host} is not an address of this machine.`
          : err.code === 'EACCES'
            ? `${where} needs elevated privileges; pick a port above 1023.`
            : parsed.captureDir !== undefined && err.path?.startsWith(parsed.captureDir)
              ? `the capture directory ${parsed.captureDir} cannot be used: ${err.message}`
              : err.code === 'ENOENT'
                ? `the built renderer is missing (${rendererDir}); run \`npm run build\`.`
                : err.message;
    process.stderr.write(`Socket Workbench could not start: ${reason}\n`);
    process.exit(1);
  }
  process.stdout.write(`Socket Workbench: ${running.url}\n`);
}

function isEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntry()) void main();
