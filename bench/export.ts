/**
 * Export: a flood peer (bench/peers/flood.mjs) sends 1 GiB into an Engine connection; once the
 * capture is on disk, engine.exportCapture writes it as pcapng to a file, against `cp` of the
 * capture's data files to the same folder in the same run. Rounds alternate (cp, export, cp, …)
 * and the medians are compared: ratio = cp's time / the export's time (goal >= 0.3). Both read
 * the files from the page cache (the capture was just written) and write a file of about the
 * same size.
 *
 * Memory: RSS and heap + external sampled every 10 ms during each export, peaks over before.
 * Responsiveness: the event loop's longest delay during the export (perf_hooks), which is how
 * long a live socket could have waited for the engine.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Engine } from '../src/main/engine/engine';
import { commands } from '../src/shared/contract';
import {
  collectGarbage,
  GiB,
  log,
  median,
  MiB,
  round,
  settledMemory,
  tempDir,
  waitForExit,
} from './lib/util';
import { captureFlood } from './lib/capture-flood';

export interface ExportOptions {
  /** Bytes the peer floods (default 1 GiB). */
  bytes?: number;
  rounds?: number;
}

const MB = 1e6;

async function cpRound(files: string[], into: string): Promise<number> {
  fs.mkdirSync(into, { recursive: true });
  const started = performance.now();
  const cp = spawn('cp', [...files, into], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await waitForExit(cp);
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`cp exited with ${code}`);
  fs.rmSync(into, { recursive: true, force: true });
  return seconds;
}

interface ExportRound {
  seconds: number;
  bytes: number;
  packets: number;
  rssGrowthMB: number;
  heapPlusExternalGrowthMB: number;
  maxLoopDelayMs: number;
}

async function exportRound(engine: Engine, id: string, file: string): Promise<ExportRound> {
  const before = await settledMemory();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed + before.external;
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakHeap = Math.max(peakHeap, now.heapUsed + now.external);
  }, 10);
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const started = performance.now();
  try {
    const answer = await engine.exportCapture(
      commands['capture.export'].input.parse({ ids: [id], format: 'pcapng', path: file }),
    );
    const seconds = (performance.now() - started) / 1000;
    return {
      seconds,
      bytes: answer.bytes,
      packets: answer.packets,
      rssGrowthMB: (peakRss - before.rss) / MiB,
      heapPlusExternalGrowthMB: (peakHeap - before.heapUsed - before.external) / MiB,
      maxLoopDelayMs: delay.max / 1e6,
    };
  } finally {
    delay.disable();
    clearInterval(sampler);
    fs.rmSync(file, { force: true });
  }
}

export async function run(options: ExportOptions = {}) {
  const bytes = options.bytes ?? GiB;
  const rounds = options.rounds ?? 3;
  const dir = tempDir('export');
  const engine = new Engine({ captureDir: dir, capture: { limitBytes: null, floorBytes: 0 } });
  try {
    const id = await captureFlood(engine, bytes);
    const folder = engine.status().capture.folder;
    const files = fs
      .readdirSync(folder)
      .filter((name) => name.startsWith('data-'))
      .map((name) => path.join(folder, name));
    const copies = path.join(dir, 'copies');
    const file = path.join(dir, 'export.pcapng');
    // One of each first: code warmed up, files read once more.
    await cpRound(files, copies);
    await exportRound(engine, id, file);
    const cps: number[] = [];
    const exports: ExportRound[] = [];
    for (let r = 0; r < rounds; r++) {
      collectGarbage();
      cps.push(await cpRound(files, copies));
      collectGarbage();
      exports.push(await exportRound(engine, id, file));
      const last = exports.at(-1) as ExportRound;
      log(
        `  round ${r + 1}: cp ${round(bytes / MB / (cps.at(-1) as number))} MB/s, ` +
          `export ${round(bytes / MB / last.seconds)} MB/s (RSS +${round(last.rssGrowthMB, 1)} MB, ` +
          `longest event-loop delay ${round(last.maxLoopDelayMs, 1)} ms)`,
      );
    }
    const exportMbPerSec = median(exports.map((e) => bytes / MB / e.seconds));
    const cpMbPerSec = median(cps.map((seconds) => bytes / MB / seconds));
    const first = exports[0] as ExportRound;
    return {
      bytes,
      rounds,
      ratio: round(exportMbPerSec / cpMbPerSec, 3),
      mbPerSec: round(exportMbPerSec, 0),
      cpMbPerSec: round(cpMbPerSec, 0),
      exportRoundsMbPerSec: exports.map((e) => round(bytes / MB / e.seconds, 0)),
      cpRoundsMbPerSec: cps.map((seconds) => round(bytes / MB / seconds, 0)),
      pcapngBytes: first.bytes,
      packets: first.packets,
      rssGrowthMB: round(Math.max(...exports.map((e) => e.rssGrowthMB)), 1),
      heapPlusExternalGrowthMB: round(
        Math.max(...exports.map((e) => e.heapPlusExternalGrowthMB)),
        1,
      ),
      maxLoopDelayMs: round(Math.max(...exports.map((e) => e.maxLoopDelayMs)), 1),
      dataFiles: files.length,
    };
  } finally {
    await engine.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
