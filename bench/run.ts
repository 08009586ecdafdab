/**
 * `npm run bench [-- --json] [-- --only throughput,scale] [-- --quick]`
 *
 * Runs each part in a fresh child process (bench/part.ts) and prints its figures beside a
 * baseline measured in the same run. With --json, stdout carries exactly one JSON object and
 * everything else (progress, peers' complaints) goes to stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { RESULT_PREFIX, partNames, type PartName } from './part';
import { benchDir, GiB, log, machine, MiB, nodeCommand, repoRoot, round } from './lib/util';

type Json = Record<string, unknown>;

interface Job {
  part: PartName;
  options: Json;
  timeoutMs: number;
  /** Descriptors the child needs: more than the default limit means `ulimit -n` first. */
  fds?: number;
}

const USAGE = `usage: npm run bench -- [--json] [--only ${partNames.join(',')}] [--quick]
  --json   print one JSON object on stdout (progress goes to stderr)
  --only   run only these parts, comma-separated
  --quick  smaller sizes, for trying the benchmarks out (not for the figures in docs)`;

function parseCommandLine() {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const only =
    values.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? partNames;
  const unknown = only.filter((name) => !(partNames as string[]).includes(name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown part ${unknown.join(', ')}\n${USAGE}\n`);
    process.exit(2);
  }
  return { json: values.json, only: new Set(only as PartName[]), quick: values.quick };
}

function jobsFor(part: PartName, quick: boolean): Job[] {
  switch (part) {
    case 'throughput':
      return [
        {
          part,
          options: quick ? { bytes: 256 * MiB, rounds: 2 } : { bytes: GiB, rounds: 3 },
          // Five receivers a round (engine, plain, plain + file, nc, socat), 1 GiB each.
          timeoutMs: 300_000,
        },
      ];
    case 'scale': {
      const connections = quick ? 2000 : 10_000;
      return [
        {
          part,
          options: { connections, cycles: quick ? 4000 : 20_000, batch: 500 },
          timeoutMs: 150_000,
          fds: connections + 1000,
        },
      ];
    }
    case 'memory': {
      const bytes = quick ? 512 * MiB : 2 * GiB;
      return (['engine', 'baseline'] as const).map((mode) => ({
        part,
        options: { mode, bytes },
        timeoutMs: 90_000,
      }));
    }
    case 'datagrams': {
      const count = quick ? 200_000 : 1_000_000;
      return (['engine', 'baseline'] as const).map((mode) => ({
        part,
        options: { mode, count, warmupCount: quick ? 100_000 : 300_000, rounds: 4 },
        // Engine mode sends the count to the engine and to two plain receivers, in rounds.
        timeoutMs: mode === 'engine' ? 360_000 : 120_000,
      }));
    }
    case 'ui':
      // The list step runs its swarm twice: against a serve no page watches, then the page's.
      return [{ part, options: { quick }, timeoutMs: 240_000, fds: 12_000 }];
    case 'serve-fairness':
      return [{ part, options: { probes: quick ? 100 : 300 }, timeoutMs: 120_000 }];
    case 'search':
      return [{ part, options: { bytes: quick ? 256 * MiB : GiB, rounds: 3 }, timeoutMs: 300_000 }];
    case 'autoreply':
      return [{ part, options: { count: quick ? 500 : 2000, rounds: 3 }, timeoutMs: 120_000 }];
    case 'repeat':
      return [{ part, options: { seconds: quick ? 5 : 10 }, timeoutMs: 120_000 }];
    case 'export':
      return [{ part, options: { bytes: quick ? 256 * MiB : GiB, rounds: 3 }, timeoutMs: 600_000 }];
    case 'workspace':
      return [{ part, options: { listeners: 100, rounds: 3 }, timeoutMs: 120_000 }];
    case 'kernel': {
      const connections = quick ? 2000 : 10_000;
      const options = { connections, phaseSeconds: quick ? 3 : 5, rounds: 3 };
      return [{ part, options, timeoutMs: 240_000, fds: connections + 1000 }];
    }
  }
}

/** Runs one part in a child process; resolves with its result, rejects with why it failed. */
function runJob(job: Job): Promise<Json> {
  const script = path.join(benchDir, 'part.ts');
  const { command, args } = nodeCommand(
    ['--import', 'tsx', '--expose-gc', script, job.part, JSON.stringify(job.options)],
    job.fds,
  );
  // The part's temporary folder (TMPDIR: its captures, receivers' files, browser profiles, and
  // those of every process it starts), deleted when the part ends, however it ends.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `swb-bench-${job.part}-part-`));
  // Its own process group, so that a timeout ends the part and every peer it started.
  const child = spawn(command, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
    env: { ...process.env, TMPDIR: scratch },
  });
  running.set(child, scratch);
  return new Promise((resolve, reject) => {
    let result: Json | undefined;
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length));
      else process.stderr.write(`${line}\n`);
    });
    const timer = setTimeout(() => {
      log(`  ${job.part}: no result after ${job.timeoutMs / 1000} s; stopping it`);
      killGroup(child);
    }, job.timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      fs.rmSync(scratch, { recursive: true, force: true });
      if (result) resolve(result);
      else reject(new Error(`${job.part} exited with ${signal ?? code} before reporting`));
    });
  });
}

/** The parts running now, and the temporary folder of each. */
const running = new Map<ChildProcess, string>();

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const [child, scratch] of running) {
      killGroup(child);
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    process.exit(130);
  });
}

/** The fields every consumer may rely on, null where a part could not measure them. */
const requiredFields: Record<PartName, string[]> = {
  throughput: ['ratio', 'mbPerSec', 'baselineMbPerSec', 'ncFileRatio'],
  scale: [
    'connections',
    'acceptSeconds',
    'bytesPerConnection',
    'bytesPerConnectionRatio',
    'leakedHandles',
  ],
  memory: ['rssGrowthMB'],
  datagrams: ['rssGrowthMB', 'retainedBytesPerDatagram', 'receivedRatio'],
  ui: ['p95FrameMs', 'keystrokeMs', 'lagSeconds', 'listScrollP95FrameMs', 'listLoadRatio'],
  'serve-fairness': ['maxMs', 'baselineMaxMs', 'maxRatio'],
  search: ['ratio', 'mbPerSec', 'grepMbPerSec', 'heapPlusExternalGrowthMB'],
  autoreply: ['p50Us', 'p99Us', 'pythonP50Us', 'pythonP99Us', 'p99Ratio'],
  repeat: ['ratio', 'done', 'planned', 'skipped', 'rate', 'baselineRatio'],
  export: ['ratio', 'mbPerSec', 'cpMbPerSec', 'rssGrowthMB'],
  kernel: ['ratio', 'closedCpuMsPerSecond', 'openCpuMsPerSecond', 'closedSsRuns'],
  workspace: ['reopenMs', 'byHandMs', 'ratio'],
};

function failed(part: PartName, error: unknown): Json {
  const section: Json = { error: error instanceof Error ? error.message : String(error) };
  for (const field of requiredFields[part]) section[field] = null;
  return section;
}

function combineMemory(engine: Json, baseline: Json | undefined): Json {
  const growth = engine['rssGrowthMB'] as number;
  return {
    rssGrowthMB: growth,
    rssBeforeMB: engine['rssBeforeMB'],
    rssPeakMB: engine['rssPeakMB'],
    rssStartMB: engine['rssStartMB'],
    rssGrowthFromStartMB: engine['rssGrowthFromStartMB'],
    /** Peak RSS over the RSS after warm-up, same process. */
    ratio: round((engine['rssPeakMB'] as number) / (engine['rssBeforeMB'] as number), 3),
    baselineRssGrowthMB: baseline?.['rssGrowthMB'] ?? null,
    baselineRssBeforeMB: baseline?.['rssBeforeMB'] ?? null,
    baselineRssPeakMB: baseline?.['rssPeakMB'] ?? null,
    baselineRssStartMB: baseline?.['rssStartMB'] ?? null,
    baselineRssGrowthFromStartMB: baseline?.['rssGrowthFromStartMB'] ?? null,
    bytes: engine['bytes'],
    seconds: engine['seconds'],
    baselineSeconds: baseline?.['seconds'] ?? null,
    samples: engine['samples'],
    capturePeakInMemoryMB: engine['capturePeakInMemoryMB'],
    rssAfterGcMB: engine['rssAfterGcMB'],
    engine,
    baseline: baseline ?? null,
  };
}

function combineDatagrams(engine: Json, baseline: Json | undefined): Json {
  // The plain receivers took the same datagrams in rounds alternated with the engine's.
  const plain = engine['plain'] as Json | undefined;
  const plainSameBuffer = engine['plainSameBuffer'] as Json | null | undefined;
  const socatFile = engine['socatFile'] as Json | null | undefined;
  const plainKeeping = engine['plainKeeping'] as Json | undefined;
  const ratio = (of: Json | null | undefined) =>
    of ? round((engine['received'] as number) / Math.max(1, of['received'] as number), 3) : null;
  return {
    /** Engine received / plain node:dgram receiver (OS default SO_RCVBUF) received. */
    receivedRatio: ratio(plain),
    /** The same, against a plain receiver asking the engine's SO_RCVBUF. */
    receivedRatioSameBuffer: ratio(plainSameBuffer),
    /** Against a plain receiver (the engine's SO_RCVBUF) that copies each datagram into memory. */
    receivedRatioKeeping: ratio(plainKeeping),
    plainKeepingReceived: plainKeeping?.['received'] ?? null,
    plainKeepingCpuMicrosPerDatagram: plainKeeping?.['cpuMicrosPerDatagram'] ?? null,
    /** Against `socat -u UDP4-RECV:P CREATE:file` (the engine's SO_RCVBUF): keeping every one. */
    socatFileReceivedRatio: ratio(socatFile),
    socatFileReceived: socatFile?.['received'] ?? null,
    socatFileCpuMicrosPerDatagram: socatFile?.['cpuMicrosPerDatagram'] ?? null,
    kernelDrops: engine['kernelDrops'] ?? null,
    cpuMicrosPerDatagram: engine['cpuMicrosPerDatagram'] ?? null,
    baselineCpuMicrosPerDatagram: plain?.['cpuMicrosPerDatagram'] ?? null,
    receiveBufferAsked: engine['receiveBufferAsked'] ?? null,
    receiveBufferGranted: engine['recvBufferSize'] ?? null,
    baselineReceiveBufferGranted: plain?.['recvBufferSize'] ?? null,
    plainSameBufferReceived: plainSameBuffer?.['received'] ?? null,
    rounds: engine['rounds'] ?? null,
    rssGrowthMB: engine['rssGrowthMB'],
    retainedBytesPerDatagram: engine['retainedBytesPerDatagram'],
    sent: engine['sent'],
    received: engine['received'],
    droppedByEngine: engine['droppedByReceiver'],
    heapPlusExternalPeakGrowthMB: engine['heapPlusExternalPeakGrowthMB'],
    capturePeakInMemoryMB: engine['capturePeakInMemoryMB'],
    size: engine['size'],
    seconds: engine['seconds'],
    baselineRssGrowthMB: baseline?.['rssGrowthMB'] ?? null,
    baselineRetainedBytesPerDatagram: baseline?.['retainedBytesPerDatagram'] ?? null,
    baselineReceived: plain?.['received'] ?? null,
    baselineSeconds: plain?.['seconds'] ?? null,
    engine,
    baseline: baseline ?? null,
  };
}

/** Parts that run an engine process and a baseline process, and report them together. */
const combinedParts: Partial<Record<PartName, (engine: Json, baseline?: Json) => Json>> = {
  memory: combineMemory,
  datagrams: combineDatagrams,
};

const fmt = (value: unknown, digits = 0): string =>
  typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : 'n/a';

function describe(results: Partial<Record<PartName, Json>>): string {
  const out: string[] = [];
  const t = results.throughput;
  if (t) {
    out.push('Throughput: peer process -> engine capture, slow flow-controlled view attached');
    if (t['error']) out.push(`  failed: ${t['error']}`);
    else {
      out.push(
        `  engine ${fmt(t['mbPerSec'])} MB/s, plain node:net ${fmt(t['baselineMbPerSec'])} MB/s, ` +
          `ratio ${fmt(t['ratio'], 3)} (goal >= 0.90; median of ${t['rounds']} alternating rounds of ` +
          `${fmt((t['bytes'] as number) / GiB, 2)} GiB)`,
        `  engine/baseline per adjacent pair of rounds: median ${fmt(t['pairRatioMedian'], 3)}; ` +
          `by CPU time per GiB: ${fmt(t['cpuRatio'], 3)}`,
        `  plain node:net that also appends every byte to a file: ${fmt(t['fileBaselineMbPerSec'])} MB/s; ` +
          `engine / that = ${fmt(t['fileRatio'], 3)}`,
        `  engine until the last byte is on disk ${fmt(t['onDiskMbPerSec'])} MB/s; nc -l > file ` +
          `${fmt(t['ncFileMbPerSec'])} MB/s: ncFileRatio ${fmt(t['ncFileRatio'], 3)} (goal >= 0.9, ` +
          `then >= 1.0; per adjacent pair ${fmt(t['ncFilePairRatioMedian'], 3)}); socat -u > file ` +
          `${fmt(t['socatFileMbPerSec'])} MB/s: socatFileRatio ${fmt(t['socatFileRatio'], 3)} ` +
          `(per pair ${fmt(t['socatFilePairRatioMedian'], 3)})`,
        ...((t['anchorsMissing'] as string[] | undefined) ?? []).map(
          (why) => `  not measured: ${why}`,
        ),
        `  rounds: engine ${(t['engineRoundsMbPerSec'] as number[]).join(', ')}; ` +
          `baseline ${(t['baselineRoundsMbPerSec'] as number[]).join(', ')}; ` +
          `baseline + file ${(t['fileBaselineRoundsMbPerSec'] as number[]).join(', ')}; ` +
          `engine on disk ${((t['engineOnDiskRoundsMbPerSec'] as number[] | undefined) ?? []).join(', ')}; ` +
          `nc ${((t['ncFileRoundsMbPerSec'] as number[] | null) ?? []).join(', ')}; ` +
          `socat ${((t['socatFileRoundsMbPerSec'] as number[] | null) ?? []).join(', ')} MB/s`,
        `  CPU of the receiving process: engine ${fmt(t['cpuSecondsPerGiB'], 2)} s/GiB, ` +
          `plain ${fmt(t['baselineCpuSecondsPerGiB'], 2)} s/GiB, plain + file ` +
          `${fmt(t['fileBaselineCpuSecondsPerGiB'], 2)} s/GiB`,
        `  view received ${fmt(t['viewReceivedMBMedian'], 2)} MB live, ` +
          `${fmt(t['skipNoticesMedian'])} skip notices; capture on disk ${fmt(t['flushMsMedian'])} ms after the last byte`,
      );
    }
  }
  const s = results.scale;
  if (s) {
    out.push(`Scale: ${fmt(s['connections'])} concurrent connections from a peer process`);
    if (s['error']) out.push(`  failed: ${s['error']}`);
    else {
      out.push(
        `  accept all: engine ${fmt(s['acceptSeconds'], 2)} s, plain node:net ` +
          `${fmt(s['baselineAcceptSeconds'], 2)} s (rate ratio ${fmt(s['acceptRatio'], 2)}); CPU ` +
          `${fmt(s['acceptCpuMicrosPerConnection'])} us vs ${fmt(s['baselineAcceptCpuMicrosPerConnection'])} us per connection`,
        `  handshakes dropped for a full accept queue (backlog 511): engine ` +
          `${fmt(s['acceptQueueDrops'])}, plain ${fmt(s['baselineAcceptQueueDrops'])}; longest event-loop ` +
          `stall ${fmt(s['acceptStallMaxMs'])} ms vs ${fmt(s['baselineAcceptStallMaxMs'])} ms`,
        `  per connection (heapUsed+external after GC): engine ${fmt(s['bytesPerConnection'])} B, ` +
          `plain ${fmt(s['baselineBytesPerConnection'])} B (x${fmt(s['bytesPerConnectionRatio'], 2)}); ` +
          `RSS delta ${fmt(s['rssBytesPerConnection'])} B vs ${fmt(s['baselineRssBytesPerConnection'])} B`,
        `  ${fmt(s['cycles'])} connect/close cycles: ${fmt(s['cycleSeconds'], 1)} s ` +
          `(${fmt(s['cyclesPerSecond'])}/s), closed endpoints forgotten as they close`,
        `  after all closed and forgotten: fds ${fmt(s['fdsBefore'])} -> ${fmt(s['fdsAfter'])} ` +
          `(leaked ${fmt(s['leakedHandles'])}), heap+external ${fmt(s['heapPlusExternalGrowthMB'], 1)} MB, ` +
          `RSS ${fmt(s['rssGrowthMB'], 1)} MB over before; endpoints left ${fmt(s['endpointsLeft'])}`,
        `  closed but not yet forgotten: heap+external ${fmt(s['notForgottenHeapPlusExternalGrowthMB'], 1)} MB over before`,
      );
    }
  }
  const m = results.memory;
  if (m) {
    out.push('Memory: engine process RSS while data flows through the capture');
    if (m['error']) out.push(`  failed: ${m['error']}`);
    else {
      out.push(
        `  ${fmt((m['bytes'] as number) / GiB, 2)} GiB: RSS ${fmt(m['rssBeforeMB'], 1)} MB after warm-up, ` +
          `peak ${fmt(m['rssPeakMB'], 1)} MB, growth ${fmt(m['rssGrowthMB'], 1)} MB (goal < 64 MB; ` +
          `ratio ${fmt(m['ratio'], 2)})`,
        `  from a fresh process (before warm-up, ${fmt(m['rssStartMB'], 1)} MB): growth ` +
          `${fmt(m['rssGrowthFromStartMB'], 1)} MB`,
        `  plain node:net server, same flow: growth ${fmt(m['baselineRssGrowthMB'], 1)} MB ` +
          `(from ${fmt(m['baselineRssBeforeMB'], 1)} MB; ${fmt(m['baselineRssGrowthFromStartMB'], 1)} MB ` +
          `from a fresh process at ${fmt(m['baselineRssStartMB'], 1)} MB)`,
      );
    }
  }
  const d = results.datagrams;
  if (d) {
    out.push('Datagrams: small UDP datagrams into the engine capture, and into plain receivers');
    if (d['error']) out.push(`  failed: ${d['error']}`);
    else {
      out.push(
        `  ${fmt(d['received'])} of ${fmt(d['sent'])} datagrams of ${fmt(d['size'])} B taken in ` +
          `${fmt(d['seconds'], 1)} s (${fmt(d['droppedByEngine'])} dropped at the capture ` +
          `ceiling; the kernel dropped the rest): heap+external left per datagram after GC ` +
          `${fmt(d['retainedBytesPerDatagram'], 2)} B`,
        `  peaks during the flow: capture memory ${fmt(d['capturePeakInMemoryMB'], 1)} MB (the ` +
          `budget), heap+external growth ${fmt(d['heapPlusExternalPeakGrowthMB'], 1)} MB, RSS ` +
          `growth ${fmt(d['rssGrowthMB'], 1)} MB`,
        `  plain node:dgram socket that counts, same flow: RSS growth ` +
          `${fmt(d['baselineRssGrowthMB'], 1)} MB, heap+external left per datagram ` +
          `${fmt(d['baselineRetainedBytesPerDatagram'], 2)} B`,
        `  received, same sender, ${fmt(d['rounds'])} alternating rounds: engine ` +
          `${fmt(d['received'])} (SO_RCVBUF ${fmt(d['receiveBufferGranted'])} B granted), plain ` +
          `node:dgram receiver ${fmt(d['baselineReceived'])} (OS default, ` +
          `${fmt(d['baselineReceiveBufferGranted'])} B): ratio ${fmt(d['receivedRatio'], 3)} ` +
          `(goal >= 0.95); plain receiver with the engine's SO_RCVBUF ` +
          `${fmt(d['plainSameBufferReceived'])}: ratio ${fmt(d['receivedRatioSameBuffer'], 3)}`,
        `  against a plain receiver keeping each datagram in memory (same SO_RCVBUF): ` +
          `${fmt(d['plainKeepingReceived'])}: ratio ${fmt(d['receivedRatioKeeping'], 3)}`,
        `  against socat keeping every datagram in a file (same SO_RCVBUF): ` +
          `${fmt(d['socatFileReceived'])}: ratio ${fmt(d['socatFileReceivedRatio'], 3)}`,
        `  CPU of the receiving process per datagram: engine ${fmt(d['cpuMicrosPerDatagram'], 2)} us, ` +
          `plain ${fmt(d['baselineCpuMicrosPerDatagram'], 2)} us; the kernel dropped ` +
          `${fmt(d['kernelDrops'])} of the engine's`,
      );
    }
  }
  const u = results.ui;
  if (u) {
    out.push('UI: browser mode in Chromium');
    if (u['error']) out.push(`  failed: ${u['error']}`);
    if (u['reason']) out.push(`  not measured: ${u['reason']}`);
    out.push(
      `  flood in hex view: rAF p50 ${fmt(u['p50FrameMs'], 1)} ms, p95 ${fmt(u['p95FrameMs'], 1)} ms ` +
        `(idle baseline p95 ${fmt(u['baselineP95FrameMs'], 1)} ms); keystroke-to-paint ` +
        `${fmt(u['keystrokeMs'], 1)} ms (idle ${fmt(u['baselineKeystrokeMs'], 1)} ms); ` +
        `lag ${fmt(u['lagSeconds'], 2)} s (${u['lagSource'] ?? 'n/a'}); renderer heap ` +
        `${fmt(u['heapBeforeMB'], 1)} MB idle, ${fmt(u['heapMB'], 1)} MB peak during the flood`,
      `  peer sent ${fmt(u['floodMB'])} MB in ${fmt(u['floodSeconds'])} s; keystroke p95 ` +
        `${fmt(u['keystrokeP95Ms'], 1)} ms`,
      `  ${fmt(u['listConnections'])} connections in the list (shown after ` +
        `${fmt(u['listLoadSeconds'], 1)} s, ${fmt(u['listDomRows'])} rows in the DOM): scroll rAF ` +
        `p50 ${fmt(u['listScrollP50FrameMs'], 1)} ms, p95 ${fmt(u['listScrollP95FrameMs'], 1)} ms ` +
        `(scrolled ${fmt(u['listScrolledPx'])} px)`,
      `  list shown / engine accept time for that swarm: ${fmt(u['listLoadSeconds'], 2)} s / ` +
        `${fmt(u['listAcceptSeconds'], 2)} s = ${fmt(u['listLoadRatio'], 2)}x (goal <= ` +
        `${fmt(u['listLoadRatioGoal'], 1)}; the swarm's own connects took ` +
        `${fmt(u['listSwarmSeconds'], 2)} s); with no page watching, the engine accepted the ` +
        `same swarm in ${fmt(u['listUnwatchedAcceptSeconds'], 2)} s (list / that = ` +
        `${fmt(u['listLoadUnwatchedRatio'], 2)}x)`,
      `  CPU while the list filled: Chromium ${fmt(u['listChromiumCpuSeconds'], 2)} s, serve ` +
        `${fmt(u['listServeCpuSeconds'], 2)} s (serve with no page: ` +
        `${fmt(u['listUnwatchedServeCpuSeconds'], 2)} s)`,
    );
    const search = u['search'] as Json | undefined;
    if (search && search['heapGrowthMB'] !== null) {
      out.push(
        `  search for a 16-byte needle at the end of a ${fmt((search['captureBytes'] as number) / MiB)} MiB capture: ` +
          `"${String(search['status'])}" after ${fmt(search['seconds'], 2)} s; renderer heap +${fmt(search['heapGrowthMB'], 1)} MB ` +
          `(goal < ${fmt(search['heapGrowthGoalMB'])} MB; ${fmt(search['samples'])} samples ~50 ms apart)`,
      );
    }
    for (const note of (u['notes'] as string[] | undefined) ?? []) out.push(`  note: ${note}`);
  }
  const f = results['serve-fairness'];
  if (f) {
    out.push(
      `Serve fairness: engine.status from one page while ${fmt(f['readers'])} others read ` +
        `${fmt((f['readBytes'] as number) / MiB)} MiB of capture at a time`,
    );
    if (f['error']) out.push(`  failed: ${f['error']}`);
    else {
      out.push(
        `  longest wait ${fmt(f['maxMs'], 1)} ms, with no reads running ${fmt(f['baselineMaxMs'], 1)} ms ` +
          `(ratio ${fmt(f['maxRatio'], 1)}); p99 ${fmt(f['p99Ms'], 1)} vs ${fmt(f['baselineP99Ms'], 1)} ms; ` +
          `median ${fmt(f['p50Ms'], 2)} vs ${fmt(f['baselineP50Ms'], 2)} ms (ratio ${fmt(f['p50Ratio'], 1)})`,
        `  medians of ${fmt(f['rounds'])} rounds of ${fmt(f['probes'])} calls; longest waits per round ` +
          `${(f['roundsMaxMs'] as number[]).join(', ')} ms (no reads: ` +
          `${(f['baselineRoundsMaxMs'] as number[]).join(', ')} ms)`,
        `  server event loop: longest gap ${fmt(f['serverStallMaxMs'], 1)} ms wall ` +
          `(${fmt(f['baselineServerStallMaxMs'], 1)} with no reads), longest block by CPU time ` +
          `${fmt(f['serverBlockCpuMaxMs'], 1)} ms (${fmt(f['baselineServerBlockCpuMaxMs'], 1)}); ` +
          `one read served whole would block ${fmt(f['wholeReadBlockMs'], 1)} ms`,
        `  ${fmt(f['reads'])} reads answered while probing (${fmt(f['readMBPerSec'])} MB/s of replies)`,
      );
    }
  }
  const q = results.search;
  if (q) {
    out.push(
      `Search: engine.findInCapture for a 16-byte needle over a ${fmt((q['bytes'] as number) / GiB, 2)} GiB ` +
        'capture vs grep -c -F over its data files',
    );
    if (q['error']) out.push(`  failed: ${q['error']}`);
    else {
      out.push(
        `  engine ${fmt(q['mbPerSec'])} MB/s, grep ${fmt(q['grepMbPerSec'])} MB/s, ratio ` +
          `${fmt(q['ratio'], 3)} (goal >= 0.5; median of ${fmt(q['rounds'])} alternating rounds); ` +
          `ignoring ASCII case ${fmt(q['ignoreCaseMbPerSec'])} MB/s; as an RE2 regex over UTF-8 ` +
          `${fmt(q['regexMbPerSec'])} MB/s`,
        `  rounds: engine ${(q['engineRoundsMbPerSec'] as number[]).join(', ')}; grep ` +
          `${(q['grepRoundsMbPerSec'] as number[]).join(', ')} MB/s`,
        `  engine memory during a search: heap+external +${fmt(q['heapPlusExternalGrowthMB'], 1)} MB, ` +
          `RSS +${fmt(q['rssGrowthMB'], 1)} MB, kept after GC ${fmt(q['retainedMB'], 2)} MB; ` +
          `the answer: ${fmt(q['pages'])} pages, ` +
          `${fmt(q['answerBytes'])} bytes of JSON`,
      );
    }
  }
  const a = results.autoreply;
  if (a) {
    out.push(
      'Auto-reply: round trip of a 5-byte message answered by a rule (contains "PING" -> ' +
        '"PONG\\n") vs a python3 echo server, same client',
    );
    if (a['error']) out.push(`  failed: ${a['error']}`);
    else {
      out.push(
        `  engine p50 ${fmt(a['p50Us'], 1)} µs, p99 ${fmt(a['p99Us'], 1)} µs; python3 p50 ` +
          `${fmt(a['pythonP50Us'], 1)} µs, p99 ${fmt(a['pythonP99Us'], 1)} µs; p99 ratio ` +
          `${fmt(a['p99Ratio'], 2)} (goal <= 2; medians of ${fmt(a['rounds'])} alternating rounds ` +
          `of ${fmt(a['count'])})`,
        `  for scale, a plain node:net echo server in the engine's process: p50 ` +
          `${fmt(a['nodeP50Us'], 1)} µs, p99 ${fmt(a['nodeP99Us'], 1)} µs`,
      );
    }
  }
  const r = results.repeat;
  if (r) {
    out.push(
      'Repeat send: 8 bytes every 1 ms from the engine to a node:net receiver, a flood on another ' +
        'connection followed by a view; baseline setInterval(write, 1) in its own process',
    );
    if (r['error']) out.push(`  failed: ${r['error']}`);
    else {
      out.push(
        `  engine ${fmt(r['done'])} / ${fmt(r['planned'])} sends in ${fmt(r['seconds'])} s: ratio ` +
          `${fmt(r['ratio'], 3)} (goal >= 0.95), ${fmt(r['skipped'])} skipped, ${fmt(r['rate'], 1)}/s, ` +
          `flood ${fmt(r['floodMB'], 0)} MiB meanwhile; baseline ratio ${fmt(r['baselineRatio'], 3)}`,
      );
    }
  }
  const x = results.export;
  if (x) {
    out.push(
      `Export: a ${fmt((x['bytes'] as number) / MiB)} MiB capture written as pcapng by ` +
        'engine.exportCapture vs cp of its data files',
    );
    if (x['error']) out.push(`  failed: ${x['error']}`);
    else {
      out.push(
        `  export ${fmt(x['mbPerSec'])} MB/s, cp ${fmt(x['cpMbPerSec'])} MB/s: ratio ` +
          `${fmt(x['ratio'], 3)} (goal >= 0.3; medians of ${fmt(x['rounds'])} alternating rounds: ` +
          `export ${(x['exportRoundsMbPerSec'] as number[]).join(', ')}, cp ` +
          `${(x['cpRoundsMbPerSec'] as number[]).join(', ')} MB/s)`,
        `  during an export: RSS +${fmt(x['rssGrowthMB'], 1)} MB, heap+external ` +
          `+${fmt(x['heapPlusExternalGrowthMB'], 1)} MB, longest event-loop delay ` +
          `${fmt(x['maxLoopDelayMs'], 1)} ms; ${fmt(x['packets'])} packets, ` +
          `${fmt(x['pcapngBytes'])} bytes of pcapng`,
      );
    }
  }
  const w = results.workspace;
  if (w) {
    out.push(
      `Workspace: a new engine re-opens ${fmt(w['listeners'])} TCP listeners from its workspace at ` +
        'start, vs the same listeners opened one tcp.listen at a time',
    );
    if (w['error']) out.push(`  failed: ${w['error']}`);
    else {
      out.push(
        `  re-open ${fmt(w['reopenMs'], 1)} ms, by hand ${fmt(w['byHandMs'], 1)} ms: ratio ` +
          `${fmt(w['ratio'], 2)} (medians of ${fmt(w['rounds'])} rounds: re-open ` +
          `${(w['reopenRoundsMs'] as number[]).join(', ')}, by hand ` +
          `${(w['byHandRoundsMs'] as number[]).join(', ')} ms)`,
      );
    }
  }
  const k = results.kernel;
  if (k) {
    out.push(
      `Kernel view: engine CPU with ${fmt(k['connections'])} connections open, a view sampling one ` +
        `of them ${fmt(k['samplesPerSecond'])} times a second vs none`,
    );
    if (k['error']) out.push(`  failed: ${k['error']}`);
    else {
      out.push(
        `  panel open ${fmt(k['openCpuMsPerSecond'], 2)} ms/s, closed ${fmt(k['closedCpuMsPerSecond'], 2)} ` +
          `ms/s: ratio ${fmt(k['ratio'], 3)} (goal <= 1.05; medians of ${fmt(k['rounds'])} ` +
          `alternating ${fmt(k['phaseSeconds'])} s phases: open ` +
          `${(k['openRoundsCpuMs'] as number[]).join(', ')}, closed ` +
          `${(k['closedRoundsCpuMs'] as number[]).join(', ')} ms)`,
        `  ${fmt(k['cpuMsPerSample'], 3)} ms of engine CPU per sample (answered in ` +
          `${fmt(k['sampleMedianMs'], 1)} ms); ss and its shell, outside the engine: ` +
          `${fmt(k['ssCpuMsPerSecond'], 2)} ms/s; ss runs while closed: ${fmt(k['closedSsRuns'])}`,
        `  the idle goal allows ${fmt(k['goalCpuMsPerSample'], 3)} ms per sample; one pipe round ` +
          `trip to a resident child (cat), same process and pace: ${fmt(k['pipeRoundTripCpuMs'], 3)} ms`,
        `  with a message a second on every connection: open ${fmt(k['busyOpenCpuMsPerSecond'], 2)} ` +
          `ms/s, closed ${fmt(k['busyClosedCpuMsPerSecond'], 2)} ms/s: ratio ${fmt(k['busyRatio'], 3)} ` +
          `(open ${(k['busyOpenRoundsCpuMs'] as number[]).join(', ')}, closed ` +
          `${(k['busyClosedRoundsCpuMs'] as number[]).join(', ')} ms)`,
      );
    }
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const { json, only, quick } = parseCommandLine();
  const started = performance.now();
  const results: Partial<Record<PartName, Json>> = {};
  let failures = 0;
  for (const part of partNames) {
    if (!only.has(part)) continue;
    log(`[${part}]`);
    const outcomes: (Json | Error)[] = [];
    for (const job of jobsFor(part, quick)) {
      outcomes.push(await runJob(job).catch((error: unknown) => error as Error));
    }
    const error = outcomes.find((o) => o instanceof Error);
    const combine = combinedParts[part];
    if (combine && !(outcomes[0] instanceof Error)) {
      const baseline = outcomes[1] instanceof Error ? undefined : outcomes[1];
      results[part] = combine(outcomes[0] as Json, baseline);
      if (outcomes[1] instanceof Error) results[part]['baselineError'] = outcomes[1].message;
    } else if (error) {
      results[part] = failed(part, error);
    } else {
      results[part] = outcomes[0] as Json;
    }
    if (error) {
      failures += 1;
      log(`  ${part} failed: ${(error as Error).message}`);
    }
  }
  const report = {
    machine: machine(),
    quick,
    seconds: round((performance.now() - started) / 1000, 1),
    ...results,
  };
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const m = report.machine;
    process.stdout.write(
      `Socket Workbench benchmarks (${m['cpus']} cores, ${m['cpuModel']}, ${m['memoryGiB']} GiB, ` +
        `Node ${m['node']}${quick ? ', --quick sizes' : ''}); ${report.seconds} s in all\n` +
        `${describe(results)}\n`,
    );
  }
  process.exitCode = failures > 0 ? 1 : 0;
}

void main();
