/** Peers that are not the workbench: plain node:net sockets and external programs. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'swb-test-'));
}

export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** A node:net client that records what it receives. */
export async function connectPeer(
  options: net.NetConnectOpts,
): Promise<{ socket: net.Socket; received: () => Buffer; ended: Promise<void> }> {
  const socket = net.connect(options);
  const parts: Buffer[] = [];
  socket.on('data', (data) => parts.push(data));
  socket.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received: () => Buffer.concat(parts), ended };
}

export function startProcess(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr?.on('data', () => undefined);
  return child;
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Runs a python3 script; resolves with its stdout once it has printed `ready` (or exited). */
export function startPython(
  script: string,
  args: string[] = [],
): {
  child: ChildProcess;
  ready: Promise<string>;
} {
  const child = spawn('python3', ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (data: Buffer) => {
      out += data.toString();
      // The whole line: a pipe may hand over "ready" before the rest of it.
      if (/ready[^\n]*\n/.test(out)) resolve(out);
    });
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`python3 exited ${code}`)),
    );
  });
  return { child, ready };
}

/**
 * A socket file nobody listens on, as a server that died leaves it: python3 binds, listens and
 * closes without unlinking.
 */
export async function makeStaleSocketFile(socketPath: string): Promise<void> {
  const python = startPython(
    [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX)',
      's.bind(sys.argv[1])',
      's.listen(1)',
      's.close()',
      "print('ready', flush=True)",
    ].join('\n'),
    [socketPath],
  );
  await python.ready;
}
