/**
 * Hostile peers the soak mixes in (issue 9), each with the outcome the engine must produce:
 *
 * - connect-then-FIN peers that then go silent, against a listener with a small connection limit
 *   and a short idle time: the listener counts exactly the connections its peers saw refused, and
 *   closes every idle half-closed one (its timeline says idle-close), except while a view shows it;
 * - unix.listen / unix.connect on a path longer than sun_path: ENAMETOOLONG, nothing on disk,
 *   nothing in the session, and no connection to the socket the cut-short name would reach;
 * - a UDP burst larger than the receive buffer: what the engine received, what the kernel says it
 *   dropped and what the engine dropped add up to what was sent (Linux, where /proc/net/udp is).
 *
 * The peer that never reads lives in soak.ts: it is a pair like the others, whose bytes are checked
 * the same way. Every choice comes from the soak's seeded random sequence, drawn when the action
 * starts; every wait has a deadline, so a wrong engine gives a problem line, never a hang.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Engine } from '../../src/main/engine/engine';
import { unixPathLimitBytes } from '../../src/main/engine/unix-path';
import type { Router, View } from '../../src/main/router';
import type { AnyEvent } from '../../src/shared/api';
import type { CaptureChunk, Counters, EndpointInfo } from '../../src/shared/contract';
import { PYTHON_STREAM, firstMismatch, streamBytes } from '../support/stream';

/** What the hostile peers need from the soak that runs them. */
export interface SoakContext {
  readonly engine: Engine;
  readonly router: Router;
  readonly rng: () => number;
  /** The soak's private directory (its Unix listener lives there). */
  readonly directory: string;
  readonly python: boolean;
  problem(message: string): void;
  count(what: string): void;
  /** Registers work the end of the run must wait for. */
  track<T>(promise: Promise<T>): Promise<T>;
  /** Every chunk of an endpoint's capture still kept (from its keptFrom), whole and in order. */
  readKept(id: string): Promise<{ chunks: CaptureChunk[]; total: number; keptFrom: number }>;
  /** An endpoint is about to be forgotten: its captured bytes still count in the run's total. */
  forgetting(capturedBytes: number): void;
}

const HOST = '127.0.0.1';
/** Any wait for the engine or a peer; far longer than a correct engine ever needs. */
const DEADLINE_MS = 10_000;
const TERMINAL = new Set<EndpointInfo['state']>(['closed', 'reset', 'error']);

/**
 * The limited listener: small enough that a burst of a few peers passes the connection limit, an
 * idle time short enough that many peers come and go in a few seconds, and few closed ones kept
 * so the forgetting acts too.
 */
export const LIMITED_LISTENER = { maxConnections: 3, halfClosedIdleMs: 150, keepClosed: 2 };
/** Connect-then-FIN peers alive at once, at most. */
const FIN_PEERS_AT_ONCE = 16;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` settles within `ms`; the timer is cleared either way (no stray handle). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it gives a value, or gives undefined after `timeoutMs`. */
async function until<T>(
  check: () => T | undefined,
  timeoutMs = DEADLINE_MS,
  stepMs = 2,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await sleep(stepMs);
  }
}

function portOf(info: EndpointInfo): number {
  return info.local && 'port' in info.local ? info.local.port : 0;
}

/** A timeline as one line: what happened, and who did it. */
function story(info: EndpointInfo | undefined): string {
  if (!info) return 'no longer known';
  return info.timeline.map((t) => `${t.event}${t.by ? `/${t.by}` : ''}`).join(' ');
}

// ---------------------------------------------------------------------------------------------
// Connect-then-FIN peers against a limited listener
// ---------------------------------------------------------------------------------------------

export class FinPeers {
  private listenerId: string | null = null;
  private port = 0;
  /** Peer port -> the connection the listener accepted from it (from endpoint.added). */
  private readonly acceptedByPort = new Map<number, string>();
  /**
   * The newest description the events gave of each accepted connection not yet judged: past
   * keepClosed the engine forgets a closed one, and its timeline with it.
   */
  private readonly latest = new Map<string, EndpointInfo>();
  private readonly sockets = new Set<net.Socket>();
  /** The view that "selects" connections, as a user does: the engine must not close those idle. */
  private selection: View | null = null;
  /** The feed the selection has open on each connection it shows. */
  private readonly feeds = new Map<string, number>();
  private nextFeed = 1;
  private watchChain: Promise<void> = Promise.resolve();
  private alive = 0;
  private made = 0;
  private bursts = 0;
  private refusedSeen = 0;
  private acceptedSeen = 0;
  private idleSeen = 0;
  private dueAt: number;
  private overLimitSaid = false;

  constructor(
    private readonly soak: SoakContext,
    start: number,
  ) {
    this.dueAt = start + 300;
  }

  /** Views it holds on the engine's hub (the soak counts them). */
  get views(): number {
    return this.selection ? 1 : 0;
  }

  async open(): Promise<string> {
    const result = await this.soak.router.invoke('tcp.listen', {
      host: HOST,
      port: 0,
      ...LIMITED_LISTENER,
    });
    if (!result.ok) throw new Error(`the limited listener did not open: ${result.error.message}`);
    const info = result.value as EndpointInfo;
    this.listenerId = info.id;
    this.port = portOf(info);
    this.selection = this.soak.router.openView(() => undefined);
    return info.id;
  }

  /** Takes the events about its listener's connections; true when the event was one of those. */
  onEvent(event: AnyEvent): boolean {
    if (event.event !== 'endpoint.added' && event.event !== 'endpoint.updated') return false;
    const info = event.payload;
    if (this.listenerId === null || info.parentId !== this.listenerId) return false;
    if (event.event === 'endpoint.added') {
      if (info.remote && 'port' in info.remote) this.acceptedByPort.set(info.remote.port, info.id);
      this.latest.set(info.id, info);
    } else if (this.latest.has(info.id)) this.latest.set(info.id, info);
    return true;
  }

  tick(now: number): void {
    if (this.listenerId === null) return;
    // Past the limit a connection is refused: never more than that many open at once.
    const open = this.soak.engine.info(this.listenerId).openConnections;
    if (open > LIMITED_LISTENER.maxConnections && !this.overLimitSaid) {
      this.overLimitSaid = true;
      this.soak.problem(
        `limited listener ${this.listenerId}: ${open} connections open at once, ` +
          `its limit is ${LIMITED_LISTENER.maxConnections}`,
      );
    }
    if (now < this.dueAt) return;
    const rng = this.soak.rng;
    this.dueAt = now + 400 + rng() * 1200;
    // The first burst passes the limit for sure, and its first peer (accepted, as it connects
    // first) is shown in a view: every run, however short, sees each outcome.
    const first = this.bursts === 0;
    this.bursts += 1;
    const most = LIMITED_LISTENER.maxConnections + 3;
    const size = first ? most : 1 + Math.floor(rng() * most);
    for (let i = 0; i < size && this.alive < FIN_PEERS_AT_ONCE; i++) {
      const watch = first ? i === 0 : rng() < 0.2;
      const holdMs = 300 + Math.floor(rng() * 700);
      void this.soak.track(this.peer(watch, holdMs));
    }
  }

  /**
   * One peer: connect, send FIN, say nothing more. A peer to be watched waits until the engine
   * has accepted it and a view shows it, then sends its FIN, and is unwatched after `holdMs`.
   */
  private async peer(watch: boolean, holdMs: number): Promise<void> {
    this.alive += 1;
    this.made += 1;
    const label = `connect-then-FIN peer #${this.made}${watch ? ' (shown in a view)' : ''}`;
    const socket = net.connect({ host: HOST, port: this.port, allowHalfOpen: true });
    this.sockets.add(socket);
    let received = 0;
    let closed = false;
    // The engine's FIN: a refused peer that has not sent its own yet stays open (half-open).
    let ended = false;
    socket.on('data', (data: Buffer) => (received += data.length));
    socket.on('end', () => (ended = true));
    socket.on('error', () => undefined);
    const gone = new Promise<void>((resolve) =>
      socket.once('close', () => {
        closed = true;
        resolve();
      }),
    );
    try {
      const connected = await Promise.race([
        new Promise<boolean>((resolve) => socket.once('connect', () => resolve(true))),
        gone.then(() => false),
      ]);
      if (!connected) {
        this.soak.problem(`${label}: could not connect to the limited listener`);
        return;
      }
      const port = socket.localPort as number;
      let id: string | undefined;
      if (watch) {
        // Accepted (an id), or refused at the limit (the engine's FIN first): known soon.
        const found = await until(
          () => this.acceptedByPort.get(port) ?? (ended || closed ? '' : undefined),
        );
        if (found === undefined) {
          this.soak.problem(`${label}: neither accepted nor refused ${DEADLINE_MS / 1000} s on`);
        } else if (found) {
          id = found;
          await this.setWatched(id, true);
        }
      }
      socket.end();
      if (id !== undefined) await this.holdWatched(label, id, holdMs, () => closed);
      if (!(await within(gone, DEADLINE_MS))) {
        const known = this.acceptedByPort.get(port);
        this.soak.problem(
          `${label} (${known ?? 'not accepted'}): still open ${DEADLINE_MS / 1000} s after it ` +
            `half-closed and went silent [${story(known ? this.infoOf(known) : undefined)}]`,
        );
        socket.destroy();
        await gone;
      }
      this.judge(label, port, received, id !== undefined);
    } finally {
      this.sockets.delete(socket);
      this.alive -= 1;
    }
  }

  /** While a view shows it, the engine keeps it however long it is idle; then it may go. */
  private async holdWatched(
    label: string,
    id: string,
    holdMs: number,
    isClosed: () => boolean,
  ): Promise<void> {
    await sleep(holdMs);
    const info = this.infoOf(id);
    const idleClosed = info?.timeline.some((t) => t.event === 'idle-close') ?? false;
    if (isClosed() || !info || TERMINAL.has(info.state) || idleClosed) {
      this.soak.problem(`${label} (${id}): closed while a view showed it [${story(info)}]`);
    } else if (info.state === 'half-closed-remote') {
      this.soak.count('connect-then-FIN peer kept half-closed while a view showed it');
    }
    await this.setWatched(id, false);
  }

  /**
   * Shows a connection in the selection (a feed on it) or stops showing it (its feed closed). The
   * calls go one after another, in order, as a page's messages do on its one socket.
   */
  private setWatched(id: string, on: boolean): Promise<void> {
    const view = this.selection;
    let feed = this.feeds.get(id);
    if (on && feed === undefined) {
      feed = this.nextFeed++;
      this.feeds.set(id, feed);
    } else if (!on) {
      this.feeds.delete(id);
    }
    if (feed === undefined) return this.watchChain;
    const opened = feed;
    this.watchChain = this.watchChain.then(async () => {
      if (!view) return;
      if (on) {
        const result = await this.soak.router.invoke('feed.open', { feed: opened, id }, view);
        if (!result.ok) this.soak.problem(`feed.open (selection) answered ${result.error.message}`);
      } else {
        const refused = this.soak.router.notify('feed.close', { feed: opened }, view);
        if (refused) this.soak.problem(`feed.close (selection) was refused: ${refused.message}`);
      }
    });
    return this.watchChain;
  }

  /** The peer has closed: it was refused (never accepted, nothing said) or closed idle. */
  private judge(label: string, port: number, received: number, watched: boolean): void {
    const id = this.acceptedByPort.get(port);
    this.acceptedByPort.delete(port);
    if (id === undefined) {
      // Closed by the engine right after accept(), before it made a connection of it.
      this.refusedSeen += 1;
      this.soak.count('connect-then-FIN peer refused at the connection limit');
      if (received > 0) this.soak.problem(`${label}: refused, yet it received ${received} bytes`);
      return;
    }
    this.acceptedSeen += 1;
    const info = this.infoOf(id);
    this.latest.delete(id);
    if (received > 0) this.soak.problem(`${label} (${id}): received ${received} bytes, none sent`);
    if (!info?.timeline.some((t) => t.event === 'idle-close')) {
      this.soak.problem(`${label} (${id}): closed by the engine, not as idle [${story(info)}]`);
      return;
    }
    this.idleSeen += 1;
    this.soak.count(
      watched
        ? 'connect-then-FIN peer closed idle once no view showed it'
        : 'connect-then-FIN peer closed idle',
    );
  }

  private infoOf(id: string): EndpointInfo | undefined {
    try {
      return this.soak.engine.info(id);
    } catch {
      return this.latest.get(id);
    }
  }

  /**
   * After the churn, every peer has been judged (the soak waited for them): the listener's counts
   * must be what its peers saw, and it lists no more closed connections than it keeps.
   */
  async settle(): Promise<void> {
    const id = this.listenerId;
    if (id === null) return;
    const counts = () => this.soak.engine.info(id).listenerCounts;
    // The engine counts a close on its socket's 'close' event, which can come after the peer's.
    await until(() => {
      const c = counts();
      return c && c.closed === c.accepted && c.closedIdle === this.idleSeen ? true : undefined;
    }, 2000);
    const c = counts();
    const say = (what: string) => this.soak.problem(`limited listener ${id}: ${what}`);
    if (!c) {
      say('has no listener counts');
      return;
    }
    const refused = c.refusedAtLimit + c.refusedForReserve;
    if (refused !== this.refusedSeen) {
      say(
        `counts ${refused} refused (${c.refusedAtLimit} at the limit, ${c.refusedForReserve} ` +
          `for the descriptor reserve); its peers saw ${this.refusedSeen} refused`,
      );
    }
    if (c.accepted !== this.acceptedSeen)
      say(`counts ${c.accepted} accepted; its peers saw ${this.acceptedSeen} accepted`);
    if (c.closedIdle !== this.idleSeen)
      say(`counts ${c.closedIdle} closed idle; ${this.idleSeen} timelines say idle-close`);
    if (c.closed !== c.accepted) say(`counts ${c.closed} closed of ${c.accepted} accepted`);
    const listed = this.soak.engine.list().filter((e) => e.parentId === id).length;
    if (listed > LIMITED_LISTENER.keepClosed)
      say(`lists ${listed} closed connections; it keeps ${LIMITED_LISTENER.keepClosed}`);
    if (c.forgotten !== c.accepted - listed)
      say(`counts ${c.forgotten} forgotten; ${c.accepted - listed} are no longer listed`);
    this.latest.clear();
    this.acceptedByPort.clear();
    await this.watchChain;
    this.selection?.close();
    this.selection = null;
  }

  /** After the soak itself failed: let go of everything. */
  abandon(): void {
    for (const socket of this.sockets) socket.destroy();
    this.selection?.close();
    this.selection = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Unix socket paths longer than sun_path
// ---------------------------------------------------------------------------------------------

/** In every over-long name the soak tries, so anything they leave behind is found. */
const TOO_LONG = 'too-long-';

export class LongUnixPaths {
  /** The longest path this platform takes, in bytes; null where there is no such limit. */
  private readonly limit = unixPathLimitBytes();
  /** A plain server on a name exactly `limit` bytes long: a cut-short connect would reach it. */
  private decoy: net.Server | null = null;
  private decoyPath = '';
  private decoyConnections = 0;
  private busy = false;
  private tries = 0;
  private dueAt: number;
  /** Names already said to be left on disk: each is a problem once, not at every try after. */
  private readonly leftSaid = new Set<string>();

  constructor(
    private readonly soak: SoakContext,
    start: number,
  ) {
    this.dueAt = start + 200;
  }

  async open(): Promise<void> {
    if (this.limit === null) return;
    const base = `${this.soak.directory}${path.sep}decoy-`;
    const fill = this.limit - Buffer.byteLength(base);
    if (fill < 1) return; // the temporary directory's own name is too long for any socket name
    this.decoyPath = `${base}${'d'.repeat(fill)}`;
    const server = net.createServer((socket) => {
      this.decoyConnections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.decoyPath, () => resolve());
    });
    this.decoy = server;
  }

  tick(now: number): void {
    if (this.limit === null || this.busy || now < this.dueAt) return;
    const rng = this.soak.rng;
    this.dueAt = now + 1000 + rng() * 2000;
    // A listen first, then a connect; after that, either.
    const connect = this.decoy !== null && (this.tries < 2 ? this.tries === 1 : rng() < 0.5);
    this.tries += 1;
    const extra = 1 + Math.floor(rng() * 60);
    this.busy = true;
    void this.soak.track(this.attempt(connect, extra)).finally(() => (this.busy = false));
  }

  private async attempt(connect: boolean, extra: number): Promise<void> {
    const limit = this.limit as number;
    const command = connect ? 'unix.connect' : 'unix.listen';
    let socketPath: string;
    if (connect) {
      // Its first `limit` bytes name the decoy, which a cut-short connect would reach.
      socketPath = `${this.decoyPath}-${TOO_LONG}${'x'.repeat(extra)}`;
    } else {
      const base = `${this.soak.directory}${path.sep}${TOO_LONG}`;
      socketPath = `${base}${'l'.repeat(Math.max(1, limit + extra - Buffer.byteLength(base)))}`;
    }
    const bytes = Buffer.byteLength(socketPath);
    const what = `${command} on a ${bytes}-byte path (the limit is ${limit})`;
    const result = await this.soak.router.invoke(command, { path: socketPath });
    if (result.ok) {
      this.soak.problem(`${what} succeeded`);
      await this.undo((result.value as EndpointInfo).id, connect);
    } else if (result.error.code !== 'ENAMETOOLONG') {
      this.soak.problem(`${what} answered ${result.error.code}: ${result.error.message}`);
    } else {
      this.soak.count(`${command} on an over-long path refused (ENAMETOOLONG)`);
    }
    // Nothing on disk: neither the path nor the name sun_path would have cut it to.
    const left = fs
      .readdirSync(this.soak.directory)
      .filter((name) => name.includes(TOO_LONG) && !this.leftSaid.has(name));
    for (const name of left) this.leftSaid.add(name);
    if (left.length > 0) this.soak.problem(`${what} left ${left.join(', ')} on disk`);
    const listed = this.soak.engine
      .list()
      .filter((e) =>
        [e.local, e.remote].some((a) => a && 'path' in a && a.path.includes(TOO_LONG)),
      );
    if (listed.length > 0)
      this.soak.problem(`${what} left ${listed.map((e) => e.id).join(', ')} in the session`);
  }

  /** A wrongly opened endpoint goes again, so the end of the run is not confused by it. */
  private async undo(id: string, connection: boolean): Promise<void> {
    if (connection) await this.soak.router.invoke('connection.close', { id });
    else await this.soak.router.invoke('listener.stop', { id, closeConnections: true });
    await until(() => (TERMINAL.has(this.soak.engine.info(id).state) ? true : undefined));
    this.soak.forgetting(this.soak.engine.readCapture(id, 0, 1).totalBytes);
    await this.soak.router.invoke('endpoint.forget', { id });
  }

  /** At the end: no connect ever reached the socket a cut-short name names. */
  async close(): Promise<void> {
    const decoy = this.decoy;
    if (!decoy) return;
    this.decoy = null;
    if (this.decoyConnections > 0) {
      this.soak.problem(
        `${this.decoyConnections} connects to over-long paths reached ${this.decoyPath}, ` +
          `the socket their first ${this.limit} bytes name`,
      );
    }
    await new Promise<void>((resolve) => decoy.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// UDP bursts larger than the receive buffer
// ---------------------------------------------------------------------------------------------

const PROC_UDP = '/proc/net/udp';
const SOFTNET = '/proc/net/softnet_stat';

/**
 * Sends `count` datagrams of `size` bytes as fast as it can: datagram i is i (4 bytes, big
 * endian) and then bytes [i * size + 4, (i + 1) * size) of stream `phase`.
 */
const BURST_PEER = `
import socket, sys
${PYTHON_STREAM}
port, count, size, phase = (int(a) for a in sys.argv[1:5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = 0
for i in range(count):
    s.sendto(i.to_bytes(4, 'big') + stream_slice(phase, i * size + 4, size - 4), ('127.0.0.1', port))
    sent += 1
print('sent', sent, flush=True)
`;

function datagram(phase: number, size: number, index: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  bytes.writeUInt32BE(index, 0);
  streamBytes(phase, index * size + 4, size - 4).copy(bytes, 4);
  return bytes;
}

/** The kernel's row for the IPv4 UDP socket on this loopback port, read here independently. */
function procRow(port: number): { drops: number; rxQueue: number } | undefined {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of fs.readFileSync(PROC_UDP, 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== local) continue;
    return {
      drops: Number(fields[12]),
      rxQueue: parseInt(fields[4]?.split(':')[1] ?? '0', 16),
    };
  }
  return undefined;
}

/** Packets the kernel's per-CPU input queues dropped: a loss on loopback the socket never sees. */
function softnetDrops(): number {
  if (!fs.existsSync(SOFTNET)) return 0;
  return fs
    .readFileSync(SOFTNET, 'utf8')
    .trim()
    .split('\n')
    .reduce((sum, line) => sum + parseInt(line.trim().split(/\s+/)[1] ?? '0', 16), 0);
}

export class UdpBursts {
  /** Only where the kernel says what it dropped. */
  private readonly available = process.platform === 'linux' && fs.existsSync(PROC_UDP);
  private readonly children = new Set<ChildProcess>();
  private busy = false;
  private phase = 101;
  private dueAt: number;

  constructor(
    private readonly soak: SoakContext,
    start: number,
  ) {
    this.dueAt = start + 1000;
  }

  tick(now: number): void {
    if (!this.available || this.busy || now < this.dueAt) return;
    const rng = this.soak.rng;
    this.dueAt = now + 3000 + rng() * 5000;
    // 0.25 to 3.8 MB: always more than a default receive buffer (about 208 KiB) holds.
    const count = 1000 + Math.floor(rng() * 2000);
    const size = 256 + Math.floor(rng() * 1024);
    this.phase += 7919;
    this.busy = true;
    void this.soak.track(this.burst(count, size, this.phase)).finally(() => (this.busy = false));
  }

  private async burst(count: number, size: number, phase: number): Promise<void> {
    const bound = await this.soak.router.invoke('udp.bind', { host: HOST, port: 0 });
    if (!bound.ok) {
      this.soak.problem(`udp.bind for a burst answered ${bound.error.code}`);
      return;
    }
    const info = bound.value as EndpointInfo;
    const id = info.id;
    const port = portOf(info);
    const say = (what: string) => this.soak.problem(`UDP burst of ${count} to ${id}: ${what}`);
    try {
      const softnetBefore = softnetDrops();
      const sent = this.soak.python
        ? await this.pythonBurst(port, count, size, phase)
        : await nodeBurst(port, count, size, phase);
      if (sent === null) {
        say('the sending peer failed');
        return;
      }
      // Settled: nothing unread in the kernel, the engine shows the kernel's count, and neither
      // changed between two looks (no datagram still on its way through the input queue).
      let previous = '';
      const settled = await until<Counters>(
        () => {
          const row = procRow(port);
          const c = this.soak.engine.info(id).counters;
          if (!row || row.rxQueue !== 0 || c.kernelDrops !== row.drops) {
            previous = '';
            return undefined;
          }
          const now = `${c.chunksIn}/${row.drops}/${c.datagramsDropped}`;
          if (now !== previous) {
            previous = now;
            return undefined;
          }
          return c;
        },
        DEADLINE_MS,
        20,
      );
      if (!settled) {
        const c = this.soak.engine.info(id).counters;
        say(
          `never settled: engine ${c.chunksIn} in, kernelDrops ${c.kernelDrops}; ` +
            `/proc says ${JSON.stringify(procRow(port) ?? null)}`,
        );
        return;
      }
      const otherLoss = softnetDrops() - softnetBefore;
      const { chunksIn, kernelDrops, datagramsDropped } = settled;
      const accounted = chunksIn + (kernelDrops ?? 0) + datagramsDropped;
      // On loopback nothing else loses a datagram, unless the input queues overflowed too.
      const agrees =
        otherLoss === 0 ? accounted === sent : accounted <= sent && accounted >= sent - otherLoss;
      if (!agrees) {
        say(
          `${sent} sent, ${chunksIn} received + ${kernelDrops} dropped by the kernel + ` +
            `${datagramsDropped} by the engine = ${accounted}` +
            (otherLoss > 0 ? ` (the input queues dropped ${otherLoss} packets meanwhile)` : ''),
        );
      }
      this.soak.count('UDP burst past the receive buffer');
      if ((kernelDrops ?? 0) > 0) this.soak.count('UDP burst with datagrams the kernel dropped');
      await this.checkDatagrams(id, count, size, phase, chunksIn, say);
    } finally {
      await this.release(id);
    }
  }

  /** What the engine kept of the burst is whole datagrams the peer sent, in the order sent. */
  private async checkDatagrams(
    id: string,
    count: number,
    size: number,
    phase: number,
    chunksIn: number,
    say: (what: string) => void,
  ): Promise<void> {
    const { chunks, keptFrom } = await this.soak.readKept(id);
    let last = -1;
    let kept = 0;
    for (const chunk of chunks) {
      kept += 1;
      const bytes = Buffer.from(chunk.bytes.buffer, chunk.bytes.byteOffset, chunk.bytes.length);
      const index = bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
      if (
        chunk.dir !== 'in' ||
        bytes.length !== size ||
        index <= last ||
        index >= count ||
        firstMismatch(phase, index * size + 4, bytes.subarray(4)) >= 0
      ) {
        say(`captured datagram ${kept} is not one the peer sent, whole and in order`);
        return;
      }
      last = index;
    }
    if (keptFrom === 0 ? kept !== chunksIn : kept > chunksIn)
      say(`${kept} datagrams captured from ${keptFrom}, the engine counts ${chunksIn} received`);
  }

  private async release(id: string): Promise<void> {
    const closed = await this.soak.router.invoke('udp.close', { id });
    if (!closed.ok) this.soak.problem(`udp.close ${id} answered ${closed.error.message}`);
    await until(() => (TERMINAL.has(this.soak.engine.info(id).state) ? true : undefined));
    this.soak.forgetting(this.soak.engine.readCapture(id, 0, 1).totalBytes);
    const forgotten = await this.soak.router.invoke('endpoint.forget', { id });
    if (!forgotten.ok)
      this.soak.problem(`endpoint.forget ${id} answered ${forgotten.error.message}`);
  }

  private pythonBurst(
    port: number,
    count: number,
    size: number,
    phase: number,
  ): Promise<number | null> {
    const args = [port, count, size, phase].map(String);
    const child = spawn('python3', ['-c', BURST_PEER, ...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.children.add(child);
    let out = '';
    child.stdout?.on('data', (data: Buffer) => (out += data.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
    return new Promise((resolve) =>
      child.once('close', (code) => {
        clearTimeout(timer);
        this.children.delete(child);
        const said = /sent (\d+)/.exec(out);
        resolve(code === 0 && said ? Number(said[1]) : null);
      }),
    );
  }

  abandon(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }
}

/** Without python3: the same datagrams from node:dgram, all handed to libuv at once. */
async function nodeBurst(
  port: number,
  count: number,
  size: number,
  phase: number,
): Promise<number> {
  const socket = dgram.createSocket('udp4');
  let sent = 0;
  await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<void>((resolve) =>
          socket.send(datagram(phase, size, i), port, HOST, (error) => {
            if (!error) sent += 1;
            resolve();
          }),
        ),
    ),
  );
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return sent;
}
