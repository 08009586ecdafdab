/** What every benchmark part shares: statistics, process facts, and the peers it spawns. */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

export const benchDir = fileURLToPath(new URL('..', import.meta.url));
export const repoRoot = path.resolve(benchDir, '..');

/** Progress goes to stderr, so that `--json` leaves stdout to the one result object. */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Collects garbage twice: the second pass frees what the first one's finalizers released. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc (bench/run.ts does)');
  gc();
  gc();
}

export async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  // Let closed handles run their close callbacks before anything is counted.
  await sleep(50);
  collectGarbage();
  await sleep(50);
  collectGarbage();
  return process.memoryUsage();
}

/** CPU time (user + system, all threads) this process has used since `since`, in ms. */
export function cpuMsSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

/**
 * The kernel's count of handshakes dropped because a listener's accept queue was full
 * (TcpExt ListenDrops, network-namespace wide): why accepting can take seconds when the
 * accepting process pauses, since a dropped SYN is retried only after a second.
 */
export function listenDrops(): number {
  const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const header = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const names = lines[header]?.split(/\s+/) ?? [];
  const values = lines[header + 1]?.split(/\s+/) ?? [];
  const at = names.indexOf('ListenDrops');
  return at < 0 ? NaN : Number(values[at]);
}

export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Active libuv resources by type (TCPSocketWrap, Timeout, FSReqCallback, …). */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

/** The soft RLIMIT_NOFILE of this process, from /proc (Node has no API for it). */
export function fdLimit(): number {
  const line = fs
    .readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === 'unlimited' ? Infinity : Number(soft);
}

/**
 * The command line to run `node args` with at least `fds` descriptors. Only when this process's
 * own limit is too low does it go through `sh -c 'ulimit -n …'`, which raises the soft limit
 * (and, as root, the hard one) for that child alone.
 */
export function nodeCommand(args: string[], fds = 0): { command: string; args: string[] } {
  if (fds <= fdLimit()) return { command: process.execPath, args };
  const want = Math.max(fds, 65536);
  return {
    command: 'sh',
    args: ['-c', `ulimit -n ${want} && exec "$0" "$@"`, process.execPath, ...args],
  };
}

/** A port on 127.0.0.1 that was free a moment ago (the tools cannot be told to pick one). */
export async function freeLoopbackPort(protocol: 'tcp' | 'udp'): Promise<number> {
  if (protocol === 'udp') {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const port = socket.address().port;
    await new Promise<void>((resolve) => socket.close(resolve));
    return port;
  }
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A process's parent and CPU time (its own, and its waited-for children's), from /proc. */
export function processTimes(pid: number | string): {
  parentPid: number;
  ownMs: number;
  childrenMs: number;
} {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3. Times are in clock
  // ticks: 100 a second on Linux everywhere this runs.
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const msPerTick = 10;
  return {
    parentPid: fields[1] as number,
    ownMs: ((fields[11] as number) + (fields[12] as number)) * msPerTick,
    childrenMs: ((fields[13] as number) + (fields[14] as number)) * msPerTick,
  };
}

/**
 * The kernel's rows for sockets bound to 127.0.0.1:port in /proc/net/tcp or /proc/net/udp, each
 * split into its fields (the fourth is the state: 0A is LISTEN).
 */
export function loopbackSocketRows(table: 'tcp' | 'udp', port: number): string[][] {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return fs
    .readFileSync(`/proc/net/${table}`, 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1] === local);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `swb-bench-${prefix}-`));
}

export function machine(): Record<string, string | number> {
  const cpu = fs
    .readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('model name'))
    ?.split(':')[1]
    ?.trim();
  return {
    cpus: os.availableParallelism(),
    cpuModel: cpu ?? os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(os.totalmem() / GiB, 1),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

export function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export interface Flood {
  child: ChildProcess;
  /** The peer's local port, once connected (only with `wait`). */
  connected: Promise<number>;
  /** Resolves when every byte is in the kernel's hands. */
  /** Bytes written, for how long, and when the last write completed (wall-clock ms). */
  finished: Promise<{ sent: number; ms: number; endedAt: number }>;
  /** Starts the flood of a peer started with `wait`. */
  go(): void;
  /** Lets a peer started with `hold` leave. */
  release(): void;
}

/**
 * bench/peers/flood.mjs in its own process, writing to 127.0.0.1:port (with `tail`, that text
 * after the bytes).
 */
export function startFlood(
  port: number,
  how: ({ bytes: number; tail?: string } | { seconds: number }) & {
    /** Connect, then wait for go() before flooding. */
    wait?: boolean;
    /** Stay connected after the flood until release(). */
    hold?: boolean;
  },
): Flood {
  const args = [path.join(benchDir, 'peers/flood.mjs'), '--port', String(port)];
  if ('bytes' in how) {
    args.push('--bytes', String(how.bytes));
    if (how.tail !== undefined) args.push('--tail', how.tail);
  } else {
    args.push('--seconds', String(how.seconds));
  }
  if (how.wait) args.push('--wait');
  if (how.hold) args.push('--hold');
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const messages = readline.createInterface({ input: child.stdout! });
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code) => reject(new Error(`flood peer exited (${code}) too early`)));
  });
  exited.catch(() => undefined);
  const message = <T>(key: string) =>
    Promise.race([
      new Promise<T>((resolve) => {
        messages.on('line', (line) => {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (key in parsed) resolve(parsed as T);
        });
      }),
      exited,
    ]);
  const connected = message<{ connected: number }>('connected').then((m) => m.connected);
  const finished = message<{ sent: number; ms: number; endedAt: number }>('sent');
  connected.catch(() => undefined);
  finished.catch(() => undefined);
  return {
    child,
    connected,
    finished,
    go: () => child.stdin!.write('go\n'),
    release: () => child.stdin!.end(),
  };
}

export interface SwarmReply {
  ok: boolean;
  cmd: string;
  error?: string;
  [key: string]: unknown;
}

/** bench/peers/swarm.mjs: thousands of client sockets in one separate process. */
export class Swarm {
  private readonly child: ChildProcess;
  private readonly replies: SwarmReply[] = [];
  private waiting: { resolve: (reply: SwarmReply) => void; reject: (error: Error) => void } | null =
    null;
  private exitCode: number | null | undefined;
  readonly ready: Promise<SwarmReply>;

  constructor(fds: number) {
    const { command, args } = nodeCommand([path.join(benchDir, 'peers/swarm.mjs')], fds);
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => {
      const reply = JSON.parse(line) as SwarmReply;
      const waiting = this.waiting;
      this.waiting = null;
      if (waiting) waiting.resolve(reply);
      else this.replies.push(reply);
    });
    this.child.once('exit', (code) => {
      this.exitCode = code;
      this.waiting?.reject(new Error(`swarm peer exited (${code})`));
      this.waiting = null;
    });
    this.ready = this.next();
  }

  async send(command: Record<string, unknown>): Promise<SwarmReply> {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
    const reply = await this.next();
    if (!reply.ok) throw new Error(`swarm ${reply.cmd}: ${reply.error}`);
    return reply;
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    await waitForExit(this.child);
  }

  private next(): Promise<SwarmReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.exitCode !== undefined) {
      return Promise.reject(new Error(`swarm peer exited (${this.exitCode})`));
    }
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }
}

/** Resolves when `check` is true, polling every `everyMs`; rejects after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean,
  timeoutMs: number,
  everyMs = 5,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
