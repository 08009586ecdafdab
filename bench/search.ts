/**
 * Search: a peer process floods 1 GiB (bench/peers/flood.mjs' pattern, which never holds the
 * needle) into an Engine connection, then writes a 16-byte needle; once the capture is on disk,
 * engine.findInCapture looks for the needle over the whole capture, page after page as a view
 * would, against `grep -c -F NEEDLE` over the capture folder's data files in the same run.
 * Rounds alternate (grep, engine, grep, …) and the medians are compared. Both read the files
 * from the page cache: the capture was just written.
 *
 * Once: the needle in any ASCII case, and as an RE2 regex over the capture decoded as UTF-8
 * (the flood is not UTF-8: most of it decodes to U+FFFD, the slow case for the decoder).
 *
 * Memory: the renderer now holds only match offsets, so what matters is what the search costs
 * the engine: heap + external and RSS sampled during each search, over their values before it,
 * and the size of the answers.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Engine } from '../src/main/engine/engine';
import { commands, type CommandOutput, type FindQuery } from '../src/shared/contract';
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

export interface SearchOptions {
  /** Bytes the peer floods before the needle (default 1 GiB). */
  bytes?: number;
  rounds?: number;
}

const MB = 1e6;
/** 16 bytes; flood.mjs writes bytes whose neighbours differ by 31, so never these. */
const NEEDLE = 'SWB-needle-7f3a9';

interface EngineRound {
  seconds: number;
  matches: number;
  pages: number;
  answerBytes: number;
  heapPlusExternalGrowthMB: number;
  externalGrowthMB: number;
  rssGrowthMB: number;
  /** Heap + external after the search and a GC, over before: what the search kept. */
  retainedMB: number;
}

/** Heap + external and RSS, sampled while `work` runs: the peaks over before. */
async function withMemorySamples<T>(work: () => Promise<T>): Promise<{
  value: T;
  heapPlusExternalGrowthMB: number;
  externalGrowthMB: number;
  rssGrowthMB: number;
  retainedMB: number;
}> {
  const before = await settledMemory();
  let peakHeap = before.heapUsed + before.external;
  let peakExternal = before.external;
  let peakRss = before.rss;
  const sample = () => {
    const now = process.memoryUsage();
    peakHeap = Math.max(peakHeap, now.heapUsed + now.external);
    peakExternal = Math.max(peakExternal, now.external);
    peakRss = Math.max(peakRss, now.rss);
  };
  const sampler = setInterval(sample, 10);
  try {
    const value = await work();
    sample();
    const after = await settledMemory();
    return {
      retainedMB: (after.heapUsed + after.external - before.heapUsed - before.external) / MiB,
      value,
      heapPlusExternalGrowthMB: (peakHeap - before.heapUsed - before.external) / MiB,
      externalGrowthMB: (peakExternal - before.external) / MiB,
      rssGrowthMB: (peakRss - before.rss) / MiB,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** The needle as bytes (optionally in any ASCII case), or as an RE2 pattern over UTF-8 text. */
type SearchKind = 'bytes' | 'ignoreCase' | 'regex';

function findQuery(kind: SearchKind): FindQuery {
  if (kind === 'regex') return { kind: 'regex', pattern: 'SWB-needle-[0-9a-f]+' };
  const payload = { format: 'text', data: NEEDLE } as const;
  return { kind: 'payload', payload, ignoreCase: kind === 'ignoreCase' };
}

/** Every page of the search, as a view would ask for them. */
async function findAll(engine: Engine, id: string, kind: SearchKind) {
  const pages: CommandOutput<'capture.find'>[] = [];
  const signal = new AbortController().signal;
  for (let from: number | null = 0; from !== null;) {
    const input = commands['capture.find'].input.parse({
      query: 1,
      id,
      find: findQuery(kind),
      from,
    });
    const page: CommandOutput<'capture.find'> = await engine.findInCapture(input, signal);
    pages.push(page);
    from = page.next;
  }
  return pages;
}

async function engineRound(
  engine: Engine,
  id: string,
  kind: SearchKind = 'bytes',
): Promise<EngineRound> {
  let seconds = 0;
  const { value: pages, ...memory } = await withMemorySamples(async () => {
    const started = performance.now();
    const found = await findAll(engine, id, kind);
    seconds = (performance.now() - started) / 1000;
    return found;
  });
  return {
    seconds,
    matches: pages.reduce((sum, page) => sum + page.matches.length, 0),
    pages: pages.length,
    answerBytes: pages.reduce((sum, page) => sum + JSON.stringify(page).length, 0),
    ...memory,
  };
}

/** grep -c -F over the data files, in the C locale (grep's fastest: no multibyte checks). */
async function grepRound(files: string[]): Promise<{ seconds: number; matches: number }> {
  const started = performance.now();
  const grep = spawn('grep', ['-c', '-h', '-F', NEEDLE, ...files], {
    env: { ...process.env, LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  grep.stdout.on('data', (data: Buffer) => (out += data.toString()));
  const code = await waitForExit(grep);
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`grep exited with ${code}`);
  const matches = out
    .trim()
    .split('\n')
    .reduce((sum, line) => sum + Number(line), 0);
  return { seconds, matches };
}

export async function run(options: SearchOptions = {}) {
  const bytes = options.bytes ?? GiB;
  const rounds = options.rounds ?? 3;
  const dir = tempDir('search');
  const engine = new Engine({ captureDir: dir, capture: { limitBytes: null, floorBytes: 0 } });
  try {
    const id = await captureFlood(engine, bytes, NEEDLE);
    const folder = engine.status().capture.folder;
    const files = fs
      .readdirSync(folder)
      .filter((name) => name.startsWith('data-'))
      .map((name) => path.join(folder, name));
    const captured = bytes + NEEDLE.length;
    // One of each first: code warmed up, files read once more.
    await grepRound(files);
    await engineRound(engine, id);
    const greps: Array<{ seconds: number; matches: number }> = [];
    const searches: EngineRound[] = [];
    for (let r = 0; r < rounds; r++) {
      collectGarbage();
      greps.push(await grepRound(files));
      collectGarbage();
      searches.push(await engineRound(engine, id));
      log(
        `  round ${r + 1}: grep ${round(captured / MB / (greps.at(-1) as { seconds: number }).seconds)} MB/s, ` +
          `engine ${round(captured / MB / (searches.at(-1) as EngineRound).seconds)} MB/s`,
      );
    }
    const wrong = [...greps, ...searches].find((r) => r.matches !== 1);
    if (wrong) throw new Error(`a search found ${wrong.matches} needles, not 1`);
    const ignoreCase = await engineRound(engine, id, 'ignoreCase');
    const regex = await engineRound(engine, id, 'regex');
    if (ignoreCase.matches !== 1 || regex.matches !== 1)
      throw new Error('a search missed the needle');

    const mbPerSec = median(searches.map((s) => captured / MB / s.seconds));
    const grepMbPerSec = median(greps.map((g) => captured / MB / g.seconds));
    return {
      bytes: captured,
      rounds,
      mbPerSec: round(mbPerSec, 0),
      grepMbPerSec: round(grepMbPerSec, 0),
      ratio: round(mbPerSec / grepMbPerSec, 3),
      engineRoundsMbPerSec: searches.map((s) => round(captured / MB / s.seconds, 0)),
      grepRoundsMbPerSec: greps.map((g) => round(captured / MB / g.seconds, 0)),
      ignoreCaseMbPerSec: round(captured / MB / ignoreCase.seconds, 0),
      regexMbPerSec: round(captured / MB / regex.seconds, 0),
      pages: (searches[0] as EngineRound).pages,
      answerBytes: (searches[0] as EngineRound).answerBytes,
      heapPlusExternalGrowthMB: round(
        Math.max(...searches.map((s) => s.heapPlusExternalGrowthMB)),
        1,
      ),
      externalGrowthMB: round(Math.max(...searches.map((s) => s.externalGrowthMB)), 1),
      rssGrowthMB: round(Math.max(...searches.map((s) => s.rssGrowthMB)), 1),
      retainedMB: round(Math.max(...searches.map((s) => s.retainedMB)), 2),
      dataFiles: files.length,
    };
  } finally {
    await engine.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
