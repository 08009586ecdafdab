/**
 * kernel.sample: what the kernel holds for some endpoints' sockets now (docs/kernel-view.md).
 *
 * Nothing here runs on its own: a view asks (a few times a second while it shows a socket) and
 * only for what it shows. A reading is reused for REUSE_MS, calls that overlap share one round of
 * reading, and a round runs one ss at a time (ss.ts), falling back to /proc/net (proc-net.ts)
 * where ss is missing or fails.
 */
import type { CommandOutput, KernelSample, TcpKernelState } from '../../../shared/contract';
import { nowMs } from '../clock';
import type { Endpoint } from '../endpoint';
import { ANY_HOST, normalizeHost, sameHostPort, type HostPort } from './hosts';
import {
  parseProcInetRow,
  parseProcUnixRow,
  procPortHex,
  procTables,
  readProcLines,
  type ProcInetRow,
  type ProcLineReader,
} from './proc-net';
import {
  isUnixSocket,
  parseSsInet,
  parseSsUnix,
  SsCoprocess,
  type SsInetSocket,
  type SsRunner,
  type SsUnixSocket,
} from './ss';
import { targetKey, targetOf, type KernelTarget } from './targets';

/** A reading this recent answers a call without reading again. */
export const KERNEL_REUSE_MS = 200;
/** Readings no call asked for in this long are dropped. */
const CACHE_KEEP_MS = 10_000;

export interface KernelSources {
  ss: SsRunner;
  readProc: ProcLineReader;
  platform: NodeJS.Platform;
}

export const SS_MISSING =
  'buffer sizes and TCP info need ss (iproute2), which is not installed: state and queues come from /proc/net';
const BACKLOG_NEEDS_SS = "a listener's backlog (its Send-Q) needs ss (iproute2)";
const UNIX_QUEUES_NEED_SS = 'queues and buffer sizes of Unix-domain sockets need ss (iproute2)';

function platformMissing(platform: NodeJS.Platform): string {
  const name = platform === 'darwin' ? 'macOS' : platform === 'win32' ? 'Windows' : platform;
  return (
    `${name}: the kernel's view is read on Linux only (/proc/net and ss); here the TCP state, ` +
    'queues, buffer sizes and TCP info of sockets are not available'
  );
}

export type KernelReading = Omit<KernelSample, 'id' | 'at'>;
type Reading = KernelReading;

interface CacheEntry {
  /** performance.now() when read, for reuse. */
  readAt: number;
  at: number;
  reading: Reading;
  missing: string[];
}

const NOT_FOUND: Reading = {
  found: false,
  tcpState: null,
  recvQ: null,
  sendQ: null,
  rcvBuf: null,
  sndBuf: null,
  rttMs: null,
  cwnd: null,
  mss: null,
  retransmits: null,
  timerMs: null,
};

type Results = Map<string, { reading: Reading; missing: string[] }>;
type Wanted = Array<[string, KernelTarget]>;

export class KernelView {
  private readonly sources: KernelSources;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly remembered = new WeakMap<Endpoint, KernelTarget>();
  private running: Promise<void> | null = null;
  private nextRound: { targets: Map<string, KernelTarget>; done: Promise<void> } | null = null;

  constructor(sources: Partial<KernelSources> = {}) {
    this.sources = {
      ss: sources.ss ?? new SsCoprocess(),
      readProc: sources.readProc ?? readProcLines,
      platform: sources.platform ?? process.platform,
    };
  }

  async sample(endpoints: Endpoint[]): Promise<CommandOutput<'kernel.sample'>> {
    if (this.sources.platform !== 'linux') {
      const at = nowMs();
      return {
        samples: endpoints.map((endpoint) => ({ id: endpoint.id, at, ...NOT_FOUND })),
        missing: [platformMissing(this.sources.platform)],
      };
    }
    const targets = await Promise.all(
      endpoints.map((endpoint) => targetOf(endpoint, this.remembered)),
    );
    const { readings, missing } = await this.sampleTargets(targets);
    const samples = endpoints.map((endpoint, index): KernelSample => ({
      id: endpoint.id,
      ...readings[index]!,
    }));
    return { samples, missing };
  }

  /** The kernel's sockets these targets name (null: nothing to look for), read or reused. */
  async sampleTargets(
    targets: Array<KernelTarget | null>,
  ): Promise<{ readings: Array<Reading & { at: number }>; missing: string[] }> {
    const stale = new Map<string, KernelTarget>();
    for (const target of targets) {
      if (!target) continue;
      const key = targetKey(target);
      if (!this.isFresh(key)) stale.set(key, target);
    }
    if (stale.size > 0) await this.readSoon(stale);
    const missing = new Set<string>();
    const readings = targets.map((target) => {
      const entry = target ? this.cache.get(targetKey(target)) : undefined;
      if (!entry) return { at: nowMs(), ...NOT_FOUND };
      for (const note of entry.missing) missing.add(note);
      return { at: entry.at, ...entry.reading };
    });
    return { readings, missing: [...missing] };
  }

  dispose(): void {
    this.sources.ss.dispose();
  }

  private isFresh(key: string): boolean {
    const entry = this.cache.get(key);
    return entry !== undefined && performance.now() - entry.readAt <= KERNEL_REUSE_MS;
  }

  /**
   * Joins the round that starts when the running one ends; a call while none runs starts one
   * after the current microtasks, so calls made together share it.
   */
  private readSoon(targets: Map<string, KernelTarget>): Promise<void> {
    if (!this.nextRound) {
      const batch = new Map<string, KernelTarget>();
      const done = (this.running ?? Promise.resolve()).then(async () => {
        this.nextRound = null;
        // read() settles every target itself; whatever else goes wrong leaves them not found.
        const round = this.read(batch).catch(() => undefined);
        this.running = round;
        await round;
        if (this.running === round) this.running = null;
      });
      this.nextRound = { targets: batch, done };
    }
    for (const [key, target] of targets) this.nextRound.targets.set(key, target);
    return this.nextRound.done;
  }

  /** One round: one ss per kind of socket asked for, one after another. Never rejects. */
  private async read(batch: Map<string, KernelTarget>): Promise<void> {
    // The round before may have read some of these meanwhile.
    const wanted: Wanted = [...batch].filter(([key]) => !this.isFresh(key));
    if (wanted.length === 0) return;
    const results: Results = new Map();
    const ofKind = (...kinds: Array<KernelTarget['kind']>) =>
      wanted.filter(([, target]) => kinds.includes(target.kind));
    const tcp = ofKind('tcp', 'tcp-listener');
    const udp = ofKind('udp');
    const unix = ofKind('unix', 'unix-listener');
    if (tcp.length > 0) await this.readInet('tcp', tcp, results);
    if (udp.length > 0) await this.readInet('udp', udp, results);
    if (unix.length > 0) await this.readUnix(unix, results);
    const readAt = performance.now();
    const at = nowMs();
    for (const [key] of wanted) {
      const result = results.get(key) ?? { reading: NOT_FOUND, missing: [] };
      this.cache.set(key, { readAt, at, ...result });
    }
    for (const [key, entry] of this.cache) {
      if (readAt - entry.readAt > CACHE_KEEP_MS) this.cache.delete(key);
    }
  }

  private async readInet(protocol: 'tcp' | 'udp', wanted: Wanted, results: Results) {
    let output: string | null = null;
    let failure: string | null = null;
    try {
      output = await this.sources.ss.run({ family: protocol, filter: ssFilter(wanted) });
    } catch (error) {
      failure = `ss failed (${error instanceof Error ? error.message : String(error)}): state and queues come from /proc/net`;
    }
    if (output !== null) {
      const sockets = parseSsInet(output);
      for (const [key, target] of wanted) {
        const socket = findInet(sockets, target);
        results.set(key, {
          reading: socket ? inetReading(socket, protocol) : NOT_FOUND,
          missing: [],
        });
      }
      return;
    }
    const rows = await this.readProcInet(protocol, wanted);
    for (const [key, target] of wanted) {
      const missing = [failure ?? SS_MISSING];
      if (target.kind === 'tcp-listener') missing.push(BACKLOG_NEEDS_SS);
      if (!rows) {
        results.set(key, { reading: NOT_FOUND, missing: [...missing, 'cannot read /proc/net'] });
        continue;
      }
      const row = findInet(rows, target);
      results.set(key, { reading: row ? procInetReading(row, protocol) : NOT_FOUND, missing });
    }
  }

  /** The rows of the table's files that mention a port asked for; null if none could be read. */
  private async readProcInet(
    protocol: 'tcp' | 'udp',
    wanted: Wanted,
  ): Promise<ProcInetRow[] | null> {
    const ports = new Set(wanted.flatMap(([, target]) => portsOf(target)).map(procPortHex));
    const keep = (line: string) => {
      for (const port of ports) if (line.includes(`:${port} `)) return true;
      return false;
    };
    let readable = false;
    const rows: ProcInetRow[] = [];
    for (const file of procTables[protocol]) {
      const lines = await this.sources.readProc(file, keep);
      if (!lines) continue;
      readable = true;
      for (const line of lines) {
        const row = parseProcInetRow(line, protocol);
        if (row) rows.push(row);
      }
    }
    return readable ? rows : null;
  }

  private async readUnix(wanted: Wanted, results: Results) {
    let output: string | null = null;
    let failure: string | null = null;
    try {
      output = await this.sources.ss.run({ family: 'unix' });
    } catch (error) {
      failure = `ss failed (${error instanceof Error ? error.message : String(error)}): ${UNIX_QUEUES_NEED_SS}`;
    }
    if (output !== null) {
      // Every Unix socket of the system is listed: only lines naming ours are parsed.
      const needles = wanted.map(([, target]) => unixNeedle(target));
      const lines = output.split('\n').filter((line) => needles.some((n) => line.includes(n)));
      const sockets = parseSsUnix(lines.join('\n'));
      for (const [key, target] of wanted) {
        const socket = sockets.find((candidate) => isUnixTarget(candidate, target));
        results.set(key, { reading: socket ? unixReading(socket) : NOT_FOUND, missing: [] });
      }
      return;
    }
    const lines = await this.sources.readProc(procTables.unix[0], () => true);
    const rows = (lines ?? []).flatMap((line) => parseProcUnixRow(line) ?? []);
    for (const [key, target] of wanted) {
      const row = rows.find((candidate) =>
        target.kind === 'unix'
          ? candidate.inode === target.inode
          : target.kind === 'unix-listener' &&
            candidate.listening &&
            (target.inode === null
              ? candidate.path === target.path
              : candidate.inode === target.inode),
      );
      const missing = [failure ?? UNIX_QUEUES_NEED_SS];
      if (!lines) missing.push('cannot read /proc/net/unix');
      results.set(key, {
        reading: row ? { ...NOT_FOUND, found: true, tcpState: row.state } : NOT_FOUND,
        missing,
      });
    }
  }
}

function portsOf(target: KernelTarget): number[] {
  switch (target.kind) {
    case 'tcp':
      return target.remote ? [target.local.port, target.remote.port] : [target.local.port];
    case 'tcp-listener':
    case 'udp':
      return [target.local.port];
    default:
      return [];
  }
}

/**
 * ss's filter, made of port numbers only: the kernel matches it, so 10,000 other connections
 * cost nothing. A listener is its port with no peer (dport 0), never its accepted connections.
 */
function ssFilter(wanted: Wanted): string {
  const terms = new Set<string>();
  for (const [, target] of wanted) {
    if (target.kind === 'tcp') {
      terms.add(
        target.remote
          ? `( sport = :${target.local.port} and dport = :${target.remote.port} )`
          : `( sport = :${target.local.port} )`,
      );
    } else if (target.kind === 'tcp-listener') {
      terms.add(`( sport = :${target.local.port} and dport = :0 )`);
    } else if (target.kind === 'udp') {
      terms.add(`( sport = :${target.local.port} )`);
    }
  }
  return [...terms].join(' or ');
}

interface InetSocket {
  local: HostPort;
  state: TcpKernelState | null;
}

/** Both ss's sockets and /proc's rows have these; the peer is `peer` or `remote`. */
function peerOf(socket: InetSocket & ({ peer: HostPort } | { remote: HostPort })): HostPort {
  return 'peer' in socket ? socket.peer : socket.remote;
}

/**
 * The socket a target names. A TCP connection: its 4-tuple (its local port only, while it
 * connects). A listener or UDP socket: its address, or the only one on its port (a dual-stack
 * socket's address may be printed either way).
 */
function findInet<T extends InetSocket & ({ peer: HostPort } | { remote: HostPort })>(
  sockets: T[],
  target: KernelTarget,
): T | undefined {
  if (target.kind === 'tcp') {
    const { local, remote } = target;
    return sockets.find(
      (socket) =>
        socket.state !== 'LISTEN' &&
        sameHostPort(socket.local, local) &&
        // While it connects only its local port is known, and an older connection from that
        // port may linger in TIME_WAIT: a socket still connecting can only be in SYN_SENT.
        (remote === null ? socket.state === 'SYN_SENT' : sameHostPort(peerOf(socket), remote)),
    );
  }
  if (target.kind !== 'tcp-listener' && target.kind !== 'udp') return undefined;
  const onPort = sockets.filter(
    (socket) =>
      socket.local.port === target.local.port &&
      (target.kind === 'udp' || socket.state === 'LISTEN') &&
      (target.kind === 'tcp-listener' || peerOf(socket).port === 0),
  );
  const host = normalizeHost(target.local.host);
  return (
    onPort.find((socket) => normalizeHost(socket.local.host) === host) ??
    (onPort.length === 1 || host === ANY_HOST ? onPort[0] : undefined)
  );
}

function inetReading(socket: SsInetSocket, protocol: 'tcp' | 'udp'): Reading {
  // ss prints a listener's initial cwnd too; a listener sends nothing, so no TCP info is shown.
  if (socket.state === 'LISTEN') {
    const { recvQ, sendQ, rcvBuf, sndBuf } = socket;
    return { ...NOT_FOUND, found: true, tcpState: 'LISTEN', recvQ, sendQ, rcvBuf, sndBuf };
  }
  return {
    found: true,
    tcpState: protocol === 'tcp' ? socket.state : null,
    recvQ: socket.recvQ,
    sendQ: socket.sendQ,
    rcvBuf: socket.rcvBuf,
    sndBuf: socket.sndBuf,
    rttMs: socket.rttMs,
    cwnd: socket.cwnd,
    mss: socket.mss,
    retransmits: socket.retransmits,
    timerMs: socket.timerMs,
  };
}

function procInetReading(row: ProcInetRow, protocol: 'tcp' | 'udp'): Reading {
  return {
    ...NOT_FOUND,
    found: true,
    tcpState: row.state,
    recvQ: row.rxQueue,
    // A listener's row has no backlog: its tx_queue column is always 0.
    sendQ: row.state === 'LISTEN' ? null : row.txQueue,
    cwnd: row.cwnd,
    retransmits: protocol === 'tcp' ? row.retransmits : null,
    timerMs: row.timerMs,
  };
}

function isUnixTarget(socket: SsUnixSocket, target: KernelTarget): boolean {
  if (target.kind === 'unix') return isUnixSocket(socket, target.inode, target.names);
  if (target.kind !== 'unix-listener' || socket.state !== 'LISTEN') return false;
  return target.inode !== null
    ? isUnixSocket(socket, target.inode, [target.path])
    : socket.names.startsWith(`${target.path} `);
}

/** Text that a line of `ss -x` about this target holds: its inode, or a listener's path. */
function unixNeedle(target: KernelTarget): string {
  if (target.kind === 'unix') return ` ${target.inode} `;
  if (target.kind === 'unix-listener') {
    return target.inode !== null ? ` ${target.inode} ` : target.path;
  }
  return '\0';
}

function unixReading(socket: SsUnixSocket): Reading {
  return {
    ...NOT_FOUND,
    found: true,
    tcpState: socket.state,
    recvQ: socket.recvQ,
    sendQ: socket.sendQ,
    rcvBuf: socket.rcvBuf,
    sndBuf: socket.sndBuf,
  };
}
