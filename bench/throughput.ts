/**
 * Throughput: 1 GiB from a peer process through an accepted Engine connection into the capture,
 * with a slow flow-controlled view attached (one engine for the whole part, as a user's runs for
 * a whole session: each round is a new connection to its listener), against what a user would
 * pick instead, fed by the same peer script, each in a process of its own: a plain node:net
 * server that only counts bytes, the same that also appends every byte to a file, and the usual
 * tools that keep every byte on disk, `nc -l 127.0.0.1 PORT > file` and `socat -u
 * TCP-LISTEN:PORT CREATE:file` (files in the same temporary folder as the engine's capture).
 * Rounds alternate (baseline, engine, nc, socat, baseline + file, …) so that a noisy neighbour
 * hurts every receiver alike. Every receiver's file stays until the part ends, as the engine's
 * capture does: on these machines a writer whose earlier output was just deleted gets its page
 * cache pages cheaply, and one whose output is kept pays for new ones (docs/benchmarks.md, "What
 * the kept files cost").
 */
import { dataBytesIn } from '../test/support/capture';
import { fork, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { Engine } from '../src/main/engine/engine';
import { SlowView } from './lib/slow-view';
import {
  benchDir,
  collectGarbage,
  cpuMsSince,
  freeLoopbackPort,
  GiB,
  log,
  loopbackSocketRows,
  MiB,
  median,
  round,
  sleep,
  startFlood,
  tempDir,
  until,
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
  /** Counting until the last byte is on disk, as a tool writing a file is timed. */
  onDiskMbPerSec: number;
  viewReceivedBytes: number;
  viewSkippedBytes: number;
  skipNotices: number;
  captureFileBytes: number;
  /** Full (mark-compact) collections in this process during the round. */
  majorGcs: number;
}

/** Counts this process's full garbage collections until the function it returns is called. */
function countMajorGcs(): () => number {
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        count += 1;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => {
    observer.disconnect();
    return count;
  };
}

/**
 * A plain node:net server in a process of its own (bench/peers/tcp-counter.mjs) that counts
 * bytes: the cost of the socket alone. With `toFile`, it also appends every chunk to a file
 * through fs.createWriteStream, timed until the file is closed: the least a Node program that
 * keeps every byte can cost. Its own process, like nc's: a plain receiver's garbage (a buffer
 * per read) would otherwise change V8's collection pace for the engine's rounds after it.
 */
async function baselineRound(bytes: number, toFile: boolean): Promise<Round> {
  const dir = toFile ? tempDir('throughput-file') : null;
  const args = dir ? ['--file', path.join(dir, 'capture.bin')] : [];
  const child = fork(path.join(benchDir, 'peers/tcp-counter.mjs'), args, {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    const message = <T>() =>
      new Promise<T>((resolve, reject) => {
        child.once('message', (value) => resolve(value as T));
        child.once('exit', (code) => reject(new Error(`tcp-counter exited (${code})`)));
      });
    const { port } = await message<{ port: number }>();
    const done = message<{ bytes: number; seconds: number; cpuMicros: number }>();
    const peer = startFlood(port, { bytes });
    const result = await done;
    await waitForExit(peer.child);
    if (result.bytes !== bytes) {
      throw new Error(`baseline received ${result.bytes} of ${bytes} bytes`);
    }
    return {
      seconds: result.seconds,
      mbPerSec: bytes / MB / result.seconds,
      cpuSecondsPerGiB: result.cpuMicros / 1e6 / (bytes / GiB),
    };
  } finally {
    if (child.exitCode === null) child.kill();
    if (dir) keepUntilTheEnd(dir);
  }
}

/** Folders of the receivers' files, deleted when the part ends (see the top of this file). */
const keptOutputs: string[] = [];

function keepUntilTheEnd(dir: string): void {
  // Also when a round fails: gigabytes must not stay behind in the temporary folder.
  if (keptOutputs.length === 0) process.once('exit', deleteKeptOutputs);
  keptOutputs.push(dir);
}

function deleteKeptOutputs(): void {
  for (const dir of keptOutputs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** A command-line receiver that writes what one TCP connection brings to a file. */
type Anchor = 'nc' | 'socat';

interface AnchorRound {
  seconds: number;
  mbPerSec: number;
}

/**
 * Why an anchor cannot be measured here, or null if it can. Only OpenBSD netcat (Debian's
 * netcat-openbsd) is driven: it leaves by itself at the peer's FIN, the traditional one does not.
 */
function anchorMissing(anchor: Anchor): string | null {
  const probe = spawnSync(anchor, anchor === 'nc' ? ['-h'] : ['-V'], { encoding: 'utf8' });
  if (probe.error)
    return `${anchor} is not installed (${(probe.error as NodeJS.ErrnoException).code})`;
  if (anchor === 'nc' && !`${probe.stdout}${probe.stderr}`.includes('OpenBSD netcat')) {
    return 'nc is not OpenBSD netcat (install netcat-openbsd)';
  }
  return null;
}

/** Whether something listens on 127.0.0.1:port, asked of the kernel without connecting. */
function listening(port: number): boolean {
  return loopbackSocketRows('tcp', port).some((fields) => fields[3] === '0A');
}

/**
 * `nc -l 127.0.0.1 PORT > file` or `socat -u TCP-LISTEN:PORT,bind=127.0.0.1 CREATE:file`: timed
 * from the peer's first write (it connects first and waits) until the tool has exited, which it
 * does once the peer's FIN came and every byte was written to the file.
 */
async function anchorRound(anchor: Anchor, bytes: number): Promise<AnchorRound> {
  const dir = tempDir(`throughput-${anchor}`);
  const file = path.join(dir, 'capture.bin');
  const port = await freeLoopbackPort('tcp');
  const out = anchor === 'nc' ? fs.openSync(file, 'w', 0o600) : 'ignore';
  const args =
    anchor === 'nc'
      ? ['-l', '127.0.0.1', String(port)]
      : ['-u', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, `CREATE:${file}`];
  const tool = spawn(anchor, args, { stdio: ['ignore', out, 'pipe'] });
  if (typeof out === 'number') fs.closeSync(out);
  let complaint = '';
  tool.stderr!.on('data', (data: Buffer) => (complaint += data.toString()));
  const exited = new Promise<number | null>((resolve) => tool.once('exit', resolve));
  try {
    await until(
      `${anchor} to listen on ${port}`,
      () => tool.exitCode !== null || listening(port),
      10_000,
      2,
    );
    if (tool.exitCode !== null)
      throw new Error(`${anchor} exited (${tool.exitCode}): ${complaint.trim()}`);
    const peer = startFlood(port, { bytes, wait: true });
    await peer.connected;
    const start = performance.now();
    peer.go();
    const code = await exited;
    const seconds = (performance.now() - start) / 1000;
    await waitForExit(peer.child);
    const written = fs.statSync(file).size;
    if (code !== 0 || written !== bytes) {
      throw new Error(
        `${anchor} wrote ${written} of ${bytes} bytes (exit ${code}) ${complaint.trim()}`,
      );
    }
    return { seconds, mbPerSec: bytes / MB / seconds };
  } finally {
    if (tool.exitCode === null) tool.kill();
    keepUntilTheEnd(dir);
  }
}

/**
 * The engine under test: one for the whole part, as a user's engine runs for a whole session,
 * with its listener and a slow view following what it accepts. Each round is a new connection.
 */
interface EngineUnderTest {
  engine: Engine;
  view: SlowView;
  dir: string;
  listenerId: string;
  port: number;
  /** Bytes in the capture's data files before the round. */
  capturedBefore: number;
}

async function startEngine(): Promise<EngineUnderTest> {
  const dir = tempDir('throughput');
  const engine = new Engine({ captureDir: dir, capture: { limitBytes: null } });
  const view = new SlowView(engine);
  const listener = await view.listenAndFollow();
  const port = (listener.local as { port: number }).port;
  return { engine, view, dir, listenerId: listener.id, port, capturedBefore: 0 };
}

async function stopEngine(target: EngineUnderTest): Promise<void> {
  target.view.close();
  await target.engine.dispose();
  fs.rmSync(target.dir, { recursive: true, force: true });
}

async function engineRound(target: EngineUnderTest, bytes: number): Promise<EngineRound> {
  const { engine, view } = target;
  let stopHearing: () => void = () => undefined;
  const accepted = new Promise<{ id: string; start: number }>((resolve) => {
    stopHearing = view.onAdded((info) => {
      if (info.parentId === target.listenerId) resolve({ id: info.id, start: performance.now() });
    });
  });
  const seen = { received: view.received, skipped: view.skipped, notices: view.skipNotices };
  const cpu = process.cpuUsage();
  const majorGcs = countMajorGcs();
  const peer = startFlood(target.port, { bytes });
  const { id, start } = await accepted;
  stopHearing();
  const end = await view.whenBytesIn(id, bytes);
  const cpuMs = cpuMsSince(cpu);
  const gcs = majorGcs();
  const seconds = (end - start) / 1000;
  await engine.flushCapture();
  const flushMs = performance.now() - end;
  const captureFileBytes = dataBytesIn(engine.status().capture.folder) - target.capturedBefore;
  if (engine.info(id).counters.bytesIn !== bytes || captureFileBytes !== bytes) {
    throw new Error(`engine captured ${captureFileBytes} of ${bytes} bytes`);
  }
  target.capturedBefore += captureFileBytes;
  // The listener allows half-open connections (the UI's default): close our side as a user
  // would, so the peer sees the connection end.
  engine.close(id);
  await waitForExit(peer.child);
  return {
    seconds,
    mbPerSec: bytes / MB / seconds,
    cpuSecondsPerGiB: cpuMs / 1000 / (bytes / GiB),
    flushMs,
    onDiskMbPerSec: bytes / MB / (seconds + flushMs / 1000),
    viewReceivedBytes: view.received - seen.received,
    viewSkippedBytes: view.skipped - seen.skipped,
    skipNotices: view.skipNotices - seen.notices,
    captureFileBytes,
    majorGcs: gcs,
  };
}

export async function run(options: ThroughputOptions = {}) {
  const bytes = options.bytes ?? GiB;
  const rounds = options.rounds ?? 3;
  const baseline: Round[] = [];
  const fileBaseline: Round[] = [];
  const engine: EngineRound[] = [];
  const anchors = (['nc', 'socat'] as const).map((name) => ({
    name,
    missing: anchorMissing(name),
    rounds: [] as AnchorRound[],
  }));
  for (const anchor of anchors) {
    if (anchor.missing) log(`  ${anchor.missing}: its figures are null`);
  }
  const settle = async () => {
    collectGarbage();
    await sleep(200);
  };
  // The first flow in a fresh process is slow whoever receives it (JIT, allocator, TCP buffers
  // growing); a short unmeasured flow through each receiver keeps that out of the rounds.
  const warmUpBytes = Math.min(bytes, WARM_UP_BYTES);
  await baselineRound(warmUpBytes, false);
  const underTest = await startEngine();
  try {
    await engineRound(underTest, warmUpBytes);
    for (const anchor of anchors) if (!anchor.missing) await anchorRound(anchor.name, warmUpBytes);
    await baselineRound(warmUpBytes, true);
    log(`  warm-up: ${warmUpBytes / MiB} MiB through each receiver, not counted`);
    for (let i = 0; i < rounds; i++) {
      await settle();
      const b = await baselineRound(bytes, false);
      baseline.push(b);
      log(`  baseline round ${i + 1}: ${b.mbPerSec.toFixed(0)} MB/s`);
      // The receivers that write a file take turns at each place in the round: what the one before
      // left (a gigabyte just deleted, pages to reclaim, a pause) changes how fast the kernel takes
      // the next file's pages, so no receiver should always come after the same one.
      const fileRounds: Array<() => Promise<void>> = [
        async () => {
          const e = await engineRound(underTest, bytes);
          engine.push(e);
          log(
            `  engine   round ${i + 1}: ${e.mbPerSec.toFixed(0)} MB/s, ${e.onDiskMbPerSec.toFixed(0)} MB/s ` +
              `until on disk (view got ${(e.viewReceivedBytes / MB).toFixed(1)} MB live, ` +
              `${e.skipNotices} skip notices; flush +${e.flushMs.toFixed(0)} ms; ${e.majorGcs} full GCs)`,
          );
        },
        ...anchors
          .filter((anchor) => !anchor.missing)
          .map((anchor) => async () => {
            const a = await anchorRound(anchor.name, bytes);
            anchor.rounds.push(a);
            log(`  ${anchor.name} > file round ${i + 1}: ${a.mbPerSec.toFixed(0)} MB/s`);
          }),
        async () => {
          const f = await baselineRound(bytes, true);
          fileBaseline.push(f);
          log(`  baseline + file round ${i + 1}: ${f.mbPerSec.toFixed(0)} MB/s`);
        },
      ];
      for (let k = 0; k < fileRounds.length; k++) {
        await settle();
        await fileRounds[(i + k) % fileRounds.length]!();
      }
    }
  } finally {
    // A failed round still leaves no engine running and no gigabytes in the temporary folder.
    await stopEngine(underTest);
    deleteKeptOutputs();
  }
  const mbPerSec = median(engine.map((r) => r.mbPerSec));
  const onDiskMbPerSec = median(engine.map((r) => r.onDiskMbPerSec));
  const baselineMbPerSec = median(baseline.map((r) => r.mbPerSec));
  const fileBaselineMbPerSec = median(fileBaseline.map((r) => r.mbPerSec));
  /** The engine (timed until its last byte is on disk, as a tool is) against a tool. */
  const against = (anchor: (typeof anchors)[number]) => {
    if (anchor.missing) return { ratio: null, mbPerSec: null, pairRatioMedian: null, rounds: null };
    const anchorMbPerSec = median(anchor.rounds.map((r) => r.mbPerSec));
    return {
      ratio: round(onDiskMbPerSec / anchorMbPerSec, 3),
      mbPerSec: round(anchorMbPerSec, 1),
      pairRatioMedian: round(
        median(engine.map((r, i) => r.onDiskMbPerSec / anchor.rounds[i]!.mbPerSec)),
        3,
      ),
      rounds: anchor.rounds.map((r) => round(r.mbPerSec, 1)),
    };
  };
  const [nc, socat] = anchors.map(against) as [
    ReturnType<typeof against>,
    ReturnType<typeof against>,
  ];
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
    /** The engine until its last byte is on disk (what the nc and socat ratios use). */
    onDiskMbPerSec: round(onDiskMbPerSec, 1),
    /** Against `nc -l 127.0.0.1 PORT > file` (OpenBSD netcat), null when nc is missing. */
    ncFileRatio: nc.ratio,
    ncFileMbPerSec: nc.mbPerSec,
    /** Each engine round over the nc round right after it. */
    ncFilePairRatioMedian: nc.pairRatioMedian,
    ncFileRoundsMbPerSec: nc.rounds,
    /** Against `socat -u TCP-LISTEN:PORT CREATE:file`, null when socat is missing. */
    socatFileRatio: socat.ratio,
    socatFileMbPerSec: socat.mbPerSec,
    socatFilePairRatioMedian: socat.pairRatioMedian,
    socatFileRoundsMbPerSec: socat.rounds,
    /** Why a tool's figures are null. */
    anchorsMissing: anchors.flatMap((a) => (a.missing ? [a.missing] : [])),
    bytes,
    rounds,
    engineRoundsMbPerSec: engine.map((r) => round(r.mbPerSec, 1)),
    engineOnDiskRoundsMbPerSec: engine.map((r) => round(r.onDiskMbPerSec, 1)),
    baselineRoundsMbPerSec: baseline.map((r) => round(r.mbPerSec, 1)),
    fileBaselineRoundsMbPerSec: fileBaseline.map((r) => round(r.mbPerSec, 1)),
    cpuSecondsPerGiB: round(median(engine.map((r) => r.cpuSecondsPerGiB)), 3),
    baselineCpuSecondsPerGiB: round(median(baseline.map((r) => r.cpuSecondsPerGiB)), 3),
    fileBaselineCpuSecondsPerGiB: round(median(fileBaseline.map((r) => r.cpuSecondsPerGiB)), 3),
    flushMsMedian: round(median(engine.map((r) => r.flushMs)), 1),
    viewReceivedMBMedian: round(median(engine.map((r) => r.viewReceivedBytes)) / MB, 2),
    viewSkippedMBMedian: round(median(engine.map((r) => r.viewSkippedBytes)) / MB, 1),
    skipNoticesMedian: median(engine.map((r) => r.skipNotices)),
    /** Full collections in the engine's process per GiB captured (V8 chasing read buffers). */
    majorGcsPerGiBMedian: round(median(engine.map((r) => r.majorGcs / (bytes / GiB))), 1),
  };
}
