/**
 * Re-opening a workspace (issue 13): an engine opens N TCP listeners on loopback and saves them
 * to its workspace; a new engine on the same data folder re-opens them at start. Reported: the
 * time until all N listen again, against the same engine opening N listeners by hand (the
 * tcp.listen calls a user's clicks make), in the same run.
 */
import fs from 'node:fs';
import { Engine } from '../src/main/engine/engine';
import { log, median, round, tempDir } from './lib/util';

export interface WorkspaceOptions {
  listeners?: number;
  rounds?: number;
}

const listenInput = {
  host: '127.0.0.1',
  port: 0,
  backlog: 511,
  allowHalfOpen: true,
  maxConnections: 10_000,
  halfClosedIdleMs: 0,
  keepClosed: 100,
} as const;

async function openByHand(listeners: number): Promise<number> {
  const engine = new Engine();
  const started = performance.now();
  for (let i = 0; i < listeners; i++) await engine.listenTcp(listenInput);
  const ms = performance.now() - started;
  await engine.dispose();
  return ms;
}

async function reopen(listeners: number): Promise<number> {
  const dataDir = tempDir('sw-bench-workspace-');
  try {
    const saver = new Engine({ dataDir });
    await saver.workspace.start();
    for (let i = 0; i < listeners; i++) await saver.listenTcp(listenInput);
    await saver.workspace.save({});
    await saver.dispose();
    const engine = new Engine({ dataDir });
    const started = performance.now();
    await engine.workspace.start();
    const ms = performance.now() - started;
    const state = engine.workspace.state();
    const opened = state.lastOpen?.opened ?? 0;
    await engine.dispose();
    if (opened !== listeners) throw new Error(`re-opened ${opened} of ${listeners} listeners`);
    return ms;
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run(options: WorkspaceOptions = {}) {
  const listeners = options.listeners ?? 100;
  const rounds = options.rounds ?? 3;
  const reopenRounds: number[] = [];
  const byHandRounds: number[] = [];
  for (let round_ = 0; round_ < rounds; round_++) {
    reopenRounds.push(round(await reopen(listeners), 1));
    byHandRounds.push(round(await openByHand(listeners), 1));
    log(
      `workspace: round ${round_ + 1}: re-open ${reopenRounds.at(-1)} ms, by hand ${byHandRounds.at(-1)} ms`,
    );
  }
  const reopenMs = median(reopenRounds);
  const byHandMs = median(byHandRounds);
  return {
    listeners,
    rounds,
    reopenMs: round(reopenMs, 1),
    byHandMs: round(byHandMs, 1),
    ratio: round(reopenMs / byHandMs, 2),
    reopenRoundsMs: reopenRounds,
    byHandRoundsMs: byHandRounds,
  };
}
