/**
 * Auto-reply round trip: a client in its own process (bench/peers/rtt-client.mjs) writes
 * "PING\n" and waits for the 5-byte reply, N times, against
 *   (a) an Engine in this process with one rule, contains "PING" -> "PONG\n" (captured, counted,
 *       matched per read, replied on the next turn of the event loop), and
 *   (b) a python3 echo server (recv, sendall), what a user might script instead,
 * with the same client, same message size and same reply size. Rounds alternate (python3,
 * engine, python3, …); each figure is the median over rounds of that round's percentile. Goal:
 * the engine's p99 at most twice python3's. For scale, (c): a plain node:net echo server in this
 * same process, which tells what Node itself costs here from what the engine adds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { Engine } from '../src/main/engine/engine';
import { commands } from '../src/shared/contract';
import { benchDir, log, median, percentile, round, waitForExit } from './lib/util';

export interface AutoReplyOptions {
  /** Round trips timed per round (default 2,000). */
  count?: number;
  /** Round trips before timing starts, per round (default 200). */
  warmup?: number;
  /** Rounds per server (default 3). */
  rounds?: number;
}

const MESSAGE = 'PING\n';
const REPLY = 'PONG\n';

const PYTHON_ECHO = [
  'import socket',
  's = socket.socket()',
  's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  "s.bind(('127.0.0.1', 0))",
  's.listen(16)',
  'print(s.getsockname()[1], flush=True)',
  'while True:',
  '    c, _ = s.accept()',
  '    while True:',
  '        d = c.recv(65536)',
  '        if not d:',
  '            break',
  '        c.sendall(d)',
  '    c.close()',
].join('\n');

/** Round-trip times (µs) of one client run against 127.0.0.1:port. */
async function timeRoundTrips(port: number, count: number, warmup: number): Promise<number[]> {
  const child = spawn(
    process.execPath,
    [
      path.join(benchDir, 'peers/rtt-client.mjs'),
      '--port',
      String(port),
      '--count',
      String(count),
      '--warmup',
      String(warmup),
      '--message',
      MESSAGE,
      '--reply-bytes',
      String(REPLY.length),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (data: Buffer) => (out += data.toString()));
  const code = await waitForExit(child);
  if (code !== 0) throw new Error(`rtt-client exited with ${code}`);
  return (JSON.parse(out) as { us: number[] }).us;
}

async function startPythonEcho(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn('python3', ['-c', PYTHON_ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (line) => resolve(Number(line)));
    child.once('exit', (code) => reject(new Error(`python3 echo server exited (${code})`)));
  });
  return { child, port };
}

/** A plain node:net echo server in this process (no capture, no rules). */
async function startNodeEcho(): Promise<{
  server: net.Server;
  port: number;
  sockets: Set<net.Socket>;
}> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (data) => socket.write(data));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port, sockets };
}

interface RoundFigures {
  p50Us: number;
  p99Us: number;
}

function figures(us: number[]): RoundFigures {
  return { p50Us: round(percentile(us, 50), 1), p99Us: round(percentile(us, 99), 1) };
}

export async function run(options: AutoReplyOptions = {}): Promise<Record<string, unknown>> {
  const count = options.count ?? 2000;
  const warmup = options.warmup ?? 200;
  const rounds = options.rounds ?? 3;
  // Its own private capture folder, removed on dispose.
  const engine = new Engine();
  const python = await startPythonEcho();
  const nodeEcho = await startNodeEcho();
  try {
    const listener = await engine.listenTcp(
      commands['tcp.listen'].input.parse({ host: '127.0.0.1', port: 0 }),
    );
    const port = listener.local && 'port' in listener.local ? listener.local.port : 0;
    engine.rules.set(
      commands['rules.set'].input.parse({
        id: listener.id,
        rules: [
          {
            id: 'ping',
            match: { mode: 'contains', payload: { format: 'text', data: 'PING' } },
            reply: { format: 'text', data: 'PONG\\n' },
          },
        ],
      }),
    );
    const engineRounds: RoundFigures[] = [];
    const pythonRounds: RoundFigures[] = [];
    const nodeRounds: RoundFigures[] = [];
    for (let r = 0; r < rounds; r++) {
      pythonRounds.push(figures(await timeRoundTrips(python.port, count, warmup)));
      engineRounds.push(figures(await timeRoundTrips(port, count, warmup)));
      nodeRounds.push(figures(await timeRoundTrips(nodeEcho.port, count, warmup)));
      log(
        `  round ${r + 1}: engine p50 ${engineRounds[r]?.p50Us} µs p99 ${engineRounds[r]?.p99Us} µs; ` +
          `python3 p50 ${pythonRounds[r]?.p50Us} µs p99 ${pythonRounds[r]?.p99Us} µs; ` +
          `node:net p50 ${nodeRounds[r]?.p50Us} µs p99 ${nodeRounds[r]?.p99Us} µs`,
      );
    }
    const hits = engine.rules.get(listener.id).states[0]?.hits ?? 0;
    const p50Us = median(engineRounds.map((f) => f.p50Us));
    const p99Us = median(engineRounds.map((f) => f.p99Us));
    const pythonP50Us = median(pythonRounds.map((f) => f.p50Us));
    const pythonP99Us = median(pythonRounds.map((f) => f.p99Us));
    return {
      count,
      warmup,
      rounds,
      p50Us,
      p99Us,
      pythonP50Us,
      pythonP99Us,
      p99Ratio: round(p99Us / pythonP99Us, 2),
      p50Ratio: round(p50Us / pythonP50Us, 2),
      /** Every round trip (warm-up too) was one hit: nothing was missed or matched twice. */
      hits,
      nodeP50Us: median(nodeRounds.map((f) => f.p50Us)),
      nodeP99Us: median(nodeRounds.map((f) => f.p99Us)),
      engineRounds,
      pythonRounds,
      nodeRounds,
    };
  } finally {
    nodeEcho.server.close();
    for (const socket of nodeEcho.sockets) socket.destroy();
    python.child.kill();
    await engine.dispose();
  }
}
