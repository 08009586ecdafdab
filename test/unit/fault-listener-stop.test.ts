/**
 * A listener with 1,000 connected clients is stopped, through the router as the UI does it:
 * once leaving its connections open, once closing them all. Every client has sent its own
 * deterministic bytes first; each capture must still hold exactly those.
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router } from '../../src/main/router';
import type { EndpointInfo } from '../../src/shared/contract';
import { call, portOf, readDirection, refusal } from '../support/engine-helpers';
import { sha256, streamBytes, streamHash } from '../support/stream';
import { softFdLimit } from '../support/system';
import { connectPeer } from '../support/peers';
import { waitUntil } from '../support/wait';

const CLIENTS = 1000;
/** Both ends of every connection live in this process, plus some slack. */
const enoughFds = softFdLimit() >= 2 * CLIENTS + 256;

let engine: Engine;
let router: Router;
beforeEach(() => {
  engine = new Engine();
  router = createRouter(engine);
});
afterEach(async () => {
  await engine.dispose();
});

interface Client {
  socket: net.Socket;
  received: () => Buffer;
  ended: boolean;
  phase: number;
  sent: number;
  id: string;
}

/** 1,000 clients, connected 100 at a time, each having sent 1 to 1,000 bytes of its own. */
async function connectClients(listener: EndpointInfo): Promise<Client[]> {
  const clients: Client[] = [];
  for (let batch = 0; batch < CLIENTS; batch += 100) {
    const peers = await Promise.all(
      Array.from({ length: 100 }, () => connectPeer({ host: '127.0.0.1', port: portOf(listener) })),
    );
    for (const [i, peer] of peers.entries()) {
      const n = batch + i;
      const client: Client = { ...peer, ended: false, phase: n * 1009, sent: 1 + n, id: '' };
      peer.socket.once('end', () => (client.ended = true));
      peer.socket.write(streamBytes(client.phase, 0, client.sent));
      clients.push(client);
    }
  }
  const byPort = new Map(clients.map((c) => [c.socket.localPort, c]));
  const accepted = await waitUntil('all 1,000 accepted with their bytes', () => {
    const list = engine.list().filter((e) => e.parentId === listener.id);
    const done = list.filter((e) => {
      const port = e.remote && 'port' in e.remote ? e.remote.port : -1;
      return e.counters.bytesIn === byPort.get(port)?.sent;
    });
    return done.length === CLIENTS ? done : undefined;
  });
  for (const info of accepted) {
    const port = info.remote && 'port' in info.remote ? info.remote.port : -1;
    (byPort.get(port) as Client).id = info.id;
  }
  return clients;
}

/** Every capture holds exactly the bytes its client sent: count and hash, one by one. */
async function expectEveryCaptureExact(clients: Client[]) {
  let total = 0;
  for (const client of clients) {
    const captured = await readDirection(router, client.id, 'in');
    expect(captured.length).toBe(client.sent);
    expect(sha256(captured)).toBe(streamHash(client.phase, client.sent));
    total += captured.length;
  }
  expect(total).toBe((CLIENTS * (CLIENTS + 1)) / 2);
}

/** Another listener and its connection, untouched by the stop, keep working both ways. */
async function openBystander() {
  const other = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
  const peer = await connectPeer({ host: '127.0.0.1', port: portOf(other) });
  const accepted = await waitUntil('the bystander', () =>
    engine.list().find((e) => e.parentId === other.id),
  );
  return {
    async expectServed() {
      peer.socket.write('ping');
      await call(router, 'connection.send', {
        id: accepted.id,
        payload: { format: 'text', data: 'pong' },
      });
      await waitUntil('ping and pong', () => {
        return (
          engine.info(accepted.id).counters.bytesIn === 4 && peer.received().toString() === 'pong'
        );
      });
      expect(engine.info(other.id).state).toBe('listening');
      peer.socket.destroy();
    },
  };
}

async function expectRefused(port: number) {
  const error = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => reject(new Error('a stopped listener accepted a connection')));
    socket.once('error', resolve);
  });
  expect(error.code).toBe('ECONNREFUSED');
}

describe.skipIf(!enoughFds)('stopping a listener with 1,000 connected clients', () => {
  it('leaves the connections working when asked to', async () => {
    const listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    const bystander = await openBystander();
    const clients = await connectClients(listener);

    expect(await call(router, 'listener.stop', { id: listener.id })).toEqual({ ok: true });
    const stopped = engine.info(listener.id);
    expect(stopped.state).toBe('closed');
    expect(stopped.timeline.at(-1)).toMatchObject({ event: 'stopped', by: 'local' });
    expect(stopped.openConnections).toBe(CLIENTS);
    await expectRefused(portOf(listener));

    // Its connections still carry bytes both ways.
    const said = await call(router, 'listener.broadcast', {
      id: listener.id,
      payload: { format: 'text', data: 'still here' },
    });
    expect(said.connections).toBe(CLIENTS);
    for (const client of clients) client.socket.write(streamBytes(client.phase, client.sent, 7));
    for (const client of clients) client.sent += 7;
    await waitUntil('every client to hear it', () =>
      clients.every((c) => c.received().toString() === 'still here'),
    );
    await waitUntil("every client's later bytes", () =>
      clients.every((c) => engine.info(c.id).counters.bytesIn === c.sent),
    );
    await bystander.expectServed();

    for (const client of clients) client.socket.end();
    await waitUntil('every FIN', () =>
      clients.every((c) => engine.info(c.id).state === 'half-closed-remote'),
    );
    for (const client of clients) client.socket.destroy();
    const total = clients.reduce((sum, c) => sum + c.sent, 0);
    expect(total).toBe((CLIENTS * (CLIENTS + 1)) / 2 + 7 * CLIENTS);
    for (const client of clients) {
      const captured = await readDirection(router, client.id, 'in');
      expect(sha256(captured)).toBe(streamHash(client.phase, client.sent));
    }
  });

  it('closes all 1,000 connections, keeps their captures, and frees the port', async () => {
    const listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    const bystander = await openBystander();
    const clients = await connectClients(listener);

    expect(
      await call(router, 'listener.stop', { id: listener.id, closeConnections: true }),
    ).toEqual({ ok: true });
    await waitUntil('every connection closed', () =>
      clients.every((c) => engine.info(c.id).state === 'closed'),
    );
    await waitUntil('every client to see the close', () => clients.every((c) => c.ended));
    for (const client of clients) {
      expect(engine.info(client.id).timeline.at(-1)).toMatchObject({
        event: 'closed',
        by: 'local',
      });
    }
    expect(engine.info(listener.id)).toMatchObject({ state: 'closed', openConnections: 0 });
    await expectRefused(portOf(listener));
    await expectEveryCaptureExact(clients);

    // A closed connection refuses further work with a typed error, not a crash.
    const refused = await refusal(router, 'connection.send', {
      id: clients[0]?.id,
      payload: { format: 'text', data: 'late' },
    });
    expect(refused.code).toBe('NOT_WRITABLE');
    await bystander.expectServed();

    // The listening socket is gone: the same port can be listened on again.
    const again = await call(router, 'tcp.listen', { host: '127.0.0.1', port: portOf(listener) });
    expect(again.state).toBe('listening');
    // Forgetting the stopped listener drops it with all its connections.
    await call(router, 'endpoint.forget', { id: listener.id });
    const left = engine.list().map((e) => e.id);
    expect(left).not.toContain(listener.id);
    expect(clients.some((c) => left.includes(c.id))).toBe(false);
    for (const client of clients) client.socket.destroy();
  });
});
