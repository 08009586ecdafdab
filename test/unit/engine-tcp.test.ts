import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import type { EndpointInfo } from '../../src/shared/contract';
import { connectLocalTcp } from '../support/engine';
import { connectPeer, isRoot, startPython } from '../support/peers';
import {
  capturedBytes,
  waitForEndpoint,
  waitForState,
  waitUntil,
  rejection,
} from '../support/wait';

let engine: Engine;
beforeEach(() => {
  engine = new Engine();
});
afterEach(async () => {
  await engine.dispose();
});

const text = (s: string) => ({ format: 'text' as const, data: s, encoding: 'utf-8' as const });

function portOf(info: EndpointInfo): number {
  if (!info.local || !('port' in info.local)) throw new Error('no port');
  return info.local.port;
}

async function listen(host = '127.0.0.1'): Promise<{ listener: EndpointInfo; port: number }> {
  const listener = await engine.listenTcp({ host, port: 0, backlog: 511, allowHalfOpen: true });
  return { listener, port: portOf(listener) };
}

async function acceptOne(port: number, host = '127.0.0.1', allowHalfOpen = false) {
  const peer = await connectPeer({ host, port, allowHalfOpen });
  const localPort = peer.socket.localPort;
  const accepted = await waitForEndpoint(
    engine,
    'the accepted connection',
    (e) => e.role === 'accepted' && !!e.remote && 'port' in e.remote && e.remote.port === localPort,
  );
  return { peer, accepted };
}

describe('TCP listener', () => {
  it('reports the port the OS chose for port 0, and its backlog', async () => {
    const listener = await engine.listenTcp({
      host: '127.0.0.1',
      port: 0,
      backlog: 7,
      allowHalfOpen: true,
    });
    expect(listener.state).toBe('listening');
    expect(portOf(listener)).toBeGreaterThan(0);
    expect(listener.options.backlog).toBe(7);
    expect(listener.timeline.map((t) => t.event)).toEqual(['socket', 'listening']);
  });

  it('accepts several clients, each a connection of its own', async () => {
    const { listener, port } = await listen();
    const peers = await Promise.all([1, 2, 3].map(() => connectPeer({ host: '127.0.0.1', port })));
    const accepted = await waitUntil('three accepted connections', () => {
      const list = engine.list().filter((e) => e.parentId === listener.id);
      return list.length === 3 ? list : undefined;
    });
    const remotePorts = accepted.map((e) => (e.remote && 'port' in e.remote ? e.remote.port : 0));
    expect(remotePorts.sort()).toEqual(peers.map((p) => p.socket.localPort).sort());
    expect(accepted.every((e) => e.state === 'open' && e.kind === 'tcp-connection')).toBe(true);
    expect(engine.info(listener.id).openConnections).toBe(3);
    for (const p of peers) p.socket.destroy();
  });

  it('listens on IPv6 loopback', async () => {
    const { port } = await listen('::1');
    const { accepted, peer } = await acceptOne(port, '::1');
    expect(accepted.remote).toMatchObject({ host: '::1', family: 'IPv6' });
    peer.socket.destroy();
  });

  it('says plainly when the address is in use', async () => {
    const { port } = await listen();
    const error = await rejection(
      engine.listenTcp({ host: '127.0.0.1', port, backlog: 511, allowHalfOpen: true }),
    );
    expect(error.code).toBe('EADDRINUSE');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    const failed = engine.list().find((e) => e.state === 'error');
    expect(failed?.error?.code).toBe('EADDRINUSE');
  });

  it.skipIf(isRoot())(
    'needs privileges for a port below 1024 (EACCES; skipped as root)',
    async () => {
      const error = await rejection(
        engine.listenTcp({ host: '127.0.0.1', port: 80, backlog: 511, allowHalfOpen: true }),
      );
      expect(error.code).toBe('EACCES');
      expect(error.message).toMatch(/elevated privileges/);
    },
  );

  it('broadcasts to every open connection, and stops listening keeping or closing them', async () => {
    const { listener, port } = await listen();
    const peers = await Promise.all([1, 2, 3].map(() => connectPeer({ host: '127.0.0.1', port })));
    await waitUntil('three accepted', () => engine.info(listener.id).openConnections === 3);
    const result = engine.broadcast(listener.id, text('hi all\n'));
    expect(result).toEqual({ connections: 3, bytes: 7, refused: [] });
    for (const p of peers)
      await waitUntil('broadcast', () => p.received().toString() === 'hi all\n');

    await engine.stopListener(listener.id, false);
    expect(engine.info(listener.id).state).toBe('closed');
    const refused = net.connect({ host: '127.0.0.1', port });
    await new Promise((resolve) => refused.once('error', resolve));
    // The connections it accepted go on.
    peers[0]?.socket.write('still here');
    await waitUntil('data after stop', () =>
      engine.list().some((e) => e.parentId === listener.id && e.counters.bytesIn === 10),
    );

    const second = await listen();
    const other = await connectPeer({ host: '127.0.0.1', port: second.port });
    await waitUntil('accepted', () => engine.info(second.listener.id).openConnections === 1);
    await engine.stopListener(second.listener.id, true);
    await other.ended;
    for (const p of peers) p.socket.destroy();
  });
});

describe('TCP connection', () => {
  it('echoes both ways and captures each chunk with direction and time', async () => {
    const { port } = await listen();
    const { peer, accepted } = await acceptOne(port);
    peer.socket.write('ping\r\n');
    await waitUntil('ping', () => engine.info(accepted.id).counters.bytesIn === 6);
    expect(engine.send(accepted.id, text('pong\\r\\n'))).toEqual({ bytes: 6 });
    await waitUntil('pong', () => peer.received().toString() === 'pong\r\n');

    const { chunks, totalBytes } = engine.readCapture(accepted.id, 0, 100);
    expect(totalBytes).toBe(12);
    expect(chunks.map((c) => [c.dir, Buffer.from(c.bytes).toString(), c.offset])).toEqual([
      ['in', 'ping\r\n', 0],
      ['out', 'pong\r\n', 6],
    ]);
    expect(chunks[1]!.at).toBeGreaterThanOrEqual(chunks[0]!.at);
    // A range read trims at both ends.
    const middle = engine.readCapture(accepted.id, 4, 4).chunks;
    expect(middle.map((c) => Buffer.from(c.bytes).toString())).toEqual(['\r\n', 'po']);
    expect(engine.info(accepted.id).counters).toMatchObject({
      bytesIn: 6,
      bytesOut: 6,
      chunksIn: 1,
      chunksOut: 1,
    });
    peer.socket.destroy();
  });

  it('a client connects, and sees the handshake in its timeline', async () => {
    const server = net.createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const client = await engine.connectTcp({
      host: '127.0.0.1',
      port,
      timeoutMs: 5000,
      noDelay: true,
      keepAlive: false,
      allowHalfOpen: true,
    });
    expect(client.state).toBe('open');
    expect(client.timeline.map((t) => t.event)).toEqual(['connect', 'established']);
    expect(client.remote).toMatchObject({ host: '127.0.0.1', port });
    expect(client.options.noDelay).toBe(true);
    engine.send(client.id, { format: 'hex', data: 'de ad be ef', encoding: 'utf-8' });
    await waitUntil('echo', () => engine.info(client.id).counters.bytesIn === 4);
    expect(capturedBytes(engine, client.id, 'in')).toEqual(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    engine.close(client.id);
    const closed = await waitForState(engine, client.id, 'closed');
    expect(closed.timeline.at(-1)).toMatchObject({ event: 'closed', by: 'local' });
    server.close();
  });

  it('the peer half-closes: we see its FIN and can still send', async () => {
    const { port } = await listen();
    const { peer, accepted } = await acceptOne(port);
    peer.socket.end('last words');
    const info = await waitForState(engine, accepted.id, 'half-closed-remote');
    expect(info.timeline.at(-1)).toMatchObject({ event: 'fin-received', by: 'remote' });
    engine.send(accepted.id, text('still talking'));
    await waitUntil('reply after FIN', () => peer.received().toString() === 'still talking');
    expect(capturedBytes(engine, accepted.id, 'in').toString()).toBe('last words');
    engine.halfClose(accepted.id);
    const closed = await waitForState(engine, accepted.id, 'closed');
    expect(closed.timeline.map((t) => t.event)).toEqual([
      'accepted',
      'fin-received',
      'fin-sent',
      'closed',
    ]);
    expect(closed.timeline.at(-1)?.by).toBe('remote');
  });

  it('we half-close: the peer sees FIN and can still send to us', async () => {
    const { port } = await listen();
    const { peer, accepted } = await acceptOne(port, '127.0.0.1', true);
    engine.halfClose(accepted.id);
    await peer.ended;
    const info = await waitForState(engine, accepted.id, 'half-closed-local');
    expect(info.timeline.at(-1)).toMatchObject({ event: 'fin-sent', by: 'local' });
    peer.socket.write('after your FIN');
    await waitUntil('data after our FIN', () => engine.info(accepted.id).counters.bytesIn === 14);
    const refused = await Promise.resolve()
      .then(() => engine.send(accepted.id, text('x')))
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'NOT_WRITABLE' });
    peer.socket.end();
    await waitForState(engine, accepted.id, 'closed');
  });

  it('the peer resets: state reset, cause ECONNRESET', async () => {
    const { port } = await listen();
    const { peer, accepted } = await acceptOne(port);
    peer.socket.resetAndDestroy();
    const info = await waitForState(engine, accepted.id, 'reset');
    expect(info.timeline.at(-1)).toMatchObject({ event: 'rst-received', by: 'remote' });
    expect(info.error?.code).toBe('ECONNRESET');
  });

  it('we reset: the peer gets ECONNRESET', async () => {
    const { port } = await listen();
    const { peer, accepted } = await acceptOne(port);
    const peerError = new Promise<NodeJS.ErrnoException>((resolve) =>
      peer.socket.once('error', resolve),
    );
    engine.reset(accepted.id);
    expect((await peerError).code).toBe('ECONNRESET');
    const info = engine.info(accepted.id);
    expect(info.state).toBe('reset');
    expect(info.timeline.at(-1)).toMatchObject({ event: 'rst-sent', by: 'local' });
  });

  it('connection refused is said plainly', async () => {
    const { listener, port } = await listen();
    await engine.stopListener(listener.id, true);
    const error = await rejection(connectLocalTcp(engine, port));
    expect(error.code).toBe('ECONNREFUSED');
    expect(error.message).toBe(`Nothing is listening on 127.0.0.1:${port} (ECONNREFUSED)`);
    const failed = engine.list().find((e) => e.role === 'client');
    expect(failed?.state).toBe('error');
    expect(failed?.timeline.map((t) => t.event)).toEqual(['connect', 'error']);
  });

  it('times out connecting when the listener accept queue is full', async () => {
    // A python3 listener with backlog 0 that never calls accept(): once its queue is full,
    // Linux drops further SYNs, so connect() hangs until our timeout.
    const python = startPython(
      [
        'import socket, sys, time',
        's = socket.socket()',
        "s.bind(('127.0.0.1', 0))",
        's.listen(0)',
        "print(s.getsockname()[1], 'ready', flush=True)",
        'time.sleep(30)',
      ].join('\n'),
    );
    const port = Number.parseInt(await python.ready, 10);
    const fillers: net.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const filler = net.connect({ host: '127.0.0.1', port });
      filler.on('error', () => undefined);
      fillers.push(filler);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const error = await rejection(connectLocalTcp(engine, port, 500));
    expect(error.code).toBe('ETIMEDOUT');
    expect(error.message).toBe(`No answer from 127.0.0.1:${port} in time (ETIMEDOUT)`);
    for (const filler of fillers) filler.destroy();
    python.child.kill();
  });

  it('pausing reading stalls the peer, resuming releases it, no byte lost', async () => {
    const { port } = await listen();
    const { peer, accepted } = await acceptOne(port);
    engine.setReadingPaused(accepted.id, true);
    expect(engine.info(accepted.id).readingPaused).toBe(true);
    const total = 16 * 1024 * 1024;
    const block = Buffer.alloc(64 * 1024, 0x61);
    for (let sent = 0; sent < total; sent += block.length) peer.socket.write(block);
    // Kernel buffers on both sides fill up, then the peer's writes queue in its process.
    await waitUntil('the peer to be blocked', () => {
      const before = engine.info(accepted.id).counters.bytesIn;
      return peer.socket.writableLength > 0 && before < total ? true : undefined;
    });
    const stalledAt = engine.info(accepted.id).counters.bytesIn;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(engine.info(accepted.id).counters.bytesIn).toBeLessThan(total);
    expect(peer.socket.writableLength).toBeGreaterThan(0);
    expect(stalledAt).toBeLessThan(total);

    engine.setReadingPaused(accepted.id, false);
    await waitUntil('everything', () => engine.info(accepted.id).counters.bytesIn === total);
    expect(peer.socket.writableLength).toBe(0);
    expect(engine.info(accepted.id).timeline.map((t) => t.event)).toEqual([
      'accepted',
      'paused',
      'resumed',
    ]);
    peer.socket.destroy();
  });

  it('changes socket options and records them', async () => {
    const { port } = await listen();
    const { peer, accepted } = await acceptOne(port);
    const info = engine.setOptions({
      id: accepted.id,
      noDelay: true,
      keepAlive: true,
      allowHalfOpen: false,
    });
    expect(info.options).toMatchObject({ noDelay: true, keepAlive: true, allowHalfOpen: false });
    expect(info.timeline.at(-1)).toMatchObject({ event: 'option' });
    // Without allowHalfOpen, the peer's FIN closes our side too.
    peer.socket.end();
    await waitForState(engine, accepted.id, 'closed');
  });
});

describe('actions racing the lifecycle', () => {
  it('after close, send is refused and reset records no RST', async () => {
    const { port } = await listen();
    const { peer, accepted } = await acceptOne(port);
    engine.close(accepted.id);
    // The socket is gone before its 'close' event: nothing may be captured as sent.
    expect(() => engine.send(accepted.id, text('late'))).toThrow(/Cannot send/);
    engine.reset(accepted.id);
    const info = await waitForState(engine, accepted.id, 'closed');
    expect(info.counters.bytesOut).toBe(0);
    expect(info.timeline.map((t) => t.event)).toEqual(['accepted', 'closed']);
    peer.socket.destroy();
  });

  it('stopping a listener while it resolves its host name leaves nothing listening', async () => {
    const opening = engine.listenTcp({
      host: 'localhost',
      port: 0,
      backlog: 511,
      allowHalfOpen: true,
    });
    const listener = engine.list().find((e) => e.role === 'listener');
    if (!listener) throw new Error('no listener');
    await engine.stopListener(listener.id, false);
    await expect(opening).rejects.toMatchObject({ code: 'NOT_OPEN' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const info = engine.info(listener.id);
    expect(info.state).toBe('closed');
    expect(info.timeline.map((t) => t.event)).toEqual(['socket', 'stopped']);
  });

  it('closing a UDP socket while it resolves its host name settles the bind', async () => {
    const binding = engine.bindUdp({ host: 'localhost', port: 0 });
    const udp = engine.list().find((e) => e.role === 'udp');
    if (!udp) throw new Error('no UDP socket');
    engine.closeUdp(udp.id);
    await expect(binding).rejects.toMatchObject({ code: 'NOT_OPEN' });
  });
});
