/**
 * Hostile peers against a listener (issue 9): a connection limit per listener, a descriptor
 * reserve for the whole engine, idle half-closed connections closed, and a session that stays
 * the same size however many connections come and go. Real loopback sockets; python3 peers
 * where a peer written by someone else fits.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { descriptorReserveFor, parseDescriptorLimit } from '../../src/main/engine/descriptors';
import { Engine } from '../../src/main/engine/engine';
import { createRouter } from '../../src/main/router';
import {
  KEEP_CLOSED_DEFAULT,
  SNAPSHOT_PAGE_DEFAULT,
  type EndpointInfo,
  type ListenerCounts,
} from '../../src/shared/contract';
import {
  acceptedFrom,
  call,
  eventually,
  portOf,
  refusal,
  startSinkServer,
} from '../support/engine-helpers';
import { cleanupsAfterEach, enginesDisposedWith } from '../support/engine';
import { startEngineProcess, type EngineProcess } from '../support/engine-process-client';
import { openFds } from '../support/system';
import { connectPeer, exited, hasCommand, startPython } from '../support/peers';
import { waitForState, waitUntil } from '../support/wait';

const host = '127.0.0.1';
const text = (data: string) => ({ format: 'text' as const, data });

const cleanups = cleanupsAfterEach();
const newEngine = enginesDisposedWith(cleanups);

function countsOf(engine: Engine, listenerId: string): ListenerCounts {
  const counts = engine.info(listenerId).listenerCounts;
  if (!counts) throw new Error(`${listenerId} has no listener counts`);
  return counts;
}

function childrenOf(engine: Engine, listenerId: string): string[] {
  return engine
    .list()
    .filter((e) => e.parentId === listenerId)
    .map((e) => e.id);
}

/** A peer that connects and sends FIN at once, keeping its socket: what a hostile peer does. */
async function connectThenFin(port: number): Promise<net.Socket> {
  const peer = await connectPeer({ host, port, allowHalfOpen: true });
  cleanups.push(() => peer.socket.destroy());
  peer.socket.end();
  return peer.socket;
}

/** A peer the listener refused: the connection is made by the kernel, then closed at once. */
async function refusedPeer(port: number | { path: string }): Promise<void> {
  const peer = await connectPeer(typeof port === 'number' ? { host, port } : port);
  cleanups.push(() => peer.socket.destroy());
  await peer.ended;
  expect(peer.received().length).toBe(0);
}

describe('a listener connection limit', () => {
  it('refuses connections past it at once, counts each one, and takes one again when one closes', async () => {
    const engine = newEngine();
    const listener = await engine.listenTcp({
      host,
      port: 0,
      backlog: 511,
      allowHalfOpen: true,
      maxConnections: 3,
    });
    const port = portOf(listener);
    expect(listener.options).toMatchObject({ maxConnections: 3 });

    const accepted: EndpointInfo[] = [];
    for (let i = 0; i < 3; i++) {
      const peer = await connectPeer({ host, port });
      cleanups.push(() => peer.socket.destroy());
      accepted.push(await acceptedFrom(engine, listener.id, peer.socket.localPort as number));
    }
    for (let i = 0; i < 4; i++) await refusedPeer(port);
    expect(countsOf(engine, listener.id)).toEqual({
      accepted: 3,
      closed: 0,
      forgotten: 0,
      refusedAtLimit: 4,
      refusedForReserve: 0,
      closedIdle: 0,
    });
    expect(childrenOf(engine, listener.id)).toHaveLength(3);
    expect(engine.info(listener.id)).toMatchObject({ state: 'listening', error: null });

    // The user closes one: room for exactly one more.
    engine.close((accepted[0] as EndpointInfo).id);
    await waitUntil('the closed connection to free its place', () =>
      countsOf(engine, listener.id).closed === 1 ? true : undefined,
    );
    const late = await connectPeer({ host, port });
    cleanups.push(() => late.socket.destroy());
    await acceptedFrom(engine, listener.id, late.socket.localPort as number);
    await refusedPeer(port);
    expect(countsOf(engine, listener.id)).toMatchObject({ accepted: 4, refusedAtLimit: 5 });
  });

  it('holds for a Unix-domain listener too', async () => {
    const engine = newEngine();
    const { tempDir } = await import('../support/peers');
    const fs = await import('node:fs');
    const directory = tempDir();
    cleanups.push(() => fs.rmSync(directory, { recursive: true, force: true }));
    const path = `${directory}/limit.sock`;
    const listener = await engine.listenUnix({
      path,
      backlog: 511,
      allowHalfOpen: true,
      removeStale: false,
      maxConnections: 1,
    });
    const first = await connectPeer({ path });
    cleanups.push(() => first.socket.destroy());
    await waitUntil('the first connection', () => childrenOf(engine, listener.id).length === 1);
    await refusedPeer({ path });
    await refusedPeer({ path });
    expect(countsOf(engine, listener.id)).toMatchObject({ accepted: 1, refusedAtLimit: 2 });
  });

  it('takes its settings through the router, with defaults, and refuses nonsense', async () => {
    const engine = newEngine();
    const router = createRouter(engine);
    const listener = await call(router, 'tcp.listen', { host, port: 0 });
    expect(listener.options).toMatchObject({
      maxConnections: 1_000,
      halfClosedIdleMs: 60_000,
      keepClosed: 1_000,
    });
    const wrong = [
      { maxConnections: 0 },
      { maxConnections: 1.5 },
      { halfClosedIdleMs: -1 },
      { keepClosed: 100_001 },
    ];
    for (const limits of wrong) {
      expect(await refusal(router, 'tcp.listen', { host, port: 0, ...limits })).toMatchObject({
        code: 'INVALID_INPUT',
      });
      expect(
        await refusal(router, 'unix.listen', { path: '/tmp/never.sock', ...limits }),
      ).toMatchObject({ code: 'INVALID_INPUT' });
    }
    for (const page of [{ cursor: -1 }, { limit: 0 }, { limit: 5_001 }, { cursor: 0.5 }]) {
      expect(await refusal(router, 'session.snapshot', page)).toMatchObject({
        code: 'INVALID_INPUT',
      });
    }
  });
});

describe('the descriptor reserve', () => {
  it('reads the soft limit and keeps max(64, 10%) of it', () => {
    const limits =
      'Limit                     Soft Limit           Hard Limit           Units     \n' +
      'Max processes             63704                63704                processes \n' +
      'Max open files            1024                 4096                 files     \n';
    expect(parseDescriptorLimit(limits)).toBe(1024);
    expect(parseDescriptorLimit(limits.replace('1024 ', 'unlimited'))).toBe(Infinity);
    expect(parseDescriptorLimit('nothing here')).toBeNull();
    expect(descriptorReserveFor(1024)).toBe(103);
    expect(descriptorReserveFor(256)).toBe(64);
  });

  it('refuses accepted connections that would eat into it, counting each one exactly', async () => {
    // 10 descriptors, 6 kept: the engine may hold 4 sockets, the listener being one of them.
    const engine = newEngine({ descriptors: { limit: 10, reserve: 6 } });
    const listener = await engine.listenTcp({ host, port: 0, backlog: 511, allowHalfOpen: true });
    const port = portOf(listener);
    for (let i = 0; i < 3; i++) {
      const peer = await connectPeer({ host, port });
      cleanups.push(() => peer.socket.destroy());
      await acceptedFrom(engine, listener.id, peer.socket.localPort as number);
    }
    await refusedPeer(port);
    await refusedPeer(port);
    expect(countsOf(engine, listener.id)).toMatchObject({
      accepted: 3,
      refusedAtLimit: 0,
      refusedForReserve: 2,
    });
    // The user's own listens are not refused: the reserve is for them too.
    const second = await engine.listenTcp({ host, port: 0, backlog: 511, allowHalfOpen: true });
    expect(second.state).toBe('listening');
    await refusedPeer(portOf(second));
    expect(countsOf(engine, second.id)).toMatchObject({ accepted: 0, refusedForReserve: 1 });
  });

  const PEERS = `
import resource, signal, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = count + 64
if soft < want:
    if hard != resource.RLIM_INFINITY and hard < want:
        print('too few descriptors', flush=True)
        sys.exit(0)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
peers = []
for _ in range(count):
    s = socket.create_connection(('127.0.0.1', port))
    try:
        s.shutdown(socket.SHUT_WR)  # connect, then FIN at once
    except OSError:
        pass  # refused and closed already
    peers.append(s)
print('ready', flush=True)
signal.pause()  # hold every socket until the test ends this process
`;

  /** One endpoint of the engine in the child, found with a one-endpoint snapshot page. */
  async function endpointOf(engine: EngineProcess, id: string): Promise<EndpointInfo> {
    const number = Number(id.slice(id.indexOf('-') + 1));
    const page = await engine.call('session.snapshot', { cursor: number - 1, limit: 1 });
    const found = page.endpoints[0];
    if (found?.id !== id) throw new Error(`${id} is not in the session`);
    return found;
  }

  it('under ulimit -n 1024, 1,100 connect-then-FIN peers neither starve the engine nor reach EMFILE', async ({
    skip,
  }) => {
    if (process.platform !== 'linux') return skip('the reserve is read from /proc (Linux)');
    if (!hasCommand('python3')) return skip('python3 is not installed');
    const MAX_FDS = 1024;
    const PEER_COUNT = 1_100;
    const engine = await startEngineProcess({ maxFds: MAX_FDS });
    cleanups.push(() => engine.stop());
    const listener = await engine.call('tcp.listen', { host, port: 0 });

    const peers = startPython(PEERS, [String(portOf(listener)), String(PEER_COUNT)]);
    cleanups.push(() => peers.child.kill());
    if ((await peers.ready).includes('too few descriptors')) {
      return skip(`python3 cannot open ${PEER_COUNT} sockets here`);
    }

    const counts = await eventually('every peer accepted or refused', async () => {
      const c = (await endpointOf(engine, listener.id)).listenerCounts;
      return c && c.accepted + c.refusedAtLimit + c.refusedForReserve === PEER_COUNT
        ? c
        : undefined;
    });
    // The engine may hold the limit minus the reserve; the listener itself holds one of those.
    const acceptable = MAX_FDS - descriptorReserveFor(MAX_FDS) - 1;
    expect(counts).toMatchObject({
      accepted: acceptable,
      refusedAtLimit: 0,
      refusedForReserve: PEER_COUNT - acceptable,
    });
    const fds = openFds(engine.pid);
    if (fds !== undefined) expect(fds).toBeLessThan(MAX_FDS - 64);
    const listed = await endpointOf(engine, listener.id);
    expect(listed).toMatchObject({ state: 'listening', error: null, openConnections: acceptable });
    expect(listed.timeline.map((t) => t.event)).not.toContain('error');

    // The engine keeps serving: a new listener opens, a client it opens sends, and every
    // accepted peer is still reachable.
    const second = await engine.call('tcp.listen', { host, port: 0 });
    expect(second.state).toBe('listening');
    const sink = await startSinkServer();
    cleanups.push(() => sink.close());
    const client = await engine.call('tcp.connect', { host, port: sink.port });
    await engine.call('connection.send', { id: client.id, payload: text('still serving') });
    await waitUntil(
      'the sink to get the bytes',
      () => sink.received().toString() === 'still serving',
    );
    const greeting = await engine.call('listener.broadcast', {
      id: listener.id,
      payload: text('hello'),
    });
    expect(greeting.connections).toBe(acceptable);

    // The user can still act: closing the flood's connections gives their descriptors back,
    // and the new listener accepts.
    await engine.call('listener.stop', { id: listener.id, closeConnections: true });
    await eventually('the connections to be closed', async () =>
      (await endpointOf(engine, listener.id)).openConnections === 0 ? true : undefined,
    );
    const late = await connectPeer({ host, port: portOf(second) });
    cleanups.push(() => late.socket.destroy());
    await eventually('the new listener to accept', async () =>
      (await endpointOf(engine, second.id)).listenerCounts?.accepted === 1 ? true : undefined,
    );
    expect(await engine.stop()).toBe(0);
  }, 120_000);
});

describe('idle half-closed connections', () => {
  const FIN_AND_WAIT = `
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.shutdown(socket.SHUT_WR)
print('ready', s.getsockname()[1], flush=True)
print('eof' if s.recv(1) == b'' else 'data', flush=True)
`;

  it('are closed after the idle time, saying why, except one a view shows', async ({ skip }) => {
    if (!hasCommand('python3')) return skip('python3 is not installed');
    const engine = newEngine();
    const idle = await engine.listenTcp({
      host,
      port: 0,
      backlog: 511,
      allowHalfOpen: true,
      halfClosedIdleMs: 100,
    });
    const never = await engine.listenTcp({
      host,
      port: 0,
      backlog: 511,
      allowHalfOpen: true,
      halfClosedIdleMs: 0,
    });
    const view = engine.openView(() => undefined);
    cleanups.push(() => view.close());

    // Shown in a view before its peer half-closes it: the engine treats it as selected.
    const shownPeer = await connectPeer({ host, port: portOf(idle), allowHalfOpen: true });
    cleanups.push(() => shownPeer.socket.destroy());
    const shown = await acceptedFrom(engine, idle.id, shownPeer.socket.localPort as number);
    view.openFeed(1, shown.id);
    shownPeer.socket.end();
    await waitForState(engine, shown.id, 'half-closed-remote');

    const keptPeer = await connectThenFin(portOf(never));
    const kept = await acceptedFrom(engine, never.id, keptPeer.localPort as number);
    await waitForState(engine, kept.id, 'half-closed-remote');

    // A peer written by someone else: python3 connects, sends FIN, and waits for our close.
    const python = startPython(FIN_AND_WAIT, [String(portOf(idle))]);
    cleanups.push(() => python.child.kill());
    const pythonPort = Number(/ready (\d+)/.exec(await python.ready)?.[1]);
    const closed = await acceptedFrom(engine, idle.id, pythonPort);
    const after = await waitForState(engine, closed.id, 'closed');
    expect(await exited(python.child)).toBe(0);
    const events = after.timeline.map((t) => t.event);
    expect(events.slice(-3)).toEqual(['fin-received', 'idle-close', 'closed']);
    expect(after.timeline.at(-2)).toMatchObject({
      state: 'half-closed-remote',
      by: 'local',
      detail: '100 ms',
    });
    // The peer's FIN came first: the timeline's close says so, as for any close the peer began.
    expect(after.timeline.at(-1)).toMatchObject({ event: 'closed', by: 'remote' });

    // Both went idle before the python peer did, with the same or no idle time: the shown one
    // was kept because a view shows it, the other because its listener never closes idle ones.
    expect(engine.info(shown.id).state).toBe('half-closed-remote');
    expect(engine.info(shown.id).timeline.map((t) => t.event)).not.toContain('idle-close');
    expect(engine.info(kept.id).state).toBe('half-closed-remote');

    // Once no view shows it (its feed closed), it goes the same way.
    view.closeFeed(1);
    const shownAfter = await waitForState(engine, shown.id, 'closed');
    expect(shownAfter.timeline.map((t) => t.event)).toContain('idle-close');
    await shownPeer.ended;
    expect(countsOf(engine, idle.id)).toMatchObject({ accepted: 2, closed: 2, closedIdle: 2 });
    expect(countsOf(engine, never.id)).toMatchObject({ accepted: 1, closed: 0, closedIdle: 0 });
  });
});

describe('a bounded session', () => {
  it('keeps the last closed connections of a listener, and the one a view shows', async () => {
    const engine = newEngine();
    const listener = await engine.listenTcp({
      host,
      port: 0,
      backlog: 511,
      allowHalfOpen: false,
      keepClosed: 5,
    });
    const view = engine.openView(() => undefined);
    cleanups.push(() => view.close());
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const peer = await connectPeer({ host, port: portOf(listener) });
      const accepted = await acceptedFrom(engine, listener.id, peer.socket.localPort as number);
      ids.push(accepted.id);
      if (i === 0) view.openFeed(1, accepted.id);
      peer.socket.end();
      await new Promise((resolve) => peer.socket.once('close', resolve));
      await waitUntil(
        `${accepted.id} to close`,
        () => countsOf(engine, listener.id).closed === i + 1,
      );
    }
    // Five kept: the one a view shows (never forgotten while shown) and the four newest.
    expect(childrenOf(engine, listener.id)).toEqual([ids[0], ...ids.slice(-4)]);
    expect(countsOf(engine, listener.id)).toMatchObject({ accepted: 12, closed: 12, forgotten: 7 });
    for (const id of ids.slice(1, 8)) expect(() => engine.info(id)).toThrow(/No endpoint/);

    // Forgotten by hand counts too.
    engine.forget(ids[11] as string);
    expect(countsOf(engine, listener.id).forgotten).toBe(8);
  });

  it('keeps the last finished top-level endpoints: failed listens do not pile up', async () => {
    const engine = newEngine({ keepFinished: 3 });
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, host, resolve));
    cleanups.push(() => new Promise((resolve) => taken.close(resolve)));
    const port = (taken.address() as net.AddressInfo).port;
    const router = createRouter(engine);
    for (let i = 0; i < 6; i++) {
      expect(await refusal(router, 'tcp.listen', { host, port })).toMatchObject({
        code: 'EADDRINUSE',
      });
    }
    await waitUntil('the oldest failures to be forgotten', () => engine.list().length === 3);
    expect(engine.list().map((e) => e.id)).toEqual(['lst-4', 'lst-5', 'lst-6']);
  });

  it('after 12,000 connect/close cycles, pages a snapshot no bigger than after 2,000', async () => {
    const engine = newEngine();
    const router = createRouter(engine);
    const listener = await call(router, 'tcp.listen', { host, port: 0, allowHalfOpen: false });
    const port = portOf(listener);

    /** Clients that connect and close, `concurrency` at a time; resolves once all are closed. */
    async function cycles(count: number, concurrency = 50): Promise<void> {
      let started = 0;
      const worker = async () => {
        while (started < count) {
          started += 1;
          const socket = net.connect({ host, port });
          await new Promise<void>((resolve, reject) => {
            socket.once('connect', () => socket.end());
            socket.once('close', () => resolve());
            socket.once('error', reject);
          });
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
    }

    /** Every page of the snapshot, as the renderer's loader fetches them. */
    async function snapshot(limit: number) {
      const endpoints: EndpointInfo[] = [];
      let bytes = 0;
      let pages = 0;
      let cursor: number | undefined;
      do {
        const page = await call(router, 'session.snapshot', { cursor, limit });
        bytes += JSON.stringify(page).length;
        pages += 1;
        endpoints.push(...page.endpoints);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return { endpoints, bytes, pages };
    }

    const closedAll = (n: number) => () => countsOf(engine, listener.id).closed === n;
    await cycles(2_000);
    await waitUntil('2,000 closed', closedAll(2_000));
    const early = await snapshot(SNAPSHOT_PAGE_DEFAULT);
    await cycles(10_000);
    await waitUntil('12,000 closed', closedAll(12_000));
    const late = await snapshot(SNAPSHOT_PAGE_DEFAULT);

    expect(countsOf(engine, listener.id)).toMatchObject({
      accepted: 12_000,
      closed: 12_000,
      forgotten: 12_000 - KEEP_CLOSED_DEFAULT,
    });
    expect(late.endpoints).toHaveLength(1 + KEEP_CLOSED_DEFAULT);
    expect(late.pages).toBe(Math.ceil((1 + KEEP_CLOSED_DEFAULT) / SNAPSHOT_PAGE_DEFAULT));
    // Longer ids and counters aside, the same number of endpoints is the same size.
    expect(late.bytes).toBeLessThan(early.bytes * 1.05);

    // Small pages hand out every endpoint once, in the order they were made.
    const paged = await snapshot(300);
    expect(paged.pages).toBe(Math.ceil((1 + KEEP_CLOSED_DEFAULT) / 300));
    expect(paged.endpoints.map((e) => e.id)).toEqual(engine.list().map((e) => e.id));
  }, 180_000);
});
