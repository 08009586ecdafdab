/**
 * Memory: this process's RSS while 2 GiB flow from a peer process into the capture (engine
 * mode, with a slow flow-controlled view attached), or into a plain node:net server that only
 * counts bytes (baseline mode). Each mode runs in a fresh process, so neither inherits the
 * other's heap. The reference point is the RSS after a warm-up flow, before the measured one.
 */
import fs from 'node:fs';
import net from 'node:net';
import { Engine } from '../src/main/engine/engine';
import { SlowView } from './lib/slow-view';
import {
  GiB,
  log,
  MiB,
  round,
  settledMemory,
  sleep,
  startFlood,
  tempDir,
  waitForExit,
} from './lib/util';

export interface MemoryOptions {
  mode?: 'engine' | 'baseline';
  bytes?: number;
  warmupBytes?: number;
}

interface Sink {
  port: number;
  /** Resolves once `bytes` have arrived on the next connection (and it is closed again). */
  receive(bytes: number): Promise<void>;
  /** Capture bytes held in memory, where there is a capture. */
  captureBytesInMemory(): number;
  close(): Promise<void>;
}

async function plainSink(): Promise<Sink> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    receive: (bytes) =>
      new Promise((resolve, reject) => {
        server.once('connection', (socket) => {
          let count = 0;
          socket.on('data', (data: Buffer) => {
            count += data.byteLength;
          });
          socket.on('end', () => {
            socket.end();
            if (count === bytes) resolve();
            else reject(new Error(`received ${count} of ${bytes} bytes`));
          });
        });
      }),
    captureBytesInMemory: () => 0,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function engineSink(): Promise<Sink> {
  const dir = tempDir('memory');
  const engine = new Engine({ captureDir: dir });
  const view = new SlowView(engine);
  const listener = await view.listenAndFollow();
  return {
    port: (listener.local as { port: number }).port,
    receive: async (bytes) => {
      const id = await new Promise<string>((resolve) => {
        view.onAdded((info) => {
          if (info.parentId === listener.id) resolve(info.id);
        });
      });
      await view.whenBytesIn(id, bytes);
      await engine.flushCapture();
      engine.close(id);
    },
    captureBytesInMemory: () => engine.status().capture.bytesInMemory,
    close: async () => {
      view.close();
      await engine.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function flow(sink: Sink, bytes: number): Promise<void> {
  const received = sink.receive(bytes);
  const peer = startFlood(sink.port, { bytes });
  await received;
  await waitForExit(peer.child);
}

export async function run(options: MemoryOptions = {}) {
  const mode = options.mode ?? 'engine';
  const bytes = options.bytes ?? 2 * GiB;
  const warmupBytes = options.warmupBytes ?? 256 * MiB;
  const fresh = await settledMemory();
  const sink = mode === 'engine' ? await engineSink() : await plainSink();
  try {
    await flow(sink, warmupBytes);
    await sleep(300);
    const before = await settledMemory();
    let peakRss = before.rss;
    let peakCapture = 0;
    const samples: number[] = [];
    const sampler = setInterval(() => {
      const rss = process.memoryUsage.rss();
      samples.push(rss);
      peakRss = Math.max(peakRss, rss);
      peakCapture = Math.max(peakCapture, sink.captureBytesInMemory());
    }, 10);
    const start = performance.now();
    await flow(sink, bytes);
    const seconds = (performance.now() - start) / 1000;
    clearInterval(sampler);
    const endRss = process.memoryUsage.rss();
    const after = await settledMemory();
    log(
      `  ${mode}: RSS ${(before.rss / MiB).toFixed(1)} MB before, peak ` +
        `${(peakRss / MiB).toFixed(1)} MB during ${(bytes / GiB).toFixed(2)} GiB ` +
        `(${seconds.toFixed(1)} s, ${samples.length} samples)`,
    );
    return {
      mode,
      bytes,
      seconds: round(seconds, 2),
      samples: samples.length,
      /** A fresh process, before the warm-up: the warm-up fills pools and the capture budget. */
      rssStartMB: round(fresh.rss / MiB, 1),
      rssBeforeMB: round(before.rss / MiB, 1),
      rssPeakMB: round(peakRss / MiB, 1),
      rssEndMB: round(endRss / MiB, 1),
      rssAfterGcMB: round(after.rss / MiB, 1),
      rssGrowthMB: round((peakRss - before.rss) / MiB, 1),
      rssGrowthFromStartMB: round((peakRss - fresh.rss) / MiB, 1),
      heapPlusExternalBeforeMB: round((before.heapUsed + before.external) / MiB, 1),
      heapPlusExternalAfterMB: round((after.heapUsed + after.external) / MiB, 1),
      capturePeakInMemoryMB: round(peakCapture / MiB, 1),
    };
  } finally {
    await sink.close();
  }
}
