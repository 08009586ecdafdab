/**
 * The soak: for N seconds, peers connect to the engine and the engine to them, and both sides
 * send, half-close, reset and vanish at random (a vanishing peer is a python3 process killed with
 * SIGKILL). The engine is driven through its router, as the UI drives it, while views open,
 * open and close feeds, acknowledge and leave.
 *
 * Every connection's bytes are checked both ways against what each side did, and at the end the
 * engine's open handles, the listeners on its emitters and its capture totals must match what
 * happened. Each disagreement is a line in `problems`; an empty list is a pass.
 *
 * Hostile peers are mixed in (issue 9): a peer that never reads while the engine sends to it until
 * SEND_QUEUE_FULL (here), and connect-then-FIN peers against a limited listener, over-long Unix
 * socket paths and UDP bursts past the receive buffer (./hostile-peers.ts). With a capture limit
 * (SoakOptions.captureLimitBytes) the capture is checked as a ring instead of as a whole.
 *
 * Run by test/unit/fault-soak.test.ts (a few seconds, in CI) and by scripts/soak.ts
 * (`npm run soak -- --seconds N`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import type { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router, type View } from '../../src/main/router';
import type { AnyEvent } from '../../src/shared/api';
import { dataBytesIn } from '../support/capture';
import {
  FEEDS_PER_VIEW_MAX,
  type CaptureChunk,
  type CommandOutput,
  type EndpointInfo,
  type PayloadSpec,
} from '../../src/shared/contract';
import { FinPeers, LongUnixPaths, UdpBursts, type SoakContext } from './hostile-peers';
import { PYTHON_STREAM, firstMismatch, streamBytes } from '../support/stream';
import { activeResources, openFds, resourceDifference } from '../support/system';

export interface SoakOptions {
  seconds: number;
  seed?: number;
  /** Peers and engine together write about this many bytes a second, at most. */
  bytesPerSecond?: number;
  /** Connections open at once, at most. */
  maxConnections?: number;
  /**
   * The capture limit. Unset or null: unlimited, and the capture folder must hold every byte
   * captured. A number of bytes: the folder must stay under it (give or take the two segments
   * the ring may be over for a moment), and each endpoint's kept bytes must read back exactly.
   */
  captureLimitBytes?: number | null;
  log?: (line: string) => void;
}

export interface SoakReport {
  seed: number;
  seconds: number;
  connections: number;
  /** How often each thing happened: peer resets, engine half-closes, vanished peers... */
  happened: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
  datagramsIn: number;
  datagramsOut: number;
  capture: {
    limitBytes: number | null;
    /** The largest the session folder was seen, sampled while the soak ran (with a limit only). */
    peakFolderBytes: number;
    /** Bytes the limit deleted. */
    deletedBytes: number;
  };
  problems: string[];
}

const TERMINAL = new Set<EndpointInfo['state']>(['closed', 'reset', 'error']);
/** Refusals the engine may answer a random action with: they are correct, not problems. */
const EXPECTED_REFUSALS = new Set(['NOT_WRITABLE', 'NOT_OPEN']);
const PAGE = 4 * 1024 * 1024;
/**
 * The send queue limit of every connection: small, so the peer that never reads reaches it after
 * a few MiB. The random sends never pass it (a user who sees the queue waits too), so a
 * SEND_QUEUE_FULL is expected from the peer that never reads only.
 */
const SEND_QUEUE_LIMIT = 1024 * 1024;
/** What the engine sends at a time to the peer that never reads, and in all at most. */
const STALL_SEND = 256 * 1024;
const STALL_MAX_BYTES = 64 * 1024 * 1024;
/** How far over its limit the capture folder may be for a moment: two segments and session.json. */
const RING_SLACK = (limit: number) => limit / 8 + 8 * 1024;

/** mulberry32: small, fast, and the same sequence for the same seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pair {
  label: string;
  /** The engine's end, once known. */
  id: string | null;
  /** The peer's end: a socket in this process, or a python3 process. */
  socket: net.Socket | null;
  child: ChildProcess | null;
  /** Phases of the peer->engine and engine->peer streams. */
  up: number;
  down: number;
  /** Bytes the peer wrote; for a python3 peer, what it had reported when it died (at least). */
  peerSent: number;
  peerSentExact: boolean;
  /**
   * Every byte of peerSent reached the peer's kernel before it closed ('finish' after end(), or
   * nothing pending at destroy()): a FIN then comes after all of them. Bytes still queued in a
   * socket that is destroyed are dropped, as they are in any program.
   */
  peerFlushed: boolean;
  /** A python3 peer's local port, once it has said so. */
  port: number | null;
  peerReceived: number;
  peerSawEnd: boolean;
  peerWriteDone: boolean;
  peerClosed: boolean;
  engineSent: number;
  /** One send at a time, so a refused one cannot leave a hole in the stream. */
  sending: boolean;
}

/** The engine's private parts the end-of-run checks look at (emitters and their listeners). */
interface Internals {
  endpoints: Map<string, { socket?: EventEmitter; server?: EventEmitter }>;
  hub: { viewCount: number };
  folder: { data: { persistedListeners: Set<unknown> } };
  memory: { pressureListeners: Set<unknown> };
}

const VANISHING_PEER = `
import socket, sys, time
${PYTHON_STREAM}
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
phase = int(sys.argv[2])
print('port', s.getsockname()[1], flush=True)
sent = 0
while True:
    sent += s.send(stream_slice(phase, sent, 4096))
    print('sent', sent, flush=True)
    time.sleep(0.001)
`;

/**
 * Connects with a small receive buffer and never reads: the engine's send queue fills once the
 * kernel's buffers have. It leaves when killed, or when the soak's process ends (stdin closes).
 */
const NON_READING_PEER = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', int(sys.argv[1])))
print('port', s.getsockname()[1], flush=True)
sys.stdin.read()
`;

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const soak = new Soak(options);
  return soak.run();
}

class Soak {
  private readonly rng: () => number;
  private readonly seed: number;
  private readonly problems: string[] = [];
  private readonly happened: Record<string, number> = {};
  private readonly pairs = new Set<Pair>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly acceptedByPort = new Map<number, string>();
  private readonly unclaimedUnix: string[] = [];
  private readonly remoteByPort = new Map<number, net.Socket>();
  /** The random views, each with the feed it has open on each endpoint it shows. */
  private readonly views: Array<{ view: View; feeds: Map<string, number>; nextFeed: number }> = [];
  private readonly firstListenerCounts = new Map<string, Record<string, number>>();
  private readonly log: (line: string) => void;
  private readonly python = hasPython();
  private engine!: Engine;
  private router!: Router;
  private listeners!: {
    tcp4: number;
    tcp6: number | null;
    unix: string;
    unixId: string;
    ids: string[];
  };
  private remote!: net.Server;
  private udp!: { id: string; peer: dgram.Socket; port: number };
  private readonly udpUp: Array<[number, number]> = [];
  private udpUpBytes = 0;
  private readonly udpDown: Array<[number, number]> = [];
  private udpDownBytes = 0;
  private udpPeerMatched = 0;
  private directory!: string;
  private unixBusy = false;
  /** Set when the run winds down: peers let go of then are not failures. */
  private windingDown = false;
  private budget = 0;
  private captured = 0;
  private connections = 0;
  private nextPhase = 1;
  private bytesIn = 0;
  private bytesOut = 0;
  private readonly captureLimit: number | null;
  private peakFolderBytes = 0;
  private lastFolderSample = 0;
  // Made once the engine's listeners are open (setUp); events come before that.
  private finPeers: FinPeers | null = null;
  private longPaths: LongUnixPaths | null = null;
  private udpBursts: UdpBursts | null = null;
  /** The peer that never reads: one at a time, the next one due at this time. */
  private stallDueAt = 0;
  private stalling = false;
  private readonly stalledPeers = new Set<{ kill(): void }>();

  constructor(private readonly options: SoakOptions) {
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.rng = random(this.seed);
    this.log = options.log ?? (() => undefined);
    this.captureLimit = options.captureLimitBytes ?? null;
  }

  private count(what: string): void {
    this.happened[what] = (this.happened[what] ?? 0) + 1;
  }

  private problem(message: string): void {
    if (this.problems.length < 200) this.problems.push(message);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rng() * items.length)] as T;
  }

  /** A write size: mostly small, sometimes 64 KiB, rarely 1 MiB, within the byte budget. */
  private size(): number {
    const r = this.rng();
    const n =
      r < 0.8
        ? 1 + Math.floor(this.rng() * 4096)
        : r < 0.99
          ? 1 + Math.floor(this.rng() * 65536)
          : 1 + Math.floor(this.rng() * 1048576);
    if (n > this.budget) return 0;
    this.budget -= n;
    return n;
  }

  /** Tracks a router call so the end of the run can wait for every one in flight. */
  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
    return promise;
  }

  async run(): Promise<SoakReport> {
    const baselineResources = activeResources();
    const baselineFds = openFds();
    this.directory = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-soak-'));
    // Unlimited (the default): the soak checks that the folder holds every byte its endpoints
    // captured. Limited: that it stays under the limit and keeps every newer byte exact.
    this.engine = new Engine({
      captureMemoryBytes: 2 * 1024 * 1024,
      capture: { limitBytes: this.captureLimit },
      sendQueueLimitBytes: SEND_QUEUE_LIMIT,
    });
    this.router = createRouter(this.engine);
    const events = this.router.openView((event) => this.onEvent(event));
    try {
      await this.setUp();
      this.log(`soak: seed ${this.seed}, ${this.options.seconds} s`);
      await this.churn();
      this.log('soak: winding down');
      await this.wind(events);
      await this.expectReleased(baselineResources, baselineFds);
    } catch (error) {
      this.problem(`the soak itself failed: ${error instanceof Error ? error.stack : error}`);
      await this.abandon();
    } finally {
      fs.rmSync(this.directory, { recursive: true, force: true });
    }
    return {
      seed: this.seed,
      seconds: this.options.seconds,
      connections: this.connections,
      happened: this.happened,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      datagramsIn: this.udpUp.length,
      datagramsOut: this.udpDown.length,
      capture: {
        limitBytes: this.captureLimit,
        peakFolderBytes: this.peakFolderBytes,
        deletedBytes: this.engine.status().capture.deletedBytes,
      },
      problems: this.problems,
    };
  }

  /** The random part: until the deadline, every pair and the UDP socket act every few ms. */
  private async churn(): Promise<void> {
    const rate = this.options.bytesPerSecond ?? 8 * 1024 * 1024;
    const deadline = Date.now() + this.options.seconds * 1000;
    let lastMaintenance = Date.now();
    let lastRefill = Date.now();
    let lastReport = Date.now();
    while (Date.now() < deadline) {
      const now = Date.now();
      this.budget = Math.min(rate, this.budget + ((now - lastRefill) / 1000) * rate);
      lastRefill = now;
      this.tick();
      if (this.captureLimit !== null && now - this.lastFolderSample >= 10) {
        this.lastFolderSample = now;
        this.sampleFolder();
      }
      if (now - lastMaintenance > 250) {
        lastMaintenance = now;
        await this.maintain();
      }
      if (now - lastReport > 5000) {
        lastReport = now;
        this.log(
          `soak: ${this.connections} connections, ${this.pairs.size} open, ` +
            `${(this.bytesIn / 1048576).toFixed(1)} MiB in, ${this.problems.length} problems`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /** After the soak itself failed: let go of everything, checking nothing. */
  private async abandon(): Promise<void> {
    for (const pair of this.pairs) {
      pair.child?.kill('SIGKILL');
      pair.socket?.destroy();
    }
    for (const socket of this.remoteByPort.values()) socket.destroy();
    for (const peer of this.stalledPeers) peer.kill();
    this.finPeers?.abandon();
    this.udpBursts?.abandon();
    await this.longPaths?.close().catch(() => undefined);
    await this.engine.dispose().catch(() => undefined);
    this.remote?.close();
    try {
      this.udp?.peer.close();
    } catch {
      // Already closed by the part of the run that did finish.
    }
  }

  private async setUp(): Promise<void> {
    const listen = async (host: string) => {
      const result = await this.router.invoke('tcp.listen', { host, port: 0 });
      return result.ok ? (result.value as EndpointInfo) : null;
    };
    const tcp4 = await listen('127.0.0.1');
    const tcp6 = await listen('::1');
    const unixPath = path.join(this.directory, 'engine.sock');
    const unix = await this.router.invoke('unix.listen', { path: unixPath });
    if (!tcp4 || !unix.ok) throw new Error('the soak could not open its listeners');
    const portOf = (info: EndpointInfo) =>
      info.local && 'port' in info.local ? info.local.port : 0;
    const unixId = (unix.value as EndpointInfo).id;
    this.listeners = {
      tcp4: portOf(tcp4),
      tcp6: tcp6 ? portOf(tcp6) : null,
      unix: unixPath,
      unixId,
      ids: [tcp4.id, ...(tcp6 ? [tcp6.id] : []), unixId],
    };

    // The hostile peers, each kind first due early in the run so that a short run sees them all.
    const context: SoakContext = {
      engine: this.engine,
      router: this.router,
      rng: this.rng,
      directory: this.directory,
      python: this.python,
      problem: (message) => this.problem(message),
      count: (what) => this.count(what),
      track: (promise) => this.track(promise),
      readKept: (id) => this.readKept(id),
      forgetting: (bytes) => (this.captured += bytes),
    };
    const start = Date.now();
    const finPeers = new FinPeers(context, start);
    this.listeners.ids.push(await finPeers.open());
    this.finPeers = finPeers;
    const longPaths = new LongUnixPaths(context, start);
    await longPaths.open();
    this.longPaths = longPaths;
    this.udpBursts = new UdpBursts(context, start);
    this.stallDueAt = start + 500;

    // The peers the engine itself connects to.
    this.remote = net.createServer({ allowHalfOpen: true }, (socket) => {
      this.remoteByPort.set(socket.remotePort as number, socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => this.remote.listen(0, '127.0.0.1', resolve));

    const bound = await this.router.invoke('udp.bind', { host: '127.0.0.1', port: 0 });
    if (!bound.ok) throw new Error('the soak could not bind UDP');
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
    const info = bound.value as EndpointInfo;
    this.udp = { id: info.id, peer, port: portOf(info) };
    peer.on('message', (message) => this.onDatagram(message));
  }

  private onEvent(event: AnyEvent): void {
    if (this.finPeers?.onEvent(event)) return;
    if (event.event !== 'endpoint.added' || event.payload.role !== 'accepted') return;
    const info = event.payload;
    if (info.parentId === this.listeners.unixId) this.unclaimedUnix.push(info.id);
    else if (info.remote && 'port' in info.remote) {
      this.acceptedByPort.set(info.remote.port, info.id);
    }
    // Otherwise the client reset before the engine could ask the kernel who it was
    // (getpeername fails on a reset socket): that connection cannot be told apart.
  }

  // -------------------------------------------------------------------------------------------
  // Random actions
  // -------------------------------------------------------------------------------------------

  private tick(): void {
    const max = this.options.maxConnections ?? 24;
    if (this.pairs.size < max && this.rng() < 0.3) this.open();
    // The hostile peers come on their own schedule, whatever the ordinary pairs do.
    const now = Date.now();
    this.finPeers?.tick(now);
    this.longPaths?.tick(now);
    this.udpBursts?.tick(now);
    if (!this.stalling && now >= this.stallDueAt) {
      this.stallDueAt = now + 2000 + this.rng() * 4000;
      this.stalling = true;
      void this.track(this.stall()).finally(() => (this.stalling = false));
    }
    for (const pair of this.pairs) {
      if (pair.id === null) this.claim(pair);
      if (pair.socket) this.peerActs(pair);
      if (pair.id !== null) this.engineActs(pair);
    }
    this.udpActs();
  }

  private newPair(label: string): Pair {
    this.connections += 1;
    const pair: Pair = {
      label: `${label} #${this.connections}`,
      id: null,
      socket: null,
      child: null,
      up: (this.nextPhase++ * 7919) % 1_000_003,
      down: (this.nextPhase++ * 7919) % 1_000_003,
      peerSent: 0,
      peerSentExact: true,
      peerFlushed: false,
      port: null,
      peerReceived: 0,
      peerSawEnd: false,
      peerWriteDone: false,
      peerClosed: false,
      engineSent: 0,
      sending: false,
    };
    this.pairs.add(pair);
    return pair;
  }

  private open(): void {
    const r = this.rng();
    if (r < 0.45) this.openInbound('127.0.0.1', this.listeners.tcp4);
    else if (r < 0.55 && this.listeners.tcp6 !== null) this.openInbound('::1', this.listeners.tcp6);
    else if (r < 0.7 && !this.unixBusy) this.openInbound(null, 0);
    else if (r < 0.95) this.openOutbound();
    else if (this.python && this.rng() < 0.5) this.openVanishing();
  }

  private openInbound(host: string | null, port: number): void {
    const pair = this.newPair(host === null ? 'unix client' : `tcp client of ${host}`);
    const socket =
      host === null
        ? net.connect({ path: this.listeners.unix, allowHalfOpen: true })
        : net.connect({ host, port, allowHalfOpen: true });
    if (host === null) this.unixBusy = true;
    this.attachPeer(pair, socket);
    let connected = false;
    let failure = 'closed';
    socket.once('error', (error: NodeJS.ErrnoException) => (failure = error.code ?? error.message));
    socket.once('connect', () => {
      connected = true;
      if (host === null) this.claimUnix(pair);
    });
    socket.once('close', () => {
      if (connected) return;
      if (this.windingDown && failure === 'closed') {
        // Still connecting (its SYN not yet answered) when the wind-down let go of every peer.
        this.count('peer still connecting at the end, let go');
        this.pairs.delete(pair);
        if (host === null) this.unixBusy = false;
        return;
      }
      this.problem(`${pair.label}: could not connect to the engine (${failure})`);
      this.pairs.delete(pair);
      if (host === null) this.unixBusy = false;
    });
  }

  /** Unix clients are unnamed: with one connect at a time, the next accepted one is ours. */
  private claimUnix(pair: Pair): void {
    const id = this.unclaimedUnix.shift();
    if (id === undefined) {
      setTimeout(() => this.claimUnix(pair), 1);
      return;
    }
    pair.id = id;
    this.unixBusy = false;
  }

  private claim(pair: Pair): void {
    // A peer that is not a socket here (a python3 process) has said its port.
    const port = pair.port ?? pair.socket?.localPort;
    if ((pair.port !== null || pair.label.startsWith('tcp client')) && typeof port === 'number') {
      const id = this.acceptedByPort.get(port);
      if (id !== undefined) {
        this.acceptedByPort.delete(port);
        pair.id = id;
      }
    }
  }

  private openOutbound(): void {
    const pair = this.newPair('tcp server');
    pair.peerWriteDone = true; // until the socket is known
    void this.track(
      this.router.invoke('tcp.connect', {
        host: '127.0.0.1',
        port: (this.remote.address() as net.AddressInfo).port,
        noDelay: this.rng() < 0.5,
        keepAlive: this.rng() < 0.5,
      }),
    ).then(async (result) => {
      if (!result.ok) {
        this.problem(`${pair.label}: tcp.connect failed: ${result.error.message}`);
        this.pairs.delete(pair);
        return;
      }
      const info = result.value as EndpointInfo;
      const port = info.local && 'port' in info.local ? info.local.port : 0;
      for (let i = 0; i < 1000 && !this.remoteByPort.has(port); i++) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const socket = this.remoteByPort.get(port);
      this.remoteByPort.delete(port);
      if (!socket) {
        this.problem(`${pair.label}: the server never saw ${info.id} connect`);
        this.pairs.delete(pair);
        return;
      }
      pair.id = info.id;
      pair.peerWriteDone = false;
      this.attachPeer(pair, socket);
    });
  }

  private openVanishing(): void {
    const pair = this.newPair('python3 peer killed with SIGKILL');
    pair.peerSentExact = false;
    pair.peerWriteDone = true;
    const child = spawn(
      'python3',
      ['-c', VANISHING_PEER, String(this.listeners.tcp4), String(pair.up)],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    pair.child = child;
    onStdoutWords(child, (word, value) => {
      if (word === 'port') {
        pair.port = Number(value);
        // It writes as fast as it can until it is killed, some time soon.
        setTimeout(() => child.kill('SIGKILL'), 100 + Math.floor(this.rng() * 500));
      } else if (word === 'sent') pair.peerSent = Number(value);
    });
    child.once('close', () => {
      pair.peerClosed = true;
      this.count('peer vanished (SIGKILL)');
    });
  }

  /**
   * A peer that never reads: the engine sends to it until the send queue limit refuses, and the
   * refusal must come only once the queue plus the send would pass the limit, with the queue
   * never over it. Then the engine closes it, and its bytes are checked like any pair's. Its own
   * task drives it from start to end, so the random actions leave it alone.
   */
  private async stall(): Promise<void> {
    const pair = this.newPair(`${this.python ? 'python3 ' : ''}peer that never reads`);
    this.pairs.delete(pair);
    pair.peerWriteDone = true;
    const peer = this.python ? this.startNonReadingPython(pair) : this.startNonReadingSocket(pair);
    this.stalledPeers.add(peer);
    try {
      const deadline = Date.now() + 10_000;
      while (pair.id === null && !pair.peerClosed && Date.now() < deadline) {
        this.claim(pair);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      if (pair.id === null) {
        this.problem(`${pair.label}: never accepted by the engine (port ${pair.port})`);
        return;
      }
      const id = pair.id;
      const say = (what: string) => this.problem(`${pair.label} (${id}): ${what}`);
      for (;;) {
        const data = streamBytes(pair.down, pair.engineSent, STALL_SEND).toString('base64');
        const result = await this.router.invoke('connection.send', {
          id,
          payload: { format: 'base64', data },
        });
        if (result.ok) pair.engineSent += STALL_SEND;
        const queued = this.engine.info(id).counters.bytesQueued;
        if (queued > SEND_QUEUE_LIMIT) {
          // Said once: an engine without the limit would say it for every send.
          say(`${queued} bytes queued, over the ${SEND_QUEUE_LIMIT}-byte send queue limit`);
          break;
        }
        if (result.ok) {
          if (pair.engineSent >= STALL_MAX_BYTES) {
            say(`${pair.engineSent} bytes sent to a peer that never reads, and none refused`);
            break;
          }
          // Other work goes on between sends, as it would between a user's clicks.
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        if (result.error.code !== 'SEND_QUEUE_FULL') {
          say(`connection.send answered ${result.error.code}: ${result.error.message}`);
          break;
        }
        // Refused: rightly only if what is queued plus this send would pass the limit.
        const said = /([\d,]+) bytes already queued/.exec(result.error.message)?.[1];
        const before = said === undefined ? NaN : Number(said.replace(/,/g, ''));
        if (!(before + STALL_SEND > SEND_QUEUE_LIMIT && before <= SEND_QUEUE_LIMIT)) {
          say(
            `SEND_QUEUE_FULL for ${STALL_SEND} more bytes with ${before} queued, the limit ` +
              `being ${SEND_QUEUE_LIMIT}: ${result.error.message}`,
          );
        }
        this.count('engine send refused: the peer does not read (SEND_QUEUE_FULL)');
        break;
      }
      const closed = await this.router.invoke('connection.close', { id });
      if (!closed.ok) say(`connection.close answered ${closed.error.message}`);
      peer.kill();
      const settleBy = Date.now() + 10_000;
      while (!this.isSettled(pair) && Date.now() < settleBy) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      if (this.isSettled(pair)) await this.verify(pair);
      else say(`never settled: ${this.engine.info(id).state}, peer closed=${pair.peerClosed}`);
    } finally {
      peer.kill();
      this.stalledPeers.delete(peer);
    }
  }

  private startNonReadingPython(pair: Pair): { kill(): void } {
    const child = spawn('python3', ['-c', NON_READING_PEER, String(this.listeners.tcp4)], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    onStdoutWords(child, (word, value) => {
      if (word === 'port') pair.port = Number(value);
    });
    child.stdin?.on('error', () => undefined);
    child.once('close', () => (pair.peerClosed = true));
    return { kill: () => child.kill('SIGKILL') };
  }

  /** Without python3: a node:net socket paused before it connects, so it never reads. */
  private startNonReadingSocket(pair: Pair): { kill(): void } {
    const socket = net.connect({ host: '127.0.0.1', port: this.listeners.tcp4 });
    socket.pause();
    socket.on('error', () => undefined);
    socket.once('connect', () => (pair.port = socket.localPort ?? null));
    socket.once('close', () => (pair.peerClosed = true));
    return { kill: () => socket.destroy() };
  }

  private attachPeer(pair: Pair, socket: net.Socket): void {
    pair.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      const bad = firstMismatch(pair.down, pair.peerReceived, chunk);
      if (bad >= 0)
        this.problem(`${pair.label}: the peer received a wrong byte at ${pair.peerReceived + bad}`);
      pair.peerReceived += chunk.length;
    });
    socket.on('end', () => (pair.peerSawEnd = true));
    socket.on('finish', () => (pair.peerFlushed = true));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      pair.peerClosed = true;
      pair.peerWriteDone = true;
    });
  }

  private peerActs(pair: Pair): void {
    const socket = pair.socket as net.Socket;
    if (pair.peerClosed || socket.connecting) return;
    const engineDone = pair.id !== null && TERMINAL.has(this.engine.info(pair.id).state);
    const r = this.rng();
    if (engineDone || pair.peerSawEnd) {
      // The other side is gone or going: leave soon, one way or another.
      if (r < 0.1) {
        this.destroyPeer(pair, socket);
        this.count('peer closed after the engine');
      }
      return;
    }
    if (r < 0.5 && !pair.peerWriteDone) {
      const n = this.size();
      if (n > 0 && socket.writable) {
        socket.write(streamBytes(pair.up, pair.peerSent, n));
        pair.peerSent += n;
      }
    } else if (r < 0.51 && !pair.peerWriteDone) {
      socket.end();
      pair.peerWriteDone = true;
      this.count('peer half-closed');
    } else if (r < 0.515 && !pair.label.startsWith('unix') && !isShuttingDown(socket)) {
      socket.resetAndDestroy();
      pair.peerWriteDone = true;
      this.count('peer reset');
    } else if (r < 0.52) {
      this.destroyPeer(pair, socket);
      pair.peerWriteDone = true;
      this.count('peer closed');
    } else if (r < 0.53) {
      socket.pause();
    } else if (r < 0.6) {
      socket.resume();
    }
  }

  private destroyPeer(pair: Pair, socket: net.Socket): void {
    if (socket.writableLength === 0 && !socket.destroyed) pair.peerFlushed = true;
    socket.destroy();
  }

  private engineActs(pair: Pair): void {
    const id = pair.id as string;
    const state = this.engine.info(id).state;
    if (TERMINAL.has(state)) return;
    const r = this.rng();
    if (state === 'half-closed-remote' && r < 0.03) {
      this.act(pair, 'connection.close', { id }, 'engine closed after the peer');
    } else if (r < 0.3 && !pair.sending) {
      const n = Math.min(this.size(), 256 * 1024);
      if (n > 0) this.engineSends(pair, n);
    } else if (r < 0.305) {
      this.act(pair, 'connection.halfClose', { id }, 'engine half-closed');
    } else if (r < 0.308) {
      this.act(pair, 'connection.close', { id }, 'engine closed');
    } else if (r < 0.311) {
      this.act(pair, 'connection.reset', { id }, 'engine reset');
    } else if (r < 0.33) {
      this.act(pair, 'connection.pauseReading', { id }, 'engine paused reading');
    } else if (r < 0.4) {
      this.act(pair, 'connection.resumeReading', { id }, 'engine resumed reading');
    } else if (r < 0.41 && !pair.label.startsWith('unix')) {
      // TCP_NODELAY and SO_KEEPALIVE are TCP options; a Unix connection refuses them.
      this.act(
        pair,
        'connection.setOptions',
        { id, noDelay: this.rng() < 0.5, keepAlive: this.rng() < 0.5 },
        'engine set options',
      );
    }
  }

  private act(
    pair: Pair,
    command:
      | 'connection.halfClose'
      | 'connection.close'
      | 'connection.reset'
      | 'connection.pauseReading'
      | 'connection.resumeReading'
      | 'connection.setOptions',
    input: { id: string; noDelay?: boolean; keepAlive?: boolean },
    what: string,
  ): void {
    const unix = pair.label.startsWith('unix');
    void this.track(this.router.invoke(command, input)).then((result) => {
      if (result.ok) this.count(what);
      else if (
        unix &&
        command === 'connection.reset' &&
        result.error.code === 'WRONG_ENDPOINT_KIND'
      ) {
        this.count('engine refused to reset a Unix-domain connection');
      } else if (!EXPECTED_REFUSALS.has(result.error.code)) {
        this.problem(
          `${pair.label}: ${command} answered ${result.error.code}: ${result.error.message}`,
        );
      }
    });
  }

  /** The engine sends the next `n` bytes of its stream, written the way a user would type them. */
  private engineSends(pair: Pair, n: number): void {
    // Like a user who sees the queue, wait rather than pass the limit: then the engine must take
    // every send (its rule: refuse only a send that a non-empty queue would take past the limit).
    // Only this pair's one send in flight adds to its queue, so the queue can only shrink meanwhile.
    const queued = this.engine.info(pair.id as string).counters.bytesQueued;
    if (queued > 0 && queued + n > SEND_QUEUE_LIMIT) {
      this.count('engine waited: the send queue was near its limit');
      return;
    }
    const offset = pair.engineSent;
    const bytes = streamBytes(pair.down, offset, n);
    const format = this.pick(['hex', 'base64', 'text'] as const);
    const payload: PayloadSpec =
      format === 'hex'
        ? { format, data: bytes.toString('hex') }
        : format === 'base64'
          ? { format, data: bytes.toString('base64') }
          : { format, data: escapeBytes(bytes), encoding: 'latin1' };
    pair.sending = true;
    void this.track(this.router.invoke('connection.send', { id: pair.id as string, payload })).then(
      (result) => {
        pair.sending = false;
        if (result.ok) {
          pair.engineSent = offset + n;
          if ((result.value as { bytes: number }).bytes !== n) {
            this.problem(
              `${pair.label}: sent ${n} bytes, the engine says ${JSON.stringify(result.value)}`,
            );
          }
          return;
        }
        if (!EXPECTED_REFUSALS.has(result.error.code)) {
          this.problem(
            `${pair.label}: connection.send answered ${result.error.code}: ${result.error.message}`,
          );
        }
      },
    );
  }

  private udpActs(): void {
    const r = this.rng();
    if (r < 0.2) {
      const n = 1 + Math.floor(this.rng() * 1400);
      this.udp.peer.send(streamBytes(11, this.udpUpBytes, n), this.udp.port, '127.0.0.1');
      this.udpUp.push([this.udpUpBytes, n]);
      this.udpUpBytes += n;
    } else if (r < 0.4) {
      const n = 1 + Math.floor(this.rng() * 1400);
      const offset = this.udpDownBytes;
      this.udpDownBytes += n;
      this.udpDown.push([offset, n]);
      const data = streamBytes(13, offset, n).toString('base64');
      void this.track(
        this.router.invoke('udp.send', {
          id: this.udp.id,
          host: '127.0.0.1',
          port: (this.udp.peer.address() as net.AddressInfo).port,
          payload: { format: 'base64', data },
        }),
      ).then((result) => {
        if (!result.ok)
          this.problem(`udp.send answered ${result.error.code}: ${result.error.message}`);
      });
    }
  }

  /** A datagram the engine sent: the next one it was asked to send, or a later one (loss). */
  private onDatagram(message: Buffer): void {
    while (this.udpPeerMatched < this.udpDown.length) {
      const [offset, n] = this.udpDown[this.udpPeerMatched++] as [number, number];
      if (n === message.length && firstMismatch(13, offset, message) < 0) return;
    }
    this.problem(`the UDP peer received a datagram the engine was never asked to send`);
  }

  // -------------------------------------------------------------------------------------------
  // Checks
  // -------------------------------------------------------------------------------------------

  /** Every quarter second: settle finished pairs, check emitters, churn the views. */
  private async maintain(): Promise<void> {
    for (const pair of this.pairs) {
      if (!this.isSettled(pair)) continue;
      await this.verify(pair);
    }
    // No send here is larger than the limit, so no queue may ever be longer than it.
    for (const info of this.engine.list()) {
      if (info.counters.bytesQueued > SEND_QUEUE_LIMIT) {
        this.problem(
          `${info.id}: ${info.counters.bytesQueued} bytes queued, over the ` +
            `${SEND_QUEUE_LIMIT}-byte send queue limit`,
        );
      }
    }
    this.checkEmitters();
    await this.churnViews();
  }

  /** The session folder's size now; a segment the ring deletes meanwhile counts as gone. */
  private sampleFolder(): void {
    const folder = this.engine.status().capture.folder;
    let bytes = 0;
    for (const name of fs.readdirSync(folder)) {
      try {
        bytes += fs.statSync(path.join(folder, name)).size;
      } catch {
        // Deleted between the listing and the stat.
      }
    }
    this.peakFolderBytes = Math.max(this.peakFolderBytes, bytes);
  }

  private isSettled(pair: Pair): boolean {
    if (pair.id === null || !pair.peerClosed) return false;
    return TERMINAL.has(this.engine.info(pair.id).state);
  }

  /**
   * Every chunk of an endpoint's capture still kept, read through the router a page at a time
   * from where the kept bytes begin (0 without a limit). A chunk that straddles two pages is
   * joined again. Should the ring delete more while it is read, the read starts again there.
   */
  private async readKept(
    id: string,
  ): Promise<{ chunks: CaptureChunk[]; total: number; keptFrom: number }> {
    let from = this.engine.info(id).captureKeptFrom;
    for (let attempt = 0; attempt < 10; attempt++) {
      const chunks: CaptureChunk[] = [];
      let total = Infinity;
      let moved = false;
      for (let offset = from; offset < total; offset += PAGE) {
        const result = await this.router.invoke('capture.read', { id, offset, length: PAGE });
        if (!result.ok) throw new Error(`capture.read ${id}: ${result.error.message}`);
        const value = result.value as CommandOutput<'capture.read'>;
        total = value.totalBytes;
        if (value.keptFrom > offset) {
          from = value.keptFrom;
          moved = true;
          break;
        }
        for (const chunk of value.chunks) {
          const last = chunks.at(-1);
          if (last && last.seq === chunk.seq && last.offset + last.bytes.length === chunk.offset) {
            chunks[chunks.length - 1] = {
              ...last,
              bytes: Buffer.concat([last.bytes, chunk.bytes]),
            };
          } else chunks.push(chunk);
        }
      }
      if (!moved) return { chunks, total: total === Infinity ? from : total, keptFrom: from };
    }
    throw new Error(`the capture of ${id} kept being deleted while it was read`);
  }

  private async verify(pair: Pair): Promise<void> {
    this.pairs.delete(pair);
    const id = pair.id as string;
    const info = this.engine.info(id);
    const { chunks, total, keptFrom } = await this.readKept(id);
    const c = info.counters;
    const say = (what: string) => this.problem(`${pair.label} (${id}, ${info.state}): ${what}`);
    let keptIn = 0;
    let keptOut = 0;
    for (const chunk of chunks) {
      if (chunk.dir === 'in') keptIn += chunk.bytes.length;
      else keptOut += chunk.bytes.length;
    }
    // The ring deletes whole chunks, oldest first: what is kept of each direction is its end, so
    // its first kept byte is that far into what the side sent. Without the ring, all of it is kept.
    const ring = keptFrom > 0;
    if (ring && this.captureLimit === null) say(`capture kept from ${keptFrom}, with no limit`);
    if (ring) this.count('connection checked after the capture limit deleted its oldest bytes');
    const base = { in: ring ? c.bytesIn - keptIn : 0, out: ring ? c.bytesOut - keptOut : 0 };
    if (base.in < 0 || base.out < 0)
      say(`capture keeps ${keptIn} in/${keptOut} out, counters say ${c.bytesIn}/${c.bytesOut}`);
    const seen = { in: 0, out: 0 };
    let expected = keptFrom;
    for (const chunk of chunks) {
      if (chunk.offset !== expected) {
        say(`the kept capture jumps from offset ${expected} to ${chunk.offset}`);
        break;
      }
      expected += chunk.bytes.length;
      const dir = chunk.dir;
      const at = base[dir] + seen[dir];
      const bad = firstMismatch(dir === 'in' ? pair.up : pair.down, at, chunk.bytes);
      if (bad >= 0) {
        say(`captured ${dir} byte ${at + bad} differs from what was sent`);
        break;
      }
      seen[dir] += chunk.bytes.length;
    }
    // Without the ring, the capture is the whole story and the counters must say the same; with
    // it, the counters tell how much there was, and the kept part must run up to the end.
    const inBytes = ring ? c.bytesIn : keptIn;
    const outBytes = ring ? c.bytesOut : keptOut;
    if (keptFrom + keptIn + keptOut !== total)
      say(`capture keeps ${keptIn + keptOut} bytes from ${keptFrom} of ${total}`);
    const inChunks = chunks.filter((chunk) => chunk.dir === 'in').length;
    const outChunks = chunks.length - inChunks;
    if (!ring && (c.bytesIn !== inBytes || c.chunksIn !== inChunks))
      say(`counters in ${c.bytesIn}/${c.chunksIn}, capture ${inBytes}/${inChunks}`);
    if (!ring && (c.bytesOut !== outBytes || c.chunksOut !== outChunks))
      say(`counters out ${c.bytesOut}/${c.chunksOut}, capture ${outBytes}/${outChunks}`);
    if (ring && (c.bytesIn + c.bytesOut !== total || c.chunksIn + c.chunksOut < chunks.length))
      say(
        `counters ${c.bytesIn + c.bytesOut} bytes/${c.chunksIn + c.chunksOut} chunks, capture ${total}`,
      );
    // What the engine received is what the peer sent: all of it once the peer's FIN arrived.
    // libuv reports a reset that comes with the last bytes as end-of-stream. The engine then
    // asks the kernel and records the reset too (Connection.probeForReset), unless it had sent
    // its own FIN already: after that, Node offers no way to ask, and the reset looks like a FIN.
    // So a FIN proves the peer's bytes all arrived only with no reset and no FIN of ours first.
    const events = info.timeline.map((t) => t.event);
    const resetSeen = events.includes('rst-received') || events.includes('rst-sent');
    const finReceivedAt = events.indexOf('fin-received');
    const oursFirst = events.includes('fin-sent') && events.indexOf('fin-sent') < finReceivedAt;
    const sawFin = finReceivedAt >= 0 && !resetSeen && !oursFirst;
    if (pair.peerSentExact && inBytes > pair.peerSent)
      say(`received ${inBytes}, the peer sent ${pair.peerSent}`);
    if (pair.peerSentExact && pair.peerFlushed && sawFin && inBytes !== pair.peerSent) {
      say(`FIN received after ${inBytes} bytes, the peer sent ${pair.peerSent}`);
    }
    if (!pair.peerSentExact && sawFin && inBytes < pair.peerSent) {
      say(`FIN received after ${inBytes} bytes, the peer had reported ${pair.peerSent}`);
    }
    // What the engine was asked to send is all captured; the peer got a prefix of it, or all.
    if (outBytes !== pair.engineSent)
      say(`captured ${outBytes} bytes out, ${pair.engineSent} were sent`);
    if (pair.peerReceived > outBytes)
      say(`the peer received ${pair.peerReceived} of ${outBytes} bytes sent`);
    const finSent = info.timeline.some((t) => t.event === 'fin-sent');
    if (pair.socket && pair.peerSawEnd && finSent && !resetSeen && pair.peerReceived !== outBytes) {
      say(`the peer saw FIN after ${pair.peerReceived} of ${outBytes} bytes`);
    }
    // The timeline tells the story in order and ends where the endpoint is.
    const last = info.timeline.at(-1);
    if (last?.state !== info.state) say(`the timeline ends in ${last?.state}`);
    for (let i = 1; i < info.timeline.length; i++) {
      if ((info.timeline[i] as { at: number }).at < (info.timeline[i - 1] as { at: number }).at) {
        say('the timeline goes back in time');
      }
    }
    this.bytesIn += inBytes;
    this.bytesOut += outBytes;
    this.captured += total;
    this.firstListenerCounts.delete(id);
    const forgotten = await this.router.invoke('endpoint.forget', { id });
    if (!forgotten.ok) say(`endpoint.forget answered ${forgotten.error.message}`);
  }

  /** Listener counts on the engine's sockets never grow with use: nothing is added per call. */
  private checkEmitters(): void {
    const internals = this.engine as unknown as Internals;
    // Forgotten by the engine itself (past keepClosed) or by a hostile peer's own task.
    for (const id of this.firstListenerCounts.keys()) {
      if (!internals.endpoints.has(id)) this.firstListenerCounts.delete(id);
    }
    for (const [id, endpoint] of internals.endpoints) {
      const emitter = endpoint.socket ?? endpoint.server;
      if (!emitter) continue;
      const counts: Record<string, number> = {};
      for (const name of emitter.eventNames()) counts[String(name)] = emitter.listenerCount(name);
      const first = this.firstListenerCounts.get(id);
      if (!first) {
        this.firstListenerCounts.set(id, counts);
        continue;
      }
      for (const [name, n] of Object.entries(counts)) {
        if (n > (first[name] ?? 0)) {
          this.problem(`${id}: ${n} '${name}' listeners, ${first[name] ?? 0} at first`);
        }
      }
    }
    // The run's own event view, the random views, and the limited listener's selection.
    const opened = this.views.length + 1 + (this.finPeers?.views ?? 0);
    if (internals.hub.viewCount !== opened) {
      this.problem(`the hub has ${internals.hub.viewCount} views, ${opened} open`);
    }
  }

  /**
   * Views come and go, show some connections (a feed on each, the others' feeds closed), and
   * acknowledge most of what they are sent.
   */
  private async churnViews(): Promise<void> {
    if (this.views.length < 3 && this.rng() < 0.5) {
      // The view acknowledges through itself, so it has to exist before its first event.
      const holder: { view?: View } = {};
      const view = this.router.openView((event) => {
        if (event.event !== 'feed.data' || this.rng() >= 0.9 || !holder.view) return;
        const bytes = event.payload.chunks.reduce((sum, c) => sum + c.bytes.length, 0);
        const refused = this.router.notify(
          'feed.ack',
          { feed: event.payload.feed, bytes },
          holder.view,
        );
        if (refused) this.problem(`feed.ack was refused: ${refused.message}`);
      });
      holder.view = view;
      this.views.push({ view, feeds: new Map(), nextFeed: 1 });
    } else if (this.views.length > 0 && this.rng() < 0.3) {
      const entry = this.views.splice(Math.floor(this.rng() * this.views.length), 1)[0];
      entry?.view.close();
    }
    for (const entry of this.views) {
      const ids = [...this.pairs].flatMap((p) => (p.id !== null && this.rng() < 0.3 ? [p.id] : []));
      const shown = new Set(ids.slice(0, FEEDS_PER_VIEW_MAX));
      for (const [id, feed] of entry.feeds) {
        if (shown.has(id)) continue;
        entry.feeds.delete(id);
        const refused = this.router.notify('feed.close', { feed }, entry.view);
        if (refused) this.problem(`feed.close was refused: ${refused.message}`);
        if (entry.view.watches(id)) this.problem(`${id}: still watched after its feed closed`);
      }
      for (const id of shown) {
        if (entry.feeds.has(id)) continue;
        const feed = entry.nextFeed++;
        const result = await this.router.invoke('feed.open', { feed, id }, entry.view);
        if (result.ok) {
          entry.feeds.set(id, feed);
        } else if (result.error.code !== 'UNKNOWN_ENDPOINT' || this.exists(id)) {
          // Forgotten meanwhile is the one reason a feed may not open.
          this.problem(`feed.open ${id} answered ${result.error.message}`);
        }
      }
      // Whatever the view shows, the engine treats as shown (it keeps it from closing idle).
      for (const id of entry.feeds.keys()) {
        if (this.exists(id) && !entry.view.watches(id)) {
          this.problem(`${id}: a view has a feed on it, yet the engine says it is not watched`);
        }
      }
    }
  }

  private exists(id: string): boolean {
    try {
      this.engine.info(id);
      return true;
    } catch {
      return false;
    }
  }

  /** Stops everything, settles every pair, and checks what is left. */
  private async wind(events: View): Promise<void> {
    this.windingDown = true;
    // The hostile peers' own tasks are tracked too: each ends by itself, within its deadlines.
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.finPeers?.settle();
    await this.longPaths?.close();
    for (const pair of this.pairs) {
      pair.child?.kill('SIGKILL');
      if (pair.socket) this.destroyPeer(pair, pair.socket);
    }
    const deadline = Date.now() + 15_000;
    while (this.pairs.size > 0 && Date.now() < deadline) {
      for (const pair of this.pairs) {
        // Killed before it had even connected: there is nothing to compare.
        if (pair.child && pair.port === null && pair.peerClosed) this.pairs.delete(pair);
        // Reset before the engine learned its address: its end is listed without a peer
        // address, so it cannot be matched (it is still counted in the capture totals).
        if (pair.id === null && pair.peerClosed && pair.label.startsWith('tcp client')) {
          this.pairs.delete(pair);
          this.count('peer reset before the engine knew its address');
        }
        if (pair.id === null) this.claim(pair);
        if (pair.id !== null && !TERMINAL.has(this.engine.info(pair.id).state)) {
          await this.router.invoke('connection.close', { id: pair.id });
        }
        if (this.isSettled(pair)) await this.verify(pair);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (const pair of this.pairs) {
      const info = pair.id === null ? undefined : this.engine.list().find((e) => e.id === pair.id);
      const story = info?.timeline.map((t) => `${t.event}${t.by ? `/${t.by}` : ''}`).join(' ');
      const socket = pair.socket;
      const peer = socket
        ? `peer destroyed=${socket.destroyed} closed=${pair.peerClosed} pending=${socket.writableLength}`
        : `peer closed=${pair.peerClosed}`;
      this.problem(`${pair.label} (${pair.id}) never settled: ${info?.state} [${story}], ${peer}`);
    }
    // Accepted connections nobody claimed (a peer that never connected fully) are closed too.
    for (const info of this.engine.list()) {
      if (info.role !== 'accepted' && info.role !== 'client') continue;
      await this.router.invoke('connection.close', { id: info.id });
    }

    await this.verifyUdp();
    for (const id of this.listeners.ids) {
      await this.router.invoke('listener.stop', { id, closeConnections: true });
    }
    const deadlineAll = Date.now() + 10_000;
    while (this.engine.list().some((e) => !TERMINAL.has(e.state)) && Date.now() < deadlineAll) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (const info of this.engine.list()) {
      this.captured += this.engine.readCapture(info.id, 0, 1).totalBytes;
    }
    // A listener takes its finished connections with it; what is left goes one by one.
    for (const role of ['listener', 'udp', 'accepted', 'client']) {
      for (const info of this.engine.list().filter((e) => e.role === role)) {
        const forgotten = await this.router.invoke('endpoint.forget', { id: info.id });
        if (!forgotten.ok) this.problem(`endpoint.forget ${info.id}: ${forgotten.error.message}`);
      }
    }
    const left = this.engine.list();
    if (left.length > 0)
      this.problem(`endpoints left behind: ${left.map((e) => `${e.id} ${e.state}`).join(', ')}`);

    // The capture file holds exactly what every endpoint captured (or, with a limit, stays under
    // it, having deleted the oldest), and memory holds nothing.
    await this.engine.flushCapture();
    const status = this.engine.status().capture;
    if (status.error) this.problem(`capture error: ${status.error.message}`);
    if (status.unpersistedBytes !== 0)
      this.problem(`${status.unpersistedBytes} bytes never reached the file`);
    const fileSize = dataBytesIn(status.folder);
    const limit = this.captureLimit;
    if (limit === null) {
      if (fileSize !== this.captured)
        this.problem(`the capture file has ${fileSize} bytes, endpoints captured ${this.captured}`);
    } else {
      this.sampleFolder();
      if (status.storedBytes > limit)
        this.problem(`the capture keeps ${status.storedBytes} bytes, over its ${limit}-byte limit`);
      if (this.peakFolderBytes > limit + RING_SLACK(limit)) {
        this.problem(
          `the capture folder reached ${this.peakFolderBytes} bytes; its limit is ${limit}, ` +
            `and the ring may pass it by ${RING_SLACK(limit)} for a moment`,
        );
      }
      if (fileSize > this.captured)
        this.problem(`the capture file has ${fileSize} bytes, endpoints captured ${this.captured}`);
      if (this.captured > 2 * limit && status.deletedBytes === 0)
        this.problem(`${this.captured} bytes captured under a ${limit}-byte limit, none deleted`);
    }
    if (status.bytesInMemory !== 0)
      this.problem(`${status.bytesInMemory} bytes still counted in memory with no endpoint left`);

    const internals = this.engine as unknown as Internals;
    this.checkEmitters();
    for (const entry of this.views.splice(0)) entry.view.close();
    events.close();
    if (internals.hub.viewCount !== 0)
      this.problem(`${internals.hub.viewCount} views left on the hub`);
    // The capture folder's limit and the capture memory's trim: nothing else may stay.
    const persistedListeners = internals.folder.data.persistedListeners.size;
    if (persistedListeners !== 2) {
      this.problem(`${persistedListeners} listeners on the capture data log, 2 expected`);
    }
    if (internals.memory.pressureListeners.size !== 1) {
      this.problem(`${internals.memory.pressureListeners.size} pressure listeners, 1 expected`);
    }
    await this.engine.dispose();
    await new Promise<void>((resolve) => this.remote.close(() => resolve()));
    for (const socket of this.remoteByPort.values()) socket.destroy();
    this.udp.peer.close();
  }

  private async verifyUdp(): Promise<void> {
    // Loopback keeps datagrams in order and whole; the socket buffer may drop some, never alter.
    const { chunks, keptFrom } = await this.readKept(this.udp.id);
    let next = 0;
    // Past the ring, the kept datagrams sent are the last ones the engine counts as sent.
    const keptOut = chunks.filter((chunk) => chunk.dir === 'out').length;
    let outIndex = keptFrom > 0 ? this.engine.info(this.udp.id).counters.chunksOut - keptOut : 0;
    for (const chunk of chunks) {
      if (chunk.dir === 'out') {
        const [offset, n] = this.udpDown[outIndex++] ?? [0, -1];
        if (n !== chunk.bytes.length || firstMismatch(13, offset, chunk.bytes) >= 0) {
          this.problem(`UDP datagram ${outIndex} out does not match what was sent`);
        }
        continue;
      }
      let matched = false;
      while (next < this.udpUp.length && !matched) {
        const [offset, n] = this.udpUp[next++] as [number, number];
        matched = n === chunk.bytes.length && firstMismatch(11, offset, chunk.bytes) < 0;
      }
      if (!matched) this.problem('a captured UDP datagram was never sent by the peer');
    }
    if (outIndex !== this.udpDown.length)
      this.problem(`${outIndex} of ${this.udpDown.length} UDP sends captured`);
    const closed = await this.router.invoke('udp.close', { id: this.udp.id });
    if (!closed.ok) this.problem(`udp.close answered ${closed.error.message}`);
  }

  /** Once the engine is disposed and the peers are gone, every handle and descriptor is back. */
  private async expectReleased(
    resources: Record<string, number>,
    fds: number | undefined,
  ): Promise<void> {
    const deadline = Date.now() + 10_000;
    const grown = () => {
      const now = activeResources();
      return Object.keys(now).filter((kind) => (now[kind] ?? 0) > (resources[kind] ?? 0));
    };
    while (
      (grown().length > 0 || (fds !== undefined && (openFds() ?? 0) > fds)) &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (grown().length > 0) {
      this.problem(
        `handles still open: ${resourceDifference(resources, activeResources()).join(', ')}`,
      );
    }
    const now = openFds();
    if (fds !== undefined && now !== undefined && now > fds)
      this.problem(`${now - fds} file descriptors still open`);
  }
}

/** Calls `onLine` with each "word value" line the child prints, once the whole line has come. */
function onStdoutWords(child: ChildProcess, onLine: (word: string, value: string) => void): void {
  let partial = '';
  child.stdout?.on('data', (data: Buffer) => {
    const lines = (partial + data.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const [word, value] = line.split(' ');
      onLine(word, value);
    }
  });
}

/**
 * Node's resetAndDestroy() fails (EINVAL from libuv) while a FIN is being handed to the kernel,
 * and then leaves the socket open for good; the engine avoids it, and so must this peer.
 */
function isShuttingDown(socket: net.Socket): boolean {
  return socket.writableEnded && !socket.writableFinished;
}

/** Bytes as composer text: printable ASCII as is, everything else as \xHH, backslash doubled. */
function escapeBytes(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) {
    if (byte === 0x5c) text += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}

function hasPython(): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, 'python3'), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
