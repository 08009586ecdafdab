/** Small helpers the fault tests share, on top of test/support. */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { Engine } from '../../src/main/engine/engine';
import type { Router } from '../../src/main/router';
import type {
  CommandInput,
  CommandName,
  CommandOutput,
  EndpointInfo,
} from '../../src/shared/contract';
import type { UserError } from '../../src/shared/errors';
import { waitForEndpoint } from './wait';

export const MiB = 1024 * 1024;

export function portOf(info: EndpointInfo): number {
  if (!info.local || !('port' in info.local)) throw new Error(`${info.id} has no port`);
  return info.local.port;
}

/** Calls a command and returns its value, failing the test with the typed error otherwise. */
export async function call<C extends CommandName>(
  router: Router,
  command: C,
  input: CommandInput<C>,
): Promise<CommandOutput<C>> {
  const result = await router.invoke(command, input);
  if (!result.ok) {
    throw new Error(`${command} failed: ${result.error.code} ${result.error.message}`);
  }
  return result.value as CommandOutput<C>;
}

/** Calls a command that must fail, and returns its typed error. */
export async function refusal(
  router: Router,
  command: unknown,
  input: unknown,
): Promise<UserError> {
  const result = await router.invoke(command, input);
  if (result.ok) throw new Error(`${String(command)} succeeded, but should have failed`);
  return result.error;
}

/** The connection a listener accepted from the client whose local port is `clientPort`. */
export function acceptedFrom(
  engine: Engine,
  listenerId: string,
  clientPort: number,
): Promise<EndpointInfo> {
  return waitForEndpoint(
    engine,
    `the connection ${listenerId} accepted from port ${clientPort}`,
    (e) =>
      e.parentId === listenerId &&
      e.remote !== null &&
      'port' in e.remote &&
      e.remote.port === clientPort,
  );
}

/** One direction of an endpoint's capture, read back through the router, page by page. */
export async function readDirection(
  router: Router,
  id: string,
  dir: 'in' | 'out',
): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  const page = 4 * MiB;
  let total = Infinity;
  for (let offset = 0; offset < total; offset += page) {
    const { chunks, totalBytes } = await call(router, 'capture.read', {
      id,
      offset,
      length: page,
    });
    total = totalBytes;
    for (const chunk of chunks) if (chunk.dir === dir) parts.push(chunk.bytes);
  }
  return Buffer.concat(parts);
}

/** A plain node:net server (not the workbench) that keeps what each client sends. */
export async function startSinkServer(): Promise<{
  server: net.Server;
  port: number;
  sockets: Set<net.Socket>;
  /** Everything every client sent, in arrival order. */
  received: () => Buffer;
  close: () => Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const parts: Buffer[] = [];
  // Not half-open: it closes its side when a client closes, leaving nothing behind.
  const server = net.createServer({ allowHalfOpen: false }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (data: Buffer) => parts.push(data));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    sockets,
    received: () => Buffer.concat(parts),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** waitUntil (test/support/wait.ts) for checks that have to await something. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A python3 peer whose stdout lines the test reads as they come. */
export interface PythonPeer {
  child: ChildProcess;
  lines: string[];
  /** The first line (already printed or still to come) that `match` accepts. */
  line(what: string, match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves once the process has exited and all it printed has been read. */
  exited: Promise<number | null>;
}

export function startPythonPeer(script: string, args: Array<string | number>): PythonPeer {
  const child = spawn('python3', ['-u', '-c', script, ...args.map(String)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  child.stdout?.on('data', (data: Buffer) => {
    const text = partial + data.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
  // 'close', not 'exit': every line the process printed has been read by then.
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    lines,
    exited,
    async line(what, match, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find(match);
        if (found !== undefined) return found;
        if (done && lines.find(match) === undefined) {
          throw new Error(`python3 exited before ${what}: ${stderr}`);
        }
        if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
  };
}
