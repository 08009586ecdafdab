/**
 * UI: the built workbench in browser mode (out/main/serve.js + out/renderer), driven in
 * Chromium the way a person would drive it, found by accessible roles and labels.
 *
 * 1. Open a TCP listener; a peer process connects; select that connection; hex-dump view.
 * 2. Idle baseline on the same page: requestAnimationFrame intervals and keystroke-to-paint
 *    latency in the composer.
 * 3. The peer floods the connection for 10 s: the same figures, plus the renderer's JS heap.
 * 4. Lag: from the end of the flood until the view has caught up with the capture (rendered or
 *    deliberately skipped), read from the view's `data-view-end` hook; without the hook, until
 *    the "Bytes in" counter shows every byte (a weaker figure, labelled as such).
 * 5. Search: another peer process writes a dedicated capture (256 MiB with --quick, 1 GiB
 *    otherwise) and then a 16-byte needle; the needle is typed into the "Search" box and Enter
 *    pressed. The renderer's JS heap is sampled every ~50 ms from just before until the status
 *    line shows "Match 1 of": its growth (peak minus before) and the time taken.
 * 6. A second peer process opens 10,000 connections: the time until the listener's row counts
 *    them all, over the engine's own time to accept them (its last accept, from the same
 *    start); then the endpoint list is scrolled with the mouse wheel: rAF intervals while
 *    scrolling.
 *
 * `serve` gets a fresh --data-dir: the workspace of an earlier run would otherwise open its
 * listeners again, and the bench would find one of those instead of its own.
 *
 * Each step that cannot run (the UI lacks a control, a hook, or the build is missing) leaves
 * its figures null and says why in `notes`; the steps after it still run where they can.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { chromium, type Browser, type Page } from '@playwright/test';
import { WebSocket } from 'ws';
import type { EndpointInfo } from '../src/shared/contract';
import { decodeWire, encodeWire, type ServerMessage } from '../src/shared/wire';
import {
  GiB,
  log,
  median,
  MiB,
  nodeCommand,
  percentile,
  processTimes,
  repoRoot,
  round,
  sleep,
  startFlood,
  Swarm,
  tempDir,
  waitForExit,
  type Flood,
} from './lib/util';
import { chromiumArgs, chromiumExecutable } from '../scripts/chromium';

export interface UiOptions {
  quick?: boolean;
  floodSeconds?: number;
  connections?: number;
  /** The dedicated capture searched in step 5, in bytes (the needle comes after them). */
  searchBytes?: number;
}

/** What the search peer writes after its bytes; flood.mjs' pattern never holds it. */
const NEEDLE = 'SWB-needle-7f3a9';
/** The goal: the list shows every connection within 1.5x the engine's accept time. */
const LIST_LOAD_RATIO_GOAL = 1.5;
/** The goal for the renderer's heap growth during a search over a large capture. */
const SEARCH_HEAP_GOAL_MB = 16;

/**
 * Runs in the page before the app: a requestAnimationFrame recorder, and a keystroke probe that
 * times each key in a textarea from its keydown (when the browser took the key) to just after
 * the first frame that follows its input event (a message posted from rAF runs after paint).
 * A string, because the bench is type-checked against Node's globals, not the DOM's.
 */
const RECORDER = `(() => {
  const bench = { frames: [], recording: false, keyDown: null, keys: [], viewEnds: [] };
  window.__swbBench = bench;
  // When the view's caught-up offset changed, in wall-clock ms: the lag is read from this.
  new MutationObserver((records) => {
    const at = performance.timeOrigin + performance.now();
    for (const record of records) {
      bench.viewEnds.push([at, Number(record.target.getAttribute('data-view-end'))]);
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-view-end'] });
  const loop = (t) => {
    if (bench.recording) bench.frames.push(t);
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  document.addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLTextAreaElement) bench.keyDown = event.timeStamp;
  }, true);
  document.addEventListener('input', (event) => {
    if (!(event.target instanceof HTMLTextAreaElement) || bench.keyDown === null) return;
    const start = bench.keyDown;
    bench.keyDown = null;
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => bench.keys.push(performance.now() - start);
      channel.port2.postMessage(null);
    });
  }, true);
})();`;

/** The view's caught-up offset, or the "Bytes in" counter where the view has no hook. */
const VIEW_END = `(() => {
  const hook = document.querySelector('[data-view-end]');
  if (hook) return { source: 'view', bytes: Number(hook.getAttribute('data-view-end')) };
  for (const dt of document.querySelectorAll('dt')) {
    if (dt.textContent.trim() === 'Bytes in' && dt.nextElementSibling) {
      return { source: 'counters', bytes: Number(dt.nextElementSibling.textContent.replace(/\\D/g, '')) };
    }
  }
  return { source: 'none', bytes: 0 };
})()`;

/** How many connections the listener's row in the endpoint tree says it has. */
const listedConnections = (listenerPort: number) => `(() => {
  for (const item of document.querySelectorAll('[role="treeitem"]')) {
    const labelId = item.getAttribute('aria-labelledby');
    const label = labelId ? document.getElementById(labelId) : item;
    const text = label ? label.textContent : '';
    if (!text.includes(':${listenerPort}')) continue;
    const match = text.match(/([\\d][\\d,.\\s\\u00a0\\u202f]*)\\s*connections?/);
    if (match) return Number(match[1].replace(/\\D/g, ''));
  }
  return 0;
})()`;

/**
 * Records, in wall-clock ms, the first moment the listener's row counted `target` connections:
 * a MutationObserver sees it as the DOM changes, more precisely than polling from the bench.
 */
const watchListedConnections = (listenerPort: number, target: number) => `(() => {
  const bench = window.__swbBench;
  bench.listedAt = null;
  const count = () => ${listedConnections(listenerPort)};
  const check = () => {
    if (bench.listedAt !== null) return;
    if (count() >= ${target}) {
      bench.listedAt = performance.timeOrigin + performance.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  check();
})()`;

/**
 * Before the search: records (page clock) when Enter is pressed in a text field and when a status
 * line first says "Match 1 of", and returns whether one already does (it must not).
 */
const SEARCH_PROBE = `(() => {
  const bench = window.__swbBench;
  bench.searchEnter = null;
  bench.searchDone = null;
  const matched = () => Array.from(document.querySelectorAll('[role="status"]'))
    .some((el) => /^Match 1 of/.test(el.textContent.trim()));
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && bench.searchEnter === null &&
        event.target instanceof HTMLInputElement) bench.searchEnter = performance.now();
  }, true);
  const observer = new MutationObserver(() => {
    if (bench.searchDone === null && matched()) {
      bench.searchDone = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  return matched();
})()`;

/** The texts of the page's status lines. */
const STATUS_TEXTS = `Array.from(document.querySelectorAll('[role="status"]'), (el) => el.textContent.trim())`;

/** The element that scrolls the endpoint tree, marked so the bench can find it again. */
const MARK_TREE_SCROLLER = `(() => {
  const tree = document.querySelector('[role="tree"]');
  for (let el = tree; el; el = el.parentElement) {
    const style = getComputedStyle(el);
    if (/(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight + 10) {
      el.setAttribute('data-swb-bench-scroller', '');
      return { found: true, scrollHeight: el.scrollHeight, clientHeight: el.clientHeight };
    }
  }
  const all = document.scrollingElement;
  if (tree && all && all.scrollHeight > all.clientHeight + 10) {
    all.setAttribute('data-swb-bench-scroller', '');
    return { found: true, scrollHeight: all.scrollHeight, clientHeight: all.clientHeight };
  }
  return { found: false, scrollHeight: 0, clientHeight: 0 };
})()`;

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

function intervals(frames: number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < frames.length; i++)
    out.push((frames[i] as number) - (frames[i - 1] as number));
  return out;
}

const ms = (value: number) => (Number.isFinite(value) ? round(value, 1) : null);

/**
 * Polls `expression` in the page until `done(value)`; page.waitForFunction would compile a
 * string predicate with eval, which the workbench's CSP (rightly) forbids.
 */
async function pollPage<T>(
  page: Page,
  expression: string,
  done: (value: T) => boolean,
  timeoutMs: number,
  everyMs: number,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = (await page.evaluate(expression)) as T;
    if (done(value)) return value;
    if (performance.now() > deadline) throw new Error(`gave up after ${timeoutMs / 1000} s`);
    await sleep(everyMs);
  }
}

async function recordFrames(page: Page, during: () => Promise<void>): Promise<number[]> {
  await page.evaluate('window.__swbBench.frames = []; window.__swbBench.recording = true');
  await during();
  const frames = (await page.evaluate(
    '(() => { const b = window.__swbBench; b.recording = false; return b.frames; })()',
  )) as number[];
  return intervals(frames);
}

async function typeProbes(page: Page, count: number, gapMs: number): Promise<number[]> {
  await page.evaluate('window.__swbBench.keys = []');
  for (let i = 0; i < count; i++) {
    await page.keyboard.press('x');
    await sleep(gapMs);
  }
  await sleep(300);
  return (await page.evaluate('window.__swbBench.keys')) as number[];
}

/**
 * CPU time (user + system, ms) used so far by the live processes this bench started, directly
 * or not, grouped by what their command line names: Chromium (all its processes), serve, the
 * swarm. A figure the machine's other load does not inflate the way it inflates wall-clock
 * times. Null where there is no /proc.
 */
function descendantsCpuMs(): { chromium: number; serve: number; swarm: number } | null {
  if (!fs.existsSync('/proc/self/stat')) return null;
  const parents = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const times = processTimes(entry);
      parents.set(Number(entry), times.parentPid);
      cpu.set(Number(entry), times.ownMs);
    } catch {
      // The process ended while being read.
    }
  }
  const out = { chromium: 0, serve: 0, swarm: 0 };
  for (const [pid, ms] of cpu) {
    let ancestor = parents.get(pid);
    while (ancestor !== undefined && ancestor > 1 && ancestor !== process.pid) {
      ancestor = parents.get(ancestor);
    }
    if (ancestor !== process.pid) continue;
    let command: string;
    try {
      command = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (/chrom/i.test(command)) out.chromium += ms;
    else if (/serve\.js/.test(command)) out.serve += ms;
    else if (/swarm\.mjs/.test(command)) out.swarm += ms;
  }
  return out;
}

/** CPU seconds used since `before` (descendantsCpuMs), or null without /proc. */
function cpuSecondsSince(
  before: ReturnType<typeof descendantsCpuMs>,
): { chromium: number; serve: number; swarm: number } | null {
  const now = descendantsCpuMs();
  if (!before || !now) return null;
  return {
    chromium: round((now.chromium - before.chromium) / 1000, 2),
    serve: round((now.serve - before.serve) / 1000, 2),
    swarm: round((now.swarm - before.swarm) / 1000, 2),
  };
}

/**
 * Commands to `serve` over a WebSocket of the bench's own, outside any page. While it is open
 * the engine counts it as a view (it is sent every event), so it is opened only when the engine
 * is not being measured.
 */
async function commandClient(pageUrl: string): Promise<{
  call: (command: string, input: unknown) => Promise<unknown>;
  close: () => void;
}> {
  const url = new URL(pageUrl);
  const ws = new WebSocket(
    `ws://${url.host}/ws?token=${encodeURIComponent(url.searchParams.get('token') ?? '')}`,
    { origin: `http://${url.host}` },
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const results = new Map<number, (result: unknown) => void>();
  ws.on('message', (data) => {
    // Without `?frames=batch`, one message per frame.
    const message = decodeWire(String(data)) as ServerMessage;
    if (message.t === 'result') results.get(message.id)?.(message.result);
  });
  let nextId = 1;
  return {
    call: (command, input) => {
      const id = nextId++;
      const answer = new Promise<unknown>((resolve) => results.set(id, resolve));
      ws.send(encodeWire({ t: 'call', id, command, input }));
      return answer;
    },
    close: () => ws.close(),
  };
}

type Answer<T> = { ok: true; value: T } | { ok: false; error: { message: string } };

/**
 * What the engine itself says about a listener's connections made at or after `sinceMs` (wall
 * clock): how many, and when it accepted the last of them (its own clock, `createdAt`). Read
 * from `session.snapshot` once they are all accepted, so asking costs nothing while it accepts.
 */
async function engineAccepts(
  pageUrl: string,
  listenerPort: number,
  sinceMs: number,
): Promise<{ count: number; lastAcceptedAt: number }> {
  const client = await commandClient(pageUrl);
  try {
    const endpoints: EndpointInfo[] = [];
    let cursor: number | undefined;
    do {
      const result = (await client.call('session.snapshot', { cursor, limit: 5000 })) as Answer<{
        endpoints: EndpointInfo[];
        nextCursor?: number;
      }>;
      if (!result.ok) throw new Error(`session.snapshot: ${result.error.message}`);
      endpoints.push(...result.value.endpoints);
      cursor = result.value.nextCursor;
    } while (cursor !== undefined);
    const listener = endpoints.find(
      (e) =>
        e.role === 'listener' &&
        e.local !== null &&
        'port' in e.local &&
        e.local.port === listenerPort,
    );
    let count = 0;
    let lastAcceptedAt = NaN;
    for (const e of endpoints) {
      if (e.parentId !== listener?.id || e.createdAt < sinceMs) continue;
      count += 1;
      lastAcceptedAt = count === 1 ? e.createdAt : Math.max(lastAcceptedAt, e.createdAt);
    }
    return { count, lastAcceptedAt };
  } finally {
    client.close();
  }
}

/**
 * The same swarm against a `serve` that no page (no view at all) watches: the engine's accept
 * time on its own, in this run's conditions. Seconds from the swarm's start to the last accept.
 */
async function unwatchedAccept(
  serveJs: string,
  connections: number,
): Promise<{ seconds: number; cpuSeconds: ReturnType<typeof cpuSecondsSince> }> {
  const dataDir = tempDir('ui-unwatched');
  let serve: ChildProcess | undefined;
  let swarm: Swarm | undefined;
  try {
    const started = await startServe(serveJs, connections + 2000, dataDir);
    serve = started.child;
    const client = await commandClient(started.url);
    const opened = (await client.call('tcp.listen', {
      host: '127.0.0.1',
      port: 0,
      maxConnections: connections + 1000,
    })) as Answer<EndpointInfo>;
    client.close();
    if (!opened.ok) throw new Error(`tcp.listen: ${opened.error.message}`);
    const local = opened.value.local;
    const port = local !== null && 'port' in local ? local.port : 0;
    // Until the engine has seen the bench's WebSocket go, it is still a view.
    await sleep(500);
    swarm = new Swarm(connections + 1000);
    await swarm.ready;
    const cpuBefore = descendantsCpuMs();
    const start = Date.now();
    await swarm.send({ cmd: 'open', port, count: connections });
    const cpuSeconds = cpuSecondsSince(cpuBefore);
    const accepts = await pollUntil(() => engineAccepts(started.url, port, start), connections);
    return { seconds: (accepts.lastAcceptedAt - start) / 1000, cpuSeconds };
  } finally {
    await swarm?.stop().catch(() => undefined);
    if (serve && serve.exitCode === null) {
      serve.kill('SIGTERM');
      await waitForExit(serve);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Reads the engine's accepts until it has all `connections` (the last may still be queued). */
async function pollUntil(
  read: () => Promise<{ count: number; lastAcceptedAt: number }>,
  connections: number,
): Promise<{ count: number; lastAcceptedAt: number }> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const accepts = await read();
    if (accepts.count >= connections) return accepts;
    if (performance.now() > deadline) {
      throw new Error(`the engine accepted ${accepts.count} of ${connections} connections`);
    }
    await sleep(200);
  }
}

async function startServe(
  serveJs: string,
  fds: number,
  dataDir: string,
): Promise<{ child: ChildProcess; url: string }> {
  const { command, args } = nodeCommand([serveJs, '--port', '0', '--data-dir', dataDir], fds);
  const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('serve printed no URL within 20 s')), 20_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /(https?:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code})`)));
  });
  return { child, url };
}

export async function run(options: UiOptions = {}) {
  const quick = options.quick ?? false;
  const floodSeconds = options.floodSeconds ?? (quick ? 3 : 10);
  const connections = options.connections ?? (quick ? 2000 : 10_000);
  const searchBytes = options.searchBytes ?? (quick ? 256 * MiB : GiB);
  const outDir = process.env.BENCH_OUT_DIR ?? path.join(repoRoot, 'out');
  const serveJs = path.join(outDir, 'main/serve.js');
  const indexHtml = path.join(outDir, 'renderer/index.html');
  const chromiumPath = chromiumExecutable;

  const result: Record<string, unknown> = {
    p50FrameMs: null,
    p95FrameMs: null,
    baselineP50FrameMs: null,
    baselineP95FrameMs: null,
    frameRatio: null,
    keystrokeMs: null,
    keystrokeP95Ms: null,
    baselineKeystrokeMs: null,
    keystrokeRatio: null,
    lagSeconds: null,
    lagSource: null,
    floodSeconds,
    floodMB: null,
    heapBeforeMB: null,
    heapMB: null,
    heapAfterMB: null,
    search: {
      captureBytes: null,
      captureMB: null,
      needle: NEEDLE,
      seconds: null,
      heapBeforeMB: null,
      heapPeakMB: null,
      heapGrowthMB: null,
      heapGrowthGoalMB: SEARCH_HEAP_GOAL_MB,
      heapAfterGcMB: null,
      samples: null,
      status: null,
    } as Record<string, unknown>,
    listConnections: null,
    listLoadSeconds: null,
    listAcceptSeconds: null,
    listLoadRatio: null,
    listLoadRatioGoal: LIST_LOAD_RATIO_GOAL,
    listSwarmSeconds: null,
    /** The same swarm against a serve that no page watches: the engine on its own. */
    listUnwatchedAcceptSeconds: null,
    listLoadUnwatchedRatio: null,
    /** CPU seconds while the list filled: all of Chromium's processes, and serve's. */
    listChromiumCpuSeconds: null,
    listServeCpuSeconds: null,
    /** serve's CPU seconds for the same swarm with no page watching. */
    listUnwatchedServeCpuSeconds: null,
    listDomRows: null,
    listScrollP50FrameMs: null,
    listScrollP95FrameMs: null,
    listScrolledPx: null,
    reason: null,
    notes: [] as string[],
  };
  const notes = result['notes'] as string[];
  const missing = [serveJs, indexHtml, chromiumPath].filter((file) => !fs.existsSync(file));
  if (missing.length > 0) {
    result['reason'] =
      `not found: ${missing.join(', ')} (run \`npm run build\`; Chromium from Debian's package)`;
    return result;
  }

  let serve: ChildProcess | undefined;
  let browser: Browser | undefined;
  let flood: Flood | undefined;
  let searchPeer: Flood | undefined;
  let swarm: Swarm | undefined;
  const dataDir = tempDir('ui');
  try {
    const started = await startServe(serveJs, connections + 2000, dataDir);
    serve = started.child;
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(15_000);
    await page.addInitScript({ content: RECORDER });
    await page.goto(started.url);
    const cdp = await page.context().newCDPSession(page);
    const heapMB = async () => {
      const usage = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
      return usage.usedSize / MiB;
    };

    // A listener, opened the way a person does it.
    await page.getByRole('tab', { name: 'TCP listener' }).click();
    await page.getByLabel('Port', { exact: true }).fill('0');
    // The list part holds more connections than the default limit of 1,000: raise it.
    await page.getByRole('button', { name: 'Connection limits' }).click();
    await page.getByLabel('Connection limit', { exact: true }).fill(String(connections + 1000));
    await page.getByRole('button', { name: 'Open listener' }).click();
    const listenerItem = page.getByRole('treeitem', { name: /TCP listener/ }).first();
    await listenerItem.waitFor();
    const listenerName = (await listenerItem.getAttribute('aria-labelledby'))
      ? await page
          .locator(`[id="${await listenerItem.getAttribute('aria-labelledby')}"]`)
          .innerText()
      : await listenerItem.innerText();
    const port = Number(/:(\d+)/.exec(listenerName)?.[1]);
    if (!(port > 0)) throw new Error(`no port in the listener row "${listenerName}"`);
    log(`  listener on port ${port}`);

    // The connection to flood, selected and shown as a hex dump.
    flood = startFlood(port, { seconds: floodSeconds, wait: true, hold: true });
    const peerPort = await flood.connected;
    await page.getByRole('treeitem', { name: new RegExp(`:${peerPort}(\\D|$)`) }).click();
    await page.getByRole('region', { name: 'Traffic log' }).waitFor();
    await page.getByLabel('Mode', { exact: true }).selectOption({ label: 'Hex dump' });
    const composer = page.getByRole('textbox', { name: 'Payload' });
    await composer.focus();
    await sleep(500);

    const idleFrames = await recordFrames(page, () => sleep(2000));
    result['baselineP50FrameMs'] = ms(median(idleFrames));
    result['baselineP95FrameMs'] = ms(percentile(idleFrames, 95));
    const idleKeys = await typeProbes(page, 10, 100);
    result['baselineKeystrokeMs'] = ms(median(idleKeys));
    result['heapBeforeMB'] = round(await heapMB(), 1);
    log(
      `  idle: rAF p95 ${result['baselineP95FrameMs']} ms, keystroke ${result['baselineKeystrokeMs']} ms`,
    );

    // The flood: frames, keystrokes and heap while it lasts.
    let peakHeap = 0;
    await page.evaluate('window.__swbBench.keys = []');
    const floodFrames = await recordFrames(page, async () => {
      flood!.go();
      const deadline = performance.now() + floodSeconds * 1000;
      let nextHeap = 0;
      while (performance.now() < deadline) {
        await page.keyboard.press('x');
        if (performance.now() >= nextHeap) {
          peakHeap = Math.max(peakHeap, await heapMB());
          nextHeap = performance.now() + 1000;
        }
        await sleep(200);
      }
      await flood!.finished;
    });
    await sleep(300);
    const keys = (await page.evaluate('window.__swbBench.keys')) as number[];
    const sent = await flood.finished;
    const floodEnded = performance.now();
    result['floodMB'] = round(sent.sent / 1e6, 1);
    result['p50FrameMs'] = ms(median(floodFrames));
    result['p95FrameMs'] = ms(percentile(floodFrames, 95));
    result['frameRatio'] = ms(percentile(floodFrames, 95) / percentile(idleFrames, 95));
    result['keystrokeMs'] = ms(median(keys));
    result['keystrokeP95Ms'] = ms(percentile(keys, 95));
    result['keystrokeRatio'] = ms(median(keys) / median(idleKeys));
    result['heapMB'] = round(peakHeap, 1);
    log(
      `  flood: ${result['floodMB']} MB in ${(sent.ms / 1000).toFixed(1)} s; rAF p95 ` +
        `${result['p95FrameMs']} ms; keystroke ${result['keystrokeMs']} ms (${keys.length} keys)`,
    );

    // Lag: until the view (or at least the counter) has every byte the peer sent.
    const probe = (await page.evaluate(VIEW_END)) as { source: string };
    if (probe.source === 'none')
      notes.push('lag: neither a data-view-end hook nor "Bytes in" found');
    else {
      if (probe.source === 'counters') {
        notes.push(
          'lag: the traffic view exposes no data-view-end hook; measured until the "Bytes in" ' +
            'counter showed every byte instead',
        );
      }
      try {
        await pollPage<{ bytes: number }>(
          page,
          VIEW_END,
          (end) => end.bytes >= sent.sent,
          60_000,
          20,
        );
        // With the view's hook: from the peer's last write to the first moment the terminal had
        // parsed every byte. Otherwise from when this process heard the flood had ended.
        const viewEnds = (await page.evaluate('window.__swbBench.viewEnds')) as [number, number][];
        const caughtUpAt = viewEnds.find(([, bytes]) => bytes >= sent.sent)?.[0];
        result['lagSeconds'] =
          probe.source === 'view' && caughtUpAt !== undefined
            ? round(Math.max(0, caughtUpAt - sent.endedAt) / 1000, 3)
            : round((performance.now() - floodEnded) / 1000, 3);
        result['lagSource'] = probe.source;
      } catch {
        const seen = (await page.evaluate(VIEW_END)) as { bytes: number };
        notes.push(
          `lag: after 60 s the ${probe.source} showed ${seen.bytes} of ${sent.sent} bytes`,
        );
      }
    }
    result['heapAfterMB'] = round(await heapMB(), 1);
    log(`  lag ${result['lagSeconds']} s (${result['lagSource']})`);

    // Search over a dedicated large capture whose last 16 bytes are the needle.
    const search = result['search'] as Record<string, unknown>;
    try {
      searchPeer = startFlood(port, { bytes: searchBytes, tail: NEEDLE, wait: true, hold: true });
      const searchPort = await searchPeer.connected;
      await page.getByRole('treeitem', { name: new RegExp(`:${searchPort}(\\D|$)`) }).click();
      await page.getByRole('region', { name: 'Traffic log' }).waitFor();
      searchPeer.go();
      const written = await searchPeer.finished;
      const total = written.sent + Buffer.byteLength(NEEDLE);
      // Every byte captured and the view caught up (idle), before the search starts.
      await pollPage<{ bytes: number }>(page, VIEW_END, (end) => end.bytes >= total, 60_000, 50);
      search['captureBytes'] = total;
      search['captureMB'] = round(total / MiB, 1);
      log(`  search: ${search['captureMB']} MiB captured in ${(written.ms / 1000).toFixed(1)} s`);

      const box = page.getByLabel('Search', { exact: true });
      await box.click();
      await box.pressSequentially(NEEDLE);
      if ((await page.evaluate(SEARCH_PROBE)) as boolean) {
        throw new Error('a status line said "Match 1 of" before the search');
      }
      await sleep(200);
      await cdp.send('HeapProfiler.collectGarbage');
      const before = await heapMB();
      const samples = [before];
      const pressed = box.press('Enter');
      pressed.catch(() => undefined);
      const deadline = performance.now() + 60_000;
      let statuses: string[] = [];
      for (;;) {
        const tick = performance.now();
        const [heap, texts] = await Promise.all([
          heapMB(),
          page.evaluate(STATUS_TEXTS) as Promise<string[]>,
        ]);
        samples.push(heap);
        statuses = texts;
        if (texts.some((text) => /^Match 1 of/.test(text))) break;
        if (texts.includes('No matches')) throw new Error('the search found no match');
        if (performance.now() > deadline) {
          throw new Error(`no "Match 1 of" after 60 s (status: ${JSON.stringify(texts)})`);
        }
        await sleep(Math.max(0, 50 - (performance.now() - tick)));
      }
      await pressed;
      const times = (await page.evaluate(
        '[window.__swbBench.searchEnter, window.__swbBench.searchDone]',
      )) as [number | null, number | null];
      const peak = Math.max(...samples);
      search['heapBeforeMB'] = round(before, 1);
      search['heapPeakMB'] = round(peak, 1);
      search['heapGrowthMB'] = round(peak - before, 1);
      search['samples'] = samples.length;
      search['status'] = statuses.find((text) => /^Match 1 of/.test(text)) ?? null;
      if (times[0] !== null && times[1] !== null) {
        search['seconds'] = round((times[1] - times[0]) / 1000, 3);
      }
      await cdp.send('HeapProfiler.collectGarbage');
      search['heapAfterGcMB'] = round(await heapMB(), 1);
      log(
        `  search: "${search['status']}" after ${search['seconds']} s; renderer heap ` +
          `+${search['heapGrowthMB']} MB (goal < ${SEARCH_HEAP_GOAL_MB} MB; ${samples.length} samples)`,
      );
      // Close it (FIN; the peer then leaves), so the list below counts the same connections.
      await page.getByRole('button', { name: 'Close', exact: true }).click();
    } catch (error) {
      notes.push(`search: ${firstLine(error)}`);
    } finally {
      searchPeer?.release();
    }

    // The engine alone, first: the same swarm against a serve no page watches.
    try {
      const { seconds, cpuSeconds } = await unwatchedAccept(serveJs, connections);
      result['listUnwatchedAcceptSeconds'] = round(seconds, 3);
      result['listUnwatchedServeCpuSeconds'] = cpuSeconds?.serve ?? null;
      log(
        `  list: with no page watching, the engine accepted ${connections} in ${round(seconds, 2)} s`,
      );
    } catch (error) {
      notes.push(`list: the engine alone: ${firstLine(error)}`);
    }

    // The endpoint list with thousands of connections.
    swarm = new Swarm(connections + 1000);
    await swarm.ready;
    // The search's connection was just closed; only the flood's stays open. Counted once the
    // row has settled, so the target is what the swarm adds to it.
    const alreadyListed = await pollPage<number>(
      page,
      listedConnections(port),
      (listed) => listed <= 1,
      10_000,
      100,
    ).catch(async () => (await page.evaluate(listedConnections(port))) as number);
    const target = alreadyListed + connections;
    await page.evaluate(watchListedConnections(port, target));
    // One start for all three figures: the page's and the engine's clocks are wall clocks.
    const cpuBefore = descendantsCpuMs();
    const listStart = Date.now();
    const opened = swarm.send({ cmd: 'open', port, count: connections });
    opened.catch(() => undefined);
    try {
      await pollPage<number | null>(
        page,
        'window.__swbBench.listedAt',
        (listedAt) => listedAt !== null,
        90_000,
        100,
      );
      const listedAt = (await page.evaluate('window.__swbBench.listedAt')) as number;
      result['listLoadSeconds'] = round((listedAt - listStart) / 1000, 3);
      // Until the page listed them all (seen within ~100 ms).
      const cpuSeconds = cpuSecondsSince(cpuBefore);
      result['listChromiumCpuSeconds'] = cpuSeconds?.chromium ?? null;
      result['listServeCpuSeconds'] = cpuSeconds?.serve ?? null;
    } catch (error) {
      notes.push(`list: the listener row did not show ${target} connections: ${firstLine(error)}`);
    }
    const swarmReply = await opened;
    result['listSwarmSeconds'] = round(Number(swarmReply['ms']) / 1000, 3);
    try {
      const accepts = await pollUntil(
        () => engineAccepts(started.url, port, listStart),
        connections,
      );
      const acceptSeconds = (accepts.lastAcceptedAt - listStart) / 1000;
      result['listAcceptSeconds'] = round(acceptSeconds, 3);
      const loadSeconds = result['listLoadSeconds'] as number | null;
      const alone = result['listUnwatchedAcceptSeconds'] as number | null;
      if (loadSeconds !== null) {
        result['listLoadRatio'] = round(loadSeconds / acceptSeconds, 2);
        if (alone !== null) result['listLoadUnwatchedRatio'] = round(loadSeconds / alone, 2);
      }
    } catch (error) {
      notes.push(`list: could not read the engine's accept times: ${firstLine(error)}`);
    }
    result['listConnections'] = (await page.evaluate(listedConnections(port))) as number;
    result['listDomRows'] = await page.getByRole('treeitem').count();
    const scroller = (await page.evaluate(MARK_TREE_SCROLLER)) as { found: boolean };
    if (!scroller.found) notes.push('list: no scrollable container around the endpoint tree');
    else {
      const box = await page.locator('[data-swb-bench-scroller]').boundingBox();
      if (box) {
        await page.mouse.move(box.x + box.width / 2, box.y + Math.min(box.height / 2, 300));
        const top = () =>
          page.evaluate(
            `document.querySelector('[data-swb-bench-scroller]').scrollTop`,
          ) as Promise<number>;
        const before = await top();
        const scrollFrames = await recordFrames(page, async () => {
          for (let i = 0; i < 60; i++) {
            await page.mouse.wheel(0, 400);
            await sleep(50);
          }
        });
        result['listScrolledPx'] = (await top()) - before;
        result['listScrollP50FrameMs'] = ms(median(scrollFrames));
        result['listScrollP95FrameMs'] = ms(percentile(scrollFrames, 95));
      }
    }
    log(
      `  list: ${result['listConnections']} connections listed in ${result['listLoadSeconds']} s ` +
        `(engine accepted them in ${result['listAcceptSeconds']} s: ${result['listLoadRatio']}x), ` +
        `${result['listDomRows']} rows in the DOM; scroll rAF p95 ${result['listScrollP95FrameMs']} ms`,
    );
  } catch (error) {
    // Most likely the UI does not (yet) have a control the bench looks for.
    result['reason'] = `stopped early: ${firstLine(error)}`;
  } finally {
    flood?.release();
    searchPeer?.release();
    await swarm?.stop().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    if (serve && serve.exitCode === null) {
      serve.kill('SIGTERM');
      await waitForExit(serve);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return result;
}
