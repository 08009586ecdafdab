/**
 * Throughput: 1 GiB from a peer process through an accepted Engine connection into the capture,
 * with a slow flow-controlled view attached, against a plain node:net server in this same
 * process that only counts bytes, fed by the same peer script. Rounds alternate (baseline,
 * engine, baseline, …) so that a noisy neighbour hurts both sides alike.
 */
import { dataBytesIn } from '../test/support/capture';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Engine } from '../src/main/engine/engine';
import { SlowView } from './lib/slow-view';
import {
  collectGarbage,
  cpuMsSince,
  GiB,
  log,
  MiB,
  median,
  round,
  sleep,
  startFlood,
  tempDir,
  waitForExit,
} from './lib/util';

export interface ThroughputOptions {
  bytes?: number;
  rounds?: number;
}

const MB = 1e6;
const WARM_UP_BYTES = 128 * MiB;

interface Round {
  seconds: number;
  mbPerSec: number;
  /** CPU time of this (receiving) process per GiB: less noisy than wall time on a busy box. */
  cpuSecondsPerGiB: number;
}

interface EngineRound extends Round {
  /** From the last byte captured to the last byte on disk. */
  flushMs: number;
  viewReceivedBytes: number;
  viewSkippedBytes: number;
  skipNotices: number;
  captureFileBytes: number;
}

/**
 * A node:net server that counts bytes: the cost of the socket alone. With `toFile`, it also
 * appends every chunk to a file through fs.createWriteStream (pausing the socket while the
 * stream is full): the least any capture that keeps every byte can cost.
 */
async function baselineRound(bytes: number, toFile: boolean): Promise<Round> {
  const dir = toFile ? tempDir('throughput-file') : null;
  const file = dir ? fs.createWriteStream(path.join(dir, 'capture.bin')) : null;
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  const cpu = process.cpuUsage();
  const received = new Promise<{ seconds: number; cpuMs: number }>((resolve, reject) => {
    server.once('connection', (socket) => {
      const start = performance.now();
      let count = 0;
      socket.on('data', (data: Buffer) => {
        count += data.byteLength;
        if (file && !file.write(data)) {
          socket.pause();
          file.once('drain', () => socket.resume());
        }
      });
      socket.on('end', () => {
        const seconds = (performance.now() - start) / 1000;
        const cpuMs = cpuMsSince(cpu);
        socket.end();
        if (count === bytes) resolve({ seconds, cpuMs });
        else reject(new Error(`baseline received ${count} of ${bytes} bytes`));
      });
    });
  });
  const peer = startFlood(port, { bytes });
  const { seconds, cpuMs } = await received;
  await waitForExit(peer.child);
  server.close();
  if (file && dir) {
    await new Promise((resolve) => file.end(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return {
    seconds,
    mbPerSec: bytes / MB / seconds,
    cpuSecondsPerGiB: cpuMs / 1000 / (bytes / GiB),
  };
}

async function engineRound(bytes: number): Promise<EngineRound> {
  const dir = tempDir('throughput');
  const engine = new Engine({ captureDir: dir, capture: { limitBytes: null } });
  const view = new SlowView(engine);
  try {
    const listener = await view.listenAndFollow();
    const accepted = new Promise<{ id: string; start: number }>((resolve) => {
      view.onAdded((info) => {
        if (info.parentId === listener.id) resolve({ id: info.id, start: performance.now() });
      });
    });
    const port = (listener.local as { port: number }).port;
    const cpu = process.cpuUsage();
    const peer = startFlood(port, { bytes });
    const { id, start } = await accepted;
    const end = await view.whenBytesIn(id, bytes);
    const cpuMs = cpuMsSince(cpu);
    const seconds = (end - start) / 1000;
    await engine.flushCapture();
    const flushMs = performance.now() - end;
    const captureFileBytes = dataBytesIn(engine.status().capture.folder);
    if (engine.info(id).counters.bytesIn !== bytes || captureFileBytes !== bytes) {
      throw new Error(`engine captured ${captureFileBytes} of ${bytes} bytes`);
    }
    // The listener allows half-open connections (the UI's default): close our side as a user
    // would, so the peer sees the connection end.
    engine.close(id);
    await waitForExit(peer.child);
    return {
      seconds,
      mbPerSec: bytes / MB / seconds,
      cpuSecondsPerGiB: cpuMs / 1000 / (bytes / GiB),
      flushMs,
      viewReceivedBytes: view.received,
      viewSkippedBytes: view.skipped,
      skipNotices: view.skipNotices,
      captureFileBytes,
    };
  } finally {
    view.close();
    await engine.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(options: ThroughputOptions = {}) {
  const bytes = options.bytes ?? GiB;
  const rounds = options.rounds ?? 3;
  const baseline: Round[] = [];
  const fileBaseline: Round[] = [];
  const engine: EngineRound[] = [];
  const settle = async () => {
    collectGarbage();
    await sleep(200);
  };
  // The first flow in a fresh process is slow whoever receives it (JIT, allocator, TCP buffers
  // growing); a short unmeasured flow through each receiver keeps that out of the rounds.
  const warmUpBytes = Math.min(bytes, WARM_UP_BYTES);
  await baselineRound(warmUpBytes, false);
  await engineRound(warmUpBytes);
  await baselineRound(warmUpBytes, true);
  log(`  warm-up: ${warmUpBytes / MiB} MiB through each receiver, not counted`);
  for (let i = 0; i < rounds; i++) {
    await settle();
    const b = await baselineRound(bytes, false);
    baseline.push(b);
    log(`  baseline round ${i + 1}: ${b.mbPerSec.toFixed(0)} MB/s`);
    await settle();
    const e = await engineRound(bytes);
    engine.push(e);
    log(
      `  engine   round ${i + 1}: ${e.mbPerSec.toFixed(0)} MB/s ` +
        `(view got ${(e.viewReceivedBytes / MB).toFixed(1)} MB live, ${e.skipNotices} skip notices; ` +
        `flush +${e.flushMs.toFixed(0)} ms)`,
    );
    await settle();
    const f = await baselineRound(bytes, true);
    fileBaseline.push(f);
    log(`  baseline + file round ${i + 1}: ${f.mbPerSec.toFixed(0)} MB/s`);
  }
  const mbPerSec = median(engine.map((r) => r.mbPerSec));
  const baselineMbPerSec = median(baseline.map((r) => r.mbPerSec));
  const fileBaselineMbPerSec = median(fileBaseline.map((r) => r.mbPerSec));
  return {
    ratio: round(mbPerSec / baselineMbPerSec, 3),
    mbPerSec: round(mbPerSec, 1),
    baselineMbPerSec: round(baselineMbPerSec, 1),
    bestRatio: round(
      Math.max(...engine.map((r) => r.mbPerSec)) / Math.max(...baseline.map((r) => r.mbPerSec)),
      3,
    ),
    /** Each engine round over the baseline round just before it (same moment's load). */
    pairRatioMedian: round(median(engine.map((r, i) => r.mbPerSec / baseline[i]!.mbPerSec)), 3),
    /** Receiving-process CPU per GiB, baseline over engine: steadier than wall time here. */
    cpuRatio: round(
      median(baseline.map((r) => r.cpuSecondsPerGiB)) /
        median(engine.map((r) => r.cpuSecondsPerGiB)),
      3,
    ),
    /** Against a plain server that also writes every byte to a file: the engine's own cost. */
    fileBaselineMbPerSec: round(fileBaselineMbPerSec, 1),
    fileRatio: round(mbPerSec / fileBaselineMbPerSec, 3),
    bytes,
    rounds,
    engineRoundsMbPerSec: engine.map((r) => round(r.mbPerSec, 1)),
    baselineRoundsMbPerSec: baseline.map((r) => round(r.mbPerSec, 1)),
    fileBaselineRoundsMbPerSec: fileBaseline.map((r) => round(r.mbPerSec, 1)),
    cpuSecondsPerGiB: round(median(engine.map((r) => r.cpuSecondsPerGiB)), 3),
    baselineCpuSecondsPerGiB: round(median(baseline.map((r) => r.cpuSecondsPerGiB)), 3),
    fileBaselineCpuSecondsPerGiB: round(median(fileBaseline.map((r) => r.cpuSecondsPerGiB)), 3),
    flushMsMedian: round(median(engine.map((r) => r.flushMs)), 1),
    viewReceivedMBMedian: round(median(engine.map((r) => r.viewReceivedBytes)) / MB, 2),
    viewSkippedMBMedian: round(median(engine.map((r) => r.viewSkippedBytes)) / MB, 1),
    skipNoticesMedian: median(engine.map((r) => r.skipNotices)),
  };
}
