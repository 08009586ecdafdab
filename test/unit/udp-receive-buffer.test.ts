/**
 * A UDP socket's receive buffer (issue 15): SO_RCVBUF is asked for (the engine's default or the
 * user's receiveBufferSize), the size the kernel granted is what the socket really has (read
 * back with python3's getsockopt and `ss` beside the engine's own answer), out-of-range asks are
 * refused with a coded error, a workspace keeps the ask, and a burst that a plain receiver keeps
 * is captured whole and in order, every datagram accounted for.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router } from '../../src/main/router';
import {
  RECEIVE_BUFFER_DEFAULT,
  RECEIVE_BUFFER_MAX,
  RECEIVE_BUFFER_MIN,
  type EndpointInfo,
} from '../../src/shared/contract';
import { call, eventually, portOf, refusal } from '../support/engine-helpers';
import { hasCommand, tempDir } from '../support/peers';
import { waitUntil } from '../support/wait';

const linux = process.platform === 'linux';
const hasPython = hasCommand('python3');

let dir: string;
const engines: Engine[] = [];

beforeEach(() => {
  dir = tempDir();
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.dispose()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function newEngine(): { engine: Engine; router: Router } {
  const engine = new Engine({ dataDir: path.join(dir, 'data'), keepFinished: 100 });
  engines.push(engine);
  return { engine, router: createRouter(engine) };
}

function python(script: string[], args: Array<string | number>): string {
  const result = spawnSync('python3', ['-c', script.join('\n'), ...args.map(String)], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** What the kernel grants a plain socket (python3's, not node's) that asks for `bytes`. */
function grantedToPlainSocket(bytes: number): number {
  return Number(
    python(
      [
        'import socket, sys',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        's.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(sys.argv[1]))',
        'print(s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))',
      ],
      [bytes],
    ),
  );
}

/** The `rb` (receive buffer) of `ss -uamn` for the UDP socket bound to this port. */
function ssReceiveBuffer(port: number): number | undefined {
  const result = spawnSync('ss', ['-uamnH', `sport = :${port}`], { encoding: 'utf8' });
  const match = /\brb(\d+)\b/.exec(result.stdout ?? '');
  return match ? Number(match[1]) : undefined;
}

function receiveBuffer(info: EndpointInfo): { asked: number; granted: number } {
  if (!info.receiveBuffer) throw new Error(`${info.id} says nothing of its receive buffer`);
  return info.receiveBuffer;
}

describe('SO_RCVBUF of a UDP socket', () => {
  it('asks for the default when told nothing, and says what the kernel granted', async () => {
    const { router } = newEngine();
    const udp = await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
    const buffer = receiveBuffer(udp);
    expect(buffer.asked).toBe(RECEIVE_BUFFER_DEFAULT);
    expect(buffer.granted).toBeGreaterThan(0);
    if (linux && hasPython) expect(buffer.granted).toBe(grantedToPlainSocket(buffer.asked));
    if (linux && hasCommand('ss')) expect(ssReceiveBuffer(portOf(udp))).toBe(buffer.granted);
  });

  it.each([RECEIVE_BUFFER_MIN, 65_536, 1024 * 1024, RECEIVE_BUFFER_MAX])(
    'applies receiveBufferSize %i: the granted size is the socket’s own',
    async (asked) => {
      const { router } = newEngine();
      const udp = await call(router, 'udp.bind', {
        host: '127.0.0.1',
        port: 0,
        receiveBufferSize: asked,
      });
      const buffer = receiveBuffer(udp);
      expect(buffer.asked).toBe(asked);
      if (linux && hasPython) expect(buffer.granted).toBe(grantedToPlainSocket(asked));
      if (linux && hasCommand('ss')) expect(ssReceiveBuffer(portOf(udp))).toBe(buffer.granted);
    },
  );

  it.each([0, RECEIVE_BUFFER_MIN - 1, RECEIVE_BUFFER_MAX + 1, 65_536.5, -1])(
    'refuses receiveBufferSize %d with INVALID_INPUT, saying the bounds',
    async (asked) => {
      const { engine, router } = newEngine();
      const error = await refusal(router, 'udp.bind', {
        host: '127.0.0.1',
        port: 0,
        receiveBufferSize: asked,
      });
      expect(error.code).toBe('INVALID_INPUT');
      expect(error.message).toContain('receive buffer');
      expect(error.message).toContain(String(RECEIVE_BUFFER_MIN));
      expect(error.message).toContain(String(RECEIVE_BUFFER_MAX));
      expect(engine.list().filter((e) => e.role === 'udp')).toEqual([]);
    },
  );

  it('a workspace keeps the size asked for, and a socket without one follows the default', async () => {
    const first = newEngine();
    await first.engine.workspace.start();
    await call(first.router, 'udp.bind', {
      host: '127.0.0.1',
      port: 0,
      receiveBufferSize: 262_144,
    });
    await call(first.router, 'udp.bind', { host: '127.0.0.1', port: 0 });
    await call(first.router, 'workspace.save', {
      view: { mode: 'text', decoding: 'utf-8', timestamps: false },
    });
    await first.engine.dispose();
    engines.splice(engines.indexOf(first.engine), 1);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'data', 'workspace.json'), 'utf8'));
    expect(saved.endpoints.map((e: { input: unknown }) => e.input)).toEqual([
      { host: '127.0.0.1', port: 0, receiveBufferSize: 262_144 },
      { host: '127.0.0.1', port: 0 },
    ]);

    const second = newEngine();
    await second.engine.workspace.start();
    const reopened = await eventually('both UDP sockets open again', async () => {
      const udp = second.engine.list().filter((e) => e.role === 'udp' && e.state === 'bound');
      return udp.length === 2 ? udp : undefined;
    });
    expect(reopened.map((e) => receiveBuffer(e).asked).sort((a, b) => a - b)).toEqual([
      262_144,
      RECEIVE_BUFFER_DEFAULT,
    ]);
  });
});

describe.runIf(linux && hasPython && fs.existsSync('/proc/net/udp'))(
  'a burst into a UDP socket',
  () => {
    /**
     * python3 sends `count` numbered datagrams of 64 bytes to the port as fast as it can, then
     * (with `drain`) reads what its own receiver kept. spawnSync blocks this process, so the
     * engine reads nothing while the burst lasts: only the receive buffer holds it, for both.
     */
    function burst(port: number, count: number): void {
      python(
        [
          'import socket, sys',
          'port, count = int(sys.argv[1]), int(sys.argv[2])',
          's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
          'for i in range(count):',
          "    s.sendto(i.to_bytes(4, 'big') * 16, ('127.0.0.1', port))",
        ],
        [port, count],
      );
    }

    /** How many of the same burst a plain socket asking for the same SO_RCVBUF keeps. */
    function keptByPlainReceiver(asked: number, count: number): number {
      return Number(
        python(
          [
            'import socket, sys',
            'asked, count = int(sys.argv[1]), int(sys.argv[2])',
            'r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
            'r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, asked)',
            "r.bind(('127.0.0.1', 0))",
            's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
            'for i in range(count):',
            "    s.sendto(i.to_bytes(4, 'big') * 16, r.getsockname())",
            'r.setblocking(False)',
            'kept = 0',
            'try:',
            '    while True:',
            '        r.recv(100)',
            '        kept += 1',
            'except BlockingIOError:',
            '    pass',
            'print(kept)',
          ],
          [asked, count],
        ),
      );
    }

    it('captures every datagram the buffer kept, in order; received + drops = sent, exactly', async () => {
      const { engine, router } = newEngine();
      const udp = await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
      const { asked } = receiveBuffer(udp);
      const sent = 2000;
      const plainKept = keptByPlainReceiver(asked, sent);
      burst(portOf(udp), sent);
      const counters = await waitUntil('every datagram read and the kernel count settled', () => {
        const now = engine.info(udp.id).counters;
        const total = now.chunksIn + (now.kernelDrops ?? 0) + now.datagramsDropped;
        return total === sent ? now : undefined;
      });
      expect(counters.kernelDrops).not.toBeNull();
      // What a plain receiver with the same buffer keeps, the engine keeps too.
      expect(counters.chunksIn).toBeGreaterThanOrEqual(plainKept);

      // The capture holds exactly the datagrams counted, each whole, in the order they were sent.
      const { chunks } = engine.readCapture(udp.id, 0, sent * 64);
      expect(chunks).toHaveLength(counters.chunksIn);
      const numbers = chunks.map((chunk) => {
        expect(chunk.bytes.byteLength).toBe(64);
        expect(chunk.peer?.host).toBe('127.0.0.1');
        return Buffer.from(chunk.bytes).readUInt32BE(0);
      });
      for (let i = 1; i < numbers.length; i++) {
        expect(numbers[i]).toBeGreaterThan(numbers[i - 1] as number);
      }
      // The numbers missing are exactly the ones counted as dropped.
      expect(sent - numbers.length).toBe((counters.kernelDrops ?? 0) + counters.datagramsDropped);
    });
  },
);
