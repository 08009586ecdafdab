/**
 * kernel.sample (issue 14): the kernel's view of the engine's sockets, read from the kernel
 * itself (ss and /proc/net) while real peers (python3, node:net) do what makes each state and
 * queue appear: paused reading fills Recv-Q and then the peer's send queue, closing first leaves
 * TIME_WAIT, a peer's FIN leaves CLOSE_WAIT, a full accept queue leaves a client in SYN_SENT.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineOptions } from '../../src/main/engine/engine';
import {
  parseProcAddress,
  parseProcUnixRow,
  readProcLines,
} from '../../src/main/engine/kernel/proc-net';
import { KernelView } from '../../src/main/engine/kernel/sampler';
import {
  parseSsInet,
  parseSsTimer,
  SsCoprocess,
  type SsQuery,
  type SsRunner,
} from '../../src/main/engine/kernel/ss';
import type { KernelSample } from '../../src/shared/contract';
import { WorkbenchError } from '../../src/shared/errors';
import {
  acceptedFrom,
  eventually,
  portOf,
  startPythonPeer,
  type PythonPeer,
} from '../support/engine-helpers';
import { cleanupsAfterEach, connectLocalTcp } from '../support/engine';
import { hasCommand, tempDir } from '../support/peers';
import { waitForEndpoint, waitForState } from '../support/wait';

const onLinux = process.platform === 'linux';
const hasSs = onLinux && hasCommand('ss');

const cleanups = cleanupsAfterEach();
const pythons: PythonPeer[] = [];
afterEach(() => {
  for (const python of pythons.splice(0)) python.child.kill();
});

function python(script: string, ...args: Array<string | number>): PythonPeer {
  const peer = startPythonPeer(script, args);
  pythons.push(peer);
  return peer;
}

/** An ss runner that counts what it runs, and how many run at once. */
class CountingSs implements SsRunner {
  runs = 0;
  running = 0;
  mostAtOnce = 0;
  constructor(readonly inner: SsRunner) {}
  async run(query: SsQuery): Promise<string | null> {
    this.runs += 1;
    this.running += 1;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.running);
    try {
      return await this.inner.run(query);
    } finally {
      this.running -= 1;
    }
  }
  dispose(): void {
    this.inner.dispose();
  }
}

/** ss as if iproute2 were not installed: everything comes from /proc/net. */
const noSs: SsRunner = { run: () => Promise.resolve(null), dispose: () => undefined };

function newEngine(options: EngineOptions = {}): Engine {
  const engine = new Engine(options);
  cleanups.push(() => engine.dispose());
  return engine;
}

async function sampleOf(engine: Engine, id: string): Promise<KernelSample> {
  const { samples } = await engine.sampleKernel([id]);
  const sample = samples[0];
  if (!sample) throw new Error(`no sample for ${id}`);
  return sample;
}

/** Samples until `check` accepts one (the kernel gets there in its own time). */
async function sampleUntil(
  engine: Engine,
  id: string,
  what: string,
  check: (sample: KernelSample) => boolean,
): Promise<KernelSample> {
  let last: KernelSample | undefined;
  try {
    return await eventually(`${id}: ${what}`, async () => {
      last = await sampleOf(engine, id);
      return check(last) ? last : undefined;
    });
  } catch (error) {
    throw new Error(`${String(error)}; the last sample: ${JSON.stringify(last)}`, { cause: error });
  }
}

function listenTcp(engine: Engine, host = '127.0.0.1', backlog = 16) {
  return engine.listenTcp({ host, port: 0, backlog, allowHalfOpen: true });
}

describe.runIf(onLinux)('the kernel view of TCP', () => {
  it.runIf(hasSs)(
    'paused reading fills Recv-Q up to the receive buffer, then the peer cannot send',
    async () => {
      const engine = newEngine();
      const listener = await listenTcp(engine);
      // Sends until the kernel takes no more (EAGAIN several times in a row), then reports what
      // is stuck in its own send queue (SIOCOUTQ).
      const peer = python(
        [
          'import fcntl, socket, struct, sys, termios, time',
          'c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))',
          'print("port", c.getsockname()[1])',
          'sys.stdin.readline()',
          'c.setblocking(False)',
          'sent, refusals = 0, 0',
          'while refusals < 5:',
          '    try:',
          '        sent += c.send(b"x" * 65536)',
          '        refusals = 0',
          '    except BlockingIOError:',
          '        refusals += 1',
          '        time.sleep(0.05)',
          'outq = struct.unpack("i", fcntl.ioctl(c, termios.TIOCOUTQ, b"\\0" * 4))[0]',
          'print("full", sent, outq)',
          'sys.stdin.readline()',
        ].join('\n'),
        portOf(listener),
      );
      const clientPort = Number(
        (await peer.line('its port', (l) => l.startsWith('port'))).split(' ')[1],
      );
      const accepted = await acceptedFrom(engine, listener.id, clientPort);
      engine.setReadingPaused(accepted.id, true);
      peer.child.stdin?.write('go\n');
      const [, sent, outq] = (await peer.line('a full send queue', (l) => l.startsWith('full')))
        .split(' ')
        .map(Number);
      expect(sent).toBeGreaterThan(0);
      // The peer's own kernel holds what ours would not take: its send queue is not empty.
      expect(outq).toBeGreaterThan(0);

      const sample = await sampleUntil(
        engine,
        accepted.id,
        'bytes waiting',
        (s) => (s.recvQ ?? 0) > 0,
      );
      expect(sample).toMatchObject({ found: true, tcpState: 'ESTABLISHED' });
      expect(sample.rcvBuf).toBeGreaterThan(0);
      expect(sample.sndBuf).toBeGreaterThan(0);
      expect(sample.recvQ).toBeLessThanOrEqual(sample.rcvBuf ?? 0);
      expect(sample.mss).toBeGreaterThan(0);
      expect(sample.cwnd).toBeGreaterThan(0);
      expect(sample.rttMs).not.toBeNull();
      expect(sample.retransmits).toBe(0);
      peer.child.stdin?.end();
    },
  );

  it('closing first leaves TIME_WAIT with its countdown, found after the endpoint closed', async () => {
    const engine = newEngine();
    // Reads until our FIN, then closes its side: the four-way teardown runs to its end.
    const peer = python(
      [
        'import socket',
        's = socket.socket()',
        's.bind(("127.0.0.1", 0))',
        's.listen(1)',
        'print("port", s.getsockname()[1])',
        'a, _ = s.accept()',
        'while a.recv(4096): pass',
        'a.close()',
        'print("closed")',
        'import sys; sys.stdin.readline()',
      ].join('\n'),
    );
    const port = Number((await peer.line('its port', (l) => l.startsWith('port'))).split(' ')[1]);
    const client = await connectLocalTcp(engine, port);
    await sampleUntil(engine, client.id, 'ESTABLISHED', (s) => s.tcpState === 'ESTABLISHED');
    engine.close(client.id);
    await waitForState(engine, client.id, 'closed');
    await peer.line('the peer closing', (l) => l === 'closed');
    const sample = await sampleUntil(
      engine,
      client.id,
      'TIME_WAIT',
      (s) => s.tcpState === 'TIME_WAIT',
    );
    expect(sample.found).toBe(true);
    expect(sample.timerMs).toBeGreaterThan(0);
    peer.child.stdin?.end();
  });

  it.runIf(hasSs)('closing first against a peer that never closes leaves FIN_WAIT2', async () => {
    const engine = newEngine();
    const peer = python(
      [
        'import socket, sys',
        's = socket.socket()',
        's.bind(("127.0.0.1", 0))',
        's.listen(1)',
        'print("port", s.getsockname()[1])',
        'a, _ = s.accept()',
        'sys.stdin.readline()',
      ].join('\n'),
    );
    const port = Number((await peer.line('its port', (l) => l.startsWith('port'))).split(' ')[1]);
    const client = await connectLocalTcp(engine, port);
    engine.close(client.id);
    await waitForState(engine, client.id, 'closed');
    const sample = await sampleUntil(
      engine,
      client.id,
      'FIN_WAIT2',
      (s) => s.tcpState === 'FIN_WAIT2',
    );
    expect(sample.found).toBe(true);
    peer.child.stdin?.end();
  });

  it("a peer's FIN with our side open is CLOSE_WAIT", async () => {
    const engine = newEngine();
    const listener = await listenTcp(engine);
    const peer = python(
      [
        'import socket, sys',
        'c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))',
        'print("port", c.getsockname()[1])',
        'c.shutdown(socket.SHUT_WR)',
        'sys.stdin.readline()',
      ].join('\n'),
      portOf(listener),
    );
    const clientPort = Number(
      (await peer.line('its port', (l) => l.startsWith('port'))).split(' ')[1],
    );
    const accepted = await acceptedFrom(engine, listener.id, clientPort);
    await waitForState(engine, accepted.id, 'half-closed-remote');
    const sample = await sampleUntil(
      engine,
      accepted.id,
      'CLOSE_WAIT',
      (s) => s.tcpState === 'CLOSE_WAIT',
    );
    expect(sample.found).toBe(true);
    peer.child.stdin?.end();
  });

  it.runIf(hasSs)(
    'a full accept queue keeps a client in SYN_SENT; a listener shows its queue and backlog',
    async () => {
      const engine = newEngine();
      const view = new KernelView();
      cleanups.push(() => view.dispose());
      const peer = python(
        [
          'import socket, sys',
          's = socket.socket()',
          's.bind(("127.0.0.1", 0))',
          's.listen(1)',
          'print("port", s.getsockname()[1])',
          'sys.stdin.readline()',
        ].join('\n'),
      );
      const port = Number((await peer.line('its port', (l) => l.startsWith('port'))).split(' ')[1]);
      const pythonListener = {
        kind: 'tcp-listener',
        local: { host: '127.0.0.1', port },
      } as const;
      // Linux queues backlog + 1 finished handshakes; SYNs past that are dropped.
      const fillers: net.Socket[] = [];
      cleanups.push(() => fillers.forEach((socket) => socket.destroy()));
      const queued = await eventually('a full accept queue', async () => {
        const [reading] = (await view.sampleTargets([pythonListener])).readings;
        if (reading && reading.recvQ !== null && reading.sendQ !== null) {
          if (reading.recvQ > reading.sendQ) return reading;
        }
        // One more once the last one got in; one that does not is held in SYN_SENT itself.
        if (fillers.every((socket) => !socket.connecting) && fillers.length < 8) {
          const socket = net.connect({ host: '127.0.0.1', port });
          socket.on('error', () => undefined);
          fillers.push(socket);
        }
        return undefined;
      });
      expect(queued).toMatchObject({ found: true, tcpState: 'LISTEN', sendQ: 1 });
      expect(queued.recvQ).toBeGreaterThanOrEqual(1);

      const connecting = connectLocalTcp(engine, port, 30_000).catch(() => undefined);
      const client = await waitForEndpoint(engine, 'the client', (e) => e.role === 'client');
      const sample = await sampleUntil(
        engine,
        client.id,
        'SYN_SENT',
        (s) => s.tcpState === 'SYN_SENT',
      );
      expect(sample.found).toBe(true);
      // The SYN is retransmitted on a timer.
      expect(sample.timerMs).not.toBeNull();
      engine.close(client.id);
      await connecting;

      // The engine accepts at once: its own listener's queue is empty, its backlog as applied.
      const listener = await listenTcp(engine, '127.0.0.1', 7);
      const own = await sampleOf(engine, listener.id);
      expect(own).toMatchObject({ found: true, tcpState: 'LISTEN', recvQ: 0, sendQ: 7 });
      expect(own.rcvBuf).toBeGreaterThan(0);
      peer.child.stdin?.end();
    },
  );

  it('finds IPv6 and IPv4-mapped connections, with ss and from /proc/net/tcp6 alone', async () => {
    for (const kernelSources of [{}, { ss: noSs }]) {
      const engine = newEngine({ kernelSources });
      const v6 = await listenTcp(engine, '::1');
      const v6Client = await engine.connectTcp({
        host: '::1',
        port: portOf(v6),
        timeoutMs: 5000,
        noDelay: false,
        keepAlive: false,
        allowHalfOpen: true,
      });
      const dual = await listenTcp(engine, '::');
      const v4Client = await connectLocalTcp(engine, portOf(dual));
      const mapped = await acceptedFrom(engine, dual.id, portOf(v4Client));
      const ids = [v6.id, v6Client.id, dual.id, v4Client.id, mapped.id];
      const { samples, missing } = await engine.sampleKernel(ids);
      expect(samples.map((s) => [s.id, s.found, s.tcpState])).toEqual([
        [v6.id, true, 'LISTEN'],
        [v6Client.id, true, 'ESTABLISHED'],
        [dual.id, true, 'LISTEN'],
        [v4Client.id, true, 'ESTABLISHED'],
        [mapped.id, true, 'ESTABLISHED'],
      ]);
      if (kernelSources.ss === noSs) {
        expect(missing.join(' ')).toContain('ss (iproute2)');
        expect(samples.every((s) => s.rcvBuf === null)).toBe(true);
        // /proc/net/tcp has no backlog for a listener.
        expect(samples[0]?.sendQ).toBeNull();
      } else if (hasSs) {
        expect(missing).toEqual([]);
        expect(samples.every((s) => (s.rcvBuf ?? 0) > 0 && (s.sndBuf ?? 0) > 0)).toBe(true);
      }
    }
  });

  it('closing first is TIME_WAIT from /proc/net/tcp too, with its tm->when countdown', async () => {
    const engine = newEngine({ kernelSources: { ss: noSs } });
    const listener = await listenTcp(engine);
    const client = await connectLocalTcp(engine, portOf(listener));
    const accepted = await acceptedFrom(engine, listener.id, portOf(client));
    engine.close(client.id);
    await waitForState(engine, accepted.id, 'half-closed-remote');
    engine.close(accepted.id);
    const sample = await sampleUntil(
      engine,
      client.id,
      'TIME_WAIT',
      (s) => s.tcpState === 'TIME_WAIT',
    );
    expect(sample.timerMs).toBeGreaterThan(0);
    expect((await sampleOf(engine, accepted.id)).found).toBe(false);
  });
});

describe.runIf(onLinux)('the kernel view of Unix-domain and UDP sockets', () => {
  it('Unix-domain: a listener by its path, connections by their inodes', async () => {
    for (const kernelSources of [{}, { ss: noSs }]) {
      const engine = newEngine({ kernelSources });
      const dir = tempDir();
      cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
      const socketPath = path.join(dir, 'kernel view.sock');
      const listener = await engine.listenUnix({
        path: socketPath,
        backlog: 5,
        allowHalfOpen: true,
        removeStale: false,
      });
      const client = await engine.connectUnix({
        path: socketPath,
        timeoutMs: 5000,
        allowHalfOpen: true,
      });
      const accepted = await waitForEndpoint(
        engine,
        'the accepted one',
        (e) => e.parentId === listener.id,
      );
      const { samples } = await engine.sampleKernel([listener.id, client.id, accepted.id]);
      expect(samples.map((s) => [s.found, s.tcpState])).toEqual([
        [true, 'LISTEN'],
        [true, 'ESTABLISHED'],
        [true, 'ESTABLISHED'],
      ]);
      if (kernelSources.ss !== noSs && hasSs) {
        expect(samples[0]).toMatchObject({ recvQ: 0, sendQ: 5 });
        expect(samples.every((s) => (s.rcvBuf ?? 0) > 0)).toBe(true);
      }
      engine.close(client.id);
      await waitForState(engine, client.id, 'closed');
      expect((await sampleOf(engine, client.id)).found).toBe(false);
    }
  });

  it('UDP: by its local address, with its buffers', async () => {
    const engine = newEngine();
    const udp = await engine.bindUdp({ host: '127.0.0.1', port: 0 });
    const sample = await sampleOf(engine, udp.id);
    expect(sample).toMatchObject({ found: true, tcpState: null, recvQ: 0 });
    if (hasSs) expect(sample.rcvBuf).toBeGreaterThan(0);
    engine.closeUdp(udp.id);
    await waitForState(engine, udp.id, 'closed');
    expect((await sampleOf(engine, udp.id)).found).toBe(false);
  });
});

describe('what kernel.sample answers beyond the kernel', () => {
  it('unknown ids are refused; endpoints opened from a capture have no kernel socket', async () => {
    const engine = newEngine();
    await expect(engine.sampleKernel(['conn-999'])).rejects.toMatchObject({
      code: 'UNKNOWN_ENDPOINT',
    });
    await expect(engine.sampleKernel(['conn-999'])).rejects.toBeInstanceOf(WorkbenchError);

    const recorded = newEngine();
    const listener = await listenTcp(recorded);
    await connectLocalTcp(recorded, portOf(listener));
    await recorded.flushCapture();
    const { ids } = await engine.openCapture(recorded.status().capture.folder);
    expect(ids.length).toBeGreaterThan(0);
    const { samples } = await engine.sampleKernel(ids);
    expect(samples.every((s) => !s.found && s.tcpState === null)).toBe(true);
  });

  it('other systems: nothing found, and missing says what is not available', async () => {
    const engine = newEngine({ kernelSources: { platform: 'darwin' } });
    const listener = await listenTcp(engine);
    const { samples, missing } = await engine.sampleKernel([listener.id]);
    expect(samples[0]).toMatchObject({
      id: listener.id,
      found: false,
      tcpState: null,
      rcvBuf: null,
    });
    expect(missing.join(' ')).toMatch(/macOS.*not available/);
  });
});

describe.runIf(hasSs)('what sampling costs', () => {
  it('runs one ss at a time however many ask, and nothing while nobody asks', async () => {
    const ss = new CountingSs(new SsCoprocess());
    let procReads = 0;
    const engine = newEngine({
      kernelSources: {
        ss,
        readProc: (file, keep) => {
          procReads += 1;
          return readProcLines(file, keep);
        },
      },
    });
    const listener = await listenTcp(engine);
    const client = await connectLocalTcp(engine, portOf(listener));
    const accepted = await acceptedFrom(engine, listener.id, portOf(client));
    const udp = await engine.bindUdp({ host: '127.0.0.1', port: 0 });
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const unix = await engine.listenUnix({
      path: path.join(dir, 'cost.sock'),
      backlog: 4,
      allowHalfOpen: true,
      removeStale: false,
    });
    const ids = [listener.id, client.id, accepted.id, udp.id, unix.id];

    // Many views asking at once, each for a different mix.
    for (let round = 0; round < 5; round += 1) {
      const calls = Array.from({ length: 12 }, (_, i) =>
        engine.sampleKernel(ids.filter((_, j) => (i + j + round) % 3 !== 0)),
      );
      const answers = await Promise.all(calls);
      expect(answers.every(({ samples }) => samples.every((s) => s.found))).toBe(true);
    }
    expect(ss.mostAtOnce).toBe(1);
    // 60 calls shared their rounds: each round is at most one ss per kind of socket.
    expect(ss.runs).toBeLessThan(60);
    expect(procReads).toBe(0);

    // Nobody asks: nothing runs, and the shell that ran ss leaves.
    const runs = ss.runs;
    await eventually('the ss shell to leave', () =>
      Promise.resolve((ss.inner as SsCoprocess).pid === undefined),
    );
    expect(ss.runs).toBe(runs);
    expect(procReads).toBe(0);
  });
});

describe('reading what ss and /proc print', () => {
  it('parses ss timers, addresses and TCP info', () => {
    expect(parseSsTimer('59sec')).toBe(59_000);
    expect(parseSsTimer('200ms')).toBe(200);
    expect(parseSsTimer('2.808ms')).toBe(2808);
    expect(parseSsTimer('1min30sec')).toBe(90_000);
    const [socket, mapped, waiting] = parseSsInet(
      [
        'ESTAB 5 7 127.0.0.1:40000 127.0.0.1:8080',
        '\t skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0) ts sack cubic wscale:7,7 rto:204 rtt:0.05/0.025 ato:40 mss:32768 pmtu:65535 rcvmss:536 advmss:65483 cwnd:10 bytes_sent:12 retrans:0/3 bbr:(bw:0bps,mrtt:0.038,pacing_gain:1,cwnd_gain:1)',
        'ESTAB 0 0 [::ffff:127.0.0.1]:8080 [::ffff:127.0.0.1]:40000',
        'TIME-WAIT 0 0 127.0.0.53%lo:53 [::1]:22 timer:(timewait,52sec,0)',
        '\t',
      ].join('\n'),
    );
    expect(socket).toMatchObject({
      state: 'ESTABLISHED',
      recvQ: 5,
      sendQ: 7,
      rcvBuf: 131072,
      sndBuf: 2626560,
      rttMs: 0.05,
      cwnd: 10,
      mss: 32768,
      retransmits: 3,
      timerMs: null,
    });
    expect(mapped?.local).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(waiting).toMatchObject({
      state: 'TIME_WAIT',
      local: { host: '127.0.0.53', port: 53 },
      peer: { host: '::1', port: 22 },
      timerMs: 52_000,
      rcvBuf: null,
    });
  });

  it('parses /proc/net addresses word by word, and unix rows', () => {
    // The same bytes on a little-endian machine; big-endian ones print them the other way round.
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    if (le) {
      expect(parseProcAddress('0100007F:1F90')).toEqual({ host: '127.0.0.1', port: 8080 });
      expect(parseProcAddress('00000000000000000000000001000000:0016')).toEqual({
        host: '::1',
        port: 22,
      });
      expect(parseProcAddress('0000000000000000FFFF00000100007F:0050')).toEqual({
        host: '127.0.0.1',
        port: 80,
      });
    }
    expect(parseProcAddress('00000000:0000')).toEqual({ host: '*', port: 0 });
    expect(
      parseProcUnixRow(
        '000000004b222f39: 00000002 00000000 00010000 0001 01 4524330 /tmp/a b.sock',
      ),
    ).toEqual({ inode: 4524330, listening: true, state: 'LISTEN', path: '/tmp/a b.sock' });
    expect(
      parseProcUnixRow('00000000375a9b44: 00000003 00000000 00000000 0001 03 4524333'),
    ).toEqual({
      inode: 4524333,
      listening: false,
      state: 'ESTABLISHED',
      path: null,
    });
  });
});
