/**
 * A bound UDP socket. Each datagram is one capture record with its peer's address, so message
 * boundaries survive (unlike a stream, where recv() chunks mean nothing).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { EndpointInfo } from '../../shared/contract';
import { nowMs } from './clock';
import { formatHostPort } from '../../shared/domain';
import { describeSystemError, WorkbenchError } from '../../shared/errors';
import { Endpoint, type EngineContext } from './endpoint';
import {
  findUdpSocketInode,
  KERNEL_TABLE_MAX_AGE_MS,
  kernelUdpDrops,
  type UdpFamily,
} from './kernel-udp';

/** 65,535 less the UDP header, and for IPv4 the IP header too. */
const MAX_DATAGRAM_IPV4 = 65_507;
const MAX_DATAGRAM_IPV6 = 65_527;

/** Senders remembered for "Reply to": enough for a few devices talking at once, small to publish. */
export const RECENT_PEERS_MAX = 8;

type RecentPeer = NonNullable<EndpointInfo['recentPeers']>[number];

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

  constructor(
    id: string,
    context: EngineContext,
    private readonly host: string,
    private readonly port: number,
  ) {
    super(id, 'udp-socket', 'udp', null, context, 'opening');
    this.family = net.isIPv6(host) ? 'IPv6' : 'IPv4';
    this.socket = dgram.createSocket({ type: this.family === 'IPv6' ? 'udp6' : 'udp4' });
    this.socket.on('message', (message, rinfo) => {
      this.noteDatagram();
      if (context.memory.atDatagramCeiling) {
        this.counters.datagramsDropped += 1;
        this.hub.touch(this.id);
        return;
      }
      this.notePeer(rinfo.address, rinfo.port);
      this.captured('in', message, { host: rinfo.address, port: rinfo.port });
    });
    this.socket.on('error', (error: NodeJS.ErrnoException) => this.onError(error));
    this.socket.on('close', () => {
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
    return new Promise((resolve, reject) => {
      this.socket.send(bytes, port, host, (error) => {
        if (error) {
          const described = describeSystemError(
            (error as NodeJS.ErrnoException).code,
            error.message,
            { address: formatHostPort(host, port), operation: 'send' },
          );
          reject(new WorkbenchError(described.code, described.message));
          return;
        }
        this.captured('out', bytes, { host, port });
        resolve(bytes.byteLength);
      });
    });
  }

  close(): void {
    // dgram throws ERR_SOCKET_DGRAM_NOT_RUNNING on a second close() before 'close' arrives.
    if (this.isFinished || this.closing) return;
    this.closing = true;
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
    return { ...super.info(), recentPeers: this.recentPeers.map((peer) => ({ ...peer })) };
  }

  /**
   * Moves the sender to the front. A flood from one peer costs one short scan per datagram (at
   * most RECENT_PEERS_MAX entries) and allocates nothing when it is already the newest.
   */
  private notePeer(host: string, port: number): void {
    const at = nowMs();
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
  private noteDatagram(): void {
    if (this.kernelInode === null) return;
    this.lastDatagramAt = performance.now();
    this.kernelDropsTimer ??= setTimeout(() => {
      this.kernelDropsTimer = undefined;
      this.readKernelDrops(this.lastDatagramAt);
      this.hub.touch(this.id);
    }, KERNEL_TABLE_MAX_AGE_MS).unref();
  }

  private stopKernelDropsTimer(): void {
    clearTimeout(this.kernelDropsTimer);
    this.kernelDropsTimer = undefined;
  }

  private onError(error: NodeJS.ErrnoException): void {
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
