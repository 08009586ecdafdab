/**
 * ss (iproute2) asks the kernel over netlink (sock_diag) for what /proc/net does not say: the
 * buffer sizes (skmem rb/tb), TCP info (rtt, cwnd, mss, retransmits), a listener's backlog, and
 * the timers; and it filters TCP and UDP sockets by port inside the kernel, so one sample costs
 * the same with 10 or 10,000 connections open.
 *
 * ss runs from one small shell that stays while samples keep coming and leaves after a moment
 * without any: spawning from the engine itself would fork a process the size of the engine 4
 * times a second, while the shell is small and runs one ss after another, never two at once.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { TcpKernelState } from '../../../shared/contract';
import { parseSsAddress, type HostPort } from './hosts';

export type SsQuery = { family: 'tcp' | 'udp'; filter: string } | { family: 'unix' };

export interface SsRunner {
  /** ss's output for the query, or null where ss is not installed. Rejects when ss fails. */
  run(query: SsQuery): Promise<string | null>;
  /** Ends the shell, if one is running. */
  dispose(): void;
}

/** The shell leaves after this long without a query: nothing runs while no view samples. */
const IDLE_MS = 2_000;
/** An ss that answers nothing in this long is stuck: its shell is ended, the next query starts anew. */
const QUERY_TIMEOUT_MS = 5_000;
/** Unix sockets cannot be filtered by inode: a desktop has thousands, but not this many bytes. */
const OUTPUT_MAX_CHARS = 32 * 1024 * 1024;
/** After ss was found missing, it is looked for again after this long (it may be installed). */
const MISSING_RECHECK_MS = 10_000;

/**
 * $1 is the end-of-answer marker. Each query is two lines (family, filter); the filter is one
 * argument that ss parses itself, never shell text. -H: no header; -n: ports as numbers.
 */
const SHELL_SCRIPT = `command -v ss >/dev/null 2>&1 || { echo "$1 missing"; exit 0; }
while IFS= read -r family && IFS= read -r filter; do
  case "$family" in
    tcp) ss -tinmonH state all "$filter" ;;
    udp) ss -umnH state all "$filter" ;;
    unix) ss -xamnH ;;
  esac
  echo "$1 $?"
done`;

/** Filters are made from port numbers only (sampler.ts); anything else is refused here too. */
const SAFE_FILTER = /^[()a-z0-9 :=]*$/;

interface PendingQuery {
  resolve: (output: string | null) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

type Shell = ChildProcessByStdio<Writable, Readable, null>;

export class SsCoprocess implements SsRunner {
  private shell: Shell | null = null;
  private readonly marker = `@ss-end-${randomBytes(8).toString('hex')}`;
  private output = '';
  private pending: PendingQuery | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private missingUntil = -Infinity;

  /** The shell's process id while it runs (benchmarks read its CPU time). */
  get pid(): number | undefined {
    return this.shell?.pid;
  }

  run(query: SsQuery): Promise<string | null> {
    const result = this.queue.then(() => this.runNow(query));
    this.queue = result.catch(() => undefined);
    return result;
  }

  dispose(): void {
    clearTimeout(this.idleTimer);
    this.stopShell();
  }

  private runNow(query: SsQuery): Promise<string | null> {
    if (performance.now() < this.missingUntil) return Promise.resolve(null);
    if (query.family !== 'unix' && !SAFE_FILTER.test(query.filter)) {
      return Promise.reject(new Error(`refused ss filter ${JSON.stringify(query.filter)}`));
    }
    clearTimeout(this.idleTimer);
    const shell = this.shell ?? this.startShell();
    holdOpen(shell, true);
    return new Promise<string | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.failPending(new Error(`ss gave no answer in ${QUERY_TIMEOUT_MS / 1000} s`));
        // The stuck ss goes with its shell; the next query starts a new one.
        if (this.shell === shell) shell.kill('SIGKILL');
        this.stopShell();
      }, QUERY_TIMEOUT_MS);
      this.pending = { resolve, reject, timer };
      const filter = query.family === 'unix' ? '' : query.filter;
      shell.stdin.write(`${query.family}\n${filter}\n`);
    }).finally(() => {
      if (this.shell) holdOpen(this.shell, false);
      this.idleTimer = setTimeout(() => this.stopShell(), IDLE_MS).unref();
    });
  }

  private startShell(): Shell {
    const shell = spawn('/bin/sh', ['-c', SHELL_SCRIPT, 'sh', this.marker], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    this.shell = shell;
    this.output = '';
    shell.stdout.setEncoding('utf8');
    // A shell that was let go (idle, stuck) has nothing more to say to a later query.
    shell.stdout.on('data', (chunk: string) => {
      if (this.shell === shell) this.onOutput(chunk);
    });
    shell.stdin.on('error', () => undefined);
    shell.on('error', (error) => {
      if (this.shell !== shell) return;
      // No /bin/sh (or no fork): as good as no ss.
      this.shell = null;
      this.missingUntil = performance.now() + MISSING_RECHECK_MS;
      this.failPending(new Error(`cannot run ss: ${error.message}`));
    });
    shell.on('exit', () => {
      if (this.shell !== shell) return;
      this.shell = null;
      this.failPending(new Error('ss ended before it answered'));
    });
    return shell;
  }

  private onOutput(chunk: string): void {
    // Only the new text (and a marker cut in two by the chunk boundary) is searched.
    const from = Math.max(0, this.output.length - this.marker.length);
    this.output += chunk;
    const at = this.output.indexOf(this.marker, from);
    const end = at < 0 ? -1 : this.output.indexOf('\n', at);
    if (end < 0) {
      if (this.output.length > OUTPUT_MAX_CHARS) {
        this.failPending(new Error(`ss printed more than ${OUTPUT_MAX_CHARS} characters`));
        this.stopShell();
      }
      return;
    }
    const answer = this.output.slice(0, at);
    const status = this.output.slice(at + this.marker.length + 1, end);
    this.output = this.output.slice(end + 1);
    const pending = this.pending;
    this.pending = null;
    if (!pending) return;
    clearTimeout(pending.timer);
    if (status === 'missing') {
      this.missingUntil = performance.now() + MISSING_RECHECK_MS;
      pending.resolve(null);
    } else if (status === '0') pending.resolve(answer);
    else pending.reject(new Error(`ss exited with status ${status}`));
  }

  private failPending(error: Error): void {
    const pending = this.pending;
    this.pending = null;
    if (!pending) return;
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  private stopShell(): void {
    const shell = this.shell;
    this.shell = null;
    if (!shell) return;
    // End of input ends the loop; a stuck ss is ended with its shell.
    shell.stdin.end();
    if (this.pending) {
      shell.kill('SIGKILL');
      this.failPending(new Error('ss was stopped before it answered'));
    }
  }
}

/** Whether the shell (its process and pipes) keeps Node running: only while a query waits. */
function holdOpen(shell: Shell, hold: boolean): void {
  for (const handle of [shell, shell.stdin, shell.stdout]) {
    if (handle instanceof net.Socket || handle === shell) {
      if (hold) handle.ref();
      else handle.unref();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// What ss prints
// ---------------------------------------------------------------------------------------------

const ssStates: Record<string, TcpKernelState> = {
  ESTAB: 'ESTABLISHED',
  'SYN-SENT': 'SYN_SENT',
  'SYN-RECV': 'SYN_RECV',
  'FIN-WAIT-1': 'FIN_WAIT1',
  'FIN-WAIT-2': 'FIN_WAIT2',
  'TIME-WAIT': 'TIME_WAIT',
  'CLOSE-WAIT': 'CLOSE_WAIT',
  'LAST-ACK': 'LAST_ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
  UNCONN: 'CLOSE',
};

/** Figures of a socket's detail lines (-m, -i, -o); null where ss did not print them. */
export interface SsDetails {
  rcvBuf: number | null;
  sndBuf: number | null;
  rttMs: number | null;
  cwnd: number | null;
  mss: number | null;
  retransmits: number | null;
  timerMs: number | null;
}

export interface SsInetSocket extends SsDetails {
  state: TcpKernelState | null;
  recvQ: number;
  sendQ: number;
  local: HostPort;
  peer: HostPort;
}

export interface SsUnixSocket extends SsDetails {
  state: TcpKernelState | null;
  recvQ: number;
  sendQ: number;
  /** What follows the queues: "LOCAL-NAME INODE PEER-NAME PEER-INODE"; names may hold spaces. */
  names: string;
}

/** ss's timer text ("59sec", "200ms", "2.808ms" = 2 s 808 ms, "1min30sec") in milliseconds. */
export function parseSsTimer(text: string): number | null {
  const match = /^(?:(\d+)min)?(?:(\d+)(sec|\.))?(?:(\d+)ms)?$/.exec(text);
  if (!match || text === '') return null;
  const [, minutes, seconds, , millis] = match;
  return Number(minutes ?? 0) * 60_000 + Number(seconds ?? 0) * 1000 + Number(millis ?? 0);
}

/** A number after `name:` at the start of a word ("mss:" but not "advmss:"). */
function field(details: string, name: string): string | undefined {
  return new RegExp(`(?:^|[\\s(])${name}:([^\\s,)]+)`).exec(details)?.[1];
}

function numberOrNull(text: string | undefined): number | null {
  if (text === undefined) return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

export function parseSsDetails(details: string): SsDetails {
  const skmem = /skmem:\(([^)]*)\)/.exec(details)?.[1] ?? '';
  const memory = (key: string) => numberOrNull(new RegExp(`(?:^|,)${key}(\\d+)`).exec(skmem)?.[1]);
  const timer = /timer:\(\w+,([^,)]+)/.exec(details)?.[1];
  const hasTcpInfo = /(?:^|\s)rto:/.test(details);
  const retrans = field(details, 'retrans');
  return {
    rcvBuf: memory('rb'),
    sndBuf: memory('tb'),
    rttMs: numberOrNull(field(details, 'rtt')?.split('/')[0]),
    cwnd: numberOrNull(field(details, 'cwnd')),
    mss: numberOrNull(field(details, 'mss')),
    // "retrans:NOW/TOTAL", printed only once there was one.
    retransmits:
      retrans !== undefined ? numberOrNull(retrans.split('/')[1]) : hasTcpInfo ? 0 : null,
    timerMs: timer === undefined ? null : parseSsTimer(timer),
  };
}

/** Each socket's first line and its indented detail lines, as one record. */
function records(text: string): Array<{ head: string; details: string }> {
  const out: Array<{ head: string; details: string }> = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const last = out.at(-1);
    if (/^\s/.test(line) && last) last.details += ` ${line.trim()}`;
    else out.push({ head: line, details: '' });
  }
  return out;
}

/** ss -t or -u: State Recv-Q Send-Q Local Peer [timer…], details on the following line. */
export function parseSsInet(text: string): SsInetSocket[] {
  const sockets: SsInetSocket[] = [];
  for (const { head, details } of records(text)) {
    const tokens = head.trim().split(/\s+/);
    if (tokens[0] === 'tcp' || tokens[0] === 'udp') tokens.shift();
    const [stateText, recvQ, sendQ, localText, peerText] = tokens;
    if (!stateText || !localText || !peerText) continue;
    const local = parseSsAddress(localText);
    const peer = parseSsAddress(peerText);
    if (!local || !peer) continue;
    sockets.push({
      ...parseSsDetails(`${tokens.slice(5).join(' ')} ${details}`),
      state: ssStates[stateText] ?? null,
      recvQ: Number(recvQ),
      sendQ: Number(sendQ),
      local,
      peer,
    });
  }
  return sockets;
}

/** ss -x: Netid State Recv-Q Send-Q Local Inode Peer PeerInode skmem:(…). */
export function parseSsUnix(text: string): SsUnixSocket[] {
  const sockets: SsUnixSocket[] = [];
  for (const { head, details } of records(text)) {
    const match = /^\s*u_\w+\s+(\S+)\s+(\d+)\s+(\d+)\s+(.*)$/.exec(head);
    if (!match?.[1] || !match[2] || !match[3] || match[4] === undefined) continue;
    const names = match[4].replace(/\s+skmem:\(.*$/, '');
    sockets.push({
      ...parseSsDetails(`${match[4]} ${details}`),
      state: ssStates[match[1]] ?? null,
      recvQ: Number(match[2]),
      sendQ: Number(match[3]),
      names: names.trim(),
    });
  }
  return sockets;
}

/** The unix socket with this inode, whose own name is `name` ("*" when it has none). */
export function isUnixSocket(socket: SsUnixSocket, inode: number, names: string[]): boolean {
  return names.some((name) => socket.names.startsWith(`${name} ${inode} `));
}
