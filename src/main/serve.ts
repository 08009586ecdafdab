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
import { isIP, type AddressInfo, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { MAX_CAPTURE_READ, type CommandOutput } from '../shared/contract';
import { WorkbenchError, type UserError } from '../shared/errors';
import {
  CLIENT_FRAME_LIMITS,
  decodeWire,
  encodeWire,
  encodeWireValue,
  type ServerMessage,
} from '../shared/wire';
import { formatByteSize } from '../shared/byte-size';
import { parseCaptureSettings, type CaptureSettings } from './engine/capture-folder';
import { Engine } from './engine/engine';
import { createRouter, type Router } from './router';
import { contentSecurityPolicy } from './security';
import { contentTypeOf } from './content-types';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7357;
/** Largest WebSocket frame accepted: a maximal payload as hex text, plus framing. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * What the server holds back from hostile or broken clients. Each has a default, chosen below
 * and listed in docs/security.md with what the user sees and the test that covers it.
 */
export interface ServeLimits {
  /**
   * Connections that have not presented the token yet (idle, or sending a request without it).
   * Past this many the oldest is closed, so idle connections can neither use up the process's
   * descriptors nor keep the user's own browser out. Pages and WebSockets that presented the
   * token are not counted.
   */
  maxUnauthenticatedSockets: number;
  /** Such a connection that sends nothing for this long is closed. */
  unauthenticatedIdleMs: number;
  /** Node's http timeouts: the whole header block, the whole request, an idle keep-alive. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /**
   * All pages together: frames still arriving, replies being assembled, and everything queued
   * to send but not yet taken by the kernel. Past it the page holding the most is disconnected.
   */
  pageMemoryBudgetBytes: number;
  /** A page's next capture.read waits while this much is queued for it and unsent. */
  replyHighWaterBytes: number;
}

export const DEFAULT_SERVE_LIMITS: Readonly<ServeLimits> = {
  // A browser opens at most six connections to a host; 32 leaves room for a few tabs and stays
  // well inside the 64 descriptors the engine keeps in reserve for everything but its sockets.
  maxUnauthenticatedSockets: 32,
  unauthenticatedIdleMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  // Four frames of the largest size at once; the issue saw 20 stalled ones hold 1.26 GB.
  pageMemoryBudgetBytes: 256 * 1024 * 1024,
  replyHighWaterBytes: 8 * 1024 * 1024,
};

/** After the close frame, how long a disconnected page gets before its socket is destroyed. */
const CLOSE_GRACE_MS = 1_000;
/** WebSocket close code 1008: policy violation (RFC 6455 7.4.1). */
const CLOSE_POLICY = 1008;

/** The strength a token given by the user must have; the generated one has 256 bits. */
export const MIN_TOKEN_BITS = 128;

export interface ServerOptions {
  host?: string;
  /** Any of DEFAULT_SERVE_LIMITS to override (tests use small ones). */
  limits?: Partial<ServeLimits>;
  port?: number;
  /** The built renderer: index.html and its assets (out/renderer). */
  rendererDir: string;
  token?: string;
  /** Share an engine the caller owns; otherwise the server makes one and disposes it on close. */
  engine?: Engine;
  /** Where the engine it makes keeps its capture (default: a private temporary directory). */
  captureDir?: string;
  /** The capture limit and free-space floor of the engine it makes. */
  capture?: Partial<CaptureSettings>;
}

export interface RunningServer {
  /** The URL to open, token included. */
  url: string;
  host: string;
  port: number;
  token: string;
  /** What the limits are holding right now: for tests, benchmarks and diagnostics. */
  stats(): ServerStats;
  close(): Promise<void>;
}

export interface ServerStats {
  /** Connections that have not presented the token (at most maxUnauthenticatedSockets). */
  unauthenticatedSockets: number;
  /** Open page WebSockets. */
  pages: number;
  /** What the pages hold against pageMemoryBudgetBytes. */
  pageMemoryBytes: number;
}

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Standard alphabets a hand-made token is likely drawn from, smallest first. A token's strength
 * is estimated as its length times log2 of the smallest one holding all of its characters: an
 * upper bound, since a person's choice within the alphabet is rarely uniform.
 */
const tokenAlphabets: ReadonlyArray<{ name: string; size: number; holds: RegExp }> = [
  { name: 'decimal digits', size: 10, holds: /^[0-9]*$/ },
  { name: 'hexadecimal', size: 16, holds: /^[0-9a-f]*$/i },
  { name: 'base64url', size: 64, holds: /^[A-Za-z0-9_-]*$/ },
  { name: 'base64', size: 64, holds: /^[A-Za-z0-9+/]*$/ },
  { name: 'printable ASCII', size: 94, holds: /^[\x21-\x7e]*$/ },
];

/** Estimated bits of a token, and the alphabet the estimate assumed; null if not printable ASCII. */
export function tokenStrength(token: string): { bits: number; alphabet: string } | null {
  // Base64 padding carries nothing.
  const text = /^[A-Za-z0-9+/]+=+$/.test(token) ? token.replace(/=+$/, '') : token;
  const alphabet = tokenAlphabets.find((candidate) => candidate.holds.test(text));
  if (!alphabet) return null;
  return { bits: text.length * Math.log2(alphabet.size), alphabet: alphabet.name };
}

/** Why a token the user chose cannot protect the server, or null when it can. */
export function weakTokenReason(token: string, source = 'The token'): string | null {
  const strength = tokenStrength(token);
  if (strength === null) {
    return (
      `${source} may only use printable ASCII characters (no spaces, control characters or ` +
      'other scripts), so that it survives being typed and pasted as part of a URL.'
    );
  }
  if (strength.bits >= MIN_TOKEN_BITS) return null;
  const characters = `${token.length} character${token.length === 1 ? '' : 's'}`;
  return (
    `${source} is too weak: ${characters} of ${strength.alphabet} give about ` +
    `${Math.floor(strength.bits)} bits, and it must have at least ${MIN_TOKEN_BITS} (for ` +
    'example 32 hexadecimal or 22 base64url characters). Leave it unset for a random ' +
    '256-bit token, or make one with `openssl rand -hex 32`.'
  );
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

/** Node's own base64, about fifty times faster than the portable encoder the renderer uses. */
function nodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** The id of a call, when the frame carries a usable one. */
function readableId(frame: unknown): number | undefined {
  if (frame === null || typeof frame !== 'object') return undefined;
  const id = (frame as Record<string, unknown>).id;
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}

/**
 * Connections that have not presented the token. They cost a descriptor each, so they are
 * capped: past the cap the oldest goes, which keeps a flood of idle connections from locking
 * the user out (their browser's connection is the newest, and shows the token at once).
 */
class UnauthenticatedSockets {
  /** In arrival order: a Set iterates oldest first. */
  private readonly sockets = new Set<Socket>();

  constructor(private readonly limits: ServeLimits) {}

  admit(socket: Socket): void {
    for (const oldest of this.sockets) {
      if (this.sockets.size < this.limits.maxUnauthenticatedSockets) break;
      this.sockets.delete(oldest);
      oldest.destroy();
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // Node's own timeout handler is gone once a socket is upgraded; this one stays.
    socket.setTimeout(this.limits.unauthenticatedIdleMs);
    socket.on('timeout', () => {
      if (this.sockets.has(socket)) socket.destroy();
    });
  }

  /** The socket presented the token: no longer counted, no longer on the idle clock. */
  authenticate(socket: Socket): void {
    if (this.sockets.delete(socket)) socket.setTimeout(0);
  }

  isUnauthenticated(socket: Socket): boolean {
    return this.sockets.has(socket);
  }

  get size(): number {
    return this.sockets.size;
  }
}

/** One page's WebSocket, with what it holds in this process. */
interface Page {
  ws: WebSocket;
  /** Bytes received since its last complete message: a frame still arriving. */
  inFlightBytes: number;
  /** Replies being read or assembled for it (capture reads), not yet queued on the socket. */
  assemblingBytes: number;
  /** Disconnected for the memory budget; its socket is destroyed after CLOSE_GRACE_MS. */
  evicted: boolean;
}

/**
 * One memory budget for all pages: frames arriving, replies being assembled, and data queued to
 * send (ws.bufferedAmount). Past it the page holding the most is disconnected with a close
 * reason, and stops being read at once; the engine and the other pages carry on.
 */
class PageMemory {
  private readonly pages = new Set<Page>();

  constructor(private readonly budgetBytes: number) {}

  add(page: Page): void {
    this.pages.add(page);
  }

  remove(page: Page): void {
    this.pages.delete(page);
  }

  get size(): number {
    return this.pages.size;
  }

  total(): number {
    let total = 0;
    for (const page of this.pages) total += this.held(page);
    return total;
  }

  held(page: Page): number {
    return page.inFlightBytes + page.assemblingBytes + page.ws.bufferedAmount;
  }

  /** Called whenever a page's holdings grow. */
  enforce(): void {
    let total = 0;
    for (const page of this.pages) if (!page.evicted) total += this.held(page);
    while (total > this.budgetBytes) {
      let largest: Page | undefined;
      for (const page of this.pages) {
        if (!page.evicted && (!largest || this.held(page) > this.held(largest))) largest = page;
      }
      if (!largest) return;
      const held = this.held(largest);
      total -= held;
      this.evict(largest, held);
    }
  }

  private evict(page: Page, held: number): void {
    page.evicted = true;
    // Stop reading first: a frame still arriving must not grow while the close goes out.
    page.ws.pause();
    // At most 123 bytes (RFC 6455 5.5).
    page.ws.close(
      CLOSE_POLICY,
      `Server memory budget for pages exceeded; this page held the most (${formatByteSize(held)})`,
    );
    // A page that does not read never sees the close frame; its buffers go regardless.
    setTimeout(() => page.ws.terminate(), CLOSE_GRACE_MS).unref();
  }
}

/**
 * The one command whose answer can be megabytes. Its JSON is built chunk by chunk, with a turn
 * of the event loop every CAPTURE_ENCODE_PIECE_BYTES (or CAPTURE_ENCODE_PIECE_CHUNKS chunks), so
 * other pages' commands are answered in between; it comes back as the fragments of one
 * WebSocket message, so no single buffer of the whole answer is ever built. Null when the page
 * went away meanwhile.
 */
async function encodeCaptureRead(
  id: number,
  value: CommandOutput<'capture.read'>,
  page: Page,
  stillWanted: () => boolean,
): Promise<Buffer[] | null> {
  const frame = encodeWire(
    { t: 'result', id, result: { ok: true, value: { ...value, chunks: [] } } },
    nodeBase64,
  );
  // JSON escapes every quote inside a string, so this key can only be the one placed above.
  const slot = frame.indexOf('"chunks":[]') + '"chunks":['.length;
  const fragments: Buffer[] = [];
  let pending: string[] = [frame.slice(0, slot)];
  let pendingLength = 0;
  const flush = (): void => {
    const fragment = Buffer.from(pending.join(''));
    fragments.push(fragment);
    page.assemblingBytes += fragment.length;
    pending = [];
    pendingLength = 0;
  };
  let bytesSinceYield = 0;
  let chunksSinceYield = 0;
  for (const [index, chunk] of value.chunks.entries()) {
    const text = `${index > 0 ? ',' : ''}${encodeWireValue(chunk, nodeBase64)}`;
    pending.push(text);
    pendingLength += text.length;
    if (pendingLength >= CAPTURE_FRAGMENT_BYTES) flush();
    bytesSinceYield += text.length;
    chunksSinceYield += 1;
    if (
      bytesSinceYield >= CAPTURE_ENCODE_PIECE_BYTES ||
      chunksSinceYield >= CAPTURE_ENCODE_PIECE_CHUNKS
    ) {
      bytesSinceYield = 0;
      chunksSinceYield = 0;
      await yieldToEventLoop();
      if (!stillWanted()) return null;
    }
  }
  pending.push(frame.slice(slot));
  flush();
  return fragments;
}

/** Encoded JSON, or chunks (many tiny datagrams), per turn of the event loop. */
const CAPTURE_ENCODE_PIECE_BYTES = 256 * 1024;
const CAPTURE_ENCODE_PIECE_CHUNKS = 2_048;
/** Smallest WebSocket fragment of a capture read's answer (each costs a frame header). */
const CAPTURE_FRAGMENT_BYTES = 64 * 1024;

function serveClient(
  ws: WebSocket,
  socket: Duplex,
  router: Router,
  memory: PageMemory,
  limits: ServeLimits,
): void {
  const page: Page = { ws, inFlightBytes: 0, assemblingBytes: 0, evicted: false };
  memory.add(page);
  const open = (): boolean => ws.readyState === WebSocket.OPEN && !page.evicted;

  // Capture reads wait for these when the page has more than replyHighWaterBytes unsent.
  let drainWaiters: Array<() => void> = [];
  const releaseDrainWaiters = (): void => {
    if (!open() || ws.bufferedAmount <= limits.replyHighWaterBytes) {
      const waiters = drainWaiters;
      drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  };
  const drained = (): Promise<void> =>
    open() && ws.bufferedAmount > limits.replyHighWaterBytes
      ? new Promise((resolve) => drainWaiters.push(resolve))
      : Promise.resolve();

  const sendFrame = (frame: string): void => {
    if (!open()) return;
    // The callback runs once this frame is handed to the kernel: a chance to release waiters.
    ws.send(frame, { binary: false }, releaseDrainWaiters);
    memory.enforce();
  };
  /** One message in fragments, all sent in this same turn, so nothing can come in between. */
  const sendFragments = (fragments: Buffer[]): void => {
    if (!open()) return;
    for (const [index, fragment] of fragments.entries()) {
      const fin = index === fragments.length - 1;
      ws.send(fragment, { binary: false, fin }, fin ? releaseDrainWaiters : undefined);
    }
    memory.enforce();
  };

  const send = (message: ServerMessage): void => {
    if (!open()) return;
    let text: string;
    try {
      text = encodeWire(message, nodeBase64);
    } catch (error) {
      if (message.t !== 'result') return;
      text = encodeWire({
        t: 'result',
        id: message.id,
        result: { ok: false, error: { code: 'INTERNAL', message: String(error) } },
      });
    }
    sendFrame(text);
  };
  const fail = (id: number, error: UserError): void =>
    send({ t: 'result', id, result: { ok: false, error } });

  // A page's capture reads run one at a time, each once what it was sent before has drained:
  // a page that asks for many and never reads holds one answer here, not all of them.
  let captureReads: Promise<void> = Promise.resolve();
  const readCapture = (id: number, input: unknown): void => {
    captureReads = captureReads.then(async () => {
      await drained();
      if (!open()) return;
      // While it is read, a read counts as the length it asked for; then as what it holds.
      const requested = (input as { length?: unknown } | null)?.length;
      page.assemblingBytes =
        typeof requested === 'number' ? Math.min(Math.max(requested, 0), MAX_CAPTURE_READ) : 0;
      memory.enforce();
      try {
        const result = await router.invoke('capture.read', input, view);
        if (!open()) return;
        if (!result.ok) {
          send({ t: 'result', id, result });
          return;
        }
        const value = result.value as CommandOutput<'capture.read'>;
        page.assemblingBytes = value.chunks.reduce((sum, c) => sum + c.bytes.byteLength, 0);
        const fragments = await encodeCaptureRead(id, value, page, open);
        // Counted once: from here on in ws.bufferedAmount.
        page.assemblingBytes = 0;
        if (fragments) sendFragments(fragments);
      } catch (error) {
        fail(id, { code: 'INTERNAL', message: String(error) });
      } finally {
        page.assemblingBytes = 0;
      }
    });
  };

  // Each page is one flow-controlled view: it gets live data for the endpoints it watches
  // (view.watch) as fast as it acknowledges it (view.ack), so a slow tab never slows a socket.
  const view = router.subscribe((event) => send({ t: 'event', ...event }), { flowControl: true });
  ws.on('close', () => {
    view.unsubscribe();
    memory.remove(page);
    releaseDrainWaiters();
  });
  // A broken socket is closed by ws after 'error'; the listener only stops it being thrown.
  ws.on('error', () => {});

  // ws reads the socket first (its listener was added during the upgrade), so by the time this
  // runs a message completed by the chunk has already reset the count: the count errs high, by
  // at most one chunk, never low.
  socket.on('data', (chunk: Buffer) => {
    page.inFlightBytes += chunk.length;
    memory.enforce();
  });

  ws.on('message', (data, isBinary) => {
    page.inFlightBytes = 0;
    if (page.evicted) return;
    if (isBinary) {
      fail(-1, invalidFrame('Frames must be JSON text, not binary'));
      return;
    }
    let frame: unknown;
    try {
      frame = decodeWire(rawDataToText(data), CLIENT_FRAME_LIMITS);
    } catch (error) {
      fail(
        -1,
        error instanceof WorkbenchError
          ? error.toUserError()
          : invalidFrame('Frame is not valid JSON'),
      );
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
    if (call.command === 'capture.read') {
      readCapture(id, call.input);
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
  const limits: ServeLimits = { ...DEFAULT_SERVE_LIMITS, ...options.limits };
  const chosenToken = options.token !== undefined && options.token.length > 0;
  const weakToken = chosenToken ? weakTokenReason(options.token as string) : null;
  if (weakToken !== null) throw new Error(weakToken);
  const token = chosenToken ? (options.token as string) : generateToken();
  const expectedDigest = digest(token);
  const rendererDir = await realpath(resolve(options.rendererDir));
  /**
   * The scripts and styles the page loads (the build's assets folder) are public; everything
   * else, the page above all, needs the token. An allowlist, because a name compared with the
   * page's would miss other spellings of it (`/INDEX.HTML` on a case-insensitive disk).
   */
  const publicDir = resolve(rendererDir, 'assets') + sep;
  const ownsEngine = options.engine === undefined;
  const engine =
    options.engine ?? new Engine({ captureDir: options.captureDir, capture: options.capture });
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

  const unauthenticated = new UnauthenticatedSockets(limits);
  const pageMemory = new PageMemory(limits.pageMemoryBudgetBytes);

  const handleRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const hostHeader = checkHost(req);
    if (hostHeader !== null && hasToken(new URL(req.url ?? '/', `http://${hostHeader}`))) {
      unauthenticated.authenticate(req.socket);
    }
    // Whoever has not shown the token gets one answer per connection, then it is closed.
    if (unauthenticated.isUnauthenticated(req.socket)) res.setHeader('Connection', 'close');
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

  const server = createServer(
    {
      // How often Node looks for requests past headersTimeout / requestTimeout (default 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, limits.headersTimeoutMs / 4)),
    },
    (req, res) => {
      handleRequest(req, res).catch(() => {
        if (!res.headersSent) sendText(res, 500, 'Socket Workbench: internal error.');
        else res.destroy();
      });
    },
  );
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Every connection starts unauthenticated, counted and on the idle clock.
  server.on('connection', (socket: Socket) => unauthenticated.admit(socket));

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    // Traffic is mostly base64 bytes; compression costs CPU on the hot path for little gain.
    perMessageDeflate: false,
  });

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
    unauthenticated.authenticate(req.socket);
    wss.handleUpgrade(req, socket, head, (ws) =>
      serveClient(ws, socket, router, pageMemory, limits),
    );
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
    stats: () => ({
      unauthenticatedSockets: unauthenticated.size,
      pages: pageMemory.size,
      pageMemoryBytes: pageMemory.total(),
    }),
    close,
  };
}

// ---------------------------------------------------------------------------------------------
// Command line: node out/main/serve.js [--host H] [--port P] [--capture-dir DIR]
// ---------------------------------------------------------------------------------------------

const USAGE = `Usage: socket-workbench serve [--host HOST] [--port PORT] [--capture-dir DIR]
                              [--capture-limit SIZE|unlimited] [--capture-floor SIZE]

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
    }
  | string {
  let values: {
    host?: string;
    port?: string;
    'capture-dir'?: string;
    'capture-limit'?: string;
    'capture-floor'?: string;
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
  const captureDir = values['capture-dir'] ?? env['SOCKET_WORKBENCH_CAPTURE_DIR'];
  if (captureDir === undefined) return { host, port, ...chosenToken, ...chosenCapture };
  if (captureDir.length === 0) return `--capture-dir is empty\n\n${USAGE}`;
  return { host, port, captureDir: resolve(captureDir), ...chosenToken, ...chosenCapture };
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
      token: parsed.token,
      captureDir: parsed.captureDir,
      capture: parsed.capture,
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
