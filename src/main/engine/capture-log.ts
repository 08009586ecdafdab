/**
 * The engine's append-only capture file: every captured byte of every endpoint, in arrival order.
 *
 * One file for the whole engine (not one per endpoint) so that 10,000 connections do not cost
 * 10,000 file descriptors. Writes are batched and asynchronous, one in flight at a time; a byte
 * counts as persisted once its write has completed, and only persisted bytes may leave memory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { UserError } from '../../shared/errors';
import { describeSystemError } from '../../shared/errors';

/** Pending bytes that start a write at once (otherwise writes wait WRITE_DELAY_MS to batch). */
const WRITE_BATCH_BYTES = 1024 * 1024;
/**
 * Appends smaller than this are copied together into one buffer of STAGING_BYTES: a flood of
 * small datagrams would otherwise hand the kernel thousands of tiny pieces per write.
 */
const SMALL_APPEND_BYTES = 4 * 1024;
const STAGING_BYTES = 256 * 1024;
const WRITE_DELAY_MS = 20;
const RETRY_MS = 1000;

export class CaptureLog {
  readonly file: string;
  private readonly ownsDirectory: boolean;
  private readonly directory: string;
  private fd: number;
  private appended = 0;
  private persisted = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Small appends collected for the next write; its first `stagingUsed` bytes are in use. */
  private staging: Uint8Array | null = null;
  private stagingUsed = 0;
  private writing = false;
  private timer: NodeJS.Timeout | undefined;
  private failure: UserError | null = null;
  private readonly persistedListeners = new Set<() => void>();
  /** flush() and close() waiting for the write in flight to end, however it ends. */
  private settledWaiters: Array<() => void> = [];
  private closed = false;

  private readonly onFailure: (error: UserError | null) => void;
  private readonly batchBytes: number;
  private readonly failureWords: FailureWords;

  constructor(
    directory: string | undefined,
    options: {
      /** Hears when writing starts failing, and hears null when it works again. */
      onFailure?: (error: UserError | null) => void;
      /** What the file holds, as the start of its name. */
      name?: string;
      /** Write at once past this many pending bytes (WRITE_BATCH_BYTES at most). */
      batchBytes?: number;
      /** How a write failure is told to the user: what the file is, what happens meanwhile. */
      failureWords?: FailureWords;
    } = {},
  ) {
    this.failureWords = options.failureWords ?? CAPTURE_FAILURE_WORDS;
    this.onFailure = options.onFailure ?? (() => undefined);
    this.batchBytes = Math.min(WRITE_BATCH_BYTES, options.batchBytes ?? WRITE_BATCH_BYTES);
    const name = options.name ?? 'capture';
    this.ownsDirectory = directory === undefined;
    this.directory = directory ?? fs.mkdtempSync(path.join(os.tmpdir(), 'socket-workbench-'));
    fs.mkdirSync(this.directory, { recursive: true });
    this.file = path.join(
      this.directory,
      `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.bin`,
    );
    // Owner-only, also in a directory the user chose: captures hold whatever peers sent.
    this.fd = fs.openSync(this.file, 'a+', 0o600);
  }

  /** Bytes appended so far (the file offset the next append gets). */
  get size(): number {
    return this.appended;
  }

  /** Bytes below this file offset are on disk. */
  get persistedSize(): number {
    return this.persisted;
  }

  /** Bytes appended but not yet on disk: they must stay in memory. */
  get unpersistedBytes(): number {
    return this.appended - this.persisted;
  }

  get error(): UserError | null {
    return this.failure;
  }

  /** Queues bytes for the file; returns their file offset. The caller keeps them until persisted. */
  append(bytes: Uint8Array): number {
    const at = this.appended;
    this.appended += bytes.byteLength;
    if (this.closed) return at;
    if (bytes.byteLength < SMALL_APPEND_BYTES) this.stage(bytes);
    else {
      this.closeStaging();
      this.pending.push(bytes);
    }
    this.pendingBytes += bytes.byteLength;
    if (this.pendingBytes >= this.batchBytes) this.writeSoon(0);
    else this.writeSoon(WRITE_DELAY_MS);
    return at;
  }

  /** Reads bytes that are already on disk. */
  read(fileOffset: number, length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, bytes, done, length - done, fileOffset + done);
      if (n === 0) break;
      done += n;
    }
    return bytes;
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
    // A retry may be in flight on a full disk; its descriptor must outlive it.
    if (this.writing) await this.writeSettled();
    fs.closeSync(this.fd);
    if (this.ownsDirectory) fs.rmSync(this.directory, { recursive: true, force: true });
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
      this.writeBatch();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.writeBatch();
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
      this.pending.push(this.stagingUsed * 2 < this.staging.byteLength ? used.slice() : used);
    }
    this.staging = null;
    this.stagingUsed = 0;
  }

  private writeBatch(): void {
    this.closeStaging();
    if (this.writing || this.pending.length === 0 || this.closed) return;
    const batch = this.pending;
    const batchBytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = true;
    fs.writev(this.fd, batch, (error, written) => {
      this.writing = false;
      if (error) {
        // A full or unwritable disk: keep the bytes in memory (the caller holds them), say why,
        // and try again later: freeing space or fixing permissions resumes the capture file.
        this.pending = [...batch, ...this.pending];
        this.pendingBytes += batchBytes;
        if (!this.failure) {
          this.failure = describeWriteFailure(error, this.file, this.failureWords);
          this.onFailure(this.failure);
        }
        if (!this.closed) {
          this.timer ??= setTimeout(() => {
            this.timer = undefined;
            this.writeBatch();
          }, RETRY_MS);
        }
        this.settle();
        return;
      }
      this.persisted += written;
      if (written < batchBytes) {
        this.pending = [...remainderOf(batch, written), ...this.pending];
        this.pendingBytes += batchBytes - written;
      }
      if (this.failure) {
        this.failure = null;
        this.onFailure(null);
      }
      for (const listener of [...this.persistedListeners]) listener();
      this.settle();
      if (this.pending.length > 0) {
        this.writeSoon(this.pendingBytes >= this.batchBytes ? 0 : WRITE_DELAY_MS);
      }
    });
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

const CAPTURE_FAILURE_WORDS: FailureWords = {
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
