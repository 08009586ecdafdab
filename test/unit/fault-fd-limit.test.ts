/**
 * The engine runs out of file descriptors: it runs in a child process whose RLIMIT_NOFILE is
 * lowered, and real clients from this process connect until accept() has no descriptor left.
 *
 * On Linux, libuv answers EMFILE on accept() itself: it closes a spare descriptor it keeps for
 * this, accepts and closes the waiting connections, and reopens the spare. Node reports nothing,
 * so such a client is dropped without the engine hearing of it; what the user sees is the
 * listener still listening, every operation of the engine's own failing with a clear EMFILE
 * error, and everything working again once descriptors are freed.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter } from '../../src/main/router';
import type { EndpointInfo } from '../../src/shared/contract';
import { eventually, portOf, startSinkServer } from '../support/engine-helpers';
import { startEngineProcess, type EngineProcess } from '../support/engine-process-client';
import { firstMismatch, sha256, streamBytes, streamHash } from '../support/stream';
import { activeResources, openFds } from '../support/system';
import { connectPeer, tempDir } from '../support/peers';
import { waitUntil } from '../support/wait';
import { cleanupsAfterEach } from '../support/engine';

/** Enough for node, tsx and the engine's own descriptors (about 30), plus a few dozen sockets. */
const MAX_FDS = 96;

const cleanups = cleanupsAfterEach();

interface Client {
  socket: net.Socket;
  received: () => Buffer;
  phase: number;
  sent: number;
  id: string;
}

async function snapshot(engine: EngineProcess): Promise<EndpointInfo[]> {
  return (await engine.call('session.snapshot', {})).endpoints;
}

/** Waits until the engine lists the connection from `port`, or the client is closed first. */
async function acceptedOrDropped(
  engine: EngineProcess,
  port: number,
  closed: () => boolean,
): Promise<string | 'dropped'> {
  for (;;) {
    const accepted = (await snapshot(engine)).find(
      (e) => e.role === 'accepted' && e.remote && 'port' in e.remote && e.remote.port === port,
    );
    if (accepted) return accepted.id;
    if (closed()) return 'dropped';
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function capturedIn(engine: EngineProcess, id: string): Promise<Buffer> {
  const { chunks } = await engine.call('capture.read', { id, offset: 0, length: 4 * 1024 * 1024 });
  return Buffer.concat(chunks.filter((c) => c.dir === 'in').map((c) => c.bytes));
}

describe('the engine runs out of file descriptors', () => {
  it('keeps listening and serving, fails its own operations with EMFILE, and recovers', async () => {
    // With no descriptor reserve, as when something other than accepted connections (another
    // library, files) has used the descriptors up: connection-limits.test.ts tests the reserve.
    const engine = await startEngineProcess({
      maxFds: MAX_FDS,
      engine: { descriptors: { reserve: 0 } },
    });
    cleanups.push(() => engine.stop());
    const sink = await startSinkServer();
    cleanups.push(() => sink.close());

    // Endpoints of every kind opened before the descriptors run out.
    const udp = await engine.call('udp.bind', { host: '127.0.0.1', port: 0 });
    const outbound = await engine.call('tcp.connect', { host: '127.0.0.1', port: sink.port });
    const listener = await engine.call('tcp.listen', { host: '127.0.0.1', port: 0 });
    const port = portOf(listener);

    const clients: Client[] = [];
    const dropped: net.Socket[] = [];
    cleanups.push(() => [...clients.map((c) => c.socket), ...dropped].forEach((s) => s.destroy()));
    for (let i = 0; dropped.length === 0; i++) {
      expect(i, 'the descriptor limit was never reached').toBeLessThan(MAX_FDS);
      const peer = await connectPeer({ host: '127.0.0.1', port });
      let closed = false;
      peer.socket.once('close', () => (closed = true));
      const phase = 1000 + i * 7919;
      peer.socket.write(streamBytes(phase, 0, 1000));
      const outcome = await acceptedOrDropped(
        engine,
        peer.socket.localPort as number,
        () => closed,
      );
      if (outcome === 'dropped') dropped.push(peer.socket);
      else clients.push({ ...peer, phase, sent: 1000, id: outcome });
    }
    expect(clients.length).toBeGreaterThan(10);

    // The listener is not declared dead: the next accept() may well succeed.
    const listed = (await snapshot(engine)).find((e) => e.id === listener.id);
    expect(listed?.state).toBe('listening');
    expect(listed?.error).toBeNull();

    // Whatever the engine itself tries now fails with a message that says why.
    const emfile = {
      code: 'EMFILE',
      message: 'The process has run out of file descriptors (EMFILE)',
    };
    const attempts = [
      await engine.invoke('tcp.connect', { host: '127.0.0.1', port: sink.port }),
      await engine.invoke('tcp.listen', { host: '127.0.0.1', port: 0 }),
      await engine.invoke('udp.bind', { host: '127.0.0.1', port: 0 }),
    ];
    for (const attempt of attempts) expect(attempt).toEqual({ ok: false, error: emfile });

    // Every endpoint opened before goes on working, both ways.
    for (const client of clients) client.socket.write(streamBytes(client.phase, 1000, 2000));
    for (const client of clients) client.sent += 2000;
    const greeting = await engine.call('listener.broadcast', {
      id: listener.id,
      payload: { format: 'text', data: 'still listening\\n' },
    });
    expect(greeting.connections).toBe(clients.length);
    await waitUntil('every client to get the broadcast', () =>
      clients.every((c) => c.received().toString() === 'still listening\n'),
    );
    await engine.call('connection.send', {
      id: outbound.id,
      payload: { format: 'hex', data: 'de ad be ef' },
    });
    await waitUntil(
      'the sink to get the bytes',
      () => sink.received().toString('hex') === 'deadbeef',
    );
    const datagrams = dgram.createSocket('udp4');
    cleanups.push(() => datagrams.close());
    const arrived = new Promise<Buffer>((resolve) => datagrams.once('message', resolve));
    await new Promise<void>((resolve) => datagrams.bind(0, '127.0.0.1', resolve));
    await engine.call('udp.send', {
      id: udp.id,
      host: '127.0.0.1',
      port: datagrams.address().port,
      payload: { format: 'text', data: 'ping' },
    });
    expect((await arrived).toString()).toBe('ping');

    // Freeing descriptors lets new connections in, and the engine's own connects succeed. The
    // listener allows half-open connections, so a peer's FIN alone frees nothing: the user closes.
    const leaving = clients.slice(0, 4);
    for (const client of leaving) client.socket.end();
    await eventually('the peers FIN to arrive', async () => {
      const states = new Map((await snapshot(engine)).map((e) => [e.id, e.state]));
      return leaving.every((c) => states.get(c.id) === 'half-closed-remote');
    });
    for (const client of leaving) await engine.call('connection.close', { id: client.id });
    const late = await connectPeer({ host: '127.0.0.1', port });
    cleanups.push(() => late.socket.destroy());
    late.socket.write(streamBytes(5, 0, 777));
    let lateClosed = false;
    late.socket.once('close', () => (lateClosed = true));
    const lateId = await acceptedOrDropped(
      engine,
      late.socket.localPort as number,
      () => lateClosed,
    );
    expect(lateId).not.toBe('dropped');
    clients.push({ ...late, phase: 5, sent: 777, id: lateId });
    const retried = await engine.invoke('tcp.connect', { host: '127.0.0.1', port: sink.port });
    expect(retried.ok).toBe(true);

    // The capture holds every byte each accepted client sent, before and after the shortage.
    for (const client of clients) {
      await eventually(`all bytes of ${client.id}`, async () => {
        const info = (await snapshot(engine)).find((e) => e.id === client.id);
        return info?.counters.bytesIn === client.sent;
      });
      const bytes = await capturedIn(engine, client.id);
      expect(bytes.length).toBe(client.sent);
      expect(firstMismatch(client.phase, 0, bytes)).toBe(-1);
      expect(sha256(bytes)).toBe(streamHash(client.phase, client.sent));
    }

    expect(await engine.stop()).toBe(0);
  });

  it('releases the descriptor of every operation that fails', async ({ skip }) => {
    if (openFds() === undefined) return skip('/proc/self/fd is not available here');
    const engine = new Engine();
    cleanups.push(() => engine.dispose());
    const router = createRouter(engine);
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => holder.close());
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => taken.close());
    const directory = tempDir();
    cleanups.push(() => fs.rmSync(directory, { recursive: true, force: true }));
    const notASocket = path.join(directory, 'plain-file');
    fs.writeFileSync(notASocket, '');
    const baseline = openFds() as number;
    const resources = activeResources();

    // Each of these makes a socket (a descriptor) before the operating system says no.
    const failing = [
      ['udp.bind', { host: '127.0.0.1', port: holder.address().port }, 'EADDRINUSE'],
      [
        'tcp.listen',
        { host: '127.0.0.1', port: (taken.address() as net.AddressInfo).port },
        'EADDRINUSE',
      ],
      ['unix.connect', { path: path.join(directory, 'nobody') }, 'ENOENT'],
      ['unix.connect', { path: notASocket }, 'ECONNREFUSED'],
    ] as const;
    for (let round = 0; round < 50; round++) {
      for (const [command, input, code] of failing) {
        const result = await router.invoke(command, input);
        expect(result).toMatchObject({ ok: false, error: { code } });
      }
    }
    const leaked = () => (openFds() as number) - baseline;
    await waitUntil('every failed socket to be released', () => leaked() <= 0).catch(() => {
      throw new Error(
        `${leaked()} descriptors leaked; still active: ${JSON.stringify(activeResources())}`,
      );
    });
    const now = activeResources();
    for (const kind of Object.keys(now))
      expect(now[kind] ?? 0, kind).toBeLessThanOrEqual(resources[kind] ?? 0);
    // The failed endpoints stay listed with their errors until the user forgets them.
    expect(engine.list().filter((e) => e.state === 'error')).toHaveLength(200);
  });
});
