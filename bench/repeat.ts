/**
 * Repeat send at 1 ms (issue 12): an Engine in this process runs a repeat job (8 bytes every
 * 1 ms for S seconds, S * 1000 planned) from a client connection to a plain node:net receiver in
 * its own process (bench/peers/repeat-peers.mjs) that counts the bytes, while
 * bench/peers/flood.mjs floods another connection of the same engine as fast as it can and a
 * view (bench/lib/slow-view.ts, the stand-in for the open UI) follows that flood's feed and the
 * job's updates. Goal: done / planned >= 0.95.
 *
 * Baseline, same run, same receiver: what a user writes without a workbench, a node:net client
 * in its own process with setInterval(write, 1) for S seconds and nothing else to do. Its ratio
 * (writes made / S * 1000) shows what Node's timers give on this machine; it has no flood.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { Engine } from '../src/main/engine/engine';
import { commands, type JobInfo } from '../src/shared/contract';
import { SlowView } from './lib/slow-view';
import { benchDir, log, MiB, round, startFlood, until, waitForExit } from './lib/util';

export interface RepeatOptions {
  /** How long the repeat runs (default 10 s). */
  seconds?: number;
  intervalMs?: number;
}

const PAYLOAD = 'tick-01\n';
const PEERS = path.join(benchDir, 'peers/repeat-peers.mjs');

/** A line-delimited JSON peer: the first message that has `key`. */
function messageOf<T>(child: ChildProcess, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (key in parsed) resolve(parsed as T);
    });
    child.once('exit', (code) => reject(new Error(`a repeat peer exited (${code}) early`)));
  });
}

/** A receiver process counting bytes; `total()` ends it and answers its count. */
async function startReceiver(): Promise<{ port: number; total: () => Promise<number> }> {
  const child = spawn(process.execPath, [PEERS, 'receive'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = (await messageOf<{ port: number }>(child, 'port')).port;
  const bytes = messageOf<{ bytes: number }>(child, 'bytes');
  return {
    port,
    total: async () => {
      child.stdin!.end();
      const { bytes: total } = await bytes;
      await waitForExit(child);
      return total;
    },
  };
}

async function engineRun(seconds: number, intervalMs: number) {
  const engine = new Engine();
  const view = new SlowView(engine);
  const receiver = await startReceiver();
  try {
    const floodListener = await view.listenAndFollow();
    const floodPort = (floodListener.local as { port: number }).port;
    const flood = startFlood(floodPort, { seconds: seconds + 2, wait: true, hold: true });
    await flood.connected;
    flood.go();
    const client = await engine.connectTcp(
      commands['tcp.connect'].input.parse({ host: '127.0.0.1', port: receiver.port }),
    );
    const planned = Math.round((seconds * 1000) / intervalMs);
    const job = engine.jobs.repeat(
      commands['send.repeat'].input.parse({
        target: { kind: 'connection', id: client.id },
        payload: { format: 'text', data: PAYLOAD },
        intervalMs,
        count: planned,
      }),
    );
    let final: JobInfo | undefined;
    await until(
      'the repeat job to end',
      () => {
        final = engine.jobs.list().find((j) => j.id === job.id && j.state !== 'running');
        return final !== undefined;
      },
      (seconds + 30) * 1000,
      100,
    );
    const floodIn = engine.list().find((e) => e.parentId === floodListener.id)?.counters.bytesIn;
    flood.release();
    await waitForExit(flood.child);
    engine.close(client.id);
    const received = await receiver.total();
    if (!final) throw new Error('the job did not end');
    return {
      state: final.state,
      planned,
      done: final.done,
      skipped: final.skipped,
      rate: round(final.rate, 1),
      ratio: round(final.done / planned, 4),
      receivedSends: received / PAYLOAD.length,
      floodMB: round((floodIn ?? 0) / MiB, 1),
      viewReceivedMB: round(view.received / MiB, 1),
      viewSkippedMB: round(view.skipped / MiB, 1),
    };
  } finally {
    view.close();
    await engine.dispose();
  }
}

async function baselineRun(seconds: number, intervalMs: number) {
  const receiver = await startReceiver();
  const sender = spawn(
    process.execPath,
    [
      PEERS,
      'send-interval',
      '--port',
      String(receiver.port),
      '--ms',
      String(intervalMs),
      '--seconds',
      String(seconds),
      '--size',
      String(PAYLOAD.length),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { sends, planned } = await messageOf<{ sends: number; planned: number }>(sender, 'sends');
  await waitForExit(sender);
  const received = await receiver.total();
  return {
    planned,
    sends,
    ratio: round(sends / planned, 4),
    receivedSends: received / PAYLOAD.length,
  };
}

export async function run(options: RepeatOptions = {}) {
  const seconds = options.seconds ?? 10;
  const intervalMs = options.intervalMs ?? 1;
  log(`repeat: every ${intervalMs} ms for ${seconds} s, with a flood on another connection`);
  const engine = await engineRun(seconds, intervalMs);
  log(
    `  engine: ${engine.done} / ${engine.planned} sent (${engine.skipped} skipped), ` +
      `${engine.rate}/s; flood ${engine.floodMB} MiB in meanwhile`,
  );
  log(`repeat baseline: setInterval(write, ${intervalMs}) in its own process, no flood`);
  const baseline = await baselineRun(seconds, intervalMs);
  log(`  baseline: ${baseline.sends} / ${baseline.planned} writes`);
  return {
    seconds,
    intervalMs,
    ratio: engine.ratio,
    done: engine.done,
    planned: engine.planned,
    skipped: engine.skipped,
    rate: engine.rate,
    receivedSends: engine.receivedSends,
    state: engine.state,
    floodMB: engine.floodMB,
    viewReceivedMB: engine.viewReceivedMB,
    viewSkippedMB: engine.viewSkippedMB,
    baselineRatio: baseline.ratio,
    baselineSends: baseline.sends,
    baselinePlanned: baseline.planned,
    baselineReceivedSends: baseline.receivedSends,
    goal: 0.95,
  };
}
