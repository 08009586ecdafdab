/**
 * The router over WebSocket, at /ws: the upgrade checks (Host, token, the page's own Origin),
 * frame checks, and one memory budget shared by all pages, so a page that floods or stops
 * reading is disconnected while the engine and the other pages carry on.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { formatByteSize } from '../../shared/byte-size';
import { COPY_MAX_BYTES, MAX_CAPTURE_READ, type CommandOutput } from '../../shared/contract';
import { WorkbenchError, type UserError } from '../../shared/errors';
import {
  BATCH_FRAMES_PARAM,
  BATCH_FRAMES_VALUE,
  CLIENT_FRAME_LIMITS,
  decodeWire,
  encodeWire,
  encodeWireValue,
  type ServerMessage,
} from '../../shared/wire';
import { Deque } from '../engine/deque';
import type { Router } from '../router';
import type { Access } from './access';
import type { ServeLimits } from './server';

/** Largest WebSocket frame accepted: a maximal payload as hex text, plus framing. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** After the close frame, how long a disconnected page gets before its socket is destroyed. */
const CLOSE_GRACE_MS = 1_000;
/** WebSocket close code 1008: policy violation (RFC 6455 7.4.1). */
const CLOSE_POLICY = 1008;

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

/** What a capture.copy may hold while its answer is built: its bytes, and their text. */
function copyEstimate(input: unknown): number {
  const { from, to, format } = (input ?? {}) as { from?: unknown; to?: unknown; format?: unknown };
  const span =
    typeof from === 'number' && typeof to === 'number' ? Math.max(0, to - from) : COPY_MAX_BYTES;
  const bytes = Math.min(span, COPY_MAX_BYTES);
  const perByte = format === 'c' ? 6 : format === 'hex' ? 3 : 2;
  return bytes * (1 + perByte);
}

/** One page's WebSocket, with what it holds in this process. */
interface Page {
  ws: WebSocket;
  /** Bytes received since its last complete message: a frame still arriving. */
  inFlightBytes: number;
  /** Replies being read or assembled for it (capture reads), not yet queued on the socket. */
  assemblingBytes: number;
  /** Messages waiting to leave together in one frame (pages that asked for batches). */
  batchedBytes: number;
  /** Messages received and waiting for their turn (see CALLS_PER_TURN), as their frames' length. */
  waitingBytes: number;
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
    return (
      page.inFlightBytes +
      page.assemblingBytes +
      page.batchedBytes +
      page.waitingBytes +
      page.ws.bufferedAmount
    );
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

/**
 * Calls of one page started per turn of the event loop (capture reads and copies aside, which
 * run one at a time). A handler builds its whole answer before it is sent: a page that sends a
 * thousand session.snapshot calls in one packet would otherwise have a thousand snapshots built
 * at once. Calls that wait on I/O (a connect, a lookup) hold nothing: only starts are counted.
 */
const CALLS_PER_TURN = 8;

/** A batch frame is sent early once its messages reach this many characters. */
const BATCH_MAX_CHARS = 1024 * 1024;
/**
 * How long list events (endpoint.added/updated/removed) may wait to share a frame: one frame of
 * the page's, as the engine already waits for data (FLUSH_INTERVAL_MS). Connections arrive one
 * per turn of the event loop unless the engine is saturated, so batching by turn alone sends
 * nearly one frame per connection.
 */
const BATCH_WINDOW_MS = 16;

/** Messages that may wait for the batch window; any other one sends the batch, itself last. */
function mayWait(message: ServerMessage): boolean {
  return message.t === 'event' && message.event.startsWith('endpoint.');
}

function serveClient(
  ws: WebSocket,
  socket: Duplex,
  router: Router,
  memory: PageMemory,
  limits: ServeLimits,
  batchFrames: boolean,
): void {
  const page: Page = {
    ws,
    inFlightBytes: 0,
    assemblingBytes: 0,
    batchedBytes: 0,
    waitingBytes: 0,
    evicted: false,
  };
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

  // A burst of small messages in one turn of the event loop (an accept burst sends an
  // endpoint.added for each connection) leaves in one write rather than one system call per
  // message (the engine's largest single cost in an accept burst before): the socket is corked
  // at the turn's first message and uncorked once the turn's I/O callbacks have run.
  let corked = false;
  const coalesceTurn = (): void => {
    if (corked) return;
    corked = true;
    socket.cork();
    setImmediate(() => {
      corked = false;
      socket.uncork();
    });
  };

  const sendFrame = (frame: string): void => {
    if (!open()) return;
    coalesceTurn();
    // The callback runs once this frame is handed to the kernel: a chance to release waiters.
    ws.send(frame, { binary: false }, releaseDrainWaiters);
    memory.enforce();
  };
  // Messages for a page that asked for batches, in order: list events wait up to
  // BATCH_WINDOW_MS; anything else (a result, live data) sends them at once, itself last, and
  // anything sent directly goes after them.
  let batch: string[] = [];
  let batchTimer: NodeJS.Timeout | undefined;
  const flushBatch = (): void => {
    clearTimeout(batchTimer);
    batchTimer = undefined;
    if (batch.length === 0) return;
    const messages = batch;
    batch = [];
    page.batchedBytes = 0;
    sendFrame(
      messages.length === 1
        ? (messages[0] as string)
        : `{"t":"batch","messages":[${messages.join(',')}]}`,
    );
  };
  const queueMessage = (text: string, canWait: boolean): void => {
    if (!batchFrames) {
      sendFrame(text);
      return;
    }
    if (!open()) return;
    batch.push(text);
    page.batchedBytes += text.length;
    if (!canWait || page.batchedBytes >= BATCH_MAX_CHARS) flushBatch();
    else {
      batchTimer ??= setTimeout(flushBatch, BATCH_WINDOW_MS);
      memory.enforce();
    }
  };

  /** One message in fragments, all sent in this same turn, so nothing can come in between. */
  const sendFragments = (fragments: Buffer[]): void => {
    if (!open()) return;
    flushBatch();
    coalesceTurn();
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
    queueMessage(text, mayWait(message));
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

  // A copy's answer is one string of up to COPY_MAX_BYTES formatted (hex triples it): it waits
  // in the same line as capture reads and counts against the page's budget while it is built.
  const copyCapture = (id: number, input: unknown): void => {
    captureReads = captureReads.then(async () => {
      await drained();
      if (!open()) return;
      page.assemblingBytes = copyEstimate(input);
      memory.enforce();
      try {
        const result = await router.invoke('capture.copy', input, view);
        if (open()) send({ t: 'result', id, result });
      } catch (error) {
        fail(id, { code: 'INTERNAL', message: String(error) });
      } finally {
        page.assemblingBytes = 0;
      }
    });
  };

  // Other calls: CALLS_PER_TURN start per turn of the event loop, and none while the page has
  // more than replyHighWaterBytes unsent. A page that sends thousands of calls and reads none of
  // the answers holds a few answers, not thousands; what waits counts as its frames. A
  // notification that comes while calls wait waits behind them: feed.open then feed.close, or
  // capture.find then capture.cancel, keep their order.
  type Waiting =
    | { kind: 'call'; id: number; command: unknown; input: unknown; bytes: number }
    | { kind: 'notify'; name: unknown; input: unknown; bytes: number };
  const waiting = new Deque<Waiting>(64);
  let startedThisTurn = 0;
  let waitingForDrain = false;
  const nextTurn = (): void => {
    startedThisTurn = 0;
    pump();
  };
  const start = (call: Extract<Waiting, { kind: 'call' }>): void => {
    let answer: ReturnType<Router['invoke']>;
    try {
      answer = router.invoke(call.command, call.input, view);
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.then(
      (result) => send({ t: 'result', id: call.id, result }),
      (error: unknown) => fail(call.id, { code: 'INTERNAL', message: String(error) }),
    );
  };
  const pump = (): void => {
    while (waiting.length > 0 && open()) {
      // nextTurn, scheduled by this turn's first start, goes on.
      if (startedThisTurn >= CALLS_PER_TURN) return;
      if (ws.bufferedAmount > limits.replyHighWaterBytes) {
        if (!waitingForDrain) {
          waitingForDrain = true;
          void drained().then(() => {
            waitingForDrain = false;
            pump();
          });
        }
        return;
      }
      const next = waiting.shift() as Waiting;
      page.waitingBytes -= next.bytes;
      if (next.kind === 'notify') {
        router.notify(next.name, next.input, view);
        continue;
      }
      if (startedThisTurn === 0) setImmediate(nextTurn);
      startedThisTurn += 1;
      start(next);
    }
  };
  const enqueue = (message: Waiting): void => {
    waiting.push(message);
    page.waitingBytes += message.bytes;
    memory.enforce();
    pump();
  };

  // Each page is one view: it gets live data through the feeds it opens, as fast as it
  // acknowledges it (feed.ack), so a slow tab never slows a socket.
  const view = router.openView((event) => send({ t: 'event', ...event }));
  ws.on('close', () => {
    clearTimeout(batchTimer);
    batch = [];
    page.batchedBytes = 0;
    view.close();
    waiting.clear();
    page.waitingBytes = 0;
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
    const text = rawDataToText(data);
    try {
      frame = decodeWire(text, CLIENT_FRAME_LIMITS);
    } catch (error) {
      fail(
        -1,
        error instanceof WorkbenchError
          ? error.toUserError()
          : invalidFrame('Frame is not valid JSON'),
      );
      return;
    }
    if (frame === null || typeof frame !== 'object') {
      fail(-1, invalidFrame('Frame must be a JSON object: a call or a notification'));
      return;
    }
    const call = frame as Record<string, unknown>;
    if (call.t === 'notify') {
      // No reply, by definition; a bad one is dropped (the router says why, nobody listens).
      enqueue({ kind: 'notify', name: call.name, input: call.input, bytes: text.length });
      return;
    }
    const id = readableId(frame);
    if (id === undefined || call.t !== 'call') {
      fail(
        id ?? -1,
        invalidFrame(
          'Frame must be {"t":"call","id":<whole number>,"command":...,"input":...} or {"t":"notify","name":...,"input":...}',
        ),
      );
      return;
    }
    if (call.command === 'capture.read') {
      readCapture(id, call.input);
      return;
    }
    if (call.command === 'capture.copy') {
      copyCapture(id, call.input);
      return;
    }
    enqueue({ kind: 'call', id, command: call.command, input: call.input, bytes: text.length });
  });
}

export interface WebSocketTransport {
  /** For the HTTP server's 'upgrade' event: refuses anything but this server's own page. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open page WebSockets. */
  readonly pages: number;
  /** What the pages hold against pageMemoryBudgetBytes. */
  pageMemoryBytes(): number;
  /** Disconnects every page at once. */
  close(): Promise<void>;
}

export function webSocketTransport(
  router: Router,
  access: Access,
  limits: ServeLimits,
): WebSocketTransport {
  const pageMemory = new PageMemory(limits.pageMemoryBudgetBytes);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    // Traffic is mostly base64 bytes; compression costs CPU on the hot path for little gain.
    perMessageDeflate: false,
  });

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const hostHeader = access.checkHost(req);
    if (hostHeader === null) {
      refuseUpgrade(socket, 421, 'This server only answers to its own address.');
      return;
    }
    const url = new URL(req.url ?? '/', `http://${hostHeader}`);
    if (url.pathname !== '/ws') {
      refuseUpgrade(socket, 404, 'The WebSocket is at /ws.');
      return;
    }
    if (!access.hasToken(url)) {
      refuseUpgrade(socket, 401, 'Missing or wrong token.');
      return;
    }
    // Only the page this server served may connect: a foreign page holding a leaked token
    // still cannot drive the engine from the user's browser.
    if (req.headers.origin?.toLowerCase() !== `http://${hostHeader}`) {
      refuseUpgrade(socket, 403, 'WebSocket Origin must be the page served by this server.');
      return;
    }
    access.unauthenticated.authenticate(req.socket);
    const batchFrames = url.searchParams.get(BATCH_FRAMES_PARAM) === BATCH_FRAMES_VALUE;
    wss.handleUpgrade(req, socket, head, (ws) =>
      serveClient(ws, socket, router, pageMemory, limits, batchFrames),
    );
  };

  return {
    upgrade,
    get pages() {
      return pageMemory.size;
    },
    pageMemoryBytes: () => pageMemory.total(),
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((done) => wss.close(() => done()));
    },
  };
}
