/**
 * An append-only log of the capture folder (the data log, or the index log), kept as a run of
 * segment files so that the oldest bytes can go first when the capture reaches its limit.
 *
 * Offsets are logical: they count every byte ever appended, and never change when a segment is
 * deleted. A segment holds whole appends (a chunk or an index record is never split across two
 * files), so a reader needs only the segment's starting offset, which is in its file name.
 * Writes are batched, one in flight at a time; a byte counts as persisted once its write has
 * completed, and only persisted bytes may leave memory. On a local disk a batch is written from
 * the engine's own thread, just after the reads that filled it (see `writeInline`); elsewhere, or
 * while a write is slow, on libuv's thread pool.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { UserError } from '../../shared/errors';
import { describeSystemError, WorkbenchError } from '../../shared/errors';
import { Deque } from './deque';

/** Pending bytes that start a write at once (otherwise writes wait WRITE_DELAY_MS to batch). */
const WRITE_BATCH_BYTES = 1024 * 1024;
/**
 * Appends smaller than this are copied together into one buffer of STAGING_BYTES: a flood of
 * small datagrams would otherwise hand the kernel thousands of tiny pieces per write.
 */
const SMALL_APPEND_BYTES = 4 * 1024;
const STAGING_BYTES = 256 * 1024;
const WRITE_DELAY_MS = 20;
/** The largest batch written on the engine's thread: a few milliseconds into the page cache. */
const INLINE_BATCH_MAX_BYTES = 4 * 1024 * 1024;
const RETRY_MS = 1000;

/**
 * The file name of a segment: what it holds, its number (the data and index segments started
 * together share one) and the logical offset it starts at. An index segment may stay empty, so
 * two can start at the same offset: the number tells them apart.
 */
export function segmentFileName(name: string, number: number, start: number): string {
  return `${name}-${String(number).padStart(6, '0')}-${String(start).padStart(16, '0')}.bin`;
}

/** Parses a segment file name, or null if it is not a segment of `name`. */
export function parseSegmentFileName(
  name: string,
  file: string,
): { number: number; start: number } | null {
  const match = new RegExp(`^${name}-(\\d{6,})-(\\d{16})\\.bin$`).exec(file);
  return match ? { number: Number(match[1]), start: Number(match[2]) } : null;
}

interface Segment {
  readonly start: number;
  /** Where the next append to it would go; only the newest segment grows. */
  end: number;
  readonly file: string;
}

export interface PreparedSegment {
  readonly segment: Segment;
  readonly fd: number;
}

interface PendingWrite {
  bytes: Uint8Array;
  segment: Segment;
}

export interface CaptureLogOptions {
  /** Hears when writing starts failing, and hears null when it works again. */
  onFailure?: (error: UserError | null) => void;
  /** What the log holds, as the start of its segment names. */
  name?: string;
  /** Write at once past this many pending bytes (WRITE_BATCH_BYTES at most). */
  batchBytes?: number;
  /** How a write failure is told to the user: what the file is, what happens meanwhile. */
  failureWords?: FailureWords;
  /** Asked before each write: a reason not to write now (e.g. free space under its floor). */
  mayWrite?: () => UserError | null;
  /**
   * Write batches from the engine's thread (a write into the page cache takes tens of
   * microseconds per megabyte there, with the bytes still in the CPU's cache) rather than on the
   * thread pool. Only for a local disk: a network file system can hang a write for minutes.
   */
  writeInline?: boolean;
}

export class CaptureLog {
  readonly name: string;
  private readonly segments: Segment[] = [];
  private fd: number;
  private appended = 0;
  private persisted = 0;
  private pending: PendingWrite[] = [];
  private pendingBytes = 0;
  /** Small appends collected for the next write; its first `stagingUsed` bytes are in use. */
  private staging: Uint8Array | null = null;
  private stagingUsed = 0;
  private writing = false;
  private timer: NodeJS.Timeout | undefined;
  private inlineWrite: NodeJS.Immediate | undefined;
  private readonly inlineGuard: InlineWriteGuard;
  private failure: UserError | null = null;
  private readonly persistedListeners = new Set<() => void>();
  /** flush() and close() waiting for the write in flight to end, however it ends. */
  private settledWaiters: Array<() => void> = [];
  private closed = false;
  private segmentsStarted = 0;
  /** Descriptors of older segments that still have writes pending. */
  private readonly retiring = new Map<Segment, number>();
  /** One descriptor kept for reading an older segment: range reads ask for the same one often. */
  private reader: { segment: Segment; fd: number } | null = null;

  private readonly onFailure: (error: UserError | null) => void;
  private readonly batchBytes: number;
  private readonly failureWords: FailureWords;
  private readonly mayWrite: () => UserError | null;

  constructor(
    readonly directory: string,
    options: CaptureLogOptions = {},
  ) {
    this.name = options.name ?? 'data';
    this.failureWords = options.failureWords ?? CAPTURE_FAILURE_WORDS;
    this.onFailure = options.onFailure ?? (() => undefined);
    this.mayWrite = options.mayWrite ?? (() => null);
    this.batchBytes = Math.min(WRITE_BATCH_BYTES, options.batchBytes ?? WRITE_BATCH_BYTES);
    this.inlineGuard = new InlineWriteGuard(options.writeInline ?? false);
    fs.mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    const first = this.prepareSegment();
    this.segments.push(first.segment);
    this.fd = first.fd;
  }

  /** The file the newest bytes go to. */
  get file(): string {
    return (this.segments.at(-1) as Segment).file;
  }

  /** Bytes appended so far (the offset the next append gets). */
  get size(): number {
    return this.appended;
  }

  /** Bytes below this offset are on disk (or were, before their segment was deleted). */
  get persistedSize(): number {
    return this.persisted;
  }

  /** Bytes appended but not yet on disk: they must stay in memory. */
  get unpersistedBytes(): number {
    return this.appended - this.persisted;
  }

  /** Bytes below this offset are gone: their segments were deleted to stay within the limit. */
  get floor(): number {
    return (this.segments[0] as Segment).start;
  }

  /** Bytes the log's segments take on disk now. */
  get storedBytes(): number {
    return this.appended - this.floor;
  }

  /** Bytes appended to the newest segment. */
  get newestSegmentBytes(): number {
    const newest = this.segments.at(-1) as Segment;
    return newest.end - newest.start;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  get error(): UserError | null {
    return this.failure;
  }

  /** Queues bytes for the file; returns their offset. The caller keeps them until persisted. */
  append(bytes: Uint8Array): number {
    const at = this.appended;
    this.appended += bytes.byteLength;
    const segment = this.segments.at(-1) as Segment;
    segment.end = this.appended;
    if (this.closed) return at;
    if (bytes.byteLength < SMALL_APPEND_BYTES) this.stage(bytes);
    else {
      this.closeStaging();
      this.pending.push({ bytes, segment });
    }
    this.pendingBytes += bytes.byteLength;
    if (this.pendingBytes >= this.batchBytes) this.writeSoon(0);
    else this.writeSoon(WRITE_DELAY_MS);
    return at;
  }

  /**
   * Opens the next segment's file, starting at the current offset, without using it yet: the
   * data and index logs start theirs together or not at all (see CaptureFolder). Throws the
   * system's error (EMFILE, ENOSPC, EACCES…) when it cannot be opened.
   */
  prepareSegment(): PreparedSegment {
    const start = this.appended;
    const file = path.join(this.directory, segmentFileName(this.name, this.segmentsStarted, start));
    // Owner-only, also in a directory the user chose: captures hold whatever peers sent.
    const fd = fs.openSync(file, 'a+', 0o600);
    this.segmentsStarted += 1;
    return { segment: { start, end: start, file }, fd };
  }

  /** A prepared segment that will not be used: its empty file goes. */
  abandonSegment(prepared: PreparedSegment): void {
    fs.closeSync(prepared.fd);
    fs.rmSync(prepared.segment.file, { force: true });
  }

  /** Later appends go to the prepared segment. */
  startSegment(prepared: PreparedSegment): void {
    if (this.closed) {
      this.abandonSegment(prepared);
      return;
    }
    this.closeStaging();
    const previous = this.fd;
    // Writes still pending for the previous segment carry their own descriptor.
    this.retiring.set(this.segments.at(-1) as Segment, previous);
    this.segments.push(prepared.segment);
    this.fd = prepared.fd;
    this.closeRetired();
    // The finished segment waits for nothing more: written now, it can be deleted sooner.
    if (this.pending.length > 0) this.writeSoon(0);
  }

  /** The oldest segment may be deleted: it is wholly on disk and not the newest. */
  get canDropOldestSegment(): boolean {
    return this.segments.length >= 2 && (this.segments[0] as Segment).end <= this.persisted;
  }

  /** Deletes the oldest segment (see canDropOldestSegment); returns the bytes it held. */
  dropOldestSegment(): number {
    if (!this.canDropOldestSegment) return 0;
    const oldest = this.segments.shift() as Segment;
    if (this.reader?.segment === oldest) this.closeReader();
    fs.rmSync(oldest.file, { force: true });
    return oldest.end - oldest.start;
  }

  /** Reads bytes that are on disk; throws CAPTURE_GONE for bytes whose segment was deleted. */
  read(offset: number, length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    this.readInto(offset, bytes);
    return bytes;
  }

  /**
   * Fills `target` with the bytes on disk from `offset` on, reading across segment files: a
   * search reads many chunks that follow one another in the log with one call. Throws
   * CAPTURE_GONE for bytes whose segment was deleted.
   */
  readInto(offset: number, target: Uint8Array): void {
    let done = 0;
    while (done < target.byteLength) {
      const at = offset + done;
      const segment = this.segmentHolding(at);
      const fd = segment === this.segments.at(-1) ? this.fd : this.readerFor(segment);
      // Never past the segment's end: the rest is in the next segment's file.
      const want = Math.min(target.byteLength - done, Math.max(1, segment.end - at));
      const n = fs.readSync(fd, target, done, want, at - segment.start);
      if (n === 0) break;
      done += n;
    }
  }

  onPersisted(listener: () => void): () => void {
    this.persistedListeners.add(listener);
    return () => this.persistedListeners.delete(listener);
  }

  /** Resolves when everything appended so far is on disk (or writing has failed). */
  async flush(): Promise<void> {
    while (!this.failure && !this.closed && this.persisted < this.appended) {
      this.writeSoon(0);
      // Waiting for "persisted" alone would hang forever when this very write fails.
      await this.writeSettled();
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inlineWrite) clearImmediate(this.inlineWrite);
    this.inlineWrite = undefined;
    // A retry may be in flight on a full disk; its descriptor must outlive it.
    if (this.writing) await this.writeSettled();
    this.closeReader();
    for (const fd of this.retiring.values()) fs.closeSync(fd);
    this.retiring.clear();
    fs.closeSync(this.fd);
  }

  private closeRetired(): void {
    for (const [segment, fd] of this.retiring) {
      if (segment.end > this.persisted) break;
      if (this.reader?.segment === segment) this.reader = null;
      fs.closeSync(fd);
      this.retiring.delete(segment);
    }
  }

  private descriptorOf(segment: Segment): number {
    return this.retiring.get(segment) ?? this.fd;
  }

  private segmentHolding(offset: number): Segment {
    if (offset >= this.floor) {
      for (let i = this.segments.length - 1; i >= 0; i--) {
        const segment = this.segments[i] as Segment;
        if (segment.start <= offset) return segment;
      }
    }
    throw new WorkbenchError(
      'CAPTURE_GONE',
      `Captured bytes at offset ${offset} are gone: the capture limit deleted the oldest part`,
    );
  }

  private readerFor(segment: Segment): number {
    if (this.reader?.segment === segment) return this.reader.fd;
    this.closeReader();
    const fd = this.retiring.get(segment) ?? fs.openSync(segment.file, 'r');
    this.reader = { segment, fd };
    return fd;
  }

  private closeReader(): void {
    if (this.reader && !this.retiring.has(this.reader.segment)) fs.closeSync(this.reader.fd);
    this.reader = null;
  }

  private writeSettled(): Promise<void> {
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  private settle(): void {
    for (const waiter of this.settledWaiters.splice(0)) waiter();
  }

  private writeSoon(delayMs: number): void {
    if (this.closed || this.writing || (this.failure && this.timer)) return;
    if (delayMs === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      // Inline, after this round of reads and on a fresh stack: an append (or a flush, or a new
      // segment) must not run persisted listeners in the middle of its own work.
      if (this.writesInlineNow()) {
        this.inlineWrite ??= setImmediate(() => {
          this.inlineWrite = undefined;
          this.writeBatch(true);
        });
      } else this.writeBatch(false);
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.writeBatch(true);
    }, delayMs);
  }

  private stage(bytes: Uint8Array): void {
    if (this.staging && this.stagingUsed + bytes.byteLength > this.staging.byteLength) {
      this.closeStaging();
    }
    this.staging ??= new Uint8Array(STAGING_BYTES);
    this.staging.set(bytes, this.stagingUsed);
    this.stagingUsed += bytes.byteLength;
  }

  /**
   * Queues what was staged, in its place among the other appends. A mostly empty buffer is
   * copied down to its used part: while the disk fails, every retry closes one, and a view would
   * keep all 256 KiB of each alive.
   */
  private closeStaging(): void {
    if (this.staging && this.stagingUsed > 0) {
      const used = this.staging.subarray(0, this.stagingUsed);
      this.pending.push({
        bytes: this.stagingUsed * 2 < this.staging.byteLength ? used.slice() : used,
        segment: this.segments.at(-1) as Segment,
      });
    }
    this.staging = null;
    this.stagingUsed = 0;
  }

  /** Writes the oldest pending batch; `mayInline` only where the stack is a fresh one. */
  private writeBatch(mayInline: boolean): void {
    this.closeStaging();
    if (this.writing || this.pending.length === 0 || this.closed) return;
    const refusal = this.mayWrite();
    if (refusal) {
      this.failed(refusal);
      return;
    }
    // One write goes to one file: the appends queued for the oldest pending segment.
    const segment = (this.pending[0] as PendingWrite).segment;
    let count = 0;
    while (count < this.pending.length && this.pending[count]?.segment === segment) count++;
    const batch = this.pending.splice(0, count).map((write) => write.bytes);
    const batchBytes = batch.reduce((sum, bytes) => sum + bytes.byteLength, 0);
    this.pendingBytes -= batchBytes;
    this.writing = true;
    const fd = this.descriptorOf(segment);
    // A backlog (the disk was slow) goes to the pool whole: written inline it would hold the
    // engine's thread for as long as the slow disk takes to take it.
    if (!mayInline || batchBytes > INLINE_BATCH_MAX_BYTES || !this.writesInlineNow()) {
      fs.writev(fd, batch, (error, written) =>
        this.written(batch, batchBytes, segment, error, written),
      );
      return;
    }
    const started = performance.now();
    let error: NodeJS.ErrnoException | null = null;
    let written = 0;
    try {
      written = fs.writevSync(fd, batch);
    } catch (thrown) {
      error = thrown as NodeJS.ErrnoException;
    }
    this.inlineGuard.wrote(started, performance.now());
    this.written(batch, batchBytes, segment, error, written);
  }

  private writesInlineNow(): boolean {
    return this.inlineGuard.mayWriteInline(performance.now());
  }

  /** A batch's write has ended, `written` of its `batchBytes` on disk or with `error`. */
  private written(
    batch: Uint8Array[],
    batchBytes: number,
    segment: Segment,
    error: NodeJS.ErrnoException | null,
    written: number,
  ): void {
    this.writing = false;
    if (error) {
      // A full or unwritable disk: keep the bytes in memory (the caller holds them), say why,
      // and try again later: freeing space or fixing permissions resumes the capture file.
      this.requeue(batch, segment);
      this.failed(describeWriteFailure(error, segment.file, this.failureWords));
      return;
    }
    this.persisted += written;
    if (written < batchBytes) this.requeue(remainderOf(batch, written), segment);
    if (this.failure) {
      this.failure = null;
      this.onFailure(null);
    }
    this.closeRetired();
    for (const listener of [...this.persistedListeners]) listener();
    this.settle();
    // Also what is still being staged: appends made during this write set no timer (writeSoon
    // waits for the write in flight), and a paused socket or a quiet peer makes no more.
    if (this.pendingBytes > 0) {
      // A finished segment waits for nothing more: write it now, so that it may be deleted.
      const finished = this.pending.length > 0 && this.pending[0]?.segment !== this.segments.at(-1);
      this.writeSoon(finished || this.pendingBytes >= this.batchBytes ? 0 : WRITE_DELAY_MS);
    }
  }

  private requeue(parts: Uint8Array[], segment: Segment): void {
    this.pending = [...parts.map((bytes) => ({ bytes, segment })), ...this.pending];
    this.pendingBytes += parts.reduce((sum, bytes) => sum + bytes.byteLength, 0);
  }

  private failed(error: UserError): void {
    if (this.failure?.message !== error.message) {
      this.failure = error;
      this.onFailure(error);
    }
    if (!this.closed) {
      // Replaces a batching timer set while an inline write was on its way: a retry waits RETRY_MS.
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.writeBatch(true);
      }, RETRY_MS);
    }
    this.settle();
  }
}

/** One inline write this long sends the writes to the thread pool at once. */
const STALLING_WRITE_MS = 50;
/**
 * Inline writes that take more than this share of a second send them there too: the disk (or
 * the memory behind its page cache) is slow enough that writing beside the reads, on another
 * core, moves more bytes than writing between them.
 */
const BUSY_WINDOW_MS = 1000;
const BUSY_SHARE = 0.5;
/** How long writes stay on the pool before the engine's thread tries again. */
const POOL_AFTER_SLOW_MS = 5000;

/**
 * Whether the next write may run on the engine's thread. A write that stalls the thread, or
 * writes that take most of its time, send writes to the thread pool for a while, so that every
 * other connection and the views keep being served while the disk is slow. Times are
 * performance.now() milliseconds.
 */
export class InlineWriteGuard {
  private poolUntilMs = 0;
  /** The inline writes that ended in the last BUSY_WINDOW_MS: when each ended, how long it took. */
  private readonly recentEnds = new Deque<number>(64);
  private readonly recentTook = new Deque<number>(64);
  private recentBusyMs = 0;

  constructor(private readonly enabled: boolean) {}

  mayWriteInline(nowMs: number): boolean {
    return this.enabled && nowMs >= this.poolUntilMs;
  }

  wrote(startedMs: number, endedMs: number): void {
    const took = endedMs - startedMs;
    // A window that slides with each write: half a second busy in any second counts, not only
    // within one that happened to start at the first write.
    this.recentEnds.push(endedMs);
    this.recentTook.push(took);
    this.recentBusyMs += took;
    while ((this.recentEnds.at(0) as number) <= endedMs - BUSY_WINDOW_MS) {
      this.recentEnds.shift();
      this.recentBusyMs -= this.recentTook.shift() as number;
    }
    if (took >= STALLING_WRITE_MS || this.recentBusyMs > BUSY_SHARE * BUSY_WINDOW_MS) {
      this.poolUntilMs = endedMs + POOL_AFTER_SLOW_MS;
      this.recentEnds.clear();
      this.recentTook.clear();
      this.recentBusyMs = 0;
    }
  }
}

/** What a failed write means for the user: the errno alone does not say what to do about it. */
const writeFailureReasons = new Map([
  ['ENOSPC', 'the disk is full'],
  ['EDQUOT', 'the disk quota is used up'],
  ['EFBIG', 'the file has reached the largest size allowed'],
  ['EROFS', 'the file system has become read-only'],
  ['EIO', 'the disk reported an input/output error'],
  ['EACCES', 'permission was denied'],
  ['EPERM', 'permission was denied'],
]);

export interface FailureWords {
  file: string;
  meanwhile: string;
}

export const CAPTURE_FAILURE_WORDS: FailureWords = {
  file: 'the capture file',
  meanwhile:
    'Captured bytes stay in memory, and reading pauses while memory is full, until the file ' +
    'can be written again.',
};

function describeWriteFailure(
  error: NodeJS.ErrnoException,
  file: string,
  words: FailureWords,
): UserError {
  const { code } = describeSystemError(error.code, error.message, {
    address: file,
    operation: 'write',
  });
  const reason = (error.code && writeFailureReasons.get(error.code)) || error.message;
  return {
    code,
    message:
      `Cannot write ${words.file} ${file}: ${reason} (${error.code ?? 'no errno'}). ` +
      words.meanwhile,
  };
}

/** What is left of a batch after the first `written` bytes went to disk. */
function remainderOf(batch: Uint8Array[], written: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = written;
  for (const part of batch) {
    if (skip >= part.byteLength) {
      skip -= part.byteLength;
      continue;
    }
    rest.push(skip > 0 ? part.subarray(skip) : part);
    skip = 0;
  }
  return rest;
}
