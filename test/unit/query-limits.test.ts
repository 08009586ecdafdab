/**
 * What one page can make the engine hold or do through feeds and capture queries: empty
 * datagrams still reach a feed, a page runs a few queries at once, a regex page gives the event
 * loop its turn, and a copy stops when asked. Real loopback sockets throughout.
 */
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type View } from '../../src/main/router';
import type { AnyEvent } from '../../src/shared/api';
import { QUERIES_PER_VIEW_MAX, type CaptureChunk } from '../../src/shared/contract';
import { acceptedFrom, portOf } from '../support/engine-helpers';
import { connectPeer } from '../support/peers';
import { waitUntil } from '../support/wait';
import { cleanupsAfterEach } from '../support/engine';

const host = '127.0.0.1';
const cleanups = cleanupsAfterEach();

/** A TCP listener of `engine`, a peer connected to it, and the connection it accepted. */
async function acceptedConnection(engine: Engine) {
  const listener = await engine.listenTcp({ host, port: 0, backlog: 8, allowHalfOpen: true });
  const peer = await connectPeer({ host, port: portOf(listener) });
  cleanups.push(() => peer.socket.destroy());
  const accepted = await acceptedFrom(engine, listener.id, peer.socket.localPort as number);
  return { peer: peer.socket, accepted };
}

function setUp() {
  const engine = new Engine();
  const router = createRouter(engine);
  const events: AnyEvent[] = [];
  const view: View = router.openView((event) => events.push(event));
  cleanups.push(() => engine.dispose());
  cleanups.push(() => view.close());
  return { engine, router, view, events };
}

describe('feeds and capture queries under a hostile page', () => {
  it('delivers empty datagrams on a feed, not only once a non-empty one arrives', async () => {
    const { router, view, events } = setUp();
    const bound = await router.invoke('udp.bind', { host, port: 0 });
    if (!bound.ok) throw new Error(bound.error.message);
    const udp = bound.value as { id: string; local: { port: number } };
    expect((await router.invoke('feed.open', { feed: 1, id: udp.id }, view)).ok).toBe(true);
    const sender = dgram.createSocket('udp4');
    cleanups.push(() => sender.close());
    for (let i = 0; i < 5; i++) sender.send(new Uint8Array(0), udp.local.port, host);
    const delivered = (): CaptureChunk[] =>
      events.flatMap((e) => (e.event === 'feed.data' ? e.payload.chunks : []));
    await waitUntil('five empty datagrams on the feed', () => delivered().length === 5);
    expect(delivered().every((chunk) => chunk.bytes.byteLength === 0)).toBe(true);
  });

  it(`runs at most ${QUERIES_PER_VIEW_MAX} queries of one page at once, with a typed refusal`, async () => {
    const { engine, router, view } = setUp();
    const { peer, accepted } = await acceptedConnection(engine);
    peer.write(Buffer.alloc(256 * 1024, 'a'));
    await waitUntil('captured', () => engine.info(accepted.id).counters.bytesIn === 256 * 1024);

    const find = (query: number) =>
      router.invoke(
        'capture.find',
        {
          query,
          id: accepted.id,
          find: { kind: 'regex', pattern: 'a[^z]*z|a' },
          maxMatches: 1000,
        },
        view,
      );
    const running = Array.from({ length: QUERIES_PER_VIEW_MAX + 1 }, (_, i) => find(i + 1));
    const results = await Promise.all(running);
    const refused = results.filter((r) => !r.ok);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ ok: false, error: { code: 'TOO_MANY_QUERIES' } });
    // Done: the page may search again.
    expect((await find(99)).ok).toBe(true);
  });

  it('ends a slow regex page early and goes on from there, so pages always move forward', async () => {
    const { engine, router, view } = setUp();
    const { peer, accepted } = await acceptedConnection(engine);
    const size = 6 * 1024;
    peer.write(Buffer.alloc(size, 'a'));
    await waitUntil('captured', () => engine.info(accepted.id).counters.bytesIn === size);

    // Each find scans to the end of the text before it settles for "a": quadratic over a page.
    const offsets: number[] = [];
    let pages = 0;
    for (let from: number | null = 0; from !== null; pages++) {
      const page = await router.invoke(
        'capture.find',
        {
          query: 1,
          id: accepted.id,
          find: { kind: 'regex', pattern: 'a[^z]*z|a' },
          from,
          maxMatches: 1000,
        },
        view,
      );
      if (!page.ok) throw new Error(page.error.message);
      const value = page.value as { matches: { offset: number }[]; next: number | null };
      for (const match of value.matches) offsets.push(match.offset);
      if (value.next !== null) expect(value.next).toBeGreaterThan(from);
      from = value.next;
    }
    // Every "a" is found exactly once, in order, whatever the pages were.
    expect(offsets).toEqual(Array.from({ length: size }, (_, i) => i));
    expect(pages).toBeGreaterThan(1);
  });

  it('stops a copy when the page cancels it', async () => {
    const { engine, router, view } = setUp();
    const { peer, accepted } = await acceptedConnection(engine);
    const size = 16 * 1024 * 1024;
    peer.write(Buffer.alloc(size, 7));
    await waitUntil('captured', () => engine.info(accepted.id).counters.bytesIn === size, 20_000);

    const copy = router.invoke(
      'capture.copy',
      { query: 5, id: accepted.id, from: 0, to: size, format: 'c' },
      view,
    );
    expect(router.notify('capture.cancel', { query: 5 }, view)).toBeNull();
    expect(await copy).toMatchObject({ ok: false, error: { code: 'CANCELLED' } });
  });
});
