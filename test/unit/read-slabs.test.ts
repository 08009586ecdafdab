/**
 * Stream reads land in one shared buffer and are kept in reused slabs (issue 15, the capture
 * path). Reuse is only safe if a slab goes round after its bytes are on disk and out of memory,
 * and if what leaves the capture (a view's feed, a read) is a copy: these tests fail if either
 * is broken, with real sockets and a budget small enough that slabs go round hundreds of times.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ReadSlabs, SLAB_BYTES } from '../../src/main/engine/read-slabs';
import type { AnyEvent } from '../../src/shared/api';
import type { CaptureChunk } from '../../src/shared/contract';
import { dataBytesIn } from '../support/capture';
import { MiB } from '../support/engine-helpers';
import {
  cleanupsAfterEach,
  connectLocalTcp,
  enginesDisposedWith,
  listenerWithPeer,
} from '../support/engine';
import { tempDir } from '../support/peers';
import { waitUntil } from '../support/wait';

const cleanups = cleanupsAfterEach();
const newEngine = enginesDisposedWith(cleanups);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('ReadSlabs', () => {
  it('reuses a slab only once its chunks are dropped and on disk', () => {
    const slabs = new ReadSlabs(4);
    const read = new Uint8Array(SLAB_BYTES / 4).fill(7);
    const first = [0, 1, 2, 3].map((i) => {
      const copy = slabs.copy(read);
      slabs.logged(copy, (i + 1) * read.byteLength);
      return copy;
    });
    expect(first.every((copy) => copy.buffer === first[0]?.buffer)).toBe(true);
    // The fifth read starts a second slab; the first is still held by the tail and not on disk.
    const second = slabs.copy(read.fill(8));
    expect(second.buffer).not.toBe(first[0]?.buffer);
    for (const copy of first) slabs.dropped(copy);
    expect(slabs.counts).toEqual({ inUse: 2, spare: 0 });
    // Out of memory but not yet written: still not reusable.
    slabs.persistedUpTo(3 * read.byteLength);
    expect(slabs.counts).toEqual({ inUse: 2, spare: 0 });
    slabs.persistedUpTo(4 * read.byteLength);
    expect(slabs.counts).toEqual({ inUse: 1, spare: 1 });
    // Fill the second slab: the third one is the first slab's memory, and the copy is exact.
    for (let i = 0; i < 3; i++) slabs.copy(read);
    const reused = slabs.copy(new Uint8Array(16).fill(9));
    expect(reused.buffer).toBe(first[0]?.buffer);
    expect([...reused]).toEqual(new Array(16).fill(9));
  });

  it('gives a read larger than a quarter slab a buffer of its own', () => {
    const slabs = new ReadSlabs(4);
    const big = randomBytes(SLAB_BYTES / 2);
    const copy = slabs.copy(big);
    expect(Buffer.from(copy).equals(big)).toBe(true);
    expect(copy.byteLength).toBe(copy.buffer.byteLength);
    slabs.dropped(copy); // not a slab's: ignored
    expect(slabs.counts).toEqual({ inUse: 0, spare: 0 });
  });
});

describe('stream reads through reused slabs', () => {
  it('keeps every byte exact in the file, in reads and in a view that held its chunks', async () => {
    const dir = tempDir();
    // A 1 MiB budget: 48 MiB sends every slab round dozens of times.
    const engine = newEngine({ captureDir: dir, captureMemoryBytes: MiB });
    const { peer, accepted } = await listenerWithPeer(engine);
    cleanups.push(() => peer.socket.destroy());
    // A view that keeps every chunk it is sent and acknowledges it at once: the chunks it holds
    // are compared after the flood, when the slabs they came from have long been reused.
    const held: CaptureChunk[] = [];
    const view = engine.openView((event: AnyEvent) => {
      if (event.event !== 'feed.data') return;
      for (const chunk of event.payload.chunks) {
        held.push(chunk);
        view.ack(1, chunk.bytes.byteLength);
      }
    });
    cleanups.push(() => view.close());
    view.openFeed(1, accepted.id, 4 * MiB);

    const payload = randomBytes(48 * MiB);
    peer.socket.end(payload);
    await waitUntil(
      'every byte captured',
      () => engine.info(accepted.id).counters.bytesIn === payload.length,
      60_000,
    );
    await engine.flushCapture();

    expect(dataBytesIn(engine.status().capture.folder)).toBe(payload.length);
    const parts: Uint8Array[] = [];
    for (let offset = 0; offset < payload.length; offset += 4 * MiB) {
      for (const chunk of engine.readCapture(accepted.id, offset, 4 * MiB).chunks) {
        parts.push(chunk.bytes);
      }
    }
    expect(sha256(Buffer.concat(parts))).toBe(sha256(payload));
    // The last megabyte is still in memory: a read of it is a copy, not the slab itself.
    const recent = engine.readCapture(accepted.id, payload.length - MiB, MiB).chunks;
    expect(recent.every((chunk) => chunk.bytes.byteLength === chunk.bytes.buffer.byteLength)).toBe(
      true,
    );
    const recentBytes = Buffer.concat(recent.map((chunk) => chunk.bytes));
    expect(recentBytes.equals(payload.subarray(payload.length - MiB))).toBe(true);

    expect(held.length).toBeGreaterThan(0);
    let wrong = 0;
    for (const chunk of held) {
      const expected = payload.subarray(chunk.offset, chunk.offset + chunk.bytes.byteLength);
      if (!Buffer.from(chunk.bytes).equals(expected)) wrong += 1;
    }
    expect(wrong).toBe(0);
  });

  it('a client connection reads the same way, and a paused one stops the peer', async () => {
    const engine = newEngine({ captureMemoryBytes: MiB });
    const server = net.createServer();
    const sockets: net.Socket[] = [];
    server.on('connection', (socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      server.close();
    });
    const port = (server.address() as net.AddressInfo).port;
    const client = await connectLocalTcp(engine, port);
    await waitUntil('the server side', () => sockets.length === 1);
    const payload = randomBytes(8 * MiB);
    (sockets[0] as net.Socket).write(payload);
    await waitUntil(
      'every byte captured',
      () => engine.info(client.id).counters.bytesIn === payload.length,
      30_000,
    );
    await engine.flushCapture();
    const parts = engine.readCapture(client.id, 0, payload.length).chunks.map((c) => c.bytes);
    expect(sha256(Buffer.concat(parts))).toBe(sha256(payload));

    // Paused, the engine reads nothing more: the peer's bytes wait in the kernel.
    engine.setReadingPaused(client.id, true);
    (sockets[0] as net.Socket).write(randomBytes(64 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(engine.info(client.id).counters.bytesIn).toBe(payload.length);
    engine.setReadingPaused(client.id, false);
    await waitUntil(
      'the rest read after resuming',
      () => engine.info(client.id).counters.bytesIn === payload.length + 64 * 1024,
    );
  });
});

describe('a client connection paused while it is still connecting', () => {
  it('reads nothing once connected until it is resumed', async () => {
    const engine = newEngine();
    const greeting = randomBytes(200_000);
    const server = net.createServer((socket) => socket.end(greeting));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    // Paused the moment the engine announces it: the socket is still connecting then.
    const view = engine.openView((event: AnyEvent) => {
      if (event.event === 'endpoint.added' && event.payload.role === 'client') {
        engine.setReadingPaused(event.payload.id, true);
      }
    });
    cleanups.push(() => view.close());
    const client = await connectLocalTcp(engine, port);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(engine.info(client.id)).toMatchObject({ readingPaused: true });
    expect(engine.info(client.id).counters.bytesIn).toBe(0);
    engine.setReadingPaused(client.id, false);
    await waitUntil(
      'the greeting read after resuming',
      () => engine.info(client.id).counters.bytesIn === greeting.length,
    );
  });
});
