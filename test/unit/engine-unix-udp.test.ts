import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshEngineAndDir, listenUnix } from '../support/engine';
import { connectPeer, makeStaleSocketFile, startPython } from '../support/peers';
import {
  capturedBytes,
  waitForEndpoint,
  waitForState,
  waitUntil,
  rejection,
} from '../support/wait';

const fresh = freshEngineAndDir();

const text = (s: string) => ({ format: 'text' as const, data: s, encoding: 'utf-8' as const });

describe('Unix-domain stream sockets', () => {
  it('listens on a path, accepts a client, echoes both ways', async () => {
    const socketPath = path.join(fresh.dir, 'echo.sock');
    const listener = await listenUnix(fresh.engine, socketPath);
    expect(listener).toMatchObject({
      kind: 'unix-listener',
      state: 'listening',
      local: { path: socketPath },
    });
    const peer = await connectPeer({ path: socketPath });
    const accepted = await waitForEndpoint(
      fresh.engine,
      'accepted',
      (e) => e.parentId === listener.id,
    );
    expect(accepted.kind).toBe('unix-connection');
    peer.socket.write('over unix');
    await waitUntil('data', () => fresh.engine.info(accepted.id).counters.bytesIn === 9);
    fresh.engine.send(accepted.id, text('back'));
    await waitUntil('reply', () => peer.received().toString() === 'back');
    peer.socket.destroy();
  });

  it('connects as a client to a Unix socket path', async () => {
    const socketPath = path.join(fresh.dir, 'server.sock');
    const listener = await listenUnix(fresh.engine, socketPath);
    const client = await fresh.engine.connectUnix({
      path: socketPath,
      timeoutMs: 2000,
      allowHalfOpen: true,
    });
    expect(client).toMatchObject({
      kind: 'unix-connection',
      state: 'open',
      remote: { path: socketPath },
    });
    const accepted = await waitForEndpoint(
      fresh.engine,
      'accepted',
      (e) => e.parentId === listener.id,
    );
    fresh.engine.send(client.id, text('a\\x00b'));
    await waitUntil('bytes', () => fresh.engine.info(accepted.id).counters.bytesIn === 3);
    expect(capturedBytes(fresh.engine, accepted.id, 'in')).toEqual(Buffer.from([0x61, 0, 0x62]));
  });

  it('a missing path is ENOENT, said plainly', async () => {
    const error = await rejection(
      fresh.engine.connectUnix({
        path: path.join(fresh.dir, 'nobody.sock'),
        timeoutMs: 2000,
        allowHalfOpen: true,
      }),
    );
    expect(error.code).toBe('ENOENT');
    expect(error.message).toContain('nobody.sock');
  });

  it('a stale socket file is named, and removed only when asked', async () => {
    const socketPath = path.join(fresh.dir, 'stale.sock');
    await makeStaleSocketFile(socketPath);
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
    const error = await rejection(listenUnix(fresh.engine, socketPath));
    expect(error.code).toBe('STALE_SOCKET_FILE');
    expect(error.message).toContain(socketPath);
    expect(fs.existsSync(socketPath)).toBe(true);

    const listener = await listenUnix(fresh.engine, socketPath, true);
    expect(listener.state).toBe('listening');
    const peer = await connectPeer({ path: socketPath });
    peer.socket.destroy();
  });

  it('refuses to replace a live socket or a file that is not a socket', async () => {
    const live = path.join(fresh.dir, 'live.sock');
    await listenUnix(fresh.engine, live);
    expect((await rejection(listenUnix(fresh.engine, live, true))).code).toBe('EADDRINUSE');

    const plain = path.join(fresh.dir, 'plain.txt');
    fs.writeFileSync(plain, 'keep me');
    expect((await rejection(listenUnix(fresh.engine, plain, true))).code).toBe('EADDRINUSE');
    expect(fs.readFileSync(plain, 'utf8')).toBe('keep me');
  });
});

describe('UDP', () => {
  it('receives datagrams with their sender and boundaries, and sends one', async () => {
    const udp = await fresh.engine.bindUdp({ host: '127.0.0.1', port: 0 });
    expect(udp.state).toBe('bound');
    const port = udp.local && 'port' in udp.local ? udp.local.port : 0;

    const peer = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
    const peerPort = peer.address().port;
    for (const message of ['one', 'two two', 'three three three']) {
      peer.send(message, port, '127.0.0.1');
    }
    await waitUntil('three datagrams', () => fresh.engine.info(udp.id).counters.chunksIn === 3);
    const { chunks } = fresh.engine.readCapture(udp.id, 0, 1000);
    expect(chunks.map((c) => Buffer.from(c.bytes).toString())).toEqual([
      'one',
      'two two',
      'three three three',
    ]);
    expect(chunks.every((c) => c.peer?.port === peerPort && c.peer.host === '127.0.0.1')).toBe(
      true,
    );

    const received = new Promise<Buffer>((resolve) => peer.once('message', resolve));
    const sent = await fresh.engine.sendUdp({
      id: udp.id,
      host: '127.0.0.1',
      port: peerPort,
      payload: { format: 'hex', data: '01 02 03', encoding: 'utf-8' },
    });
    expect(sent).toEqual({ bytes: 3 });
    expect(await received).toEqual(Buffer.from([1, 2, 3]));
    peer.close();
  });

  /** A UDP socket of the engine on loopback: its id and port. */
  async function bindLoopback(): Promise<{ id: string; port: number }> {
    const udp = await fresh.engine.bindUdp({ host: '127.0.0.1', port: 0 });
    return { id: udp.id, port: udp.local && 'port' in udp.local ? udp.local.port : 0 };
  }

  /**
   * python3 sends these datagrams (Python bytes expressions) to the socket, in order; resolves
   * once the engine has counted them all.
   */
  async function fromPython(udp: { id: string; port: number }, datagrams: string[]) {
    const python = startPython(
      [
        'import socket, sys',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        `for data in (${datagrams.join(', ')},):`,
        "    s.sendto(data, ('127.0.0.1', int(sys.argv[1])))",
        "print('ready', flush=True)",
      ].join('\n'),
      [String(udp.port)],
    );
    await python.ready;
    await waitUntil(
      `${datagrams.length} datagrams`,
      () => fresh.engine.info(udp.id).counters.chunksIn === datagrams.length,
    );
  }

  it('keeps the boundaries of datagrams a python3 peer sends', async () => {
    const udp = await bindLoopback();
    const sizes = [1, 100, 1400, 9000];
    await fromPython(
      udp,
      sizes.map((n) => `bytes([${n % 256}]) * ${n}`),
    );
    const received = fresh.engine
      .readCapture(udp.id, 0, 100_000)
      .chunks.map((c) => c.bytes.byteLength);
    expect(received).toEqual(sizes);
  });

  it('lists empty datagrams in the capture read of the page they are on, and the last ones on the last page', async () => {
    const udp = await bindLoopback();
    // Empty datagrams first, between two datagrams of four bytes, and last.
    await fromPython(udp, ["b''", "b'abcd'", "b''", "b''", "b'efgh'", "b''"]);
    const page = (offset: number, length: number) =>
      fresh.engine
        .readCapture(udp.id, offset, length)
        .chunks.map((c) => `${c.offset}:${Buffer.from(c.bytes).toString()}`);
    expect(page(0, 100)).toEqual(['0:', '0:abcd', '4:', '4:', '4:efgh', '8:']);
    // Pages of four bytes: an empty datagram belongs to the page its offset starts, except
    // that the last one is on the page that reaches the capture's end.
    expect(page(0, 4)).toEqual(['0:', '0:abcd']);
    expect(page(4, 4)).toEqual(['4:', '4:', '4:efgh', '8:']);
    expect(page(8, 4)).toEqual(['8:']);
    expect(page(2, 4)).toEqual(['2:cd', '4:', '4:', '4:ef']);

    // A socket that received only empty datagrams: every read reaching the end lists them.
    const empty = await bindLoopback();
    await fromPython(empty, ["b''", "b''", "b''"]);
    expect(fresh.engine.readCapture(empty.id, 0, 100).chunks).toHaveLength(3);
  });

  it('sends to a host name, and captures the address it went to', async () => {
    const udp = await fresh.engine.bindUdp({ host: '127.0.0.1', port: 0 });
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
    const received = new Promise<Buffer>((resolve) => peer.once('message', resolve));
    const peerPort = peer.address().port;
    await fresh.engine.sendUdp({
      id: udp.id,
      host: 'localhost',
      port: peerPort,
      payload: text('hi'),
    });
    expect((await received).toString()).toBe('hi');
    const [sent] = fresh.engine.readCapture(udp.id, 0, 100).chunks;
    expect(sent).toMatchObject({ dir: 'out', peer: { host: '127.0.0.1', port: peerPort } });
    peer.close();
  });

  it('says why the kernel refused a send with EINVAL: the address family, or a loopback bind', async () => {
    const udp = await fresh.engine.bindUdp({ host: '127.0.0.1', port: 0 });
    const send = (host: string) =>
      fresh.engine.sendUdp({ id: udp.id, host, port: 9, payload: text('x') });
    const refused = await rejection(send('::1'));
    expect(refused).toMatchObject({ code: 'EINVAL' });
    expect(refused.message).toBe(
      'This UDP socket (bound to 127.0.0.1) is IPv4 and cannot send to the IPv6 address ::1: ' +
        'bind one on :: or ::1 for that (EINVAL)',
    );
    // Off this machine a loopback-bound socket cannot send at all (no datagram leaves, so the
    // sentence is checked without trying one).
    const why = (fresh.engine as unknown as { endpoints: Map<string, unknown> }).endpoints.get(
      udp.id,
    ) as { whySendInvalid(host: string): string | null };
    expect(why.whySendInvalid('192.0.2.1')).toMatch(
      /reaches only this machine and cannot send to 192\.0\.2\.1: bind one on 0\.0\.0\.0/,
    );
    expect(why.whySendInvalid('127.0.0.2')).toBeNull();
  });

  it('binding a port in use is EADDRINUSE; closing records the transition', async () => {
    const udp = await fresh.engine.bindUdp({ host: '127.0.0.1', port: 0 });
    const port = udp.local && 'port' in udp.local ? udp.local.port : 0;
    const error = await rejection(fresh.engine.bindUdp({ host: '127.0.0.1', port }));
    expect(error.code).toBe('EADDRINUSE');
    fresh.engine.closeUdp(udp.id);
    await waitForState(fresh.engine, udp.id, 'closed');
  });
});
