/** A capture to measure against: the flood peer's bytes in one connection, all on disk. */
import type { Engine } from '../../src/main/engine/engine';
import { commands } from '../../src/shared/contract';
import { GiB, log, round, startFlood, until, waitForExit } from './util';

/**
 * Floods `bytes` (then `tail`, if given) into a new connection of `engine`; resolves with that
 * connection's id once every byte is captured and on disk, and the connection closed.
 */
export async function captureFlood(engine: Engine, bytes: number, tail?: string): Promise<string> {
  const listener = await engine.listenTcp(
    commands['tcp.listen'].input.parse({ host: '127.0.0.1', port: 0 }),
  );
  const port = (listener.local as { port: number }).port;
  const started = performance.now();
  const peer = startFlood(port, tail === undefined ? { bytes } : { bytes, tail });
  const total = bytes + (tail?.length ?? 0);
  let id = '';
  await until(
    'the whole flood captured',
    () => {
      const accepted = engine.list().find((e) => e.parentId === listener.id);
      id = accepted?.id ?? '';
      return accepted?.counters.bytesIn === total;
    },
    600_000,
    50,
  );
  await engine.flushCapture();
  engine.close(id);
  await waitForExit(peer.child);
  const seconds = round((performance.now() - started) / 1000, 1);
  log(`  built a ${round(total / GiB, 2)} GiB capture in ${seconds} s`);
  return id;
}
