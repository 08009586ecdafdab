/**
 * What the export tests export: a real Engine and real peers (node:net, node:dgram) exchanging
 * bytes both ways over TCP (with a half-close, a reset each way and a chunk over 64 KiB), UDP and
 * a Unix-domain socket. It returns what each side sent, to check the exports against.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import path from 'node:path';
import type { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router } from '../../src/main/router';
import { acceptedFrom, call } from './engine-helpers';
import { connectPeer } from './peers';
import { waitForEndpoint, waitUntil } from './wait';

export interface StreamExpectation {
  id: string;
  /** What the peer sent (the endpoint received). */
  in: Buffer;
  /** What the endpoint sent. */
  out: Buffer;
  /** The peer's port (TCP) or null (Unix). */
  peerPort: number | null;
}

export interface Scenario {
  router: Router;
  tcpListener: string;
  unixListener: string;
  udp: string;
  udpPort: number;
  udpPeerPort: number;
  /** The half-closed connection, the two reset ones, the Unix one. */
  halfClosed: StreamExpectation;
  resetBySelf: StreamExpectation;
  resetByPeer: StreamExpectation;
  unix: StreamExpectation;
  datagramsIn: Buffer[];
  datagramsOut: Buffer[];
}

const hex = (bytes: Buffer) => ({ format: 'hex' as const, data: bytes.toString('hex') });

export async function runScenario(engine: Engine, dir: string): Promise<Scenario> {
  const router = createRouter(engine);
  const listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
  const port = (listener.local as { port: number }).port;

  // A half-close each way, with binary data and a chunk over 64 KiB from the engine.
  const peerA = await connectPeer({ host: '127.0.0.1', port, allowHalfOpen: true });
  const portA = peerA.socket.localPort as number;
  const a = await acceptedFrom(engine, listener.id, portA);
  const aIn = Buffer.concat([
    Buffer.from('GET / HTTP/1.0\r\n\r\n\\ end\x00\xff', 'latin1'),
    randomBytes(5000),
  ]);
  peerA.socket.write(aIn);
  await waitUntil('A received', () => engine.info(a.id).counters.bytesIn === aIn.length);
  const aOut = Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\n\r\n'), randomBytes(150 * 1024)]);
  await call(router, 'connection.send', { id: a.id, payload: hex(aOut) });
  await waitUntil('A answered', () => peerA.received().length === aOut.length);
  await call(router, 'connection.halfClose', { id: a.id });
  await peerA.ended;
  const bye = Buffer.from('bye\n');
  peerA.socket.end(bye);
  await waitUntil('A closed', () => engine.info(a.id).state === 'closed');

  // The engine resets one connection…
  const peerB = await connectPeer({ host: '127.0.0.1', port });
  const portB = peerB.socket.localPort as number;
  const b = await acceptedFrom(engine, listener.id, portB);
  peerB.socket.write('abc');
  await waitUntil('B received', () => engine.info(b.id).counters.bytesIn === 3);
  await call(router, 'connection.send', { id: b.id, payload: hex(Buffer.from('def')) });
  await waitUntil('B answered', () => peerB.received().length === 3);
  await call(router, 'connection.reset', { id: b.id });
  await waitUntil('B reset', () => peerB.socket.destroyed || peerB.socket.readableEnded);

  // …and a peer resets another.
  const peerC = await connectPeer({ host: '127.0.0.1', port });
  const portC = peerC.socket.localPort as number;
  const c = await acceptedFrom(engine, listener.id, portC);
  peerC.socket.write('xyz');
  await waitUntil('C received', () => engine.info(c.id).counters.bytesIn === 3);
  peerC.socket.resetAndDestroy();
  await waitUntil('C reset', () => engine.info(c.id).state !== 'open');

  // UDP both ways.
  const udp = await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
  const udpPort = (udp.local as { port: number }).port;
  const peerSocket = dgram.createSocket('udp4');
  const peerGot: Buffer[] = [];
  peerSocket.on('message', (message) => peerGot.push(message));
  await new Promise<void>((resolve) => peerSocket.bind(0, '127.0.0.1', resolve));
  const udpPeerPort = peerSocket.address().port;
  const datagramsIn = [Buffer.from('ping\x00\xff', 'latin1'), randomBytes(1200)];
  for (const datagram of datagramsIn) {
    await new Promise<void>((resolve) =>
      peerSocket.send(datagram, udpPort, '127.0.0.1', () => resolve()),
    );
  }
  await waitUntil('datagrams in', () => engine.info(udp.id).counters.chunksIn === 2);
  const datagramsOut = [Buffer.from('pong')];
  await call(router, 'udp.send', {
    id: udp.id,
    host: '127.0.0.1',
    port: udpPeerPort,
    payload: hex(datagramsOut[0] as Buffer),
  });
  await waitUntil('datagram out', () => peerGot.length === 1);
  peerSocket.close();

  // A Unix-domain stream socket.
  const socketPath = path.join(dir, 'export.sock');
  const unixListener = await call(router, 'unix.listen', { path: socketPath });
  const peerU = await connectPeer({ path: socketPath, allowHalfOpen: true });
  const u = await waitForEndpoint(engine, 'unix accepted', (e) => e.parentId === unixListener.id);
  const uIn = Buffer.from('unix hello\n');
  peerU.socket.write(uIn);
  await waitUntil('U received', () => engine.info(u.id).counters.bytesIn === uIn.length);
  const uOut = Buffer.from('unix reply\r\n');
  await call(router, 'connection.send', { id: u.id, payload: hex(uOut) });
  await waitUntil('U answered', () => peerU.received().length === uOut.length);
  peerU.socket.end();
  await waitUntil('U half-closed', () => engine.info(u.id).state !== 'open');
  await call(router, 'connection.close', { id: u.id });
  await waitUntil('U closed', () => engine.info(u.id).state === 'closed');

  return {
    router,
    tcpListener: listener.id,
    unixListener: unixListener.id,
    udp: udp.id,
    udpPort,
    udpPeerPort,
    halfClosed: { id: a.id, in: Buffer.concat([aIn, bye]), out: aOut, peerPort: portA },
    resetBySelf: { id: b.id, in: Buffer.from('abc'), out: Buffer.from('def'), peerPort: portB },
    resetByPeer: { id: c.id, in: Buffer.from('xyz'), out: Buffer.alloc(0), peerPort: portC },
    unix: { id: u.id, in: uIn, out: uOut, peerPort: null },
    datagramsIn,
    datagramsOut,
  };
}
