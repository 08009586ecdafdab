/** Setup the engine tests share: a fresh engine per test, and the plain listen and connect calls. */
import fs from 'node:fs';
import { afterEach, beforeEach } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { tempDir } from './peers';

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
