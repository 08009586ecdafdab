/**
 * A listening stream socket: TCP on host:port or Unix-domain on a path.
 * socket() + bind() -> listen(backlog) -> accept() for every connection, until stopped.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Address, EndpointInfo, ListenerCounts, ValidInput } from '../../shared/contract';
import { describeSystemError, WorkbenchError } from '../../shared/errors';
import { Connection, describeTarget } from './connection';
import { Endpoint, type EngineContext } from './endpoint';
import { withSharedReads } from './socket-reads';

export type ListenTarget =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string; removeStale: boolean };

/** A connection a broadcast skipped because its peer is not reading. */
export interface BroadcastRefusal {
  id: string;
  bytesQueued: number;
}

/** The limits a listener applies to its connections, as tcp.listen and unix.listen take them. */
export type ListenerLimits = Pick<
  ValidInput<'tcp.listen'>,
  'maxConnections' | 'halfClosedIdleMs' | 'keepClosed'
>;

export interface ListenerHooks {
  /** Gives each accepted connection an id and registers it with the engine. */
  adopt(socket: net.Socket, listener: Listener): Connection;
  /** Whether one more accepted socket still leaves the engine's descriptor reserve whole. */
  admits(): boolean;
  /** An accepted connection's socket is closed: its descriptor is free again. */
  released(connection: Connection): void;
  /** Drops a closed connection from the session, as endpoint.forget does. */
  forget(connection: Connection): void;
}

export class Listener extends Endpoint {
  readonly connections = new Set<Connection>();
  private readonly server: net.Server;
  private readonly backlog: number;
  private readonly allowHalfOpen: boolean;
  private readonly limits: ListenerLimits;
  private readonly counts: ListenerCounts = {
    accepted: 0,
    closed: 0,
    forgotten: 0,
    refusedAtLimit: 0,
    refusedForReserve: 0,
    closedIdle: 0,
  };
  /** Closed connections still listed, oldest first: past keepClosed the oldest are forgotten. */
  private readonly closedListed = new Set<Connection>();
  /** Told by each accepted connection once its socket has closed. */
  private readonly connectionClosed = (connection: Connection) =>
    this.onConnectionClosed(connection);
  /** Rejects a pending open() when the listener is stopped before it is listening. */
  private abortOpen: ((error: WorkbenchError) => void) | null = null;

  constructor(
    id: string,
    context: EngineContext,
    readonly target: ListenTarget,
    options: { backlog: number; allowHalfOpen: boolean } & ListenerLimits,
    private readonly hooks: ListenerHooks,
  ) {
    super(
      id,
      target.kind === 'tcp' ? 'tcp-listener' : 'unix-listener',
      'listener',
      null,
      context,
      'opening',
    );
    this.backlog = options.backlog;
    this.allowHalfOpen = options.allowHalfOpen;
    this.limits = {
      maxConnections: options.maxConnections,
      halfClosedIdleMs: options.halfClosedIdleMs,
      keepClosed: options.keepClosed,
    };
    // Paused until its socket reads into the shared buffer (socket-reads.ts).
    this.server = net.createServer({ allowHalfOpen: options.allowHalfOpen, pauseOnConnect: true });
    // Node closes a connection past this many right after accept(), before it costs a Socket,
    // and says so with 'drop'; it counts sockets until they close, half-closed ones included.
    this.server.maxConnections = options.maxConnections;
    this.server.on('drop', () => this.onRefused('refusedAtLimit'));
    this.server.on('connection', (socket) => this.onConnection(socket));
    this.server.on('error', (error: NodeJS.ErrnoException) => this.onError(error));
    this.local = target.kind === 'unix' ? { path: target.path } : null;
    this.record('socket', 'opening', { detail: this.where() });
  }

  get unixPath(): string | null {
    return this.target.kind === 'unix' ? this.target.path : null;
  }

  /** Where it listens, once it does (its connections share this object as their local address). */
  get localAddress(): Address | null {
    return this.local;
  }

  /** bind() + listen(backlog); resolves when listening, rejects with a readable error. */
  async open(): Promise<void> {
    if (this.target.kind === 'unix') await this.clearStaleSocketFile(this.target);
    if (this.isFinished) throw stoppedWhileOpening();
    await new Promise<void>((resolve, reject) => {
      const onError = () => reject(this.failure());
      this.abortOpen = (error) => {
        this.server.off('error', onError);
        reject(error);
      };
      this.server.once('error', onError);
      const listenOptions =
        this.target.kind === 'tcp'
          ? { host: this.target.host, port: this.target.port, backlog: this.backlog }
          : { path: this.target.path, backlog: this.backlog };
      this.server.listen(listenOptions, () => {
        this.server.off('error', onError);
        this.abortOpen = null;
        if (this.isFinished) {
          // Stopped during the name lookup: Node binds anyway, so undo it.
          this.server.close();
          return;
        }
        const address = this.server.address();
        if (address && typeof address === 'object') {
          this.local = {
            host: address.address,
            port: address.port,
            family: address.family === 'IPv6' ? 'IPv6' : 'IPv4',
          };
        }
        this.record('listening', 'listening', { detail: `backlog ${this.backlog}` });
        resolve();
      });
    });
  }

  /** Sends to every writable connection with room in its send queue; names the ones without. */
  broadcast(bytes: Uint8Array): { connections: number; refused: BroadcastRefusal[] } {
    let count = 0;
    const refused: BroadcastRefusal[] = [];
    for (const connection of this.connections) {
      if (!connection.isWritable) continue;
      // One peer that does not read must not stop the others getting the bytes.
      if (connection.sendQueueRefusal(bytes.byteLength)) {
        refused.push({ id: connection.id, bytesQueued: connection.bytesQueued });
        continue;
      }
      connection.send(bytes);
      count += 1;
    }
    return { connections: count, refused };
  }

  /** Whether every writable connection has less than `bytes` waiting for its peer. */
  connectionsBelowQueue(bytes: number): boolean {
    for (const connection of this.connections) {
      if (connection.isWritable && connection.bytesQueued >= bytes) return false;
    }
    return true;
  }

  /** close() on the listening socket: no more accept(); existing connections go on unless asked. */
  async stop(closeConnections: boolean): Promise<void> {
    if (closeConnections) for (const connection of this.connections) connection.close();
    if (this.isFinished) return;
    this.record('stopped', 'closed', { by: 'local' });
    this.abortOpen?.(stoppedWhileOpening());
    this.abortOpen = null;
    // close()'s callback waits for every accepted connection to end; the listening socket itself
    // is released at once, which is all "stop listening" promises.
    this.server.close();
  }

  /** The connection is no longer listed (forgotten by the user, or past keepClosed). */
  forgetConnection(connection: Connection): void {
    if (!this.connections.delete(connection)) return;
    this.closedListed.delete(connection);
    this.counts.forgotten += 1;
    this.hub.touch(this.id);
  }

  /** Whether a connection it accepted is still open (it then keeps the listener listed). */
  get hasOpenConnections(): boolean {
    return this.openConnections() > 0;
  }

  override info(): EndpointInfo {
    return { ...super.info(), listenerCounts: { ...this.counts } };
  }

  override async dispose(): Promise<void> {
    await Promise.all([...this.connections].map((connection) => connection.dispose()));
    if (!this.isFinished) await this.stop(false);
    else if (this.server.listening) this.server.close();
  }

  override nodeHandle(): net.Server {
    return this.server;
  }

  protected override options(): EndpointInfo['options'] {
    return {
      noDelay: false,
      keepAlive: false,
      allowHalfOpen: this.allowHalfOpen,
      backlog: this.backlog,
      ...this.limits,
    };
  }

  protected override openConnections(): number {
    let open = 0;
    for (const connection of this.connections) if (!connection.isFinished) open += 1;
    return open;
  }

  private onConnection(accepted: net.Socket): void {
    const socket = withSharedReads(accepted, this.server, {
      allowHalfOpen: this.allowHalfOpen,
      reads: Connection.streamReads,
    });
    if (!this.hooks.admits()) {
      // Keeping it would eat into the descriptors the UI's own channel needs.
      socket.destroy();
      this.onRefused('refusedForReserve');
      return;
    }
    const connection = this.hooks.adopt(socket, this);
    this.connections.add(connection);
    this.counts.accepted += 1;
    if (this.limits.halfClosedIdleMs > 0) {
      connection.closeWhenHalfClosedIdle(this.limits.halfClosedIdleMs);
    }
    // One function for all of them: a closure (and once() wrapper) per socket adds up.
    connection.whenClosed = this.connectionClosed;
    this.hub.touch(this.id);
  }

  private onRefused(why: 'refusedAtLimit' | 'refusedForReserve'): void {
    this.counts[why] += 1;
    this.hub.touch(this.id);
  }

  private onConnectionClosed(connection: Connection): void {
    this.hooks.released(connection);
    this.counts.closed += 1;
    if (connection.closedForIdle) this.counts.closedIdle += 1;
    // The user may have forgotten it already (a reset connection is finished before it closes).
    if (this.connections.has(connection)) {
      this.closedListed.add(connection);
      this.forgetBeyondKeepClosed();
    }
    this.hub.touch(this.id);
  }

  /**
   * Thousands of closed connections would make every snapshot bigger and slower: only the last
   * keepClosed stay listed, except one the user is looking at. Their bytes stay in the capture file.
   */
  private forgetBeyondKeepClosed(): void {
    for (const connection of this.closedListed) {
      if (this.closedListed.size <= this.limits.keepClosed) return;
      if (!this.hub.isWatched(connection.id)) this.hooks.forget(connection);
    }
  }

  private onError(error: NodeJS.ErrnoException): void {
    if (this.isFinished) return;
    const described = describeSystemError(error.code, error.message, {
      address: this.where(),
      operation: 'listen',
    });
    // A failed accept() (EMFILE, ENFILE, ENOBUFS) leaves the socket listening, and the next
    // accept may well succeed: say what happened without declaring the listener dead.
    if (this.state === 'listening' && this.server.listening) {
      this.record('error', 'listening', { error: described, detail: error.code });
      return;
    }
    this.record('error', 'error', { error: described, detail: error.code });
  }

  private failure(): WorkbenchError {
    const error = this.lastError ?? { code: 'INTERNAL' as const, message: 'listen failed' };
    return new WorkbenchError(error.code, error.message);
  }

  private where(): string {
    return describeTarget(this.target);
  }

  /**
   * A socket file outlives a crashed server. Binding over it fails with EADDRINUSE, which hides
   * the real situation: say whether someone still listens there, and remove it only when asked.
   *
   * The file can be replaced while it is checked (lstat, then a probe connect, then unlink all
   * name the path anew). So the unlink happens only if the path still names the very socket that
   * was found and probed: same type, device, inode and ctime, looked at again right before the
   * unlink, with both calls made back to back (synchronously: no other work of this process runs
   * between them). What remains: there is no "unlink if this inode" system call, so another
   * process that swaps the file in the microseconds between that lstat and the unlink still wins.
   */
  private async clearStaleSocketFile(target: { path: string; removeStale: boolean }) {
    let stat: fs.BigIntStats;
    try {
      stat = await fs.promises.lstat(target.path, { bigint: true });
    } catch {
      return; // nothing there
    }
    const fail = (code: 'EADDRINUSE' | 'STALE_SOCKET_FILE', message: string) => {
      const error = { code, message } as const;
      this.record('error', 'error', { error, detail: code });
      throw new WorkbenchError(code, message);
    };
    if (!stat.isSocket()) {
      fail(
        'EADDRINUSE',
        `${target.path} exists and is not a socket; it was left untouched (EADDRINUSE)`,
      );
    }
    const probe = await probeSocketFile(target.path);
    if (probe === 'listening') {
      fail('EADDRINUSE', `Another process is listening on ${target.path} (EADDRINUSE)`);
    }
    if (probe !== 'refused') {
      // EACCES, or EAGAIN from a full backlog: someone may well be there; never delete it.
      fail(
        'EADDRINUSE',
        `Cannot tell whether ${target.path} is in use (${probe}); it was left untouched (EADDRINUSE)`,
      );
    }
    if (!target.removeStale) {
      fail(
        'STALE_SOCKET_FILE',
        `A stale socket file is left at ${target.path} and nothing listens on it; choose "remove stale socket file" to replace it`,
      );
    }
    const removal = unlinkIfSameSocket(target.path, stat);
    if (removal === 'removed') return;
    if (removal === 'changed') {
      fail(
        'EADDRINUSE',
        `${target.path} changed while it was being checked: it is no longer the stale socket file that was probed, so it was left untouched (EADDRINUSE)`,
      );
    } else {
      const described = describeSystemError(removal.code, removal.message, {
        address: target.path,
        operation: 'listen',
      });
      fail('EADDRINUSE', `Cannot remove the stale socket file: ${described.message}`);
    }
  }
}

function stoppedWhileOpening(): WorkbenchError {
  return new WorkbenchError('NOT_OPEN', 'The listener was stopped before it was listening');
}

/**
 * Unlinks `path` only if it still names the socket file `found` describes. The lstat and the
 * unlink are synchronous and back to back on purpose: an await between them would let the event
 * loop run for as long as anything else wants, widening the window in which the file can be
 * replaced. A new file can reuse a freed inode number, hence the type and ctime checks too.
 */
function unlinkIfSameSocket(
  path: string,
  found: fs.BigIntStats,
): 'removed' | 'changed' | NodeJS.ErrnoException {
  try {
    const now = fs.lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (!now) return 'removed'; // someone else removed it: the path is free all the same
    if (
      !now.isSocket() ||
      now.dev !== found.dev ||
      now.ino !== found.ino ||
      now.ctimeNs !== found.ctimeNs
    ) {
      return 'changed';
    }
    fs.unlinkSync(path);
    return 'removed';
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
}

/** Connects to a socket file: only ECONNREFUSED proves that nobody listens there. */
function probeSocketFile(path: string): Promise<'listening' | 'refused' | string> {
  return new Promise((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve('listening');
    });
    probe.once('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'ECONNREFUSED' ? 'refused' : (error.code ?? 'unknown error')),
    );
  });
}
