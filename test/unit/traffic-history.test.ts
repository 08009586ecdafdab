/**
 * traffic.history (issue 14, the graph zoomed out): an endpoint's bytes in and out over its whole
 * life, summed from its capture. Real sockets: what a node:net peer sends and what the engine
 * sends back must add up, bucket by bucket, to the endpoint's counters.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { CaptureStore } from '../../src/main/engine/capture';
import type { Engine } from '../../src/main/engine/engine';
import { RateHistogram } from '../../src/main/engine/traffic-history';
import { createRouter } from '../../src/main/router';
import { TRAFFIC_HISTORY_BUCKETS_MAX, type TrafficHistory } from '../../src/shared/contract';
import { acceptedFrom, call, MiB, portOf, refusal } from '../support/engine-helpers';
import { cleanupsAfterEach, enginesDisposedWith } from '../support/engine';
import { writeCaptureFile, type TestPacket } from '../support/pcap-writer';
import { hasCommand, tempDir } from '../support/peers';
import { waitUntil } from '../support/wait';

const cleanups = cleanupsAfterEach();
const newEngine = enginesDisposedWith(cleanups);

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** A TCP listener on the engine and a node:net peer connected to it, with the accepted side. */
async function connectedPeer(engine: Engine) {
  const listener = await engine.listenTcp({
    host: '127.0.0.1',
    port: 0,
    backlog: 16,
    allowHalfOpen: true,
  });
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const connected = net.connect({ host: '127.0.0.1', port: portOf(listener) }, () =>
      resolve(connected),
    );
    connected.on('error', reject);
    cleanups.push(() => connected.destroy());
  });
  const accepted = await acceptedFrom(engine, listener.id, socket.localPort as number);
  return { socket, accepted };
}

describe('RateHistogram', () => {
  it('widens its buckets to stay under the maximum and loses no byte doing so', () => {
    const histogram = new RateHistogram(10_000, 8);
    let total = 0;
    for (let second = 0; second < 100; second++) {
      histogram.add(10_000 + second * 1000 + 500, second + 1, second % 2);
      total += second + 1;
    }
    expect(histogram.bytesIn.length).toBeLessThanOrEqual(8);
    expect(histogram.bytesIn.length).toBe(histogram.bytesOut.length);
    expect(histogram.bucketMs).toBe(16_000);
    expect(sum(histogram.bytesIn) + sum(histogram.bytesOut)).toBe(total);
    // Seconds 0-15 fall in the first bucket: inbound ones are the even seconds (1 + 3 + ... + 15).
    expect(histogram.bytesIn[0]).toBe(64);
  });

  it('reaches the end of the life even when nothing came at the end', () => {
    const histogram = new RateHistogram(0);
    histogram.add(100, 5, 0);
    histogram.extendTo(9_500);
    expect(histogram.bytesIn).toEqual([5, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(histogram.bytesOut.every((bytes) => bytes === 0)).toBe(true);
  });
});

describe('traffic.history', () => {
  it('sums a live connection both ways, and a second ask adds what came since', async () => {
    const engine = newEngine();
    const router = createRouter(engine);
    const { socket, accepted } = await connectedPeer(engine);
    socket.write(randomBytes(70_000));
    socket.write('hello');
    await waitUntil('70,005 bytes in', () => engine.info(accepted.id).counters.bytesIn === 70_005);
    await call(router, 'connection.send', {
      id: accepted.id,
      payload: { format: 'text', data: 'pong\n' },
    });
    await waitUntil('5 bytes out', () => engine.info(accepted.id).counters.bytesOut === 5);

    const first = await call(router, 'traffic.history', { id: accepted.id });
    expect(sum(first.bytesIn)).toBe(70_005);
    expect(sum(first.bytesOut)).toBe(5);
    expect(first.bucketMs).toBe(1000);
    expect(first.deletedBeforeMs).toBeNull();
    const opened = engine.info(accepted.id).timeline[0]?.at as number;
    expect(first.startMs).toBeLessThanOrEqual(opened);
    expect(opened - first.startMs).toBeLessThan(first.bucketMs);

    socket.write(randomBytes(30_000));
    await waitUntil(
      '100,005 bytes in',
      () => engine.info(accepted.id).counters.bytesIn === 100_005,
    );
    // The second ask reads only the chunks that came since the first.
    const visits = vi.spyOn(CaptureStore.prototype, 'visitChunks');
    cleanups.push(() => visits.mockRestore());
    const second = await call(router, 'traffic.history', { id: accepted.id });
    expect(visits).toHaveBeenCalled();
    expect(Math.min(...visits.mock.calls.map(([from]) => from))).toBeGreaterThan(0);
    expect(sum(second.bytesIn)).toBe(100_005);
    expect(sum(second.bytesOut)).toBe(5);
    expect(second.startMs).toBe(first.startMs);
    // Its buckets reach the present: the newest bucket holds now.
    const end = second.startMs + second.bytesIn.length * second.bucketMs;
    expect(end).toBeGreaterThan(Date.now() - second.bucketMs);
  });

  it('says from when the capture is whole once the capture limit deleted the oldest bytes', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const engine = newEngine({
      captureDir: dir,
      captureMemoryBytes: 1 * MiB,
      capture: { limitBytes: 4 * MiB, floorBytes: 0 },
    });
    const { socket, accepted } = await connectedPeer(engine);
    const total = 24 * MiB;
    for (let sent = 0; sent < total; sent += MiB) socket.write(randomBytes(MiB));
    await waitUntil(
      'every byte in',
      () => engine.info(accepted.id).counters.bytesIn === total,
      20_000,
    );
    await engine.flushCapture();
    const keptFrom = engine.info(accepted.id).captureKeptFrom;
    expect(keptFrom).toBeGreaterThan(0);

    const history: TrafficHistory = await engine.trafficHistory(accepted.id);
    expect(history.deletedBeforeMs).not.toBeNull();
    expect(sum(history.bytesIn)).toBe(total - keptFrom);
  });

  it.runIf(hasCommand('python3'))(
    'spans a capture opened from a pcap, on its own timestamps',
    async () => {
      const dir = tempDir();
      cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
      // Ten minutes of a connection: a request at once, a reply after five minutes, a last word.
      const t0 = 1_700_000_000;
      const c = {
        src: '10.0.0.1',
        dst: '10.0.0.2',
        sport: 40000,
        dport: 80,
        proto: 'tcp' as const,
      };
      const s = {
        src: '10.0.0.2',
        dst: '10.0.0.1',
        sport: 80,
        dport: 40000,
        proto: 'tcp' as const,
      };
      const packets: TestPacket[] = [
        { ...c, t: t0, flags: 'S', seq: 100 },
        { ...s, t: t0 + 0.001, flags: 'SA', seq: 900 },
        { ...c, t: t0 + 0.002, flags: 'A', seq: 101 },
        { ...c, t: t0 + 1, flags: 'PA', seq: 101, data: 'x'.repeat(100) },
        { ...s, t: t0 + 300, flags: 'PA', seq: 901, data: 'y'.repeat(50) },
        { ...c, t: t0 + 599, flags: 'PA', seq: 201, data: 'z'.repeat(10) },
        { ...c, t: t0 + 600, flags: 'FA', seq: 211 },
        { ...s, t: t0 + 600.001, flags: 'FA', seq: 951 },
      ];
      const file = path.join(dir, 'ten-minutes.pcap');
      writeCaptureFile(file, 'pcap-le-us', 'raw', packets);
      const engine = newEngine({ captureDir: path.join(dir, 'session') });
      const { ids } = await engine.openCapture(file);
      const connection = engine.info(
        ids.find((id) => id.startsWith('conn-')) ?? (ids[0] as string),
      );

      const history = await engine.trafficHistory(connection.id);
      // 600 s in at most 240 buckets: 1 s doubled to 4 s.
      expect(history.bucketMs).toBe(4000);
      expect(history.startMs).toBe(t0 * 1000);
      expect(history.bytesIn.length).toBe(151);
      expect(sum(history.bytesIn)).toBe(connection.counters.bytesIn);
      expect(sum(history.bytesOut)).toBe(connection.counters.bytesOut);
      expect(sum(history.bytesIn) + sum(history.bytesOut)).toBe(160);
      const at = (second: number) => Math.floor((second * 1000) / history.bucketMs);
      const both = (i: number) => (history.bytesIn[i] as number) + (history.bytesOut[i] as number);
      expect([both(at(1)), both(at(300)), both(at(599))]).toEqual([100, 50, 10]);
    },
  );

  it('refuses an endpoint that does not exist, by name', async () => {
    const router = createRouter(newEngine());
    const error = await refusal(router, 'traffic.history', { id: 'conn-999' });
    expect(error.code).toBe('UNKNOWN_ENDPOINT');
    expect(error.message).toContain('conn-999');
  });

  it('keeps a long life under the maximum number of buckets', () => {
    const histogram = new RateHistogram(0);
    histogram.add(0, 1, 0);
    histogram.extendTo(24 * 3600 * 1000);
    expect(histogram.bytesIn.length).toBeLessThanOrEqual(TRAFFIC_HISTORY_BUCKETS_MAX);
    expect(histogram.bytesIn[0]).toBe(1);
    // 86,400 s in at most 240 buckets: 1 s doubled nine times (docs/kernel-view.md).
    expect(histogram.bucketMs).toBe(512_000);
  });
});
