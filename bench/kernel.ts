/**
 * Kernel view: what a view that shows the kernel's figures for one connection costs the engine
 * while 10,000 connections are open (issue 14). The engine holds 10,000 connections from a peer
 * process (as the scale part does); then, in alternating phases of equal length, nothing samples
 * (the panel is closed) or a view calls kernel.sample for one connection 4 times a second (the
 * panel is open). The figure is the engine process's CPU time with the panel open over with it
 * closed; the CPU time of the ss processes (and the small shell that runs them) is reported
 * beside it, since they run outside the engine.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Engine } from '../src/main/engine/engine';
import { SsCoprocess, type SsQuery, type SsRunner } from '../src/main/engine/kernel/ss';
import { KEEP_CLOSED_MAX, MAX_CONNECTIONS_MAX } from '../src/shared/contract';
import type { ValidPayload } from '../src/shared/payload';
import {
  collectGarbage,
  cpuMsSince,
  fdLimit,
  log,
  median,
  processTimes,
  round,
  sleep,
  Swarm,
  tempDir,
  until,
} from './lib/util';

export interface KernelOptions {
  connections?: number;
  /** Length of each phase. */
  phaseSeconds?: number;
  /** Pairs of phases (closed, open), alternating. */
  rounds?: number;
  samplesPerSecond?: number;
  /**
   * Diagnosis: after its first real answer, ss is not run again and that answer is reused, so
   * the engine's own part of a sample is measured without the ss processes beside it.
   */
  replayFirstAnswer?: boolean;
}

/** ss runs counted, so a closed panel is seen to run none. */
class CountedSs implements SsRunner {
  runs = 0;
  private firstAnswer: string | null | undefined;
  constructor(
    readonly inner: SsCoprocess,
    private readonly replay: boolean,
  ) {}
  async run(query: SsQuery): Promise<string | null> {
    this.runs += 1;
    if (this.replay && this.firstAnswer !== undefined) return this.firstAnswer;
    this.firstAnswer = await this.inner.run(query);
    return this.firstAnswer;
  }
  dispose(): void {
    this.inner.dispose();
  }
}

/** CPU time of a process and the children it waited for (the shell and its ss processes). */
function processTreeCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const times = processTimes(pid);
    return times.ownMs + times.childrenMs;
  } catch {
    return 0;
  }
}

interface Phases {
  phaseSeconds: number;
  rounds: number;
  samplesPerSecond: number;
}

/** Alternating phases: the panel closed (nothing samples), then open (one connection sampled). */
async function measurePhases(
  engine: Engine,
  ss: CountedSs,
  ssProcess: SsCoprocess,
  shownId: string,
  { phaseSeconds, rounds, samplesPerSecond }: Phases,
  /** Traffic, at the same moments of every phase. */
  everySecond?: () => void,
) {
  const closedCpuMs: number[] = [];
  const openCpuMs: number[] = [];
  const openSsCpuMs: number[] = [];
  const sampleMs: number[] = [];
  let closedSsRuns = 0;
  const period = 1000 / samplesPerSecond;
  /**
   * One phase: the same grid of ticks whether the panel is open or not, with the traffic (if
   * any) at the same ticks, so that the two differ only by the samples.
   */
  const phase = async (open: boolean) => {
    const runsBefore = ss.runs;
    const cpu = process.cpuUsage();
    const shellBefore = { pid: ssProcess.pid, cpu: processTreeCpuMs(ssProcess.pid) };
    let shellAfter = { pid: shellBefore.pid, cpu: shellBefore.cpu };
    const start = performance.now();
    for (let tick = 0; tick < phaseSeconds * samplesPerSecond; tick += 1) {
      if (tick % samplesPerSecond === 0) everySecond?.();
      if (open) {
        const started = performance.now();
        await engine.sampleKernel([shownId]);
        sampleMs.push(performance.now() - started);
        // Read while the shell runs: it leaves once sampling stops.
        shellAfter = { pid: ssProcess.pid, cpu: processTreeCpuMs(ssProcess.pid) };
      }
      await sleep(Math.max(0, start + (tick + 1) * period - performance.now()));
    }
    if (open) {
      openCpuMs.push(cpuMsSince(cpu));
      openSsCpuMs.push(shellAfter.cpu - (shellBefore.pid === shellAfter.pid ? shellBefore.cpu : 0));
    } else {
      closedCpuMs.push(cpuMsSince(cpu));
      closedSsRuns += ss.runs - runsBefore;
    }
  };
  const closedPhase = () => phase(false);
  const openPhase = () => phase(true);
  // Closed-open, then open-closed: a drift over time (a growing heap) weighs on both alike.
  for (let round = 0; round < rounds; round += 1) {
    if (round % 2 === 0) {
      await closedPhase();
      await openPhase();
    } else {
      await openPhase();
      // The shell leaves 2 s after the last sample: the closed phase starts once it has.
      await sleep(2500);
      await closedPhase();
    }
  }
  const closedMs = median(closedCpuMs);
  const openMs = median(openCpuMs);
  return {
    ratio: round(openMs / closedMs, 3),
    closedCpuMsPerSecond: round(closedMs / phaseSeconds, 2),
    openCpuMsPerSecond: round(openMs / phaseSeconds, 2),
    /** What one sample added to the engine's CPU time, on average. */
    cpuMsPerSample: round((openMs - closedMs) / (phaseSeconds * samplesPerSecond), 3),
    closedRoundsCpuMs: closedCpuMs.map((ms) => round(ms, 1)),
    openRoundsCpuMs: openCpuMs.map((ms) => round(ms, 1)),
    /** CPU of the ss processes and their shell, outside the engine. */
    ssCpuMsPerSecond: round(median(openSsCpuMs) / phaseSeconds, 2),
    closedSsRuns,
    sampleMedianMs: round(median(sampleMs), 2),
  };
}

/**
 * The nearest anchor for any design that asks another process: the engine-process CPU of one
 * round trip through a pipe to a resident `cat` (write a line, read it back), at the same pace,
 * with the same connections held. No kernel reading through a helper process can cost less.
 */
async function pipeRoundTripCpuMs(samplesPerSecond: number, count: number): Promise<number> {
  const child = spawn('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
  const roundTrip = () =>
    new Promise<void>((resolve) => {
      child.stdout.once('data', () => resolve());
      child.stdin.write('x\n');
    });
  const period = 1000 / samplesPerSecond;
  const ticks = async (withRoundTrip: boolean) => {
    // A collection of the 10,000 connections' heap inside one phase would swamp what is measured.
    collectGarbage();
    const cpu = process.cpuUsage();
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      if (withRoundTrip) await roundTrip();
      await sleep(Math.max(0, period - (performance.now() - start)));
    }
    return cpuMsSince(cpu) / count;
  };
  try {
    await roundTrip();
    // The ss shell leaves 2 s after the last sample: not during these phases.
    await sleep(2500);
    const extra: number[] = [];
    for (let r = 0; r < 5; r++) extra.push((await ticks(true)) - (await ticks(false)));
    return median(extra);
  } finally {
    child.kill();
  }
}

export async function run(options: KernelOptions = {}) {
  const connections = options.connections ?? 10_000;
  const phaseSeconds = options.phaseSeconds ?? 5;
  const rounds = options.rounds ?? 3;
  const samplesPerSecond = options.samplesPerSecond ?? 4;
  const limit = fdLimit();
  if (limit < connections + 1000) {
    throw new Error(`this process may open only ${limit} files; run it through bench/run.ts`);
  }
  const swarm = new Swarm(connections + 1000);
  await swarm.ready;
  const dir = tempDir('kernel');
  const ssProcess = new SsCoprocess();
  const ss = new CountedSs(ssProcess, options.replayFirstAnswer ?? false);
  const engine = new Engine({ captureDir: dir, kernelSources: { ss } });
  try {
    let accepted = 0;
    const view = engine.openView((event) => {
      if (event.event === 'endpoint.added' && event.payload.role === 'accepted') accepted += 1;
    });
    const listener = await engine.listenTcp({
      host: '127.0.0.1',
      port: 0,
      backlog: 511,
      allowHalfOpen: false,
      maxConnections: MAX_CONNECTIONS_MAX,
      keepClosed: KEEP_CLOSED_MAX,
    });
    const port = (listener.local as { port: number }).port;
    await swarm.send({ cmd: 'open', port, count: connections });
    await until('every connection accepted', () => accepted >= connections, 120_000);
    const shown = engine.list().find((e) => e.role === 'accepted');
    if (!shown) throw new Error('no accepted connection to show');
    const first = await engine.sampleKernel([shown.id]);
    if (!first.samples[0]?.found) throw new Error(`the kernel has no ${shown.id}`);
    log(`  ${connections} connections held; sampling ${shown.id}: ${first.samples[0].tcpState}`);
    // The first reading and the accepting settle before anything is measured.
    await sleep(3000);

    const idle = await measurePhases(engine, ss, ssProcess, shown.id, {
      phaseSeconds,
      rounds,
      samplesPerSecond,
    });
    const pipeMs = await pipeRoundTripCpuMs(samplesPerSecond, samplesPerSecond * phaseSeconds);
    // The same with traffic: every connection gets a short message once a second.
    const tick: ValidPayload = { format: 'text', data: 'tick\\n', encoding: 'utf-8' };
    const broadcast = () => engine.broadcast(listener.id, tick);
    broadcast();
    await sleep(2000);
    const busy = await measurePhases(
      engine,
      ss,
      ssProcess,
      shown.id,
      { phaseSeconds, rounds, samplesPerSecond },
      broadcast,
    );
    view.close();
    return {
      connections,
      phaseSeconds,
      rounds,
      samplesPerSecond,
      /** Idle connections: engine CPU with the panel open over with it closed (medians). */
      ratio: idle.ratio,
      closedCpuMsPerSecond: idle.closedCpuMsPerSecond,
      openCpuMsPerSecond: idle.openCpuMsPerSecond,
      cpuMsPerSample: idle.cpuMsPerSample,
      closedRoundsCpuMs: idle.closedRoundsCpuMs,
      openRoundsCpuMs: idle.openRoundsCpuMs,
      ssCpuMsPerSecond: idle.ssCpuMsPerSecond,
      closedSsRuns: idle.closedSsRuns + busy.closedSsRuns,
      sampleMedianMs: idle.sampleMedianMs,
      /** The anchor: one pipe round trip to a resident child, engine-process CPU (ms). */
      pipeRoundTripCpuMs: round(pipeMs, 3),
      /** What one sample may cost for the idle goal (<= 1.05): 5% of the closed phase's CPU. */
      goalCpuMsPerSample: round((0.05 * idle.closedCpuMsPerSecond) / samplesPerSecond, 3),
      /** The same while every connection gets a message a second (broadcast by the engine). */
      busyRatio: busy.ratio,
      busyClosedCpuMsPerSecond: busy.closedCpuMsPerSecond,
      busyOpenCpuMsPerSecond: busy.openCpuMsPerSecond,
      busyClosedRoundsCpuMs: busy.closedRoundsCpuMs,
      busyOpenRoundsCpuMs: busy.openRoundsCpuMs,
    };
  } finally {
    await engine.dispose();
    await swarm.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
