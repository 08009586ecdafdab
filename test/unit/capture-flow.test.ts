/**
 * The capture keeps every byte within a fixed memory budget, and a slow view never slows the
 * socket: it is told what it skipped, and the skipped bytes can be paged from the capture.
 */
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CaptureFolderReader } from '../../src/main/engine/capture-reader';
import { Engine } from '../../src/main/engine/engine';
import type { AnyEvent } from '../../src/shared/api';
import { FEED_WINDOW_DEFAULT, type EndpointInfo } from '../../src/shared/contract';
import { dataBytesIn } from '../support/capture';
import { connectPeer, tempDir } from '../support/peers';
import { waitForEndpoint, waitUntil } from '../support/wait';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const MiB = 1024 * 1024;

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.dispose();
  engine = undefined;
});

async function floodInto(target: Engine, payload: Buffer) {
  const listener = await target.listenTcp({
    host: '127.0.0.1',
    port: 0,
    backlog: 8,
    allowHalfOpen: true,
  });
  const port = (listener.local as { port: number }).port;
  const peer = await connectPeer({ host: '127.0.0.1', port });
  const accepted = await waitForEndpoint(
    target,
    'accepted',
    (e: EndpointInfo) => e.parentId === listener.id,
  );
  return { peer, accepted, send: () => peer.socket.end(payload) };
}

function readAll(target: Engine, id: string, from = 0, to?: number): Buffer {
  const end = to ?? target.readCapture(id, 0, 1).totalBytes;
  const parts: Uint8Array[] = [];
  for (let offset = from; offset < end; offset += 4 * MiB) {
    for (const chunk of target.readCapture(id, offset, Math.min(4 * MiB, end - offset)).chunks) {
      parts.push(chunk.bytes);
    }
  }
  return Buffer.concat(parts);
}

describe('capture memory budget', () => {
  it('keeps every byte of 96 MiB with a 4 MiB budget, in a chosen directory', async () => {
    const dir = tempDir();
    engine = new Engine({ captureDir: dir, captureMemoryBytes: 4 * MiB });
    const payload = randomBytes(96 * MiB);
    const { accepted, send } = await floodInto(engine, payload);
    let peakMemory = 0;
    const sampler = setInterval(() => {
      peakMemory = Math.max(peakMemory, engine?.status().capture.bytesInMemory ?? 0);
    }, 5);
    send();
    await waitUntil(
      'all bytes',
      () => engine?.info(accepted.id).counters.bytesIn === payload.length,
      60_000,
    );
    await engine.flushCapture();
    clearInterval(sampler);

    const status = engine.status().capture;
    expect(status.bytesInMemory).toBeLessThanOrEqual(4 * MiB);
    expect(status.unpersistedBytes).toBe(0);
    expect(status.folder.startsWith(dir)).toBe(true);
    expect(dataBytesIn(status.folder)).toBe(payload.length);
    // Memory can exceed the budget only by what the disk has not yet taken (then reading pauses).
    expect(peakMemory).toBeLessThan(4 * MiB + 8 * MiB);
    expect(sha256(readAll(engine, accepted.id))).toBe(sha256(payload));
    // A range straddling memory and disk reads back exactly.
    const middle = readAll(engine, accepted.id, 50 * MiB + 17, 93 * MiB + 5);
    expect(sha256(middle)).toBe(sha256(payload.subarray(50 * MiB + 17, 93 * MiB + 5)));
    await engine.dispose();
    engine = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('removes its temporary capture directory on dispose', async () => {
    engine = new Engine();
    const folder = engine.status().capture.folder;
    expect(fs.existsSync(folder)).toBe(true);
    await engine.dispose();
    engine = undefined;
    expect(fs.existsSync(folder)).toBe(false);
  });
});

/**
 * A peer floods `payload` into a new engine connection while a view's feed (number 1) follows it
 * and acknowledges nothing; resolves once every byte is captured and the hub has flushed.
 */
async function floodPastSilentView(payloadBytes: number, windowBytes?: number) {
  engine = new Engine({ captureMemoryBytes: 8 * MiB });
  const current = engine;
  const payload = randomBytes(payloadBytes);
  const { accepted, send } = await floodInto(current, payload);
  const events: AnyEvent[] = [];
  const view = current.openView((event) => events.push(event));
  expect(view.openFeed(1, accepted.id, windowBytes)).toBe(0);

  send();
  await waitUntil(
    'all bytes captured',
    () => current.info(accepted.id).counters.bytesIn === payload.length,
    60_000,
  );
  current.flushCapture();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const chunks = events.flatMap((e) =>
    e.event === 'feed.data' && e.payload.feed === 1 ? e.payload.chunks : [],
  );
  const sent = chunks.reduce((sum, chunk) => sum + chunk.bytes.byteLength, 0);
  const skippedNotices = () => events.filter((e) => e.event === 'feed.skipped');
  return { engine: current, payload, accepted, view, chunks, sent, skippedNotices };
}

describe('many small datagrams', () => {
  it('reads back every datagram, with its peer and time, long after its index row left memory', async () => {
    engine = new Engine({ captureMemoryBytes: 256 * 1024 });
    const current = engine;
    const udp = await current.bindUdp({ host: '127.0.0.1', port: 0 });
    const port = udp.local && 'port' in udp.local ? udp.local.port : 0;
    const peers = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
    for (const peer of peers) await new Promise<void>((done) => peer.bind(0, '127.0.0.1', done));
    const count = 3000;
    const payloadOf = (n: number) => Buffer.from(`datagram ${n}`);
    for (let n = 0; n < count; n++) {
      const peer = peers[n % 2] as dgram.Socket;
      await new Promise<void>((done) => peer.send(payloadOf(n), port, '127.0.0.1', () => done()));
      if (n % 50 === 49) {
        await waitUntil('no backlog', () => current.info(udp.id).counters.chunksIn === n + 1);
      }
    }
    await waitUntil('every datagram', () => current.info(udp.id).counters.chunksIn === count);
    await current.flushCapture();
    const ports = peers.map((peer) => peer.address().port);
    for (const peer of peers) peer.close();
    // Every row is in the index log, with its peer: a reader without the engine finds them all.
    const onDisk = new CaptureFolderReader(current.status().capture.folder);
    const described = onDisk.endpoints().find((e) => e.description.id === udp.id);
    expect(described).toMatchObject({ chunks: count, missingChunks: 0 });
    const fromDisk = [...onDisk.chunks(udp.id)];
    expect(fromDisk.map((c) => c.peerAddress?.port)).toEqual(
      Array.from({ length: count }, (_, n) => ports[n % 2]),
    );

    const { chunks } = current.readCapture(udp.id, 0, current.info(udp.id).counters.bytesIn);
    expect(chunks.map((c) => Buffer.from(c.bytes).toString())).toEqual(
      Array.from({ length: count }, (_, n) => payloadOf(n).toString()),
    );
    expect(chunks.map((c) => c.peer?.port)).toEqual(
      Array.from({ length: count }, (_, n) => ports[n % 2]),
    );
    expect(chunks.map((c) => c.seq)).toEqual(Array.from({ length: count }, (_, n) => n));
    expect(chunks.every((c, i) => i === 0 || c.at >= (chunks[i - 1] as { at: number }).at)).toBe(
      true,
    );
    // A range in the middle starts at the right datagram.
    const middle = chunks[1234] as (typeof chunks)[number];
    const [first] = current.readCapture(udp.id, middle.offset, 1).chunks;
    expect(first?.seq).toBe(1234);
  });

  it('keeps bursts read in one turn byte-exact, in memory and after eviction, with memory counted back to zero', async () => {
    // Bursts sent without waiting are read several to a turn: they share one buffer in memory.
    engine = new Engine({ captureMemoryBytes: 128 * 1024 });
    const current = engine;
    const udp = await current.bindUdp({ host: '127.0.0.1', port: 0 });
    const port = udp.local && 'port' in udp.local ? udp.local.port : 0;
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((done) => peer.bind(0, '127.0.0.1', done));
    // Sizes vary so that batches straddle the shared buffers' ends.
    const payloadOf = (n: number) => Buffer.from(`#${n}:`.padEnd(20 + (n % 97), String(n % 10)));
    const bursts = 200;
    const perBurst = 40;
    let sent = 0;
    let maxInMemory = 0;
    for (let b = 0; b < bursts; b++) {
      const all: Promise<void>[] = [];
      for (let i = 0; i < perBurst; i++, sent++) {
        const payload = payloadOf(sent);
        all.push(new Promise((done) => peer.send(payload, port, '127.0.0.1', () => done())));
      }
      await Promise.all(all);
      const target = sent;
      await waitUntil('the burst', () => {
        const { chunksIn, kernelDrops } = current.info(udp.id).counters;
        return chunksIn + (kernelDrops ?? 0) >= target;
      });
      maxInMemory = Math.max(maxInMemory, current.status().capture.bytesInMemory);
    }
    peer.close();
    const { counters } = current.info(udp.id);
    // The kernel may drop a datagram of a burst; it says so, and nothing else is missing.
    expect(counters.chunksIn + (counters.kernelDrops ?? 0)).toBe(sent);
    expect(counters.kernelDrops ?? 0).toBeLessThan(sent / 10);
    expect(maxInMemory).toBeLessThanOrEqual(2 * 128 * 1024);

    const { chunks } = current.readCapture(udp.id, 0, counters.bytesIn);
    expect(chunks).toHaveLength(counters.chunksIn);
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    // Each datagram names itself: every one read back is whole and exactly what was sent.
    const numbers = chunks.map((c) =>
      Number(/^#(\d+):/.exec(Buffer.from(c.bytes).toString())?.[1]),
    );
    for (let i = 0; i < chunks.length; i++) {
      const n = numbers[i] as number;
      expect(Buffer.from((chunks[i] as (typeof chunks)[number]).bytes)).toEqual(payloadOf(n));
      if (i > 0) expect(n).toBeGreaterThan(numbers[i - 1] as number);
    }
    expect(chunks.reduce((sum, c) => sum + c.bytes.byteLength, 0)).toBe(counters.bytesIn);

    // The newest are still in memory and the oldest only on disk: both read back the same.
    await current.flushCapture();
    const onDisk = [...new CaptureFolderReader(current.status().capture.folder).chunks(udp.id)];
    expect(onDisk.map((c) => Buffer.from(c.bytes))).toEqual(
      chunks.map((c) => Buffer.from(c.bytes)),
    );

    // Forgetting the socket gives every counted byte back.
    current.closeUdp(udp.id);
    await waitUntil('closed', () => current.info(udp.id).state === 'closed');
    current.forget(udp.id);
    expect(current.status().capture.bytesInMemory).toBe(0);
  });
});

describe('live view flow control', () => {
  it('a view that does not keep up is skipped ahead, told how much, and can page it', async () => {
    const flood = await floodPastSilentView(32 * MiB);
    const { payload, accepted, view, chunks, sent } = flood;
    // The socket was not slowed: all bytes arrived though the view took exactly its window
    // (the last chunk cut to fit).
    expect(sent).toBe(FEED_WINDOW_DEFAULT);
    expect(flood.skippedNotices()).toHaveLength(0);

    // The view catches up: it is told what it missed, exactly.
    view.ack(1, sent);
    const [skipped] = flood.skippedNotices();
    if (skipped?.event !== 'feed.skipped') throw new Error('no skipped notice');
    expect(skipped.payload.offset).toBe(sent);
    expect(skipped.payload.offset + skipped.payload.bytes).toBe(payload.length);

    // What the view saw, plus the skipped range paged from the capture, is the whole stream.
    const seen = Buffer.concat(chunks.map((c) => c.bytes));
    const paged = readAll(
      flood.engine,
      accepted.id,
      skipped.payload.offset,
      skipped.payload.offset + skipped.payload.bytes,
    );
    expect(sha256(Buffer.concat([seen, paged]))).toBe(sha256(payload));
    view.close();
  });

  it('a view that asks for a small window gets no more than it, and resumes at a quarter of it', async () => {
    const window = 16 * 1024;
    const flood = await floodPastSilentView(8 * MiB, window);
    const { payload, view, chunks, sent } = flood;
    expect(sent).toBe(window);
    expect(Buffer.concat(chunks.map((c) => c.bytes)).equals(payload.subarray(0, window))).toBe(
      true,
    );

    view.ack(1, sent - window / 4 - 1);
    expect(flood.skippedNotices()).toHaveLength(0);
    view.ack(1, 1);
    const [skipped] = flood.skippedNotices();
    if (skipped?.event !== 'feed.skipped') throw new Error('no skipped notice');
    expect(skipped.payload.offset).toBe(sent);
    expect(skipped.payload.offset + skipped.payload.bytes).toBe(payload.length);
    view.close();
  });

  it('a view that keeps acknowledging through a flood is told exactly what it missed: data and skips tile the stream', async () => {
    engine = new Engine({ captureMemoryBytes: 8 * MiB });
    const current = engine;
    const payload = randomBytes(32 * MiB);
    const { accepted, send } = await floodInto(current, payload);
    const ranges: { from: number; to: number; kind: 'data' | 'skipped' }[] = [];
    const view = current.openView((event) => {
      if (event.event === 'feed.skipped') {
        const { offset, bytes } = event.payload;
        ranges.push({ from: offset, to: offset + bytes, kind: 'skipped' });
      } else if (event.event === 'feed.data') {
        for (const chunk of event.payload.chunks) {
          ranges.push({
            from: chunk.offset,
            to: chunk.offset + chunk.bytes.byteLength,
            kind: 'data',
          });
          // Parsed a moment later, while the flood goes on: the view resumes and falls behind again.
          setImmediate(() => view.ack(1, chunk.bytes.byteLength));
        }
      }
    });
    view.openFeed(1, accepted.id, 64 * 1024);
    send();
    await waitUntil(
      'all bytes captured',
      () => current.info(accepted.id).counters.bytesIn === payload.length,
      60_000,
    );
    current.flushCapture();
    await waitUntil('the view caught up with the end', () => ranges.at(-1)?.to === payload.length);

    expect(ranges.filter((r) => r.kind === 'skipped').length).toBeGreaterThan(0);
    // In order, no gap and no overlap: every skipped notice is exactly the bytes not sent.
    let at = 0;
    for (const range of ranges) {
      expect(range.from).toBe(at);
      expect(range.to).toBeGreaterThan(range.from);
      at = range.to;
    }
    expect(at).toBe(payload.length);
    view.close();
  });

  it('a datagram is never cut to fit a window: it is skipped whole, or taken whole when nothing is in flight', async () => {
    engine = new Engine();
    const current = engine;
    const udp = await current.bindUdp({ host: '127.0.0.1', port: 0 });
    const port = udp.local && 'port' in udp.local ? udp.local.port : 0;
    const events: AnyEvent[] = [];
    const view = current.openView((event) => events.push(event));
    view.openFeed(1, udp.id, 4096);
    const peer = dgram.createSocket('udp4');
    const sizes = [8000, 3000, 1000];
    for (const [i, size] of sizes.entries()) {
      peer.send(Buffer.alloc(size, i + 1), port, '127.0.0.1');
      await waitUntil(`datagram ${i + 1}`, () => current.info(udp.id).counters.chunksIn === i + 1);
    }
    peer.close();
    current.flushCapture();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const delivered = () =>
      events.flatMap((e) => (e.event === 'feed.data' ? e.payload.chunks : []));
    // 8000 bytes is twice the window, but nothing was in flight: it comes whole. The next two
    // do not fit beside it and are skipped, each whole.
    expect(delivered().map((c) => c.bytes.byteLength)).toEqual([8000]);
    view.ack(1, 8000);
    const skipped = events.find((e) => e.event === 'feed.skipped');
    expect(skipped?.payload).toEqual({ feed: 1, offset: 8000, bytes: 4000 });
    view.close();
  });

  it('a view gets live data only through the feeds it opens, from the offset it was given', async () => {
    engine = new Engine();
    const { peer, accepted } = await floodInto(engine, Buffer.alloc(0));
    peer.socket.write('before watching');
    await waitUntil('first bytes', () => engine?.info(accepted.id).counters.bytesIn === 15);
    const events: AnyEvent[] = [];
    const view = engine.openView((event) => events.push(event));
    peer.socket.write('unwatched');
    await waitUntil('second bytes', () => engine?.info(accepted.id).counters.bytesIn === 24);
    engine.flushCapture();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(events.some((e) => e.event === 'feed.data')).toBe(false);
    expect(view.openFeed(7, accepted.id)).toBe(24);
    peer.socket.write('watched');
    await waitUntil('live data', () => events.some((e) => e.event === 'feed.data'));
    const first = events.find((e) => e.event === 'feed.data');
    if (first?.event !== 'feed.data') throw new Error('no data');
    expect(first.payload.feed).toBe(7);
    expect(first.payload.chunks[0]?.offset).toBe(24);
    expect(Buffer.from(first.payload.chunks[0]!.bytes).toString()).toBe('watched');
    view.close();
    peer.socket.destroy();
  });
});
