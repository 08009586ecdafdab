/**
 * A bound UDP socket. Each datagram is one capture record with its peer's address, so message
 * boundaries survive (unlike a stream, where recv() chunks mean nothing).
 */
import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { RECEIVE_BUFFER_DEFAULT, type EndpointInfo } from '../../shared/contract';
import { formatHostPort } from '../../shared/domain';
import { describeSystemError, WorkbenchError } from '../../shared/errors';
import { hostExposure } from '../../shared/host-exposure';
import { BATCH_SPACE_MAX, type CaptureMemory } from './capture';
import { nowMs } from './clock';
import { DatagramBacklog, PIECE_ROWS } from './datagram-backlog';
import { Endpoint, type EngineContext } from './endpoint';
import {
  findUdpSocketInode,
  KERNEL_TABLE_MAX_AGE_MS,
  kernelUdpDrops,
  refreshKernelUdp,
  type UdpFamily,
} from './kernel-udp';

/** 65,535 less the UDP header, and for IPv4 the IP header too. */
const MAX_DATAGRAM_IPV4 = 65_507;
const MAX_DATAGRAM_IPV6 = 65_527;

/** Senders remembered for "Reply to": enough for a few devices talking at once, small to publish. */
export const RECENT_PEERS_MAX = 8;

type RecentPeer = NonNullable<EndpointInfo['recentPeers']>[number];
type ReceiveBuffer = NonNullable<EndpointInfo['receiveBuffer']>;

/** clock.ts's nowMs() is this plus performance.now(): one clock reading serves both here. */
const TIME_ORIGIN = performance.timeOrigin;

/** Datagrams from this size on are captured as they come when none wait (see onDatagram). */
const BATCHED_DATAGRAM_MAX = 2048;
/**
 * A turn of the event loop that read this many datagrams left more in the kernel's queue: libuv
 * reads at most 32 from a socket each time the socket is ready.
 */
const BUSY_TURN_DATAGRAMS = 32;
/**
 * While datagrams keep coming faster than they are read, reading comes first and capturing
 * waits, up to this long (so also how far the views and the capture may lag behind such a flood)
 * and while all sockets' backlogs together cost less than half the capture budget. The kernel's
 * receive buffer holds only a few thousand small datagrams (Linux caps SO_RCVBUF at
 * net.core.rmem_max): each millisecond spent capturing in the middle of a burst drops hundreds.
 * The backlog is that buffer grown into our memory.
 */
const BACKLOG_MAX_WAIT_MS = 500;
/**
 * What is captured per turn while a backlog is worked off (at least one piece), so that the
 * socket is read again within a few milliseconds and capture memory grows by steps it can trim.
 */
const CAPTURE_PER_TURN_BYTES = 4 * BATCH_SPACE_MAX;
const CAPTURE_PER_TURN_DATAGRAMS = 2 * PIECE_ROWS;

export class UdpEndpoint extends Endpoint {
  private readonly socket: dgram.Socket;
  private readonly family: UdpFamily;
  private closing = false;
  /** The socket's inode in /proc/net/udp(6), once found; null where the OS does not say. */
  private kernelInode: number | null = null;
  private kernelDropCount: number | null = null;
  private lastDatagramAt = 0;
  private kernelDropsTimer: NodeJS.Timeout | undefined;
  /** The latest distinct senders, newest first, so the user can reply without retyping one. */
  private recentPeers: RecentPeer[] = [];
  /**
   * The last datagram's sender as the capture has it: a flood from one peer passes the capture
   * this same object every time, which it recognises without building a key.
   */
  private lastPeer: { host: string; port: number } | null = null;
  private receiveBuffer: ReceiveBuffer | undefined;
  private readonly memory: CaptureMemory;
  /** Datagrams read and not yet captured. */
  private readonly backlog = new DatagramBacklog();
  /** Datagrams read in this turn of the event loop (see BUSY_TURN_DATAGRAMS). */
  private readThisTurn = 0;
  private turnEndScheduled = false;
  private readonly onTurnEnd = () => {
    this.turnEndScheduled = false;
    const busy = this.readThisTurn >= BUSY_TURN_DATAGRAMS;
    if (this.readThisTurn > 0 && this.hub.hasViews) this.hub.touch(this.id);
    this.readThisTurn = 0;
    const oldestAt = this.backlog.oldestAt;
    if (oldestAt === null) return;
    const memory = this.memory;
    const mayWait =
      busy &&
      !this.repliesWatch &&
      !memory.underPressure &&
      memory.backloggedBytes < memory.budgetBytes / 2 &&
      nowMs() - oldestAt < BACKLOG_MAX_WAIT_MS;
    if (!mayWait) this.captureBacklog(CAPTURE_PER_TURN_BYTES, CAPTURE_PER_TURN_DATAGRAMS);
    if (this.backlog.count > 0) this.scheduleTurnEnd();
  };

  constructor(
    id: string,
    context: EngineContext,
    private readonly host: string,
    private readonly port: number,
    /** SO_RCVBUF to ask for once bound (see RECEIVE_BUFFER_DEFAULT). */
    private readonly receiveBufferSize = RECEIVE_BUFFER_DEFAULT,
  ) {
    super(id, 'udp-socket', 'udp', null, context, 'opening');
    this.memory = context.memory;
    this.family = net.isIPv6(host) ? 'IPv6' : 'IPv4';
    this.socket = dgram.createSocket({ type: this.family === 'IPv6' ? 'udp6' : 'udp4' });
    this.socket.on('message', (message, rinfo) => this.onDatagram(message, rinfo));
    this.socket.on('error', (error: NodeJS.ErrnoException) => this.onError(error));
    this.socket.on('close', () => {
      this.captureBacklog();
      if (!this.isFinished) this.record('closed', 'closed', { by: 'local' });
    });
    this.record('socket', 'opening', { detail: formatHostPort(host, port) });
  }

  /** bind(); resolves when bound, rejects with a readable error. */
  bind(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = () =>
        reject(
          new WorkbenchError(
            this.lastError?.code ?? 'INTERNAL',
            this.lastError?.message ?? 'bind failed',
          ),
        );
      // Closed during the address lookup: dgram drops the bind callback, so settle here.
      const onClose = () =>
        reject(new WorkbenchError('NOT_OPEN', 'The UDP socket was closed before it was bound'));
      this.socket.once('error', onError);
      this.socket.once('close', onClose);
      this.socket.bind({ address: this.host, port: this.port, exclusive: true }, () => {
        this.socket.off('error', onError);
        this.socket.off('close', onClose);
        this.applyReceiveBuffer();
        const address = this.socket.address();
        this.local = {
          host: address.address,
          port: address.port,
          family: address.family === 'IPv6' ? 'IPv6' : 'IPv4',
        };
        this.record('bound', 'bound');
        void this.findKernelRow(address.address, address.port).finally(resolve);
      });
    });
  }

  /** sendto(): one datagram; resolves when the kernel has taken it. */
  send(bytes: Uint8Array, host: string, port: number): Promise<number> {
    if (this.state !== 'bound' || this.closing) {
      const state = this.closing ? 'closing' : this.state;
      return Promise.reject(new WorkbenchError('NOT_OPEN', `${this.id} is ${state}`));
    }
    // dgram's own answer is "send EMSGSIZE", which reached the user as INTERNAL.
    const limit = net.isIPv6(this.host) ? MAX_DATAGRAM_IPV6 : MAX_DATAGRAM_IPV4;
    if (bytes.byteLength > limit) {
      return Promise.reject(
        new WorkbenchError(
          'PAYLOAD_TOO_LARGE',
          `A UDP datagram carries at most ${limit} bytes; this payload is ${bytes.byteLength} (EMSGSIZE)`,
        ),
      );
    }
    if (net.isIP(host) === 0) {
      // Resolved here rather than by dgram, so that the capture (and an export of it) has the
      // address the datagram went to, not "localhost".
      return this.lookup(host, port).then((address) => this.sendTo(bytes, address, port));
    }
    return this.sendTo(bytes, host, port);
  }

  private async lookup(host: string, port: number): Promise<string> {
    try {
      const found = await dns.lookup(host, { family: this.family === 'IPv6' ? 6 : 4 });
      return found.address;
    } catch (error) {
      const described = describeSystemError(
        (error as NodeJS.ErrnoException).code,
        (error as Error).message,
        { address: formatHostPort(host, port), operation: 'send' },
      );
      throw new WorkbenchError(described.code, described.message);
    }
  }

  private sendTo(bytes: Uint8Array, host: string, port: number): Promise<number> {
    // Closed while a host name was being looked up.
    if (this.state !== 'bound' || this.closing) {
      return Promise.reject(new WorkbenchError('NOT_OPEN', `${this.id} closed before sending`));
    }
    return new Promise((resolve, reject) => {
      this.socket.send(bytes, port, host, (error) => {
        if (error) {
          const code = (error as NodeJS.ErrnoException).code;
          const why = code === 'EINVAL' ? this.whySendInvalid(host) : null;
          if (why !== null) {
            reject(new WorkbenchError('EINVAL', `${why} (EINVAL)`));
            return;
          }
          const described = describeSystemError(code, error.message, {
            address: formatHostPort(host, port),
            operation: 'send',
          });
          reject(new WorkbenchError(described.code, described.message));
          return;
        }
        // What came in before this went out goes first in the capture.
        this.captureBacklog();
        this.captured('out', bytes, { host, port });
        resolve(bytes.byteLength);
      });
    });
  }

  /**
   * What the kernel's bare EINVAL on sendto() most likely means here, said so that a user can
   * fix it: the socket's address family or its loopback address cannot reach `host`. Null when
   * neither is the case.
   */
  private whySendInvalid(host: string): string | null {
    const family = net.isIP(host);
    if (family === 0) return null;
    const mine = `This UDP socket (bound to ${this.host})`;
    if ((family === 6) !== (this.family === 'IPv6')) {
      return family === 6
        ? `${mine} is IPv4 and cannot send to the IPv6 address ${host}: bind one on :: or ::1 for that`
        : `${mine} is IPv6 and cannot send to the IPv4 address ${host}: bind one on 0.0.0.0 or 127.0.0.1 for that`;
    }
    if (hostExposure(this.host) === 'loopback' && hostExposure(host) !== 'loopback') {
      const everywhere = this.family === 'IPv6' ? '::' : '0.0.0.0';
      return `${mine} reaches only this machine and cannot send to ${host}: bind one on ${everywhere} (every interface) or on an address of the interface that leads there`;
    }
    return null;
  }

  close(): void {
    // dgram throws ERR_SOCKET_DGRAM_NOT_RUNNING on a second close() before 'close' arrives.
    if (this.isFinished || this.closing) return;
    this.closing = true;
    this.captureBacklog();
    // The kernel forgets the socket's row when it closes: keep its last word (read afresh only
    // if datagrams came since the last reading, so closing many idle sockets stays cheap).
    this.readKernelDrops(this.lastDatagramAt);
    this.stopKernelDropsTimer();
    this.socket.close();
  }

  override dispose(): Promise<void> {
    if (this.isFinished) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.close();
    });
  }

  override info(): EndpointInfo {
    return {
      ...super.info(),
      recentPeers: this.recentPeers.map((peer) => ({ ...peer })),
      ...(this.receiveBuffer ? { receiveBuffer: { ...this.receiveBuffer } } : {}),
      ...(this.backlog.count > 0 ? { datagramsWaiting: this.backlog.count } : {}),
    };
  }

  /**
   * The receive loop's one step, once per datagram: it must keep up with a sender on loopback,
   * so it reads the clock once, allocates nothing of its own while one peer keeps sending, and
   * leaves the capturing of datagrams to the end of the turn, or later while the socket
   * stays busy (see BACKLOG_MAX_WAIT_MS).
   */
  private onDatagram(message: Buffer, rinfo: dgram.RemoteInfo): void {
    const now = performance.now();
    this.noteDatagram(now);
    if (this.memory.atDatagramCeiling) {
      this.counters.datagramsDropped += 1;
      this.hub.touch(this.id);
      return;
    }
    const at = TIME_ORIGIN + now;
    const { address, port } = rinfo;
    this.notePeer(address, port, at);
    let peer = this.lastPeer;
    if (peer === null || peer.port !== port || peer.host !== address) {
      peer = this.lastPeer = { host: address, port };
    }
    // Under pressure memory nears the datagram ceiling, which must then be checked against what
    // each datagram costs once captured: nothing waits, each is captured as it comes. A large
    // datagram is captured as it comes too (batching it would only copy it twice), unless
    // others wait before it.
    const large = message.byteLength >= BATCHED_DATAGRAM_MAX && this.backlog.count === 0;
    if (large || this.memory.underPressure) {
      this.captureBacklog();
      this.captured('in', message, peer, at);
      return;
    }
    this.memory.backlog(this.backlog.add(message, peer, at));
    // Counted as read, so the counters keep up with a flood while the capture waits.
    this.counters.chunksIn += 1;
    this.counters.bytesIn += message.byteLength;
    this.readThisTurn += 1;
    this.scheduleTurnEnd();
  }

  private scheduleTurnEnd(): void {
    if (this.turnEndScheduled) return;
    this.turnEndScheduled = true;
    setImmediate(this.onTurnEnd);
  }

  /**
   * Captures the backlog, oldest first, and shows it (it was counted as it was read): all of it
   * before anything else is captured or recorded here, so that the capture keeps the order
   * things happened in; or, while it is worked off, whole pieces until `maxBytes` or
   * `maxDatagrams` is reached.
   */
  override captureBacklog(maxBytes = Infinity, maxDatagrams = Infinity): void {
    const backlog = this.backlog;
    let bytes = 0;
    let datagrams = 0;
    while (backlog.count > 0 && bytes < maxBytes && datagrams < maxDatagrams) {
      const { batch, cost } = backlog.take();
      this.memory.backlog(-cost);
      bytes += batch.data.byteLength;
      datagrams += batch.end - batch.first;
      const chunks = this.capture.appendReceived(batch, this.chunksWatched);
      if (chunks) this.showReceived(chunks);
    }
  }

  /**
   * SO_RCVBUF: asks for the size wanted and keeps what the kernel granted (Linux caps the ask at
   * net.core.rmem_max, which only root can raise, and doubles it for its bookkeeping). A refused
   * ask leaves the OS default, which the granted size then shows.
   */
  private applyReceiveBuffer(): void {
    try {
      this.socket.setRecvBufferSize(this.receiveBufferSize);
    } catch {
      // The granted size below says what the socket has.
    }
    try {
      this.receiveBuffer = {
        asked: this.receiveBufferSize,
        granted: this.socket.getRecvBufferSize(),
      };
    } catch {
      this.receiveBuffer = undefined;
    }
  }

  /**
   * Moves the sender to the front. A flood from one peer costs one short scan per datagram (at
   * most RECENT_PEERS_MAX entries) and allocates nothing when it is already the newest.
   */
  private notePeer(host: string, port: number, at: number): void {
    const newest = this.recentPeers[0];
    if (newest && newest.host === host && newest.port === port) {
      newest.at = at;
      return;
    }
    const rest = this.recentPeers.filter((peer) => peer.host !== host || peer.port !== port);
    this.recentPeers = [{ host, port, at }, ...rest].slice(0, RECENT_PEERS_MAX);
  }

  protected override options(): EndpointInfo['options'] {
    return { noDelay: false, keepAlive: false, allowHalfOpen: false };
  }

  protected override kernelDrops(): number | null {
    if (!this.isFinished && !this.closing) this.readKernelDrops();
    return this.kernelDropCount;
  }

  private async findKernelRow(host: string, port: number): Promise<void> {
    try {
      this.kernelInode = await findUdpSocketInode(this.family, host, port);
    } catch {
      this.kernelInode = null;
    }
    if (this.kernelInode === null) return;
    this.kernelDropCount = 0;
    // 'bound' was published before the row was found: publish the count the OS now gives.
    this.hub.touch(this.id);
  }

  /** `readAfter`: a performance.now() time the kernel's reading must be newer than. */
  private readKernelDrops(readAfter?: number): void {
    if (this.kernelInode === null) return;
    const drops = kernelUdpDrops(this.family, this.kernelInode, readAfter);
    if (drops !== undefined) this.kernelDropCount = Math.max(this.kernelDropCount ?? 0, drops);
  }

  /**
   * The kernel drops datagrams while this socket is busy reading others, so its count changes
   * only while datagrams arrive. Counters are published a few times a second then, each with a
   * reading up to KERNEL_TABLE_MAX_AGE_MS old; one more reading, taken after the last datagram
   * was read, makes the final count shown the kernel's final count.
   */
  private noteDatagram(now: number): void {
    if (this.kernelInode === null) return;
    this.lastDatagramAt = now;
    this.kernelDropsTimer ??= setTimeout(() => {
      this.kernelDropsTimer = undefined;
      const family = this.family;
      void refreshKernelUdp(family, this.lastDatagramAt).then(() => {
        if (this.isFinished || this.closing) return;
        this.readKernelDrops();
        this.hub.touch(this.id);
      });
    }, KERNEL_TABLE_MAX_AGE_MS).unref();
  }

  private stopKernelDropsTimer(): void {
    clearTimeout(this.kernelDropsTimer);
    this.kernelDropsTimer = undefined;
  }

  private onError(error: NodeJS.ErrnoException): void {
    this.captureBacklog();
    const described = describeSystemError(error.code, error.message, {
      address: formatHostPort(this.host, this.port),
      operation: this.state === 'opening' ? 'bind' : 'read',
    });
    if (this.state === 'opening') {
      this.record('error', 'error', { error: described, detail: error.code });
      // A failed bind() leaves dgram's socket open, and with it a file descriptor.
      this.closing = true;
      this.socket.close();
    } else this.lastError = described; // e.g. ICMP port unreachable: the socket itself lives on
    this.hub.touch(this.id);
  }
}
