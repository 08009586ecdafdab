/**
 * A listening stream socket: TCP on host:port or Unix-domain on a path.
 * socket() + bind() -> listen(backlog) -> accept() for every connection, until stopped.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { EndpointInfo } from '../../shared/contract';
import { describeSystemError, WorkbenchError } from '../../shared/errors';
import { Connection, describeTarget } from './connection';
import { Endpoint, type EngineContext } from './endpoint';

export type ListenTarget =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string; removeStale: boolean };

export interface ListenerHooks {
  /** Gives each accepted connection an id and registers it with the engine. */
  adopt(socket: net.Socket, listener: Listener): Connection;
}

export class Listener extends Endpoint {
  readonly connections = new Set<Connection>();
  private readonly server: net.Server;
  private readonly backlog: number;
  private readonly allowHalfOpen: boolean;
  /** Rejects a pending open() when the listener is stopped before it is listening. */
  private abortOpen: ((error: WorkbenchError) => void) | null = null;

  constructor(
    id: string,
    context: EngineContext,
    readonly target: ListenTarget,
    options: { backlog: number; allowHalfOpen: boolean },
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
    this.server = net.createServer({ allowHalfOpen: options.allowHalfOpen });
    this.server.on('connection', (socket) => this.onConnection(socket));
    this.server.on('error', (error: NodeJS.ErrnoException) => this.onError(error));
    this.local = target.kind === 'unix' ? { path: target.path } : null;
    this.record('socket', 'opening', { detail: this.where() });
  }

  get unixPath(): string | null {
    return this.target.kind === 'unix' ? this.target.path : null;
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

  broadcast(bytes: Uint8Array): number {
    let count = 0;
    for (const connection of this.connections) {
      if (!connection.isWritable) continue;
      connection.send(bytes);
      count += 1;
    }
    return count;
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

  forgetConnection(connection: Connection): void {
    this.connections.delete(connection);
  }

  override async dispose(): Promise<void> {
    await Promise.all([...this.connections].map((connection) => connection.dispose()));
    if (!this.isFinished) await this.stop(false);
    else if (this.server.listening) this.server.close();
  }

  protected override options(): EndpointInfo['options'] {
    return {
      noDelay: false,
      keepAlive: false,
      allowHalfOpen: this.allowHalfOpen,
      backlog: this.backlog,
    };
  }

  protected override openConnections(): number {
    let open = 0;
    for (const connection of this.connections) if (!connection.isFinished) open += 1;
    return open;
  }

  private onConnection(socket: net.Socket): void {
    const connection = this.hooks.adopt(socket, this);
    this.connections.add(connection);
    socket.once('close', () => this.hub.touch(this.id));
    this.hub.touch(this.id);
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
   */
  private async clearStaleSocketFile(target: { path: string; removeStale: boolean }) {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.lstat(target.path);
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
    try {
      await fs.promises.unlink(target.path);
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException).code;
      const described = describeSystemError(errno, (error as Error).message, {
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
