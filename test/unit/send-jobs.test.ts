/**
 * Send jobs (issue 12, items 2 and 5): repeat, sequence and file sends on the engine's timers,
 * through the router, to real peers on loopback (node:net sinks, python3 receivers) that count
 * exactly what arrives. No timing is asserted: only counts, order and bytes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyEvent } from '../../src/shared/api';
import { AUTOMATION_QUEUE_BYTES } from '../../src/main/engine/engine';
import { createRouter, type Router } from '../../src/main/router';
import { call, portOf, refusal, startPythonPeer, startSinkServer } from '../support/engine-helpers';
import { freshEngineAndDir } from '../support/engine';
import { connectPeer, hasCommand } from '../support/peers';
import { waitUntil } from '../support/wait';

const fresh = freshEngineAndDir();
const text = (data: string) => ({ format: 'text' as const, data, encoding: 'utf-8' as const });
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** The router and every event the engine emits, for the test to look through. */
function setup(): { router: Router; events: AnyEvent[] } {
  const events: AnyEvent[] = [];
  const view = fresh.engine.openView((event) => events.push(event));
  cleanups.push(() => view.close());
  return { router: createRouter(fresh.engine), events };
}

/** A node:net sink and an engine client connected to it. */
async function clientToSink(router: Router) {
  const sink = await startSinkServer();
  cleanups.push(() => sink.close());
  const client = await call(router, 'tcp.connect', { host: '127.0.0.1', port: sink.port });
  await waitUntil('the sink to accept', () => sink.sockets.size === 1);
  return { sink, client };
}

/** Waits a little and says whether `count` stayed where it was. */
async function staysAt(count: () => number, ms = 200): Promise<boolean> {
  const before = count();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return count() === before;
}

describe('repeat send', () => {
  it('sends a payload exactly N times at 1 to 5 ms, ending done with N / N', async () => {
    const { router, events } = setup();
    const { sink, client } = await clientToSink(router);
    for (const [intervalMs, count] of [
      [1, 200],
      [5, 40],
    ] as const) {
      const before = sink.received().byteLength;
      const job = await call(router, 'send.repeat', {
        target: { kind: 'connection', id: client.id },
        payload: text('PING\r\n'),
        intervalMs,
        count,
      });
      expect(job).toMatchObject({ kind: 'repeat', planned: count, state: 'running' });
      const ended = await waitUntil('the job to end', () =>
        events.find(
          (e) => e.event === 'job.updated' && e.payload.id === job.id && e.payload.state === 'done',
        ),
      );
      if (ended.event !== 'job.updated') throw new Error('not a job event');
      expect(ended.payload.done + ended.payload.skipped).toBe(count);
      // The peer reads all the time, so only an event-loop stall longer than the catch-up
      // (CATCH_UP_MS) could skip; at 5 ms that is 20 sends, which no test run stalls for.
      if (intervalMs === 5) expect(ended.payload.done).toBe(count);
      const { done } = ended.payload;
      const expected = before + done * 6;
      await waitUntil('the sink to get every send', () => sink.received().byteLength >= expected);
      expect(await staysAt(() => sink.received().byteLength, 50)).toBe(true);
      expect(sink.received().subarray(before).toString()).toBe('PING\r\n'.repeat(done));
    }
    // The client's timeline says what automation did: each job's start and end, with its counts.
    const automation = fresh.engine
      .info(client.id)
      .timeline.filter((entry) => entry.event.startsWith('job-'));
    expect(automation.map((entry) => entry.event)).toEqual([
      'job-started',
      'job-done',
      'job-started',
      'job-done',
    ]);
    expect(automation[0]?.detail).toMatch(/^job-\d+ repeat "PING" ×200$/);
    expect(automation[3]?.detail).toMatch(/^job-\d+ repeat "PING" 40\/40$/);
    expect(automation.every((entry) => entry.state === 'open')).toBe(true);
  });

  it('stops at once: no byte reaches the peer after job.stop answers', async () => {
    const { router } = setup();
    const { sink, client } = await clientToSink(router);
    const job = await call(router, 'send.repeat', {
      target: { kind: 'connection', id: client.id },
      payload: text('tick'),
      intervalMs: 1,
      count: null,
    });
    await waitUntil('some sends', () => sink.received().byteLength >= 40);
    const stopped = await call(router, 'job.stop', { job: job.id });
    expect(stopped.state).toBe('stopped');
    expect(stopped.planned).toBeNull();
    await waitUntil(
      'the sent bytes to arrive',
      () => sink.received().byteLength >= stopped.bytesSent,
    );
    expect(await staysAt(() => sink.received().byteLength)).toBe(true);
    expect(sink.received().byteLength).toBe(stopped.bytesSent);
    expect(stopped.bytesSent).toBe(stopped.done * 4);
    const last = fresh.engine.info(client.id).timeline.at(-1);
    expect(last).toMatchObject({
      event: 'job-stopped',
      detail: `${job.id} repeat "tick" ${stopped.done}/∞`,
    });
    // Stopped jobs stay listed until stopped again, which forgets them.
    expect((await call(router, 'job.list', {})).jobs.map((j) => j.id)).toContain(job.id);
  });

  it.runIf(hasCommand('python3'))(
    'skips sends a peer that does not read cannot take, keeping the queue small',
    async () => {
      const { router } = setup();
      // Accepts and never reads until stdin closes.
      const python = startPythonPeer(
        [
          'import socket, sys',
          "server = socket.create_server(('127.0.0.1', 0))",
          'print(server.getsockname()[1], flush=True)',
          'conn, _ = server.accept()',
          'sys.stdin.read()',
        ].join('\n'),
        [],
      );
      cleanups.push(() => python.child.kill());
      const port = Number(await python.line('its port', (line) => /^\d+$/.test(line)));
      const client = await call(router, 'tcp.connect', { host: '127.0.0.1', port });
      const job = await call(router, 'send.repeat', {
        target: { kind: 'connection', id: client.id },
        payload: text('x'.repeat(16 * 1024)),
        intervalMs: 1,
        count: null,
      });
      const skipping = await waitUntil('sends to be skipped', () => {
        const info = fresh.engine.jobs.list().find((j) => j.id === job.id);
        return info && info.skipped > 50 ? info : undefined;
      });
      expect(skipping.state).toBe('running');
      const queued = fresh.engine.list().find((e) => e.id === client.id)?.counters.bytesQueued;
      expect(queued).toBeLessThanOrEqual(AUTOMATION_QUEUE_BYTES + 16 * 1024);
      await call(router, 'job.stop', { job: job.id });
    },
  );

  it('broadcasts to every connection of a listener', async () => {
    const { router } = setup();
    const listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    const peers = await Promise.all(
      [1, 2, 3].map(() => connectPeer({ host: '127.0.0.1', port: portOf(listener) })),
    );
    cleanups.push(() => peers.forEach((peer) => peer.socket.destroy()));
    await waitUntil(
      'three accepted connections',
      () => fresh.engine.list().filter((e) => e.parentId === listener.id).length === 3,
    );
    const job = await call(router, 'send.repeat', {
      target: { kind: 'broadcast', id: listener.id },
      payload: text('all\n'),
      intervalMs: 2,
      count: 25,
    });
    expect(job.endpointId).toBe(listener.id);
    for (const peer of peers) {
      await waitUntil('25 sends at each peer', () => peer.received().byteLength >= 100);
    }
    await waitUntil('the job to end', () =>
      fresh.engine.jobs.list().find((j) => j.id === job.id && j.state === 'done'),
    );
    for (const peer of peers) expect(peer.received().toString()).toBe('all\n'.repeat(25));
  });

  it.runIf(hasCommand('python3'))('sends datagrams to a python3 UDP receiver', async () => {
    const { router } = setup();
    const python = startPythonPeer(
      [
        'import socket',
        'sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        "sock.bind(('127.0.0.1', 0))",
        'print(sock.getsockname()[1], flush=True)',
        'while True:',
        '    data, _ = sock.recvfrom(65535)',
        "    print('got', data.decode(), flush=True)",
      ].join('\n'),
      [],
    );
    cleanups.push(() => python.child.kill());
    const port = Number(await python.line('its port', (line) => /^\d+$/.test(line)));
    const udp = await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
    const job = await call(router, 'send.repeat', {
      target: { kind: 'datagram', id: udp.id, host: '127.0.0.1', port },
      payload: text('dgram'),
      intervalMs: 3,
      count: 20,
    });
    await waitUntil('the job to end', () =>
      fresh.engine.jobs.list().find((j) => j.id === job.id && j.state === 'done'),
    );
    await waitUntil('20 datagrams', () => python.lines.length >= 21);
    expect(python.lines.slice(1)).toEqual(Array.from({ length: 20 }, () => 'got dgram'));
  });

  it('fails at once on a payload that does not encode, or a wrong target', async () => {
    const { router } = setup();
    const { client } = await clientToSink(router);
    const bad = await refusal(router, 'send.repeat', {
      target: { kind: 'connection', id: client.id },
      payload: { format: 'hex', data: 'zz' },
      intervalMs: 5,
    });
    expect(bad.code).toBe('BAD_HEX');
    const wrong = await refusal(router, 'send.repeat', {
      target: { kind: 'broadcast', id: client.id },
      payload: text('x'),
      intervalMs: 5,
    });
    expect(wrong.code).toBe('WRONG_ENDPOINT_KIND');
    expect((await call(router, 'job.list', {})).jobs).toEqual([]);
  });
});

describe('Unix-domain targets', () => {
  it('repeats to a Unix-domain connection', async () => {
    const { router } = setup();
    const socketPath = path.join(fresh.dir, 'sink.sock');
    const parts: Buffer[] = [];
    const server = net.createServer((socket) => {
      socket.on('data', (data: Buffer) => parts.push(data));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const client = await call(router, 'unix.connect', { path: socketPath });
    const job = await call(router, 'send.repeat', {
      target: { kind: 'connection', id: client.id },
      payload: { format: 'hex', data: '01 02 03' },
      intervalMs: 2,
      count: 30,
    });
    const done = await waitUntil('the job to end', () =>
      fresh.engine.jobs.list().find((j) => j.id === job.id && j.state === 'done'),
    );
    await waitUntil('every send', () => Buffer.concat(parts).byteLength >= done.done * 3);
    expect(Buffer.concat(parts)).toEqual(Buffer.from('010203'.repeat(done.done), 'hex'));
    await call(router, 'connection.close', { id: client.id });
  });
});

describe('sequence send', () => {
  it('sends its steps in order, the whole list `repeat` times', async () => {
    const { router } = setup();
    const { sink, client } = await clientToSink(router);
    const job = await call(router, 'send.sequence', {
      target: { kind: 'connection', id: client.id },
      steps: [
        { payload: text('A'), delayMs: 0 },
        { payload: text('B'), delayMs: 3 },
        { payload: { format: 'hex', data: '43' }, delayMs: 1 },
      ],
      repeat: 4,
    });
    expect(job).toMatchObject({ kind: 'sequence', planned: 12 });
    const done = await waitUntil('the sequence to end', () =>
      fresh.engine.jobs.list().find((j) => j.id === job.id && j.state === 'done'),
    );
    expect(done.done).toBe(12);
    await waitUntil('every step', () => sink.received().byteLength >= 12);
    expect(sink.received().toString()).toBe('ABC'.repeat(4));
  });
});

describe('file send', () => {
  /** A python3 peer that reads `size` bytes and prints their sha256. */
  async function hashingPeer(size: number) {
    const python = startPythonPeer(
      [
        'import hashlib, socket, sys',
        'size = int(sys.argv[1])',
        "server = socket.create_server(('127.0.0.1', 0))",
        'print(server.getsockname()[1], flush=True)',
        'conn, _ = server.accept()',
        'h = hashlib.sha256()',
        'got = 0',
        'while got < size:',
        '    data = conn.recv(1 << 16)',
        '    if not data:',
        '        break',
        '    h.update(data)',
        '    got += len(data)',
        "print('sha256', got, h.hexdigest(), flush=True)",
      ].join('\n'),
      [size],
    );
    cleanups.push(() => python.child.kill());
    const port = Number(await python.line('its port', (line) => /^\d+$/.test(line)));
    return { python, port };
  }

  function makeFile(size: number): { file: string; sha: string; bytes: Buffer } {
    const bytes = crypto.randomBytes(size);
    const file = path.join(fresh.dir, 'payload.bin');
    fs.writeFileSync(file, bytes);
    return { file, bytes, sha: crypto.createHash('sha256').update(bytes).digest('hex') };
  }

  it.runIf(hasCommand('python3'))(
    'sends a few MiB byte-exact to a python3 peer',
    async () => {
      const { router } = setup();
      const size = 5 * 1024 * 1024 + 123;
      const { file, sha } = makeFile(size);
      const { python, port } = await hashingPeer(size);
      const client = await call(router, 'tcp.connect', { host: '127.0.0.1', port });
      const job = await call(router, 'send.file', {
        target: { kind: 'connection', id: client.id },
        path: file,
      });
      expect(job).toMatchObject({ kind: 'file', planned: size, label: 'payload.bin' });
      const line = await python.line('the hash', (l) => l.startsWith('sha256'));
      expect(line).toBe(`sha256 ${size} ${sha}`);
      const done = await waitUntil('the job to end', () =>
        fresh.engine.jobs.list().find((j) => j.id === job.id && j.state === 'done'),
      );
      expect(done.done).toBe(size);
    },
    30_000,
  );

  it.runIf(hasCommand('python3'))(
    'pauses and resumes a file sent in chunks every few ms',
    async () => {
      const { router } = setup();
      const size = 64 * 1024;
      const { file, sha } = makeFile(size);
      const { python, port } = await hashingPeer(size);
      const client = await call(router, 'tcp.connect', { host: '127.0.0.1', port });
      const job = await call(router, 'send.file', {
        target: { kind: 'connection', id: client.id },
        path: file,
        chunkBytes: 1024,
        intervalMs: 5,
      });
      await waitUntil('a few chunks', () =>
        fresh.engine.jobs.list().find((j) => j.id === job.id && j.done >= 4096),
      );
      const paused = await call(router, 'job.pause', { job: job.id });
      expect(paused.state).toBe('paused');
      expect(paused.done).toBeLessThan(size);
      expect(paused.done % 1024).toBe(0);
      const doneNow = () => fresh.engine.jobs.list().find((j) => j.id === job.id)?.done ?? -1;
      expect(await staysAt(doneNow)).toBe(true);
      expect((await call(router, 'job.resume', { job: job.id })).state).toBe('running');
      const line = await python.line('the hash', (l) => l.startsWith('sha256'));
      expect(line).toBe(`sha256 ${size} ${sha}`);
    },
    30_000,
  );

  it.runIf(hasCommand('python3'))(
    'sends a file to a UDP peer one datagram per chunk, capped at 65,507 bytes',
    async () => {
      const { router } = setup();
      const python = startPythonPeer(
        [
          'import socket',
          'sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
          'sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)',
          "sock.bind(('127.0.0.1', 0))",
          'print(sock.getsockname()[1], flush=True)',
          'while True:',
          '    data, _ = sock.recvfrom(65535)',
          "    print('got', len(data), flush=True)",
        ].join('\n'),
        [],
      );
      cleanups.push(() => python.child.kill());
      const port = Number(await python.line('its port', (line) => /^\d+$/.test(line)));
      const udp = await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
      const { file } = makeFile(150_000);
      await call(router, 'send.file', {
        target: { kind: 'datagram', id: udp.id, host: '127.0.0.1', port },
        path: file,
        chunkBytes: 100_000,
        intervalMs: 5,
      });
      await waitUntil('three datagrams', () => python.lines.length >= 4);
      expect(python.lines.slice(1)).toEqual(['got 65507', 'got 65507', 'got 18986']);
    },
  );

  it.runIf(hasCommand('python3'))(
    'reads a file only as fast as a peer takes it: a peer that stops reading holds it at a small queue',
    async () => {
      const { router } = setup();
      const size = 64 * 1024 * 1024;
      const file = path.join(fresh.dir, 'sparse.bin');
      fs.closeSync(fs.openSync(file, 'w'));
      fs.truncateSync(file, size);
      // Reads nothing until stdin closes, then everything, and prints the count.
      const python = startPythonPeer(
        [
          'import socket, sys',
          "server = socket.create_server(('127.0.0.1', 0))",
          'print(server.getsockname()[1], flush=True)',
          'conn, _ = server.accept()',
          'sys.stdin.read()',
          'got = 0',
          'while got < int(sys.argv[1]):',
          '    data = conn.recv(1 << 20)',
          '    if not data:',
          '        break',
          '    got += len(data)',
          "print('got', got, flush=True)",
        ].join('\n'),
        [size],
      );
      cleanups.push(() => python.child.kill());
      const port = Number(await python.line('its port', (line) => /^\d+$/.test(line)));
      const client = await call(router, 'tcp.connect', { host: '127.0.0.1', port });
      const job = await call(router, 'send.file', {
        target: { kind: 'connection', id: client.id },
        path: file,
      });
      const doneNow = () => fresh.engine.jobs.list().find((j) => j.id === job.id)?.done ?? -1;
      // The kernel's buffers fill, then the job waits: its progress stops short of the file.
      await waitUntil('the first pieces', () => doneNow() > 0);
      for (let i = 0; i < 50 && !(await staysAt(doneNow, 100)); i += 1);
      expect(doneNow()).toBeLessThan(size);
      const queued = fresh.engine.list().find((e) => e.id === client.id)?.counters.bytesQueued;
      expect(queued).toBeLessThanOrEqual(AUTOMATION_QUEUE_BYTES + 64 * 1024);
      python.child.stdin?.end();
      expect(await python.line('the count', (l) => l.startsWith('got'))).toBe(`got ${size}`);
      await waitUntil('the job to end', () => doneNow() === size);
    },
    60_000,
  );

  it('cancels a file send: the peer has exactly what was sent', async () => {
    const { router } = setup();
    const { sink, client } = await clientToSink(router);
    const { file, bytes } = makeFile(256 * 1024);
    const job = await call(router, 'send.file', {
      target: { kind: 'connection', id: client.id },
      path: file,
      chunkBytes: 1000,
      intervalMs: 2,
    });
    await waitUntil('some chunks', () => sink.received().byteLength >= 3000);
    const stopped = await call(router, 'job.stop', { job: job.id });
    expect(stopped.state).toBe('stopped');
    await waitUntil('the sent bytes', () => sink.received().byteLength >= stopped.done);
    expect(await staysAt(() => sink.received().byteLength)).toBe(true);
    expect(sink.received()).toEqual(bytes.subarray(0, stopped.done));
  });

  it('fails at once, naming the path, on a missing file or a folder', async () => {
    const { router } = setup();
    const { client } = await clientToSink(router);
    const missing = path.join(fresh.dir, 'nope.bin');
    const target = { kind: 'connection' as const, id: client.id };
    const error = await refusal(router, 'send.file', { target, path: missing });
    expect(error.code).toBe('ENOENT');
    expect(error.message).toContain(missing);
    const folder = await refusal(router, 'send.file', { target, path: fresh.dir });
    expect(folder.message).toContain('EISDIR');
  });
});

describe('the job list', () => {
  it('forgets a finished job on stop, with job.removed', async () => {
    const { router, events } = setup();
    const { client } = await clientToSink(router);
    const job = await call(router, 'send.repeat', {
      target: { kind: 'connection', id: client.id },
      payload: text('hi'),
      intervalMs: 1,
      count: 2,
    });
    await waitUntil('the job to end', () =>
      fresh.engine.jobs.list().find((j) => j.id === job.id && j.state === 'done'),
    );
    expect(fresh.engine.jobs.activeOn(client.id)).toBe(0);
    await call(router, 'job.stop', { job: job.id });
    expect(events).toContainEqual({ event: 'job.removed', payload: { id: job.id } });
    expect((await call(router, 'job.list', {})).jobs).toEqual([]);
    expect((await refusal(router, 'job.stop', { job: job.id })).code).toBe('UNKNOWN_JOB');
  });

  it('stops and forgets the jobs of an endpoint that is forgotten', async () => {
    const { router, events } = setup();
    const { client } = await clientToSink(router);
    const job = await call(router, 'send.repeat', {
      target: { kind: 'connection', id: client.id },
      payload: text('hi'),
      intervalMs: 1000,
      count: null,
    });
    await call(router, 'job.pause', { job: job.id });
    expect(fresh.engine.jobs.activeOn(client.id)).toBe(1);
    await waitUntil('its info to count the job', () =>
      fresh.engine.list().find((e) => e.id === client.id && e.automation?.jobs === 1),
    );
    await call(router, 'connection.close', { id: client.id });
    await waitUntil('the connection to close', () =>
      fresh.engine.list().find((e) => e.id === client.id && e.state === 'closed'),
    );
    await call(router, 'endpoint.forget', { id: client.id });
    expect(events).toContainEqual({ event: 'job.removed', payload: { id: job.id } });
    expect(fresh.engine.jobs.list()).toEqual([]);
    expect(fresh.engine.jobs.activeOn(client.id)).toBe(0);
  });
});
