/** Starts test/support/engine-process.ts in a child process and calls its router. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EngineOptions } from '../../src/main/engine/engine';
import type {
  CommandInput,
  CommandName,
  CommandOutput,
  CommandResult,
} from '../../src/shared/contract';
import { decodeWire, encodeWire, type ServerMessage } from '../../src/shared/wire';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const script = path.join(root, 'test/support/engine-process.ts');

export interface EngineProcess {
  child: ChildProcess;
  pid: number;
  invoke<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandResult<C>>;
  /** The value of a call that must succeed. */
  call<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandOutput<C>>;
  /** Closes stdin (the engine disposes itself) and resolves with the exit code. */
  stop(): Promise<number | null>;
  stderr(): string;
}

/**
 * `maxFds` lowers RLIMIT_NOFILE for the child only, with the shell's ulimit; `captureDir` is
 * where its engine makes its capture session's folder; `engine`, other options its Engine gets.
 */
export function startEngineProcess(
  options: { maxFds?: number; captureDir?: string; engine?: EngineOptions } = {},
): Promise<EngineProcess> {
  const node = [process.execPath, '--import', 'tsx', script];
  const env = {
    ...process.env,
    SOCKET_WORKBENCH_CAPTURE_DIR: options.captureDir ?? '',
    SOCKET_WORKBENCH_TEST_ENGINE: JSON.stringify(options.engine ?? {}),
  };
  const child =
    options.maxFds === undefined
      ? spawn(node[0] as string, node.slice(1), { cwd: root, stdio: 'pipe', env })
      : spawn('sh', ['-c', 'ulimit -n "$0" && exec "$@"', String(options.maxFds), ...node], {
          cwd: root,
          stdio: 'pipe',
          env,
        });
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const pending = new Map<number, (result: CommandResult<CommandName>) => void>();
  let nextId = 1;

  return new Promise((resolve, reject) => {
    exited.then((code) => reject(new Error(`engine process exited ${code}: ${stderr}`)));
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const message = decodeWire(line) as ServerMessage | { t: 'ready'; pid: number };
      if (message.t === 'ready') {
        resolve(handle(message.pid));
      } else if (message.t === 'result') {
        pending.get(message.id)?.(message.result);
        pending.delete(message.id);
      }
    });
  });

  function handle(pid: number): EngineProcess {
    const invoke = <C extends CommandName>(command: C, input: CommandInput<C>) =>
      new Promise<CommandResult<C>>((resolve) => {
        const id = nextId++;
        pending.set(id, resolve as (result: CommandResult<CommandName>) => void);
        child.stdin?.write(`${encodeWire({ t: 'call', id, command, input })}\n`);
      });
    return {
      child,
      pid,
      invoke,
      async call(command, input) {
        const result = await invoke(command, input);
        if (!result.ok) {
          throw new Error(`${command} failed: ${result.error.code} ${result.error.message}`);
        }
        return result.value;
      },
      stop() {
        child.stdin?.end();
        return exited;
      },
      stderr: () => stderr,
    };
  }
}
