/** Setup the engine tests share: a fresh engine per test, and the plain listen and connect calls. */
import fs from 'node:fs';
import { afterEach, beforeEach } from 'vitest';
import { Engine, type EngineOptions } from '../../src/main/engine/engine';
import { acceptedFrom, portOf } from './engine-helpers';
import { connectPeer, tempDir } from './peers';

/**
 * A new Engine and an empty temporary directory for each test of the calling file; the engine is
 * disposed and the directory removed after it. Read both from the returned object inside a test.
 */
export function freshEngineAndDir(): { readonly engine: Engine; readonly dir: string } {
  const fresh = {} as { engine: Engine; dir: string };
  beforeEach(() => {
    fresh.engine = new Engine();
    fresh.dir = tempDir();
  });
  afterEach(async () => {
    await fresh.engine.dispose();
    fs.rmSync(fresh.dir, { recursive: true, force: true });
  });
  return fresh;
}

/**
 * What a test of the calling file registers to undo (dispose an engine, close a peer, remove a
 * folder), undone after that test in reverse order.
 */
export function cleanupsAfterEach(): Array<() => unknown> {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}

/** Makes engines that are disposed with the test's other cleanups, in the same order. */
export function enginesDisposedWith(
  cleanups: Array<() => unknown>,
): (options?: EngineOptions) => Engine {
  return (options = {}) => {
    const engine = new Engine(options);
    cleanups.push(() => engine.dispose());
    return engine;
  };
}

/** unix.listen at `socketPath`: backlog 16, half-open allowed. */
export function listenUnix(engine: Engine, socketPath: string, removeStale = false) {
  return engine.listenUnix({ path: socketPath, backlog: 16, allowHalfOpen: true, removeStale });
}

/** tcp.connect to 127.0.0.1:`port` with Nagle on, no keep-alive, half-open allowed. */
export function connectLocalTcp(engine: Engine, port: number, timeoutMs = 5000) {
  return engine.connectTcp({
    host: '127.0.0.1',
    port,
    timeoutMs,
    noDelay: false,
    keepAlive: false,
    allowHalfOpen: true,
  });
}

/**
 * A TCP listener on 127.0.0.1 (backlog 8, half-open allowed), a node:net peer connected to it,
 * and the connection the engine accepted from that peer. The caller closes the peer.
 */
export async function listenerWithPeer(engine: Engine) {
  const listener = await engine.listenTcp({
    host: '127.0.0.1',
    port: 0,
    backlog: 8,
    allowHalfOpen: true,
  });
  const peer = await connectPeer({ host: '127.0.0.1', port: portOf(listener) });
  const accepted = await acceptedFrom(engine, listener.id, peer.socket.localPort as number);
  return { listener, peer, accepted };
}
