/**
 * A stream connection (TCP or Unix-domain), opened by us (client) or accepted by a listener.
 *
 * Lifecycle: connecting (SYN sent) -> open -> half-closed-local (we sent FIN) /
 * half-closed-remote (peer's FIN) -> closed; reset and error are terminal with their cause.
 */
import net from 'node:net';
import type { Address, EndpointInfo } from '../../shared/contract';
import { canStreamWrite, formatHostPort } from '../../shared/domain';
import { describeSystemError, WorkbenchError } from '../../shared/errors';
import { Endpoint, type EndpointKind, type EngineContext } from './endpoint';
import { readsThroughDataEvents, sharedReads } from './socket-reads';

export type ConnectTarget =
  { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface ConnectOptions {
  timeoutMs: number;
  noDelay: boolean;
  keepAlive: boolean;
  allowHalfOpen: boolean;
}

const NOTHING = new Uint8Array(0);

/** The connection a socket belongs to, for the socket's shared event handlers. */
const OWNER = Symbol('connection');
type OwnedSocket = net.Socket & { [OWNER]?: Connection };

function ownerOf(socket: net.Socket): Connection {
  return (socket as OwnedSocket)[OWNER] as Connection;
}

const isWildcardHost = (host: string): boolean => host === '0.0.0.0' || host === '::';

/** A listener's address is every accepted connection's local one, unless it is a wildcard. */
function isWildcard(address: Address): boolean {
  return 'host' in address && isWildcardHost(address.host);
}

/** How many bytes may wait in this process for a peer that does not read (issue 9). */
export const DEFAULT_SEND_QUEUE_LIMIT_BYTES = 64 * 1024 * 1024;

export function describeTarget(target: ConnectTarget): string {
  return target.kind === 'unix' ? target.path : formatHostPort(target.host, target.port);
}

/** A connection's yes-or-no facts, as bits of Connection.flags. */
const Flag = {
  finSent: 1,
  finReceived: 2,
  paused: 4,
  capturePressure: 8,
  noDelay: 16,
  keepAlive: 32,
  idleClosed: 64,
} as const;

export class Connection extends Endpoint {
  /** Seven booleans in one number: a field each would cost 48 bytes more per connection. */
  private flags = 0;
  private closedBy: 'local' | 'remote' | undefined;
  private discardedOnClose = 0;
  /** Set by a listener: how long this connection may stay idle once the peer half-closed it. */
  private halfClosedIdleMs = 0;
  /** Set by a listener: told once this connection's socket has closed. */
  whenClosed: ((connection: Connection) => void) | null = null;

  /**
   * The socket's event handlers, one set for every connection: a closure per event per socket
   * would cost about 60 bytes each, which adds up over 10,000 idle connections. Each finds its
   * connection on the socket it is called on.
   */
  private static readonly socketHandlers = {
    data(this: net.Socket, data: Uint8Array): void {
      ownerOf(this).captured('in', data);
    },
    end(this: net.Socket): void {
      ownerOf(this).onPeerFin();
    },
    finish(this: net.Socket): void {
      ownerOf(this).onFinSent();
    },
    error(this: net.Socket, error: NodeJS.ErrnoException): void {
      ownerOf(this).onError(error);
    },
    close(this: net.Socket): void {
      const connection = ownerOf(this);
      connection.onClose();
      connection.whenClosed?.(connection);
    },
    drain(this: net.Socket): void {
      const connection = ownerOf(this);
      connection.hub.touch(connection.id);
    },
    timeout(this: net.Socket): void {
      ownerOf(this).onHalfClosedIdle();
    },
  };

  /** Reads into the shared buffer go where a 'data' event would (socket-reads.ts). */
  static readonly streamReads = sharedReads(Connection.socketHandlers.data);

  private constructor(
    id: string,
    kind: EndpointKind,
    role: 'client' | 'accepted',
    parentId: string | null,
    context: EngineContext,
    private readonly socket: net.Socket,
    /** What this connection reached, for error messages; null for an accepted one (the peer). */
    private readonly target: string | null,
  ) {
    super(id, kind, role, parentId, context, role === 'client' ? 'connecting' : 'open');
    (socket as OwnedSocket)[OWNER] = this;
    const on = Connection.socketHandlers;
    if (readsThroughDataEvents(socket)) socket.on('data', on.data);
    socket.on('end', on.end);
    socket.on('finish', on.finish);
    socket.on('error', on.error);
    socket.on('close', on.close);
    socket.on('drain', on.drain);
  }

  /** connect(): resolves once the handshake is done, rejects with a readable error otherwise. */
  static connect(
    id: string,
    context: EngineContext,
    target: ConnectTarget,
    options: ConnectOptions,
  ): { connection: Connection; established: Promise<void> } {
    const onread = Connection.streamReads;
    const socket =
      target.kind === 'tcp'
        ? net.connect({
            host: target.host,
            port: target.port,
            allowHalfOpen: options.allowHalfOpen,
            onread,
          })
        : net.connect({ path: target.path, allowHalfOpen: options.allowHalfOpen, onread });
    const kind = target.kind === 'tcp' ? 'tcp-connection' : 'unix-connection';
    const connection = new Connection(
      id,
      kind,
      'client',
      null,
      context,
      socket,
      describeTarget(target),
    );
    // The address connected to is known before the handshake when it is one (not a host name
    // to look up, nor 0.0.0.0 or ::, which the kernel turns into loopback): a refused connect is
    // then still drawn to it in an export.
    if (target.kind === 'unix') connection.remote = { path: target.path };
    else if (net.isIP(target.host) !== 0 && !isWildcardHost(target.host)) {
      const family = net.isIP(target.host) === 6 ? 'IPv6' : 'IPv4';
      connection.remote = { host: target.host, port: target.port, family };
    } else connection.remote = null;
    connection.noDelay = options.noDelay;
    connection.keepAlive = options.keepAlive;
    connection.record('connect', 'connecting', {
      detail: target.kind === 'tcp' ? describeTarget(target) : target.path,
    });

    const established = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' });
        socket.destroy(error);
      }, options.timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        connection.onEstablished();
        resolve();
      });
      socket.once('close', () => {
        clearTimeout(timer);
        const error = connection.lastError;
        reject(
          new WorkbenchError(error?.code ?? 'NOT_OPEN', error?.message ?? 'Connection closed'),
        );
      });
    });
    // The caller may not await this (the UI learns from events); never leave it unhandled.
    established.catch(() => undefined);
    return { connection, established };
  }

  /** accept(): the listener hands over a connection that is already open. */
  static accepted(
    id: string,
    context: EngineContext,
    socket: net.Socket,
    listenerId: string,
    listenerPath: string | null,
    /** The listener's own address: shared with its connections instead of asking the socket. */
    listenerLocal: Address | null = null,
  ): Connection {
    const kind = listenerPath === null ? 'tcp-connection' : 'unix-connection';
    const connection = new Connection(id, kind, 'accepted', listenerId, context, socket, null);
    if (listenerPath === null) {
      connection.local =
        listenerLocal && !isWildcard(listenerLocal) ? listenerLocal : addressOf(socket, 'local');
      // Read once now, Node keeps the peer's address for as long as the socket lives, after it
      // closes too: remoteAddress() reads it there instead of keeping a copy on every connection.
      addressOf(socket, 'remote');
    } else {
      // A Unix-domain client is usually unnamed: only the listener's path identifies the pair.
      connection.local = { path: listenerPath };
      connection.remote = { path: '(unnamed)' };
    }
    connection.record('accepted', 'open');
    return connection;
  }

  private get finSent(): boolean {
    return this.hasFlag(Flag.finSent);
  }
  private set finSent(on: boolean) {
    this.setFlag(Flag.finSent, on);
  }
  private get finReceived(): boolean {
    return this.hasFlag(Flag.finReceived);
  }
  private set finReceived(on: boolean) {
    this.setFlag(Flag.finReceived, on);
  }
  private get paused(): boolean {
    return this.hasFlag(Flag.paused);
  }
  private set paused(on: boolean) {
    this.setFlag(Flag.paused, on);
  }
  private get capturePressure(): boolean {
    return this.hasFlag(Flag.capturePressure);
  }
  private set capturePressure(on: boolean) {
    this.setFlag(Flag.capturePressure, on);
  }
  private get noDelay(): boolean {
    return this.hasFlag(Flag.noDelay);
  }
  private set noDelay(on: boolean) {
    this.setFlag(Flag.noDelay, on);
  }
  private get keepAlive(): boolean {
    return this.hasFlag(Flag.keepAlive);
  }
  private set keepAlive(on: boolean) {
    this.setFlag(Flag.keepAlive, on);
  }
  private get idleClosed(): boolean {
    return this.hasFlag(Flag.idleClosed);
  }
  private set idleClosed(on: boolean) {
    this.setFlag(Flag.idleClosed, on);
  }
  private hasFlag(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }
  private setFlag(flag: number, on: boolean): void {
    this.flags = on ? this.flags | flag : this.flags & ~flag;
  }

  /** Bytes it may queue for a peer that does not read, the engine's limit. */
  private get sendQueueLimit(): number {
    return this.context.sendQueueLimitBytes;
  }

  get isWritable(): boolean {
    // The socket can be gone before its 'close' event changes the state: never capture as
    // "sent" what cannot be sent.
    return (
      canStreamWrite(this.state) &&
      !this.finSent &&
      !this.socket.destroyed &&
      !this.socket.writableEnded
    );
  }

  send(bytes: Uint8Array): number {
    if (!this.isWritable) throw this.notWritable();
    const refusal = this.sendQueueRefusal(bytes.byteLength);
    if (refusal) throw refusal;
    this.captured('out', bytes);
    this.socket.write(bytes, () => this.hub.touch(this.id));
    return bytes.byteLength;
  }

  /** Bytes handed to the socket that the kernel has not taken yet: they live in our memory. */
  get bytesQueued(): number {
    return this.socket.writableLength;
  }

  /**
   * socket.write() never refuses: what the kernel will not take waits in this process, so a peer
   * that never reads could make it grow without end. Past the limit a send is refused instead.
   * An empty queue always takes one send, so a payload larger than a small limit still goes out:
   * the queue never holds more than the limit or one payload, whichever is larger.
   */
  sendQueueRefusal(byteLength: number): WorkbenchError | null {
    const queued = this.socket.writableLength;
    if (queued === 0 || queued + byteLength <= this.sendQueueLimit) return null;
    const [already, more, limit] = [queued, byteLength, this.sendQueueLimit].map((n) =>
      n.toLocaleString('en-US'),
    );
    return new WorkbenchError(
      'SEND_QUEUE_FULL',
      `The peer is not reading: ${already} bytes already queued for ${this.id}; ${more} more ` +
        `would pass its send queue limit of ${limit} bytes. Send again once the peer reads.`,
    );
  }

  /** shutdown(SHUT_WR): our FIN goes out once queued bytes are written; we keep reading. */
  halfClose(): void {
    if (!this.isWritable) throw this.notWritable();
    this.finSent = true;
    this.socket.end();
  }

  /**
   * close(): release the socket. The kernel sends FIN (or RST if unread bytes remain); bytes
   * still queued in this process are dropped, and the timeline says how many.
   */
  close(): void {
    if (this.isFinished || this.socket.destroyed) return;
    this.closedBy ??= 'local';
    this.discardedOnClose = this.socket.writableLength;
    this.socket.destroy();
  }

  /**
   * A peer that connects and sends FIN leaves a half-closed connection holding a descriptor for
   * as long as we keep it (allowHalfOpen). Once that has happened, the connection is closed after
   * `idleMs` without traffic either way, unless a view shows it: then it waits for the next turn.
   */
  closeWhenHalfClosedIdle(idleMs: number): void {
    this.halfClosedIdleMs = idleMs;
    this.socket.on('timeout', Connection.socketHandlers.timeout);
  }

  /** Whether the engine closed it for sitting half-closed and idle. */
  get closedForIdle(): boolean {
    return this.idleClosed;
  }

  /** Abortive close: SO_LINGER 0, the kernel sends RST and drops unsent data. */
  reset(): void {
    if (this.isFinished || this.socket.destroyed) return;
    // Node's resetAndDestroy() throws for a pipe, after the timeline would already say "reset".
    if (this.kind === 'unix-connection') {
      throw new WorkbenchError(
        'WRONG_ENDPOINT_KIND',
        'A Unix-domain connection has no reset (RST), which is a TCP segment: close it instead',
      );
    }
    if (this.state === 'connecting') {
      this.close();
      return;
    }
    const socket = this.socket;
    // While a FIN is being handed to the kernel, libuv refuses to reset (EINVAL) and Node then
    // drops the socket without closing it: no RST goes out and the descriptor leaks. That lasts
    // one turn of the event loop (a half-close just before), so reset right after it instead.
    if (socket.writableEnded && socket.writableLength === 0 && !socket.writableFinished) {
      socket.once('finish', () => this.reset());
      return;
    }
    this.record('rst-sent', 'reset', { by: 'local' });
    socket.resetAndDestroy();
  }

  setReadingPaused(paused: boolean): void {
    if (this.isFinished) throw this.notOpen();
    if (paused === this.paused) return;
    this.paused = paused;
    this.applyReading();
    this.record(paused ? 'paused' : 'resumed', this.state);
  }

  /** The capture file is behind: stop reading (without touching the user's own pause). */
  setCapturePressure(pressure: boolean): void {
    this.capturePressure = pressure;
    if (!this.isFinished) this.applyReading();
  }

  private applyReading(): void {
    if (this.paused || this.capturePressure) this.socket.pause();
    else this.socket.resume();
  }

  setOptions(options: { noDelay?: boolean; keepAlive?: boolean; allowHalfOpen?: boolean }): void {
    if (this.isFinished) throw this.notOpen();
    const changed: string[] = [];
    if (
      this.kind !== 'tcp-connection' &&
      (options.noDelay !== undefined || options.keepAlive !== undefined)
    ) {
      throw new WorkbenchError(
        'WRONG_ENDPOINT_KIND',
        `${this.id} is a ${this.kind}; TCP_NODELAY and SO_KEEPALIVE are TCP options`,
      );
    }
    if (options.noDelay !== undefined && options.noDelay !== this.noDelay) {
      this.noDelay = options.noDelay;
      if (this.kind === 'tcp-connection') this.socket.setNoDelay(options.noDelay);
      changed.push(`TCP_NODELAY=${options.noDelay ? 1 : 0}`);
    }
    if (options.keepAlive !== undefined && options.keepAlive !== this.keepAlive) {
      this.keepAlive = options.keepAlive;
      if (this.kind === 'tcp-connection') this.socket.setKeepAlive(options.keepAlive);
      changed.push(`SO_KEEPALIVE=${options.keepAlive ? 1 : 0}`);
    }
    if (
      options.allowHalfOpen !== undefined &&
      options.allowHalfOpen !== this.socket.allowHalfOpen
    ) {
      this.socket.allowHalfOpen = options.allowHalfOpen;
      changed.push(`allowHalfOpen=${options.allowHalfOpen}`);
    }
    if (changed.length > 0) this.record('option', this.state, { detail: changed.join(', ') });
  }

  override dispose(): Promise<void> {
    if (this.socket.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.destroy();
    });
  }

  override nodeHandle(): net.Socket {
    return this.socket;
  }

  protected override options(): EndpointInfo['options'] {
    return {
      noDelay: this.noDelay,
      keepAlive: this.keepAlive,
      allowHalfOpen: this.socket.allowHalfOpen,
      sendQueueLimit: this.sendQueueLimit,
    };
  }

  protected override queuedBytes(): number {
    return this.socket.writableLength;
  }

  protected override readingPaused(): boolean {
    return this.paused;
  }

  protected override remoteAddress(): Address | null {
    const fromSocket = this.role === 'accepted' && this.kind === 'tcp-connection';
    return this.remote ?? (fromSocket ? addressOf(this.socket, 'remote') : null);
  }

  private onEstablished(): void {
    this.local = addressOf(this.socket, 'local') ?? this.local;
    this.remote = addressOf(this.socket, 'remote') ?? this.remote;
    if (this.kind === 'tcp-connection') {
      if (this.noDelay) this.socket.setNoDelay(true);
      if (this.keepAlive) this.socket.setKeepAlive(true);
    }
    this.record('established', 'open');
  }

  private onPeerFin(): void {
    this.finReceived = true;
    this.closedBy ??= 'remote';
    this.record('fin-received', this.finSent ? this.state : 'half-closed-remote', { by: 'remote' });
    this.probeForReset();
    // Node's socket timeout restarts on every read and write: it measures exactly "idle".
    if (this.halfClosedIdleMs > 0 && this.state === 'half-closed-remote') {
      this.socket.setTimeout(this.halfClosedIdleMs);
    }
  }

  private onHalfClosedIdle(): void {
    if (this.state !== 'half-closed-remote' || this.socket.destroyed) {
      this.socket.setTimeout(0);
      return;
    }
    if (this.hub.isWatched(this.id)) {
      this.socket.setTimeout(this.halfClosedIdleMs);
      return;
    }
    this.idleClosed = true;
    this.record('idle-close', this.state, { by: 'local', detail: `${this.halfClosedIdleMs} ms` });
    this.close();
  }

  /**
   * libuv reports end-of-stream instead of ECONNRESET when a peer's RST arrives in the same poll
   * as its last bytes (it takes POLLHUP after a short read for EOF), which would leave a dead
   * connection shown as half-closed. A zero-byte send asks the kernel: on a reset TCP socket it
   * fails with the pending ECONNRESET, on a half-closed one it sends nothing. Not on Unix
   * sockets, where a peer's ordinary close makes any send fail with EPIPE.
   */
  private probeForReset(): void {
    if (this.kind !== 'tcp-connection' || this.finSent) return;
    if (this.socket.writableEnded || this.socket.destroyed) return;
    this.socket.write(NOTHING);
  }

  private onFinSent(): void {
    this.finSent = true;
    this.closedBy ??= 'local';
    this.record('fin-sent', this.finReceived ? this.state : 'half-closed-local', { by: 'local' });
  }

  private onError(error: NodeJS.ErrnoException): void {
    if (this.isFinished) return;
    const described = describeSystemError(error.code, error.message, {
      address: this.target ?? 'the peer',
      operation: this.state === 'connecting' ? 'connect' : 'read',
    });
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE') {
      this.record('rst-received', 'reset', { by: 'remote', error: described });
    } else {
      this.record('error', 'error', { error: described, detail: error.code });
    }
  }

  private onClose(): void {
    this.hub.touch(this.id);
    if (this.isFinished) return;
    if (this.state === 'connecting') {
      // Destroyed before the handshake finished without an error event: closed by us.
      this.record('closed', 'closed', { by: 'local' });
      return;
    }
    this.record('closed', 'closed', {
      ...(this.closedBy ? { by: this.closedBy } : {}),
      ...(this.discardedOnClose > 0
        ? { detail: `${this.discardedOnClose} queued bytes were not sent` }
        : {}),
    });
  }

  private notWritable(): WorkbenchError {
    const why = this.finSent
      ? 'we already sent FIN (half-closed)'
      : this.state === 'connecting'
        ? 'it is still connecting'
        : `it is ${this.state}`;
    return new WorkbenchError('NOT_WRITABLE', `Cannot send on ${this.id}: ${why}`);
  }

  private notOpen(): WorkbenchError {
    return new WorkbenchError('NOT_OPEN', `${this.id} is ${this.state}`);
  }
}

export function addressOf(socket: net.Socket, side: 'local' | 'remote'): Address | null {
  const host = side === 'local' ? socket.localAddress : socket.remoteAddress;
  const port = side === 'local' ? socket.localPort : socket.remotePort;
  const family = side === 'local' ? socket.localFamily : socket.remoteFamily;
  if (host === undefined || port === undefined) return null;
  return { host, port, family: family === 'IPv6' ? 'IPv6' : 'IPv4' };
}
