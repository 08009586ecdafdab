/**
 * The capture log's write path on a real file: small appends are staged (copied together) and
 * large ones queued as they are, one write in flight at a time, so what is on disk must be exactly
 * what was appended, in order, however appends and writes interleave; and nothing appended may
 * wait for a later append or a flush to be written (docs/capture-format.md: writes start within
 * 20 ms).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CaptureLog } from '../../src/main/engine/capture-log';
import { firstMismatch, streamBytes } from '../support/stream';
import { waitUntil } from '../support/wait';

const KiB = 1024;
const MiB = 1024 * KiB;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function newLog(batchBytes?: number): CaptureLog {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-capture-log-'));
  const log = new CaptureLog(dir, batchBytes === undefined ? {} : { batchBytes });
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => log.close());
  return log;
}

describe('the capture log', () => {
  it('writes what was appended during a write, with no later append or flush to push it', async () => {
    const log = newLog(64 * KiB);
    // A full batch starts a write at once; the small (staged) append comes while it is in flight.
    log.append(streamBytes(7, 0, 64 * KiB));
    log.append(streamBytes(7, 64 * KiB, 1000));
    const total = 64 * KiB + 1000;
    await waitUntil('every appended byte on disk', () => log.persistedSize === total);
    expect(firstMismatch(7, 0, log.read(0, total))).toBe(-1);
  });

  it('keeps every byte exact across many writes, staged and queued appends mixed', async () => {
    const log = newLog();
    const phase = 1234;
    let appended = 0;
    // Socket-sized reads, odd sizes among them (small ones staged), some rounds waiting for the
    // writes to catch up and some not (a backlog of several writes).
    for (let round = 0; round < 24; round++) {
      for (let i = 0; i < 40; i++) {
        const size = i % 7 === 0 ? 1 + ((round * 131 + i * 17) % (64 * KiB)) : 64 * KiB;
        log.append(streamBytes(phase, appended, size));
        appended += size;
      }
      if (round % 3 !== 2) {
        const target = appended;
        await waitUntil('the writes to catch up', () => log.persistedSize === target);
      }
    }
    await log.flush();
    expect(log.persistedSize).toBe(appended);
    expect(appended).toBeGreaterThan(32 * MiB);
    for (let at = 0; at < appended; at += 8 * MiB) {
      const length = Math.min(8 * MiB, appended - at);
      expect(firstMismatch(phase, at, log.read(at, length))).toBe(-1);
    }
  });

  it('queues a large append as it is, in its place between staged ones', async () => {
    const log = newLog();
    const sizes = [100, 3 * MiB, 5000, 2 * MiB + 3, 64 * KiB];
    let appended = 0;
    for (const size of sizes) {
      log.append(streamBytes(99, appended, size));
      appended += size;
    }
    await log.flush();
    expect(firstMismatch(99, 0, log.read(0, appended))).toBe(-1);
  });
});
