/**
 * Serve fairness: how long a small command (engine.status) waits for its answer while five
 * other pages each read 4 MiB of capture again and again, against the same command's wait with
 * no reads running, in the same server process. The server (engine + browser-mode server) runs
 * here; the prober and the readers are separate processes (bench/peers/serve-clients.mjs), so
 * that neither the readers' decoding nor this process's own work is counted as a wait.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { Engine } from '../src/main/engine/engine';
import { createRouter } from '../src/main/router';
import { startServer } from '../src/main/serve';
import { encodeWire } from '../src/shared/wire';
import {
  benchDir,
  log,
  median,
  MiB,
  percentile,
  round,
  sleep,
  tempDir,
  waitForExit,
} from './lib/util';

export interface ServeFairnessOptions {
  /** Pages reading at once. */
  readers?: number;
  /** Bytes each read asks for (the contract's largest read is 4 MiB). */
  readBytes?: number;
  /** engine.status calls in each phase. */
  probes?: number;
  /** Alternating rounds of both phases; figures are medians over rounds. */
  rounds?: number;
}

/** A peer process's JSON lines, one at a time. */
function lines(child: ChildProcess): () => Promise<Record<string, unknown>> {
  const queue: Record<string, unknown>[] = [];
  let waiting: ((line: Record<string, unknown>) => void) | null = null;
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    if (waiting) {
      const resolve = waiting;
      waiting = null;
      resolve(parsed);
    } else queue.push(parsed);
  });
  const exited = waitForExit(child).then((code) => {
    throw new Error(`serve-clients peer exited (${code}) before answering`);
  });
  exited.catch(() => undefined);
  return () =>
    queue.length > 0
      ? Promise.resolve(queue.shift() as Record<string, unknown>)
      : Promise.race([new Promise<Record<string, unknown>>((r) => (waiting = r)), exited]);
}

function peer(args: string[]): {
  child: ChildProcess;
  next: () => Promise<Record<string, unknown>>;
} {
  const child = spawn(process.execPath, [path.join(benchDir, 'peers/serve-clients.mjs'), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return { child, next: lines(child) };
}

/**
 * The longest gap between two turns of this process's event loop (a 1 ms timer), by the wall
 * clock and by the CPU time the process used in a gap. On a busy machine the first also counts
 * time the process was not scheduled; the second is what the server itself spent blocked.
 */
function stallMeter(): { stop(): { stallWallMs: number; stallCpuMs: number } } {
  let lastWall = performance.now();
  let lastCpu = process.cpuUsage();
  let stallWallMs = 0;
  let stallCpuMs = 0;
  const timer = setInterval(() => {
    const wall = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    stallWallMs = Math.max(stallWallMs, wall - lastWall);
    stallCpuMs = Math.max(stallCpuMs, (cpu.user + cpu.system) / 1000);
    lastWall = wall;
    lastCpu = process.cpuUsage();
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      return { stallWallMs: round(stallWallMs, 1), stallCpuMs: round(stallCpuMs, 1) };
    },
  };
}

function nativeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function summary(waitsMs: number[]) {
  return {
    maxMs: round(Math.max(...waitsMs), 2),
    p99Ms: round(percentile(waitsMs, 99), 2),
    p50Ms: round(percentile(waitsMs, 50), 2),
  };
}

export async function run(options: ServeFairnessOptions = {}) {
  const readers = options.readers ?? 5;
  const readBytes = options.readBytes ?? 4 * MiB;
  const probes = options.probes ?? 300;
  const rounds = options.rounds ?? 3;

  const rendererDir = tempDir('fairness');
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<title>bench</title>');
  const engine = new Engine();
  const server = await startServer({ host: '127.0.0.1', port: 0, rendererDir, engine });
  try {
    // Something to read: a peer sends a little more than one read's worth.
    const router = createRouter(engine);
    const listened = await router.invoke('tcp.listen', { host: '127.0.0.1', port: 0 });
    if (!listened.ok) throw new Error(listened.error.message);
    const listener = listened.value as { id: string; local: { port: number } };
    const sender = net.connect(listener.local.port, '127.0.0.1');
    await new Promise<void>((resolve) => sender.once('connect', resolve));
    sender.end(Buffer.alloc(readBytes + MiB, 0x61));
    let connectionId: string | undefined;
    for (;;) {
      connectionId = engine.list().find((e) => e.parentId === listener.id)?.id;
      if (connectionId && engine.readCapture(connectionId, 0, 1).totalBytes >= readBytes + MiB) {
        break;
      }
      await sleep(10);
    }

    const address = ['--port', String(server.port), '--token', server.token];
    /** The prober's waits, and how this (the server's) event loop fared meanwhile. */
    const probe = async () => {
      const meter = stallMeter();
      const prober = peer([...address, 'probe', '--count', String(probes)]);
      const { waitsMs } = (await prober.next()) as { waitsMs: number[] };
      const stalls = meter.stop();
      await waitForExit(prober.child);
      return { ...summary(waitsMs), ...stalls };
    };
    const readersArgs = ['read', '--clients', String(readers), '--id', connectionId];

    await probe(); // warm-up: JIT and first connections
    const idle: Awaited<ReturnType<typeof probe>>[] = [];
    const loaded: Awaited<ReturnType<typeof probe>>[] = [];
    let reads = 0;
    let replyBytes = 0;
    let readSeconds = 0;
    for (let round = 1; round <= rounds; round++) {
      log(`  round ${round}/${rounds}: ${probes} engine.status calls, nothing else running`);
      idle.push(await probe());
      log(
        `  round ${round}/${rounds}: the same while ${readers} pages read ${readBytes / MiB} MiB`,
      );
      const reading = peer([...address, ...readersArgs, '--length', String(readBytes)]);
      await reading.next(); // every reader has had one answer
      const started = performance.now();
      loaded.push(await probe());
      readSeconds += (performance.now() - started) / 1000;
      reading.child.stdin!.end();
      const done = (await reading.next()) as { reads: number; bytes: number };
      reads += done.reads;
      replyBytes += done.bytes;
      await waitForExit(reading.child);
    }
    sender.destroy();

    // For reference: the block one read would be if served whole (read, encode, to bytes).
    const wholeReadMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const value = engine.readCapture(connectionId, 0, readBytes);
      Buffer.from(encodeWire({ t: 'result', id: 1, result: { ok: true, value } }, nativeBase64));
      wholeReadMs.push(performance.now() - start);
    }

    const mid = (values: number[]) => round(median(values), 2);
    const maxMs = mid(loaded.map((r) => r.maxMs));
    const baselineMaxMs = mid(idle.map((r) => r.maxMs));
    const p50Ms = mid(loaded.map((r) => r.p50Ms));
    const baselineP50Ms = mid(idle.map((r) => r.p50Ms));
    return {
      readers,
      readBytes,
      probes,
      rounds,
      maxMs,
      baselineMaxMs,
      maxRatio: round(maxMs / baselineMaxMs, 1),
      p99Ms: mid(loaded.map((r) => r.p99Ms)),
      baselineP99Ms: mid(idle.map((r) => r.p99Ms)),
      p50Ms,
      baselineP50Ms,
      p50Ratio: round(p50Ms / baselineP50Ms, 1),
      roundsMaxMs: loaded.map((r) => r.maxMs),
      baselineRoundsMaxMs: idle.map((r) => r.maxMs),
      serverStallMaxMs: mid(loaded.map((r) => r.stallWallMs)),
      baselineServerStallMaxMs: mid(idle.map((r) => r.stallWallMs)),
      serverBlockCpuMaxMs: mid(loaded.map((r) => r.stallCpuMs)),
      baselineServerBlockCpuMaxMs: mid(idle.map((r) => r.stallCpuMs)),
      wholeReadBlockMs: mid(wholeReadMs),
      reads,
      readMBPerSec: round(replyBytes / 1e6 / readSeconds, 1),
    };
  } finally {
    await server.close();
    await engine.dispose();
    fs.rmSync(rendererDir, { recursive: true, force: true });
  }
}
