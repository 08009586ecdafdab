/**
 * Scale: 10,000 concurrent connections from a peer process to one Engine listener, then 20,000
 * connect/close cycles, then everything closed and forgotten: how long accepting takes, what a
 * connection costs in this process, and whether descriptors and memory come back.
 *
 * The baseline is a plain node:net server in this same process, fed by the same peer process,
 * holding the same 10,000 connections.
 */
import fs from 'node:fs';
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Engine } from '../src/main/engine/engine';
import { KEEP_CLOSED_MAX, MAX_CONNECTIONS_MAX, type EndpointInfo } from '../src/shared/contract';
import {
  activeResources,
  cpuMsSince,
  fdLimit,
  listenDrops,
  log,
  MiB,
  openFds,
  round,
  settledMemory,
  sleep,
  Swarm,
  tempDir,
  until,
} from './lib/util';

export interface ScaleOptions {
  connections?: number;
  cycles?: number;
  batch?: number;
}

const terminal = new Set<EndpointInfo['state']>(['closed', 'reset', 'error']);

/**
 * How long both servers are left alone before their memory is counted. The engine finishes its
 * work on what just arrived within about a second (index rows journaled within
 * JOURNAL_MAX_AGE_MS, the index log written soon after), and lets go of the warm-up's forgotten
 * connections then: counted earlier, that work would be caught half done, and memory freed
 * while the 10,000 are held would be subtracted from what they cost. The plain server has no such
 * work; it waits just the same.
 */
const QUIET_MS = 1500;

/** What this process holds in JS objects and buffers (after GC), and in all (RSS). */
/** Longest and 99th-percentile event-loop stalls while `during` runs, in ms. */
async function stalls<T>(
  during: () => Promise<T>,
): Promise<T & { stallMaxMs: number; stallP99Ms: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const result = await during();
  histogram.disable();
  return { ...result, stallMaxMs: histogram.max / 1e6, stallP99Ms: histogram.percentile(99) / 1e6 };
}

function footprint(memory: NodeJS.MemoryUsage) {
  return { heapPlusExternal: memory.heapUsed + memory.external, rss: memory.rss };
}

/**
 * The swarm opens `connections` to `port`; times them until `allAccepted`, with the CPU, the
 * kernel's dropped handshakes and the event loop's stalls meanwhile, and the memory each costs
 * over `before` once they are all held.
 */
async function acceptAll(
  swarm: Swarm,
  port: number,
  connections: number,
  before: ReturnType<typeof footprint>,
  allAccepted: () => boolean,
) {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const drops = listenDrops();
  const { opened, stallMaxMs, stallP99Ms } = await stalls(async () => {
    const reply = await swarm.send({ cmd: 'open', port, count: connections });
    await until('every connection accepted', allAccepted, 60_000, 1);
    return { opened: reply };
  });
  const acceptSeconds = (performance.now() - start) / 1000;
  const acceptCpuMs = cpuMsSince(cpu);
  const acceptQueueDrops = listenDrops() - drops;
  await sleep(QUIET_MS);
  const held = footprint(await settledMemory());
  return {
    opened,
    figures: {
      acceptSeconds,
      acceptCpuMs,
      acceptQueueDrops,
      stallMaxMs,
      stallP99Ms,
      bytesPerConnection: (held.heapPlusExternal - before.heapPlusExternal) / connections,
      rssBytesPerConnection: (held.rss - before.rss) / connections,
    },
  };
}

async function baseline(swarm: Swarm, connections: number) {
  await sleep(QUIET_MS);
  const before = footprint(await settledMemory());
  const server = net.createServer({ allowHalfOpen: false });
  const open = new Set<net.Socket>();
  let accepted = 0;
  let bytes = 0;
  server.on('connection', (socket) => {
    accepted += 1;
    open.add(socket);
    socket.on('data', (data: Buffer) => {
      bytes += data.byteLength;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) =>
    server.listen({ host: '127.0.0.1', port: 0, backlog: 511 }, resolve),
  );
  const port = (server.address() as net.AddressInfo).port;
  const { figures } = await acceptAll(
    swarm,
    port,
    connections,
    before,
    () => accepted >= connections,
  );
  await swarm.send({ cmd: 'closeAll' });
  await until('baseline closes', () => open.size === 0, 60_000);
  await new Promise((resolve) => server.close(resolve));
  return { ...figures, greetingBytes: bytes };
}

/**
 * The engine with a view standing in for the UI (it opens no feeds): it sees every endpoint added,
 * updated and removed, and forgets connections once they have closed, as a user clearing finished
 * connections would (unless told to hold on to them for a moment).
 */
async function engineRun(swarm: Swarm, options: Required<ScaleOptions>) {
  const { connections, cycles, batch } = options;
  const dir = tempDir('scale');
  const engine = new Engine({ captureDir: dir });
  let accepted = 0;
  let closed = 0;
  let forgotten = 0;
  let autoForget = true;
  const waitingToForget: string[] = [];
  const forget = (id: string) => {
    engine.forget(id);
    forgotten += 1;
  };
  const view = engine.openView((event) => {
    if (event.event === 'endpoint.added' && event.payload.role === 'accepted') accepted += 1;
    if (event.event !== 'endpoint.updated' || event.payload.role !== 'accepted') return;
    if (!terminal.has(event.payload.state)) return;
    const id = event.payload.id;
    closed += 1;
    // Not from inside the engine's own event delivery: a UI's click comes later, too.
    if (autoForget) setImmediate(() => forget(id));
    else waitingToForget.push(id);
  });
  const listener = await engine.listenTcp({
    host: '127.0.0.1',
    port: 0,
    backlog: 511,
    allowHalfOpen: false,
    // Past the defaults on purpose: this measures holding, and forgetting, every connection.
    maxConnections: MAX_CONNECTIONS_MAX,
    keepClosed: KEEP_CLOSED_MAX,
  });
  const port = (listener.local as { port: number }).port;
  const settle = async (what: string, expectedAccepted: number) => {
    await until(what, () => accepted >= expectedAccepted, 60_000);
    await until(`${what}: closed and forgotten`, () => forgotten >= expectedAccepted, 60_000);
  };

  // Warm-up: JIT, pools and the capture file's first writes belong to the "before" figures.
  await swarm.send({ cmd: 'cycle', port, count: 1000, batch });
  await settle('warm-up', 1000);
  const fdsBefore = openFds();
  const resourcesBefore = activeResources();
  await sleep(QUIET_MS);
  const before = footprint(await settledMemory());

  const { opened, figures } = await acceptAll(
    swarm,
    port,
    connections,
    before,
    () => accepted >= 1000 + connections,
  );
  const fdsHeld = openFds();
  log(
    `  engine accepted ${connections} in ${figures.acceptSeconds.toFixed(2)} s ` +
      `(peer connected them in ${((opened.ms as number) / 1000).toFixed(2)} s)`,
  );

  const cycleStart = performance.now();
  await swarm.send({ cmd: 'cycle', port, count: cycles, batch });
  await settle('cycles', 1000 + cycles);
  const cycleSeconds = (performance.now() - cycleStart) / 1000;
  log(`  ${cycles} connect/close cycles in ${cycleSeconds.toFixed(2)} s`);

  // Close the 10,000 but keep their endpoints for a moment: what a user who never clicks
  // "Forget" is left holding.
  autoForget = false;
  await swarm.send({ cmd: 'closeAll' });
  await until('all closed', () => closed >= 1000 + cycles + connections, 60_000);
  const closedNotForgotten = footprint(await settledMemory());
  const fdsClosedNotForgotten = openFds();
  for (const id of waitingToForget.splice(0)) forget(id);
  const after = footprint(await settledMemory());
  const fdsAfter = openFds();
  const resourcesAfter = activeResources();
  const endpointsLeft = engine.list().length;

  view.close();
  await engine.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    ...figures,
    peerConnectSeconds: (opened.ms as number) / 1000,
    cycleSeconds,
    fdsBefore,
    fdsHeld,
    fdsClosedNotForgotten,
    fdsAfter,
    leakedHandles: fdsAfter - fdsBefore,
    resourcesBefore,
    resourcesAfter,
    endpointsLeft,
    heapPlusExternalGrowthMB: (after.heapPlusExternal - before.heapPlusExternal) / MiB,
    rssGrowthMB: (after.rss - before.rss) / MiB,
    notForgottenHeapPlusExternalGrowthMB:
      (closedNotForgotten.heapPlusExternal - before.heapPlusExternal) / MiB,
  };
}

export async function run(options: ScaleOptions = {}) {
  const settings: Required<ScaleOptions> = {
    connections: options.connections ?? 10_000,
    cycles: options.cycles ?? 20_000,
    batch: options.batch ?? 500,
  };
  const limit = fdLimit();
  if (limit < settings.connections + 1000) {
    throw new Error(`this process may open only ${limit} files; run it through bench/run.ts`);
  }
  const swarm = new Swarm(settings.connections + 1000);
  await swarm.ready;
  try {
    log(`  baseline: plain node:net server, ${settings.connections} connections`);
    const plain = await baseline(swarm, settings.connections);
    log(`  baseline accepted ${settings.connections} in ${plain.acceptSeconds.toFixed(2)} s`);
    const engine = await engineRun(swarm, settings);
    return {
      connections: settings.connections,
      cycles: settings.cycles,
      batch: settings.batch,
      fdLimit: limit,
      acceptSeconds: round(engine.acceptSeconds, 3),
      baselineAcceptSeconds: round(plain.acceptSeconds, 3),
      /** Accept rate of the engine over the plain server's (1 = as fast). */
      acceptRatio: round(plain.acceptSeconds / engine.acceptSeconds, 3),
      peerConnectSeconds: round(engine.peerConnectSeconds, 3),
      /** Handshakes the kernel dropped for a full accept queue (backlog 511) while accepting. */
      acceptQueueDrops: engine.acceptQueueDrops,
      baselineAcceptQueueDrops: plain.acceptQueueDrops,
      /** The longest event-loop stall while accepting: the queue overflows during such pauses. */
      acceptStallMaxMs: round(engine.stallMaxMs, 1),
      acceptStallP99Ms: round(engine.stallP99Ms, 1),
      baselineAcceptStallMaxMs: round(plain.stallMaxMs, 1),
      baselineAcceptStallP99Ms: round(plain.stallP99Ms, 1),
      /** CPU time of this process per accepted connection, in microseconds. */
      acceptCpuMicrosPerConnection: round((engine.acceptCpuMs * 1000) / settings.connections, 1),
      baselineAcceptCpuMicrosPerConnection: round(
        (plain.acceptCpuMs * 1000) / settings.connections,
        1,
      ),
      /** heapUsed + external after GC, per held connection. */
      bytesPerConnection: Math.round(engine.bytesPerConnection),
      baselineBytesPerConnection: Math.round(plain.bytesPerConnection),
      bytesPerConnectionRatio: round(engine.bytesPerConnection / plain.bytesPerConnection, 2),
      rssBytesPerConnection: Math.round(engine.rssBytesPerConnection),
      baselineRssBytesPerConnection: Math.round(plain.rssBytesPerConnection),
      cycleSeconds: round(engine.cycleSeconds, 2),
      cyclesPerSecond: Math.round(settings.cycles / engine.cycleSeconds),
      fdsBefore: engine.fdsBefore,
      fdsHeld: engine.fdsHeld,
      fdsClosedNotForgotten: engine.fdsClosedNotForgotten,
      fdsAfter: engine.fdsAfter,
      leakedHandles: engine.leakedHandles,
      resourcesBefore: engine.resourcesBefore,
      resourcesAfter: engine.resourcesAfter,
      endpointsLeft: engine.endpointsLeft,
      heapPlusExternalGrowthMB: round(engine.heapPlusExternalGrowthMB, 2),
      rssGrowthMB: round(engine.rssGrowthMB, 2),
      notForgottenHeapPlusExternalGrowthMB: round(engine.notForgottenHeapPlusExternalGrowthMB, 2),
    };
  } finally {
    await swarm.stop();
  }
}
