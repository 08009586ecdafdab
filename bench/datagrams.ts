/**
 * Datagrams: a peer process sends a million small UDP datagrams into an engine UDP socket (each
 * one a capture record with its own index row) and, in alternating rounds of the same run, into
 * plain node:dgram receivers in their own processes that only count them, and into socat writing
 * each datagram to a file (what a user would run instead to keep them). The figure is how
 * many of the same datagrams each one took: rounds alternate so that the noise of a busy
 * machine hits both alike. Baseline mode measures a plain receiver's memory in this process.
 * The memory reference point is the memory after a warm-up that fills the capture budget.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { Engine } from '../src/main/engine/engine';
import {
  benchDir,
  freeLoopbackPort,
  log,
  loopbackSocketRows,
  MiB,
  processTimes,
  round,
  settledMemory,
  sleep,
  tempDir,
  until,
  waitForExit,
} from './lib/util';

export interface DatagramsOptions {
  mode?: 'engine' | 'baseline';
  count?: number;
  warmupCount?: number;
  size?: number;
  /** Engine mode: rounds per receiver, in a rotating order (each takes count / rounds). */
  rounds?: number;
  /** Engine mode: the engine socket's receiveBufferSize (absent: the engine's default). */
  receiveBufferSize?: number;
}

interface Receiver {
  name: string;
  port: number;
  /** SO_RCVBUF as the kernel granted it. */
  recvBufferSize: number;
  received(): Promise<number>;
  /** CPU time of the receiving process so far (µs, user + system). */
  cpuMicros(): Promise<number>;
  close(): Promise<void>;
}

async function inProcessPlainReceiver(): Promise<Receiver & { dropped(): number }> {
  const socket = dgram.createSocket('udp4');
  let count = 0;
  socket.on('message', () => {
    count += 1;
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    name: 'baseline',
    port: socket.address().port,
    recvBufferSize: socket.getRecvBufferSize(),
    received: async () => count,
    dropped: () => 0,
    cpuMicros: async () => cpuNow(),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

function cpuNow(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** bench/peers/udp-counter.mjs: a plain receiver in its own process. */
async function childPlainReceiver(
  name: string,
  recvBuffer?: number,
  keep = false,
): Promise<Receiver> {
  const args = [
    ...(recvBuffer === undefined ? [] : ['--recv-buffer', String(recvBuffer)]),
    ...(keep ? ['--keep'] : []),
  ];
  const child: ChildProcess = fork(path.join(benchDir, 'peers/udp-counter.mjs'), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [],
  });
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${name} exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (message) => {
        child.off('exit', onExit);
        resolve(message as T);
      });
    });
  const bound = await next<{ port: number; recvBufferSize: number }>();
  // One question at a time: answers come back in order.
  let queue: Promise<unknown> = Promise.resolve();
  const ask = () => {
    const answer = queue.then(() => {
      const reply = next<{ received: number; cpuMicros: number }>();
      child.send('count');
      return reply;
    });
    queue = answer.catch(() => undefined);
    return answer;
  };
  return {
    name,
    port: bound.port,
    recvBufferSize: bound.recvBufferSize,
    received: async () => (await ask()).received,
    cpuMicros: async () => (await ask()).cpuMicros,
    close: async () => {
      child.disconnect();
      await waitForExit(child);
    },
  };
}

/** Whether a UDP socket is bound to 127.0.0.1:port, asked of the kernel. */
function udpBound(port: number): boolean {
  return loopbackSocketRows('udp', port).length > 0;
}

/**
 * What a user would run instead to keep every datagram: `socat -u UDP4-RECV:PORT CREATE:file`,
 * asking the engine's SO_RCVBUF. Each datagram is one read and one write of its bytes, so the
 * file's size says how many arrived. (Not `nc -u -l`: it connects its socket to the first
 * sender, and each round's sender is a new process with a new port.) Null without socat.
 */
async function socatFileReceiver(
  size: number,
  recvBuffer: number | null,
): Promise<Receiver | null> {
  const dir = tempDir('datagrams-socat');
  const file = path.join(dir, 'datagrams.bin');
  const port = await freeLoopbackPort('udp');
  const recvOption = recvBuffer === null ? '' : `,rcvbuf=${recvBuffer}`;
  const args = ['-u', `UDP4-RECV:${port},bind=127.0.0.1${recvOption}`, `CREATE:${file}`];
  const child = spawn('socat', args, { stdio: 'ignore' });
  let missing = false;
  child.once('error', () => (missing = true));
  await until(
    `socat to bind ${port}`,
    () => missing || child.exitCode !== null || udpBound(port),
    5000,
  ).catch(() => undefined);
  if (missing || child.exitCode !== null || child.pid === undefined || !udpBound(port)) {
    child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
    return null;
  }
  const pid = child.pid;
  return {
    name: 'socatFile',
    port,
    recvBufferSize: NaN,
    received: async () => (fs.existsSync(file) ? Math.floor(fs.statSync(file).size / size) : 0),
    cpuMicros: async () => processTimes(pid).ownMs * 1000,
    close: async () => {
      child.kill();
      await waitForExit(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface EngineReceiver extends Receiver {
  dropped(): number;
  kernelDrops(): number | null;
  captureBytesInMemory(): number;
  settle(): Promise<void>;
  asked: number | null;
}

async function engineReceiver(receiveBufferSize?: number): Promise<EngineReceiver> {
  const dir = tempDir('datagrams');
  const engine = new Engine({ captureDir: dir });
  const udp = await engine.bindUdp({
    host: '127.0.0.1',
    port: 0,
    ...(receiveBufferSize === undefined ? {} : { receiveBufferSize }),
  });
  const info = () => engine.info(udp.id);
  return {
    name: 'engine',
    port: (udp.local as { port: number }).port,
    recvBufferSize: udp.receiveBuffer?.granted ?? NaN,
    asked: udp.receiveBuffer?.asked ?? null,
    received: async () => info().counters.chunksIn,
    cpuMicros: async () => cpuNow(),
    dropped: () => info().counters.datagramsDropped,
    kernelDrops: () => info().counters.kernelDrops,
    captureBytesInMemory: () => engine.status().capture.bytesInMemory,
    settle: () => engine.flushCapture(),
    close: async () => {
      await engine.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Delivery {
  received: number;
  seconds: number;
  cpuMicros: number;
}

/**
 * Sends `count` datagrams from bench/peers/datagrams.mjs; resolves once arrivals have stopped,
 * with how many arrived, how long it took and the receiving process's CPU time meanwhile.
 */
async function send(receiver: Receiver, count: number, size: number): Promise<Delivery> {
  const before = await receiver.received();
  const cpuBefore = await receiver.cpuMicros();
  const start = performance.now();
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
  const seconds = (performance.now() - start) / 1000;
  let last = -1;
  for (let now = await receiver.received(); now !== last; now = await receiver.received()) {
    last = now;
    await sleep(100);
  }
  return { received: last - before, seconds, cpuMicros: (await receiver.cpuMicros()) - cpuBefore };
}

const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);

async function baselineRun(count: number, warmupCount: number, size: number) {
  const receiver = await inProcessPlainReceiver();
  try {
    await send(receiver, warmupCount, size);
    const before = await settledMemory();
    let peakRss = before.rss;
    let peakHeap = 0;
    const sampler = setInterval(() => {
      const usage = process.memoryUsage();
      peakRss = Math.max(peakRss, usage.rss);
      peakHeap = Math.max(peakHeap, usage.heapUsed + usage.external);
    }, 20);
    const delivery = await send(receiver, count, size);
    clearInterval(sampler);
    const after = await settledMemory();
    const heapGrowth = after.heapUsed + after.external - (before.heapUsed + before.external);
    log(`  baseline (in process): ${delivery.received} of ${count} datagrams of ${size} B`);
    return {
      mode: 'baseline',
      sent: count,
      received: delivery.received,
      droppedByReceiver: 0,
      size,
      seconds: round(delivery.seconds, 2),
      recvBufferSize: receiver.recvBufferSize,
      rssBeforeMB: round(before.rss / MiB, 1),
      rssPeakMB: round(peakRss / MiB, 1),
      rssGrowthMB: round((peakRss - before.rss) / MiB, 1),
      heapPlusExternalPeakGrowthMB: round(
        (peakHeap - (before.heapUsed + before.external)) / MiB,
        1,
      ),
      capturePeakInMemoryMB: 0,
      retainedBytesPerDatagram: round(heapGrowth / Math.max(1, delivery.received), 2),
    };
  } finally {
    await receiver.close();
  }
}

async function engineRun(
  options: DatagramsOptions,
  count: number,
  warmupCount: number,
  size: number,
) {
  const rounds = Math.max(1, options.rounds ?? 4);
  const perRound = Math.ceil(count / rounds);
  const engine = await engineReceiver(options.receiveBufferSize);
  // Plain receivers as a user would write them: with the OS's default SO_RCVBUF, and with the
  // same ask as the engine's, so that the buffer and the receive loop can be told apart.
  const plain = await childPlainReceiver('plain');
  const plainSameBuffer =
    engine.asked === null ? null : await childPlainReceiver('plainSameBuffer', engine.asked);
  // The nearest anchor for a receiver that keeps what it reads: a plain one that copies each
  // datagram out with its time and sender port, into memory, and does nothing else.
  const plainKeeping = await childPlainReceiver('plainKeeping', engine.asked ?? undefined, true);
  // And what a user would run instead to keep what arrives (each datagram of `size` bytes makes
  // the file grow by exactly that much: an empty datagram could not be counted).
  const socatFile = size > 0 ? await socatFileReceiver(size, engine.asked) : null;
  const receivers = [
    engine,
    plain,
    ...(plainSameBuffer ? [plainSameBuffer] : []),
    plainKeeping,
    ...(socatFile ? [socatFile] : []),
  ];
  try {
    await send(engine, warmupCount, size);
    for (const receiver of receivers.slice(1))
      await send(receiver, Math.min(warmupCount, 50_000), size);
    await engine.settle();
    const before = await settledMemory();
    let peakRss = before.rss;
    let peakHeap = 0;
    let peakCapture = 0;
    const droppedBefore = engine.dropped();
    const kernelDropsBefore = engine.kernelDrops();
    const sampler = setInterval(() => {
      const usage = process.memoryUsage();
      peakRss = Math.max(peakRss, usage.rss);
      peakHeap = Math.max(peakHeap, usage.heapUsed + usage.external);
      peakCapture = Math.max(peakCapture, engine.captureBytesInMemory());
    }, 20);
    const deliveries = new Map<Receiver, Delivery[]>(receivers.map((r) => [r, []]));
    for (let round = 0; round < rounds; round++) {
      // Each round starts with the next receiver, so none is always first after a pause.
      for (let i = 0; i < receivers.length; i++) {
        const receiver = receivers[(round + i) % receivers.length] as Receiver;
        const delivery = await send(receiver, perRound, size);
        deliveries.get(receiver)!.push(delivery);
      }
    }
    clearInterval(sampler);
    await engine.settle();
    // The kernel's count is read afresh a moment after the last datagram (see udp.ts).
    await sleep(300);
    const after = await settledMemory();
    const heapGrowth = after.heapUsed + after.external - (before.heapUsed + before.external);
    const totals = (receiver: Receiver | null) => {
      if (receiver === null) return null;
      const list = deliveries.get(receiver)!;
      const received = sum(list.map((d) => d.received));
      return {
        received,
        rounds: list.map((d) => d.received),
        seconds: round(sum(list.map((d) => d.seconds)), 2),
        cpuMicrosPerDatagram: round(sum(list.map((d) => d.cpuMicros)) / Math.max(1, received), 2),
        recvBufferSize: receiver.recvBufferSize,
      };
    };
    const mine = totals(engine)!;
    const plainTotals = totals(plain)!;
    const sameTotals = totals(plainSameBuffer);
    const keepingTotals = totals(plainKeeping)!;
    const socatTotals = totals(socatFile);
    const sent = perRound * rounds;
    const kernelDropsAfter = engine.kernelDrops();
    log(
      `  engine: ${mine.received} of ${sent} datagrams of ${size} B (rounds ${mine.rounds.join(', ')}); ` +
        `plain receiver ${plainTotals.received} (rounds ${plainTotals.rounds.join(', ')})` +
        (sameTotals ? `; plain with the same buffer ${sameTotals.received}` : '') +
        `; plain keeping them ${keepingTotals.received}` +
        (socatTotals ? `; socat to a file ${socatTotals.received}` : '') +
        `; RSS ${(before.rss / MiB).toFixed(1)} -> peak ${(peakRss / MiB).toFixed(1)} MB`,
    );
    return {
      mode: 'engine',
      sent,
      rounds,
      received: mine.received,
      roundsReceived: mine.rounds,
      droppedByReceiver: engine.dropped() - droppedBefore,
      kernelDrops:
        kernelDropsAfter === null || kernelDropsBefore === null
          ? null
          : kernelDropsAfter - kernelDropsBefore,
      size,
      seconds: mine.seconds,
      cpuMicrosPerDatagram: mine.cpuMicrosPerDatagram,
      receiveBufferAsked: engine.asked,
      recvBufferSize: engine.recvBufferSize,
      plain: plainTotals,
      plainSameBuffer: sameTotals,
      plainKeeping: keepingTotals,
      socatFile: socatTotals,
      rssBeforeMB: round(before.rss / MiB, 1),
      rssPeakMB: round(peakRss / MiB, 1),
      rssGrowthMB: round((peakRss - before.rss) / MiB, 1),
      heapPlusExternalPeakGrowthMB: round(
        (peakHeap - (before.heapUsed + before.external)) / MiB,
        1,
      ),
      capturePeakInMemoryMB: round(peakCapture / MiB, 1),
      /** Heap + external after GC, per datagram received: what each one leaves behind. */
      retainedBytesPerDatagram: round(heapGrowth / Math.max(1, mine.received), 2),
    };
  } finally {
    for (const receiver of receivers) await receiver.close();
  }
}

export async function run(options: DatagramsOptions = {}) {
  const count = options.count ?? 1_000_000;
  const warmupCount = options.warmupCount ?? 300_000;
  const size = options.size ?? 64;
  return options.mode === 'baseline'
    ? baselineRun(count, warmupCount, size)
    : engineRun(options, count, warmupCount, size);
}
