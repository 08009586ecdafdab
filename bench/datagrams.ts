/**
 * Datagrams: this process's memory while a peer process sends a million small UDP datagrams
 * into an engine UDP socket (each one a capture record with its own index row), or into a
 * plain node:dgram socket that only counts them (baseline mode). Each mode runs in a fresh
 * process. The reference point is the memory after a warm-up that fills the capture budget.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { Engine } from '../src/main/engine/engine';
import { benchDir, log, MiB, round, settledMemory, sleep, tempDir, waitForExit } from './lib/util';

export interface DatagramsOptions {
  mode?: 'engine' | 'baseline';
  count?: number;
  warmupCount?: number;
  size?: number;
}

interface Receiver {
  port: number;
  received(): number;
  /** Datagrams the receiver let go unread (the engine, at its capture memory ceiling). */
  dropped(): number;
  /** Capture bytes held in memory, as the engine counts them. */
  captureBytesInMemory(): number;
  /** Waits until nothing received is only in memory for want of a write. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

async function plainReceiver(): Promise<Receiver> {
  const socket = dgram.createSocket('udp4');
  let count = 0;
  socket.on('message', () => {
    count += 1;
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: socket.address().port,
    received: () => count,
    dropped: () => 0,
    captureBytesInMemory: () => 0,
    settle: async () => undefined,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

async function engineReceiver(): Promise<Receiver> {
  const dir = tempDir('datagrams');
  const engine = new Engine({ captureDir: dir });
  const udp = await engine.bindUdp({ host: '127.0.0.1', port: 0 });
  return {
    port: (udp.local as { port: number }).port,
    received: () => engine.info(udp.id).counters.chunksIn,
    dropped: () => engine.info(udp.id).counters.datagramsDropped,
    captureBytesInMemory: () => engine.status().capture.bytesInMemory,
    settle: () => engine.flushCapture(),
    close: async () => {
      await engine.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sends `count` datagrams; resolves with how many arrived once arrivals have stopped. */
async function send(receiver: Receiver, count: number, size: number): Promise<number> {
  const before = receiver.received();
  const child = spawn(
    process.execPath,
    [
      path.join(benchDir, 'peers/datagrams.mjs'),
      '--port',
      String(receiver.port),
      '--count',
      String(count),
      '--size',
      String(size),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = readline.createInterface({ input: child.stdout! });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  await waitForExit(child);
  for (let last = -1; receiver.received() !== last; await sleep(100)) last = receiver.received();
  return receiver.received() - before;
}

export async function run(options: DatagramsOptions = {}) {
  const mode = options.mode ?? 'engine';
  const count = options.count ?? 1_000_000;
  const warmupCount = options.warmupCount ?? 300_000;
  const size = options.size ?? 64;
  const receiver = mode === 'engine' ? await engineReceiver() : await plainReceiver();
  try {
    await send(receiver, warmupCount, size);
    await receiver.settle();
    const before = await settledMemory();
    let peakRss = before.rss;
    let peakHeap = 0;
    let peakCapture = 0;
    const droppedBefore = receiver.dropped();
    const sampler = setInterval(() => {
      const usage = process.memoryUsage();
      peakRss = Math.max(peakRss, usage.rss);
      peakHeap = Math.max(peakHeap, usage.heapUsed + usage.external);
      peakCapture = Math.max(peakCapture, receiver.captureBytesInMemory());
    }, 10);
    const start = performance.now();
    const received = await send(receiver, count, size);
    const seconds = (performance.now() - start) / 1000;
    clearInterval(sampler);
    await receiver.settle();
    const after = await settledMemory();
    const heapGrowth = after.heapUsed + after.external - (before.heapUsed + before.external);
    log(
      `  ${mode}: ${received} of ${count} datagrams of ${size} B in ${seconds.toFixed(1)} s; ` +
        `RSS ${(before.rss / MiB).toFixed(1)} -> peak ${(peakRss / MiB).toFixed(1)} MB`,
    );
    return {
      mode,
      sent: count,
      received,
      droppedByReceiver: receiver.dropped() - droppedBefore,
      size,
      seconds: round(seconds, 2),
      rssBeforeMB: round(before.rss / MiB, 1),
      rssPeakMB: round(peakRss / MiB, 1),
      rssGrowthMB: round((peakRss - before.rss) / MiB, 1),
      heapPlusExternalPeakGrowthMB: round(
        (peakHeap - (before.heapUsed + before.external)) / MiB,
        1,
      ),
      capturePeakInMemoryMB: round(peakCapture / MiB, 1),
      /** Heap + external after GC, per datagram received: what each one leaves behind. */
      retainedBytesPerDatagram: round(heapGrowth / Math.max(1, received), 2),
    };
  } finally {
    await receiver.close();
  }
}
