/**
 * Datagrams captured in batches share buffers that the memory budget does not count (it counts
 * their chunks): a store lets go of them once none of its chunks is in memory.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CaptureFolder } from '../../src/main/engine/capture-folder';
import { CaptureMemory, CaptureStore, type ReceivedBatch } from '../../src/main/engine/capture';
import { tempDir } from '../support/peers';

const KiB = 1024;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setUp(budget: number) {
  const dir = tempDir();
  const folder = new CaptureFolder(dir, { settings: { limitBytes: null, floorBytes: 0 } });
  const memory = new CaptureMemory(budget, folder);
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => folder.close());
  cleanups.push(() => memory.stop());
  let next = 1;
  const store = () =>
    new CaptureStore(memory, next, { captureDescription: () => ({ id: `udp-${next++}` }) });
  return { memory, store };
}

/** What a store holds in batch space: a private field, read here because nothing else shows it. */
function batchSpaceOf(store: CaptureStore): Uint8Array | null {
  return (store as unknown as { batchBuffer: Uint8Array | null }).batchBuffer;
}

function burst(count: number, size: number, first: number): ReceivedBatch {
  const peer = { host: '127.0.0.1', port: 40000 };
  const data = new Uint8Array(count * size);
  for (let i = 0; i < count; i++) data.fill(first + i, i * size, (i + 1) * size);
  return {
    data,
    sizes: Array.from({ length: count }, () => size),
    peers: Array.from({ length: count }, () => peer),
    times: Array.from({ length: count }, (_, i) => 1.7e12 + i),
    first: 0,
    end: count,
  };
}

describe('batch space', () => {
  it('is let go once none of the store is in memory, and the next burst starts afresh', async () => {
    const { memory, store } = setUp(64 * KiB);
    const quiet = Array.from({ length: 20 }, () => store());
    // Each quiet socket had one burst large enough to grow its space.
    for (const [n, socket] of quiet.entries()) {
      for (let b = 0; b < 8; b++) socket.appendReceived(burst(15, 1000, n + b), false);
      expect(batchSpaceOf(socket)?.byteLength).toBeGreaterThan(4 * KiB);
    }
    // A busy socket then takes the whole budget: every quiet socket's chunks leave memory.
    const busy = store();
    for (let round = 0; round < 40; round++) {
      await memory.flushAll();
      busy.appendReceived(burst(16, 1000, round), false);
    }
    await memory.flushAll();
    busy.appendReceived(burst(16, 1000, 99), false);
    for (const socket of quiet) expect(batchSpaceOf(socket)).toBeNull();
    expect(batchSpaceOf(busy)).not.toBeNull();
    expect(memory.usedBytes).toBeLessThanOrEqual(64 * KiB + 16 * (1000 + 384));

    // Every byte is still there, read back from the file.
    const back = quiet[3]!.read(0, 8 * 15 * 1000);
    expect(back).toHaveLength(8 * 15);
    expect(back.map((chunk) => chunk.bytes[0])).toEqual(
      Array.from({ length: 8 * 15 }, (_, i) => 3 + Math.floor(i / 15) + (i % 15)),
    );

    // A new burst on a quiet socket starts with a small space again.
    quiet[0]!.appendReceived(burst(1, 10, 7), false);
    expect(batchSpaceOf(quiet[0]!)?.byteLength).toBe(4 * KiB);
  });
});
