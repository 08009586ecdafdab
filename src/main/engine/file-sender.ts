/**
 * Sends a file from the engine's disk. A piece is read only when the target can take it, so a
 * 1 GiB file goes out with the same memory as a 1 KiB one: at most one piece read ahead, plus
 * what the target may queue (AUTOMATION_QUEUE_BYTES in engine.ts).
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { WorkbenchError } from '../../shared/errors';
import { SendJob, Sleeper, isQueueFull, type JobSetup } from './send-job';

/** A piece when the user did not choose a chunk size. */
export const FILE_PIECE_BYTES = 64 * 1024;
/**
 * The largest datagram over IPv4 (65,535 less the IP and UDP headers): for a UDP target each
 * piece is one datagram, so larger chunks are cut to this.
 */
export const DATAGRAM_PIECE_MAX = 65_507;
/** How often a file send looks again at a target that could not take the next piece. */
export const FILE_RETRY_MS = 2;

export interface OpenedFile {
  handle: fs.FileHandle;
  size: number;
}

/** Opens a regular file for reading; a missing, unreadable or odd path fails in plain words. */
export async function openFile(filePath: string): Promise<OpenedFile> {
  let handle: fs.FileHandle;
  try {
    // Non-blocking: opening a FIFO for reading would otherwise wait for a writer, holding a
    // thread-pool thread (and every file write queued behind it). A regular file ignores it.
    handle = await fs.open(filePath, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    throw fileError(filePath, error);
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) {
      throw new WorkbenchError('INVALID_PATH', `${filePath} is a folder, not a file (EISDIR)`);
    }
    // A FIFO or a device would block a read for as long as it likes and has no size to show.
    if (!stat.isFile()) {
      throw new WorkbenchError('INVALID_PATH', `${filePath} is not a regular file`);
    }
    return { handle, size: stat.size };
  } catch (error) {
    await handle.close();
    throw error instanceof WorkbenchError ? error : fileError(filePath, error);
  }
}

function fileError(filePath: string, error: unknown): WorkbenchError {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return new WorkbenchError('ENOENT', `No file at ${filePath} (ENOENT)`);
    case 'EACCES':
    case 'EPERM':
      return new WorkbenchError(code, `Permission denied reading ${filePath} (${code})`);
    case 'EISDIR':
      return new WorkbenchError('INVALID_PATH', `${filePath} is a folder, not a file (EISDIR)`);
    default:
      return new WorkbenchError(
        'INVALID_PATH',
        `${filePath} cannot be read: ${error instanceof Error ? error.message : String(error)}`,
      );
  }
}

export interface FilePlan {
  file: OpenedFile;
  path: string;
  /** Bytes per piece; null: FILE_PIECE_BYTES. */
  chunkBytes: number | null;
  /** A pause between pieces (0: as fast as the target takes them). */
  intervalMs: number;
}

export function fileLabel(filePath: string): string {
  return path.basename(filePath) || filePath;
}

export class FileJob extends SendJob {
  private readonly handle: fs.FileHandle;
  private readonly size: number;
  private readonly pieceBytes: number;
  private readonly intervalMs: number;
  private offset = 0;
  private readonly sleeper = new Sleeper();
  /** Resolves a pump waiting for resume (true) or for the end (false). */
  private waiting: ((go: boolean) => void) | null = null;
  /** Pieces sent while the interval schedule is running; its start moves on by each pause. */
  private pieces = 0;
  private scheduleStart = 0;
  private haltedAt = 0;

  constructor(setup: JobSetup, plan: FilePlan) {
    super(setup);
    this.handle = plan.file.handle;
    this.size = plan.file.size;
    const wanted = plan.chunkBytes ?? FILE_PIECE_BYTES;
    this.pieceBytes =
      setup.target.kind === 'datagram' ? Math.min(wanted, DATAGRAM_PIECE_MAX) : wanted;
    this.intervalMs = plan.intervalMs;
  }

  start(): void {
    this.scheduleStart = performance.now();
    void this.pump().finally(() => this.handle.close().catch(() => undefined));
  }

  protected halt(): void {
    this.haltedAt = performance.now();
    this.sleeper.cancel();
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.(false);
  }

  protected carryOn(): void {
    this.scheduleStart += performance.now() - this.haltedAt;
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.(true);
  }

  /** True once the job may send (at once, or after a pause); false once it has ended. */
  private async mayGo(): Promise<boolean> {
    while (this.state === 'paused') {
      const go = await new Promise<boolean>((resolve) => (this.waiting = resolve));
      if (!go && !this.isActive) return false;
    }
    return this.state === 'running';
  }

  private async pump(): Promise<void> {
    try {
      while (await this.mayGo()) {
        if (this.offset >= this.size) {
          this.end('done');
          return;
        }
        const length = Math.min(this.pieceBytes, this.size - this.offset);
        if (!this.host.canTake(this.target, length)) {
          // The peer is not keeping up: look again shortly instead of queueing in memory.
          await this.sleeper.sleep(FILE_RETRY_MS);
          continue;
        }
        const piece = await this.read(length);
        if (piece.byteLength === 0) {
          // The file got shorter while it was being sent: what it had is sent.
          this.end('done');
          return;
        }
        // A pause or stop during the read: nothing goes out until resumed.
        if (!(await this.mayGo())) return;
        if (!(await this.sendPiece(piece))) {
          await this.sleeper.sleep(FILE_RETRY_MS);
          continue;
        }
        if (this.intervalMs > 0 && this.isActive) {
          const due = this.scheduleStart + this.pieces * this.intervalMs;
          await this.sleeper.sleep(due - performance.now());
        }
      }
    } catch (error) {
      this.fail(error);
    }
  }

  private async read(length: number): Promise<Uint8Array> {
    // A fresh buffer per piece: the socket keeps it until the kernel has taken it.
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.handle.read(buffer, 0, length, this.offset);
    return buffer.subarray(0, bytesRead);
  }

  /** Sends a piece; false when a full send queue refused it (it is read and tried again). */
  private async sendPiece(piece: Uint8Array): Promise<boolean> {
    try {
      const sent = await this.host.sendBytes(this.target, piece);
      this.bytesSent += sent;
    } catch (error) {
      if (isQueueFull(error)) return false;
      throw error;
    }
    this.offset += piece.byteLength;
    this.done = this.offset;
    this.pieces += 1;
    this.progressed();
    return true;
  }
}
