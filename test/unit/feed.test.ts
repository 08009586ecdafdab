/**
 * Feeds (design.md: one view's flow-controlled subscription to one endpoint's data) and the
 * one-way notifications that drive them (feed.ack, feed.close, capture.cancel), with real
 * loopback sockets: through the router as Electron's IPC carries it, and through a served page's
 * WebSocket as browser mode carries it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router, type View } from '../../src/main/router';
import { startServer, type RunningServer } from '../../src/main/serve';
import type { AnyEvent } from '../../src/shared/api';
import {
  FEED_WINDOW_MIN,
  FEEDS_PER_VIEW_MAX,
  type CaptureChunk,
  type CommandInput,
  type EndpointInfo,
} from '../../src/shared/contract';
import { decodeWire, encodeWire, type ServerMessage } from '../../src/shared/wire';
import { acceptedFrom, portOf } from '../support/engine-helpers';
import { connectPeer, tempDir } from '../support/peers';
import { waitForState, waitUntil } from '../support/wait';
import { cleanupsAfterEach } from '../support/engine';

const host = '127.0.0.1';
const KiB = 1024;

let engine: Engine;
let router: Router;
let server: RunningServer;
let rendererDir: string;

beforeAll(async () => {
  rendererDir = tempDir();
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>t</title>');
  engine = new Engine();
  router = createRouter(engine);
  server = await startServer({ host, port: 0, rendererDir, engine });
});
afterAll(async () => {
  await server.close();
  await engine.dispose();
  fs.rmSync(rendererDir, { recursive: true, force: true });
});

const cleanups = cleanupsAfterEach();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A listener opened through the router, a peer connected to it, and the accepted connection. */
async function connection(limits: Partial<CommandInput<'tcp.listen'>> = {}) {
  const listened = await router.invoke('tcp.listen', { host, port: 0, ...limits });
  if (!listened.ok) throw new Error(`listen failed: ${listened.error.message}`);
  const listener = listened.value as EndpointInfo;
  const peer = await connectPeer({ host, port: portOf(listener), allowHalfOpen: true });
  cleanups.push(() => peer.socket.destroy());
  const accepted = await acceptedFrom(engine, listener.id, peer.socket.localPort as number);
  return { listener, peer, accepted };
}

/**
 * Resolves in the same turn of the event loop in which the engine captured `bytes` in all: it
 * polls on setImmediate, which runs right after the socket's read and before any timer, so the
 * hub's ~16 ms flush has not yet sent what was just captured.
 */
async function capturedNow(id: string, bytes: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (engine.info(id).counters.bytesIn < bytes) {
    if (Date.now() > deadline) throw new Error(`${id} never captured ${bytes} bytes`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Long enough for the hub to flush what it holds (FLUSH_INTERVAL_MS is 16). */
const flushed = () => sleep(60);

/** A view opened through the router that records every event, per feed. */
function recordingView(options: { autoAck?: ReadonlySet<number> } = {}) {
  const events: AnyEvent[] = [];
  const acked = new Map<number, number>();
  const view: View = router.openView((event) => {
    events.push(event);
    if (event.event !== 'feed.data' || !options.autoAck?.has(event.payload.feed)) return;
    // Parsed a moment later, as a page's terminal would, and acknowledged.
    const { feed } = event.payload;
    const bytes = event.payload.chunks.reduce((sum, c) => sum + c.bytes.byteLength, 0);
    setImmediate(() => {
      expect(router.notify('feed.ack', { feed, bytes }, view)).toBeNull();
      acked.set(feed, (acked.get(feed) ?? 0) + bytes);
    });
  });
  cleanups.push(() => view.close());
  const chunks = (feed: number): CaptureChunk[] =>
    events.flatMap((e) =>
      e.event === 'feed.data' && e.payload.feed === feed ? e.payload.chunks : [],
    );
  return {
    view,
    events,
    chunks,
    bytes: (feed: number) => Buffer.concat(chunks(feed).map((c) => c.bytes)),
    skipped: (feed: number) =>
      events.flatMap((e) =>
        e.event === 'feed.skipped' && e.payload.feed === feed ? [e.payload] : [],
      ),
    acked: (feed: number) => acked.get(feed) ?? 0,
  };
}

/** Chunks in capture order with no gap and no overlap, from `from`; answers where they end. */
function expectContiguous(chunks: CaptureChunk[], from: number): number {
  let at = from;
  for (const chunk of chunks) {
    expect(chunk.offset).toBe(at);
    at += chunk.bytes.byteLength;
  }
  return at;
}

/** What must not change when a notification is refused: every endpoint, in short. */
function signature(): string {
  return engine
    .list()
    .map(
      (e) => `${e.id} ${e.state} ${e.counters.bytesIn} ${e.counters.bytesOut} ${e.timeline.length}`,
    )
    .join('\n');
}

describe('feeds through the router', () => {
  it('gives two feeds on one endpoint in one view independent windows, and closes one alone', async () => {
    const { peer, accepted } = await connection();
    const id = accepted.id;
    const window = 64 * KiB;
    // Feed 2 is acknowledged as it arrives; feed 1, on the same endpoint, never is.
    const page = recordingView({ autoAck: new Set([2]) });
    for (const feed of [1, 2]) {
      expect(
        await router.invoke('feed.open', { feed, id, windowBytes: window }, page.view),
      ).toEqual({ ok: true, value: { start: 0 } });
    }

    // Four windows' worth, a piece at a time, each piece parsed and acknowledged by feed 2's
    // reader before the next is sent: feed 2 is never more than a piece behind.
    const payload = randomBytes(4 * window);
    const piece = 16 * KiB;
    for (let at = 0; at < payload.length; at += piece) {
      peer.socket.write(payload.subarray(at, at + piece));
      await waitUntil(
        `feed 2 to acknowledge ${at + piece} bytes`,
        () => page.acked(2) === at + piece,
      );
    }
    await flushed();

    // The acknowledged feed got every byte, in order, and was never told it skipped any.
    expect(expectContiguous(page.chunks(2), 0)).toBe(payload.length);
    expect(page.bytes(2).equals(payload)).toBe(true);
    expect(page.skipped(2)).toEqual([]);
    // The silent one took exactly its window and stopped there, the socket unslowed.
    expect(page.bytes(1).equals(payload.subarray(0, window))).toBe(true);
    expect(page.skipped(1)).toEqual([]);
    expect(engine.info(id).counters.bytesIn).toBe(payload.length);

    // Once it acknowledges its window it is told exactly the range it did not get.
    expect(router.notify('feed.ack', { feed: 1, bytes: window }, page.view)).toBeNull();
    expect(page.skipped(1)).toEqual([{ feed: 1, offset: window, bytes: payload.length - window }]);

    // Feed 2 closes while bytes for it are captured but still queued for the view: they never
    // arrive, and feed 1 (resumed after its skip) goes on getting the endpoint's data.
    peer.socket.write('after close');
    await capturedNow(id, payload.length + 11);
    expect(page.chunks(1).some((c) => c.offset >= payload.length)).toBe(false);
    expect(router.notify('feed.close', { feed: 2 }, page.view)).toBeNull();
    await waitUntil('feed 1 to get the bytes', () => page.bytes(1).length === window + 11);
    expect(page.chunks(1).at(-1)).toMatchObject({ offset: payload.length });
    expect(Buffer.from(page.chunks(1).at(-1)?.bytes ?? []).toString()).toBe('after close');
    peer.socket.write('and later');
    await waitUntil('feed 1 to get later bytes', () => page.bytes(1).length === window + 20);
    await flushed();
    expect(page.bytes(2).length).toBe(payload.length);
    expect(page.skipped(2)).toEqual([]);

    // The view still shows the endpoint through feed 1, and no longer once that closes too.
    expect(page.view.watches(id)).toBe(true);
    expect(router.notify('feed.close', { feed: 1 }, page.view)).toBeNull();
    expect(page.view.watches(id)).toBe(false);
    peer.socket.write('unseen');
    await capturedNow(id, payload.length + 26);
    await flushed();
    expect(page.bytes(1).length).toBe(window + 20);
  });

  it('refuses feed.open on an unknown endpoint, a number in use, and a 65th feed', async () => {
    const { listener, accepted } = await connection();
    const view = router.openView(() => undefined);
    cleanups.push(() => view.close());
    const open = (feed: number, id: string) => router.invoke('feed.open', { feed, id }, view);

    expect(await open(1, 'conn-999999')).toMatchObject({
      ok: false,
      error: { code: 'UNKNOWN_ENDPOINT' },
    });
    // Refused, so the number stays free.
    expect(await open(1, accepted.id)).toEqual({ ok: true, value: { start: 0 } });
    for (const id of [accepted.id, listener.id]) {
      expect(await open(1, id)).toMatchObject({ ok: false, error: { code: 'FEED_IN_USE' } });
    }

    // Up to FEEDS_PER_VIEW_MAX at once, several on one endpoint if the view wants.
    for (let feed = 2; feed <= FEEDS_PER_VIEW_MAX; feed++) {
      const result = await open(feed, feed % 2 === 0 ? accepted.id : listener.id);
      expect(result.ok, `feed ${feed}`).toBe(true);
    }
    const tooMany = await open(FEEDS_PER_VIEW_MAX + 1, accepted.id);
    expect(tooMany).toMatchObject({ ok: false, error: { code: 'TOO_MANY_FEEDS' } });
    if (!tooMany.ok) expect(tooMany.error.message).toContain(String(FEEDS_PER_VIEW_MAX));
    // A number in use says so, even at the limit.
    expect(await open(5, accepted.id)).toMatchObject({ ok: false, error: { code: 'FEED_IN_USE' } });

    // Closing one makes room for another; a feed needs a view.
    expect(router.notify('feed.close', { feed: 3 }, view)).toBeNull();
    expect((await open(FEEDS_PER_VIEW_MAX + 1, accepted.id)).ok).toBe(true);
    expect(await router.invoke('feed.open', { feed: 1, id: accepted.id })).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT' },
    });
  });

  it('answers a bad notification with an error, never a throw, and leaves the engine as it was', async () => {
    const { peer, accepted } = await connection();
    const page = recordingView();
    await router.invoke(
      'feed.open',
      { feed: 1, id: accepted.id, windowBytes: FEED_WINDOW_MIN },
      page.view,
    );
    const payload = randomBytes(4 * FEED_WINDOW_MIN);
    peer.socket.write(payload);
    await capturedNow(accepted.id, payload.length);
    await flushed();
    expect(page.bytes(1).equals(payload.subarray(0, FEED_WINDOW_MIN))).toBe(true);
    const before = signature();
    const eventsBefore = page.events.length;

    const notify = (name: unknown, input: unknown) => {
      let answer: ReturnType<Router['notify']> | undefined;
      expect(() => (answer = router.notify(name, input, page.view))).not.toThrow();
      return answer;
    };
    // Unknown names, an old one and a command among them: no command runs as a notification.
    for (const name of [
      'no.such',
      'view.ack',
      'tcp.listen',
      'feed',
      '__proto__',
      'toString',
      42,
      null,
    ]) {
      expect(notify(name, { host, port: 0, feed: 1, bytes: 1 }), String(name)).toMatchObject({
        code: 'UNKNOWN_COMMAND',
        message: expect.stringMatching(/^Unknown notification: /),
      });
    }
    // Invalid inputs for real notifications: typed errors naming what is wrong.
    const invalid: Array<[string, unknown]> = [
      ['feed.ack', { feed: 1, bytes: -1 }],
      ['feed.ack', { feed: 1, bytes: 1.5 }],
      ['feed.ack', { feed: 1, bytes: Number.NaN }],
      ['feed.ack', { feed: 1, bytes: '4096' }],
      ['feed.ack', { bytes: 4096 }],
      ['feed.ack', { feed: 0, bytes: 4096 }],
      ['feed.ack', { feed: 1, bytes: 4096, id: accepted.id }],
      ['feed.ack', null],
      ['feed.ack', [1, 4096]],
      ['feed.close', {}],
      ['feed.close', { feed: -1 }],
      ['capture.cancel', { query: 'all' }],
    ];
    for (const [name, input] of invalid) {
      const answer = notify(name, input);
      expect(answer, `${name} ${JSON.stringify(input)}`).toMatchObject({ code: 'INVALID_INPUT' });
      expect(answer?.message).not.toMatch(/\n\s+at /);
    }
    expect(notify('feed.ack', { feed: 1, bytes: -1 })?.message).toMatch(/bytes/);

    // Valid, but for a feed or query this view does not have: accepted and ignored.
    expect(notify('feed.ack', { feed: 99, bytes: 4096 })).toBeNull();
    expect(notify('feed.close', { feed: 99 })).toBeNull();
    expect(notify('capture.cancel', { query: 99 })).toBeNull();

    // Nothing changed: no endpoint, no event, and no credit for feed 1 from any of the above.
    await flushed();
    expect(signature()).toBe(before);
    expect(page.events.length).toBe(eventsBefore);
    expect(page.view.watches(accepted.id)).toBe(true);

    // The real acknowledgement still works: the feed resumes, told what it skipped.
    expect(notify('feed.ack', { feed: 1, bytes: FEED_WINDOW_MIN })).toBeNull();
    expect(page.skipped(1)).toEqual([
      { feed: 1, offset: FEED_WINDOW_MIN, bytes: payload.length - FEED_WINDOW_MIN },
    ]);
  });

  it('stops a capture query on capture.cancel, and every query of a view when it closes', async () => {
    const view = router.openView(() => undefined);
    cleanups.push(() => view.close());
    const signals = new Map<number, AbortSignal>();
    const query = (n: number) =>
      view.runQuery(
        n,
        (signal) =>
          new Promise<string>((resolve) => {
            signals.set(n, signal);
            signal.addEventListener('abort', () => resolve(`query ${n} aborted`));
          }),
      );
    const first = query(1);
    const second = query(2);
    expect(router.notify('capture.cancel', { query: 1 }, view)).toBeNull();
    expect(await first).toBe('query 1 aborted');
    expect(signals.get(2)?.aborted).toBe(false);
    // A query number reused while its query runs stops the one before.
    const third = query(2);
    expect(await second).toBe('query 2 aborted');
    const fourth = query(3);
    view.close();
    expect(await third).toBe('query 2 aborted');
    expect(await fourth).toBe('query 3 aborted');
    expect([...signals.values()].every((signal) => signal.aborted)).toBe(true);
  });

  it('no longer treats endpoints as shown once the view that showed them closes', async () => {
    const { accepted } = await connection();
    const view = router.openView(() => undefined);
    const hub = (
      engine as unknown as { hub: { isWatched(id: string): boolean; viewCount: number } }
    ).hub;
    const views = hub.viewCount;
    expect((await router.invoke('feed.open', { feed: 1, id: accepted.id }, view)).ok).toBe(true);
    expect(view.watches(accepted.id)).toBe(true);
    expect(hub.isWatched(accepted.id)).toBe(true);
    view.close();
    expect(hub.viewCount).toBe(views - 1);
    expect(hub.isWatched(accepted.id)).toBe(false);
  });

  // The page went away, so its feeds end (View.close).
  it('answers watches() with false once the view has closed', async () => {
    const { accepted } = await connection();
    const view = router.openView(() => undefined);
    view.openFeed(1, accepted.id);
    view.close();
    expect(view.watches(accepted.id)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// A served page's WebSocket
// ---------------------------------------------------------------------------------------------

/** A page's end of the wire: numbered calls, raw frames, every message it is sent. */
async function openPage() {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`, {
    origin: `http://127.0.0.1:${server.port}`,
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const messages: ServerMessage[] = [];
  const pending = new Map<number, (result: unknown) => void>();
  let closed = false;
  ws.on('close', () => (closed = true));
  ws.on('message', (raw: Buffer) => {
    const message = decodeWire(raw.toString('utf8')) as ServerMessage;
    messages.push(message);
    if (message.t === 'result') pending.get(message.id)?.(message.result);
  });
  let nextId = 1;
  const page = {
    ws,
    messages,
    isClosed: () => closed,
    async call(command: string, input: unknown): Promise<{ ok: boolean; value?: unknown }> {
      const id = nextId++;
      const result = new Promise<unknown>((resolve) => pending.set(id, resolve));
      ws.send(encodeWire({ t: 'call', id, command, input }));
      return (await result) as { ok: boolean; value?: unknown };
    },
    send: (text: string) => ws.send(text),
    results: () => messages.filter((m) => m.t === 'result'),
    chunks: (feed: number) =>
      messages.flatMap((m) =>
        m.t === 'event' && m.event === 'feed.data' && m.payload.feed === feed
          ? m.payload.chunks
          : [],
      ),
    skipped: (feed: number) =>
      messages.flatMap((m) =>
        m.t === 'event' && m.event === 'feed.skipped' && m.payload.feed === feed ? [m.payload] : [],
      ),
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close();
      }),
  };
  cleanups.push(() => page.close());
  return page;
}

type Page = Awaited<ReturnType<typeof openPage>>;
const received = (page: Page, feed: number) =>
  page.chunks(feed).reduce((sum, c) => sum + c.bytes.byteLength, 0);

/** A page with feed 1 open on a new connection, its FEED_WINDOW_MIN window filled and stalled. */
async function stalledFeed() {
  const page = await openPage();
  const { peer, accepted } = await connection();
  expect(
    await page.call('feed.open', { feed: 1, id: accepted.id, windowBytes: FEED_WINDOW_MIN }),
  ).toEqual({ ok: true, value: { start: 0 } });
  const payload = randomBytes(4 * FEED_WINDOW_MIN);
  peer.socket.write(payload);
  await capturedNow(accepted.id, payload.length);
  await waitUntil('the window to fill', () => received(page, 1) === FEED_WINDOW_MIN);
  await flushed();
  expect(received(page, 1)).toBe(FEED_WINDOW_MIN);
  return { page, peer, accepted, payload };
}

describe('notifications over a served page WebSocket', () => {
  it('takes a notify frame with no reply, and its ack lets more data flow', async () => {
    const { page, peer, accepted, payload } = await stalledFeed();
    const resultsBefore = page.results().length;

    page.send(JSON.stringify({ t: 'notify', name: 'feed.ack', input: { feed: 1, bytes: 2048 } }));
    // Not yet down to a quarter of the window: nothing more.
    await flushed();
    expect(page.skipped(1)).toEqual([]);
    page.send(JSON.stringify({ t: 'notify', name: 'feed.ack', input: { feed: 1, bytes: 2048 } }));
    await waitUntil('the skipped notice', () => page.skipped(1).length > 0);
    expect(page.skipped(1)).toEqual([
      { feed: 1, offset: FEED_WINDOW_MIN, bytes: payload.length - FEED_WINDOW_MIN },
    ]);

    // Live data flows again, from where the skip ended.
    peer.socket.write('flowing again');
    await waitUntil('new data', () => received(page, 1) === FEED_WINDOW_MIN + 13);
    expect(page.chunks(1).at(-1)).toMatchObject({ offset: payload.length });
    expect(Buffer.from(page.chunks(1).at(-1)?.bytes ?? []).toString()).toBe('flowing again');

    // A notification carrying an id is still one: nothing answers it, not even with that id.
    page.send(JSON.stringify({ t: 'notify', id: 77, name: 'feed.close', input: { feed: 1 } }));
    expect(await page.call('engine.status', {})).toMatchObject({ ok: true });
    await flushed();
    const results = page.results();
    expect(results.length).toBe(resultsBefore + 1);
    expect(results.some((m) => m.t === 'result' && m.id === 77)).toBe(false);
    // And it did what it says: feed 1 is closed.
    peer.socket.write('after close');
    await capturedNow(accepted.id, payload.length + 24);
    await flushed();
    expect(received(page, 1)).toBe(FEED_WINDOW_MIN + 13);
  });

  it('drops a malformed notify frame without a reply, keeps the socket, and serves what follows', async () => {
    const { page, accepted, payload } = await stalledFeed();
    const resultsBefore = page.results().length;
    const listenersBefore = engine.list().filter((e) => e.role === 'listener').length;
    const frames = [
      { t: 'notify' },
      { t: 'notify', name: 'feed.ack' },
      { t: 'notify', name: 'feed.ack', input: { feed: 1, bytes: -4096 } },
      { t: 'notify', name: 'feed.ack', input: { feed: '1', bytes: 4096 } },
      { t: 'notify', name: 'feed.ack', input: { feed: 1, bytes: 4096, extra: true } },
      { t: 'notify', name: 'feed.ack', input: [1, 4096] },
      { t: 'notify', name: { 'feed.ack': true }, input: { feed: 1, bytes: 4096 } },
      { t: 'notify', name: 'no.such', input: {} },
      { t: 'notify', name: '__proto__', input: { feed: 1, bytes: 4096 } },
      // A command sent as a notification does not run.
      { t: 'notify', name: 'tcp.listen', input: { host, port: 0 } },
      { t: 'notify', name: 'feed.open', input: { feed: 2, id: accepted.id } },
    ];
    for (const frame of frames) page.send(JSON.stringify(frame));

    // Still open, still answering, and none of them did anything.
    const status = await page.call('engine.status', {});
    expect(status).toMatchObject({ ok: true });
    await flushed();
    expect(page.isClosed()).toBe(false);
    expect(page.results().length).toBe(resultsBefore + 1);
    expect(engine.list().filter((e) => e.role === 'listener').length).toBe(listenersBefore);
    expect(page.skipped(1)).toEqual([]);
    expect(page.chunks(2)).toEqual([]);
    expect(received(page, 1)).toBe(FEED_WINDOW_MIN);

    // A well-formed one then works as ever.
    page.send(
      JSON.stringify({ t: 'notify', name: 'feed.ack', input: { feed: 1, bytes: FEED_WINDOW_MIN } }),
    );
    await waitUntil('the skipped notice', () => page.skipped(1).length > 0);
    expect(page.skipped(1)[0]).toEqual({
      feed: 1,
      offset: FEED_WINDOW_MIN,
      bytes: payload.length - FEED_WINDOW_MIN,
    });
  });

  // A frame of `null` once threw from the WebSocket's message handler: an uncaught exception
  // would end the whole serve process.
  it('answers a frame of null with an error instead of throwing', async () => {
    const page = await openPage();
    page.send('null');
    expect(await page.call('engine.status', {})).toMatchObject({ ok: true });
    expect(page.isClosed()).toBe(false);
  });

  it('ends a page’s feeds when its WebSocket closes: an idle half-closed connection closes again', async () => {
    const page = await openPage();
    const listened = await page.call('tcp.listen', { host, port: 0, halfClosedIdleMs: 100 });
    expect(listened.ok).toBe(true);
    const listener = listened.value as EndpointInfo;
    const peer = await connectPeer({ host, port: portOf(listener), allowHalfOpen: true });
    cleanups.push(() => peer.socket.destroy());
    const accepted = await acceptedFrom(engine, listener.id, peer.socket.localPort as number);
    expect(await page.call('feed.open', { feed: 1, id: accepted.id })).toMatchObject({ ok: true });

    // Half-closed by its peer and idle for several idle times: kept, because the page shows it.
    peer.socket.end();
    await waitForState(engine, accepted.id, 'half-closed-remote');
    await sleep(500);
    expect(engine.info(accepted.id).state).toBe('half-closed-remote');
    expect(engine.info(accepted.id).timeline.map((t) => t.event)).not.toContain('idle-close');

    // The tab goes away: nothing shows the connection any more, and it is closed as idle.
    await page.close();
    await waitUntil('the page to be gone', () => server.stats().pages === 0);
    const closed = await waitForState(engine, accepted.id, 'closed');
    expect(closed.timeline.map((t) => t.event)).toContain('idle-close');
    await peer.ended;
  });
});
