/**
 * The capture log's write path on a real file: small appends are staged (copied together) and
 * large ones queued as they are, one write in flight at a time, so what is on disk must be exactly
 * what was appended, in order, however appends and writes interleave; and nothing appended may
 * wait for a later append or a flush to be written (docs/capture-format.md: writes start within
 * 20 ms). Each test runs with writes on the thread pool and with writes on the engine's thread
 * (what a local disk gets), and the guard that moves writes off a slow disk is checked on its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CaptureFolder } from '../../src/main/engine/capture-folder';
import { CaptureLog, InlineWriteGuard } from '../../src/main/engine/capture-log';
import { isLocalDisk } from '../../src/main/engine/local-disk';
import { firstMismatch, streamBytes } from '../support/stream';
import { waitUntil } from '../support/wait';

const KiB = 1024;
const MiB = 1024 * KiB;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function newLog(writeInline: boolean, batchBytes?: number): CaptureLog {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-capture-log-'));
  const log = new CaptureLog(dir, {
    writeInline,
    ...(batchBytes === undefined ? {} : { batchBytes }),
  });
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => log.close());
  return log;
}

describe.each([
  { where: 'on the thread pool', writeInline: false },
  { where: "on the engine's thread", writeInline: true },
])('the capture log, writing $where', ({ writeInline }) => {
  it('writes what was appended during a write, with no later append or flush to push it', async () => {
    const log = newLog(writeInline, 64 * KiB);
    // A full batch starts a write at once; the small (staged) append comes while it is in flight.
    log.append(streamBytes(7, 0, 64 * KiB));
    log.append(streamBytes(7, 64 * KiB, 1000));
    const total = 64 * KiB + 1000;
    await waitUntil('every appended byte on disk', () => log.persistedSize === total);
    expect(firstMismatch(7, 0, log.read(0, total))).toBe(-1);
  });

  it('keeps every byte exact across many writes, staged and queued appends mixed', async () => {
    const log = newLog(writeInline);
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
    const log = newLog(writeInline);
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

describe("writes on the engine's thread", () => {
  it('never run persisted listeners inside append: the caller is mid-way through its own work', async () => {
    const log = newLog(true, 64 * KiB);
    let heard = 0;
    log.onPersisted(() => heard++);
    log.append(streamBytes(3, 0, 64 * KiB));
    log.append(streamBytes(3, 64 * KiB, 64 * KiB));
    expect(heard).toBe(0);
    expect(log.persistedSize).toBe(0);
    await waitUntil('both appends on disk', () => log.persistedSize === 128 * KiB);
    expect(heard).toBeGreaterThan(0);
    expect(firstMismatch(3, 0, log.read(0, 128 * KiB))).toBe(-1);
  });

  it('are only chosen for a folder on a local disk', () => {
    // This machine's temporary folder is a local disk (ext4 or tmpfs); /proc is not a disk.
    expect(isLocalDisk(os.tmpdir())).toBe(process.platform === 'linux');
    expect(isLocalDisk('/proc')).toBe(false);
    expect(isLocalDisk(path.join(os.tmpdir(), 'swb-no-such-folder-here'))).toBe(false);
  });
});

describe('which thread writes', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("the engine's own on a local disk (writevSync), the pool otherwise (writev)", async () => {
    const inlineWrites = vi.spyOn(fs, 'writevSync');
    const poolWrites = vi.spyOn(fs, 'writev');
    const inline = newLog(true, 64 * KiB);
    inline.append(streamBytes(5, 0, 64 * KiB));
    await waitUntil('the inline write', () => inline.persistedSize === 64 * KiB);
    expect(inlineWrites).toHaveBeenCalledTimes(1);
    expect(poolWrites).not.toHaveBeenCalled();

    inlineWrites.mockClear();
    const pooled = newLog(false, 64 * KiB);
    pooled.append(streamBytes(5, 0, 64 * KiB));
    await waitUntil('the pool write', () => pooled.persistedSize === 64 * KiB);
    expect(poolWrites).toHaveBeenCalledTimes(1);
    expect(inlineWrites).not.toHaveBeenCalled();
  });

  it("the engine's own for a capture folder on this machine's disk", async () => {
    const inlineWrites = vi.spyOn(fs, 'writevSync');
    const poolWrites = vi.spyOn(fs, 'writev');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-capture-folder-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const folder = new CaptureFolder(dir, { settings: { limitBytes: null, floorBytes: 0 } });
    cleanups.push(() => folder.close());
    folder.appendData(streamBytes(6, 0, 256 * KiB));
    await folder.flush();
    const local = isLocalDisk(os.tmpdir());
    expect(inlineWrites.mock.calls.length > 0).toBe(local);
    expect(poolWrites.mock.calls.length > 0).toBe(!local);
  });

  it("the pool for five seconds after an inline write stalled, then the engine's again", async () => {
    const realNow = performance.now.bind(performance);
    let slowedBy = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => realNow() + slowedBy);
    const realWritevSync = fs.writevSync.bind(fs);
    const inlineWrites = vi
      .spyOn(fs, 'writevSync')
      .mockImplementation((fd: number, buffers: readonly NodeJS.ArrayBufferView[]) => {
        // This write "takes" 60 ms, as a disk under pressure would make it.
        slowedBy += 60;
        return realWritevSync(fd, buffers);
      });
    const poolWrites = vi.spyOn(fs, 'writev');
    const log = newLog(true, 64 * KiB);
    let appended = 0;
    const appendAndWait = async () => {
      log.append(streamBytes(8, appended, 64 * KiB));
      appended += 64 * KiB;
      const target = appended;
      await waitUntil('the write', () => log.persistedSize === target);
    };
    await appendAndWait();
    expect(inlineWrites).toHaveBeenCalledTimes(1);
    await appendAndWait();
    expect(poolWrites).toHaveBeenCalledTimes(1);
    expect(inlineWrites).toHaveBeenCalledTimes(1);
    slowedBy += 5000;
    await appendAndWait();
    expect(inlineWrites).toHaveBeenCalledTimes(2);
    expect(firstMismatch(8, 0, log.read(0, appended))).toBe(-1);
  });

  it('the pool for a backlog larger than 4 MiB, however fast the disk', async () => {
    const inlineWrites = vi.spyOn(fs, 'writevSync');
    const poolWrites = vi.spyOn(fs, 'writev');
    const log = newLog(true);
    log.append(streamBytes(9, 0, 5 * MiB));
    await waitUntil('the backlog written', () => log.persistedSize === 5 * MiB);
    expect(poolWrites).toHaveBeenCalledTimes(1);
    expect(inlineWrites).not.toHaveBeenCalled();
    expect(firstMismatch(9, 0, log.read(0, 5 * MiB))).toBe(-1);
  });
});

describe('the inline write guard', () => {
  it('lets writes run inline, but never when it is off', () => {
    expect(new InlineWriteGuard(true).mayWriteInline(0)).toBe(true);
    expect(new InlineWriteGuard(false).mayWriteInline(0)).toBe(false);
  });

  it('sends writes to the pool for five seconds after one write stalled the thread', () => {
    const guard = new InlineWriteGuard(true);
    guard.wrote(1000, 1049);
    expect(guard.mayWriteInline(1049)).toBe(true);
    guard.wrote(2000, 2050);
    expect(guard.mayWriteInline(2051)).toBe(false);
    expect(guard.mayWriteInline(7049)).toBe(false);
    expect(guard.mayWriteInline(7050)).toBe(true);
  });

  it('keeps writing inline while writes take half of each second or less', () => {
    const guard = new InlineWriteGuard(true);
    // 40 ms of every 100 ms, for ten seconds: a fast flow to a fast disk.
    for (let at = 0; at < 10_000; at += 100) guard.wrote(at, at + 40);
    expect(guard.mayWriteInline(10_000)).toBe(true);
  });

  it('sends writes to the pool once they take more than half of a second', () => {
    const guard = new InlineWriteGuard(true);
    for (let at = 0; at < 1000; at += 100) {
      guard.wrote(at, at + 46);
      expect(guard.mayWriteInline(at + 46)).toBe(true);
    }
    // Ten writes of 46 ms in one second make 460 ms; one of 45 more passes half (none stalled).
    guard.wrote(950, 995);
    expect(guard.mayWriteInline(995)).toBe(false);
    expect(guard.mayWriteInline(5994)).toBe(false);
    expect(guard.mayWriteInline(5995)).toBe(true);
  });

  it('counts any second, not only one that starts at a write', () => {
    const guard = new InlineWriteGuard(true);
    // Quiet for half a second, then 49 ms of every 90 across the turn of the second: ten writes
    // make 490 ms, the eleventh (1400-1449) passes half of the second before it.
    guard.wrote(0, 10);
    for (let at = 500; at < 1400; at += 90) {
      guard.wrote(at, at + 49);
      expect(guard.mayWriteInline(at + 49)).toBe(true);
    }
    guard.wrote(1400, 1449);
    expect(guard.mayWriteInline(1449)).toBe(false);
  });

  it('forgets writes older than a second', () => {
    const guard = new InlineWriteGuard(true);
    // 45 ms of every 100 ms for a long time stays under half of any second.
    for (let at = 0; at < 20_000; at += 100) guard.wrote(at, at + 45);
    expect(guard.mayWriteInline(20_000)).toBe(true);
  });
});
