/**
 * A capture session's folder: `session.json`, the data log (every captured byte of every
 * endpoint, in arrival order) and the index log (endpoint descriptions and row records), both as
 * segment files (docs/capture-format.md).
 *
 * The folder keeps two promises. Its size stays under the capture limit: the two logs start new
 * segments together and the oldest pair is deleted first (ring semantics). A row is journaled
 * after its bytes were written, so its record lies in its bytes' segment or a later one:
 * deleting the oldest pair never takes the record of bytes that stay. And it never fills the disk: under a free-space floor, writing stops (reading pauses, as on a
 * full disk) and says why, until space is freed or the floor is lowered.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatByteSize, parseByteSize } from '../../shared/byte-size';
import { MIN_CAPTURE_LIMIT } from '../../shared/contract';
import { describeSystemError, type UserError } from '../../shared/errors';
import { CaptureLog, type PreparedSegment } from './capture-log';
import { isLocalDisk } from './local-disk';

export const SESSION_FORMAT = 'socket-workbench-capture';
export const SESSION_FORMAT_VERSION = 1;
/** The private temporary folders of sessions the user did not give a folder for. */
const TEMPORARY_PREFIX = 'socket-workbench-';

const GiB = 1024 ** 3;
/** The capture limit's default: the smaller of this and a quarter of the free space. */
export const DEFAULT_LIMIT_BYTES = 4 * GiB;
/** The free-space floor's default: the smaller of this and half the free space at start. */
export const DEFAULT_FLOOR_BYTES = 1 * GiB;
/** How often free space is looked at while writing. */
const FREE_SPACE_CHECK_MS = 1000;

export interface SessionFile {
  format: typeof SESSION_FORMAT;
  version: number;
  startedAt: string;
  pid: number;
  /** A private temporary folder: removed on a clean stop, and by the next start after a crash. */
  temporary: boolean;
  /** Set on a clean stop: every byte and every row of every endpoint was written. */
  stoppedAt?: string;
  /** Set instead when the app stopped while the disk could not take everything. */
  incompleteStopAt?: string;
}

export interface CaptureSettings {
  /** Largest size of the session's files; null: unlimited (only when the user chooses it). */
  limitBytes: number | null;
  /** Stop writing while the capture disk has less free space than this. */
  floorBytes: number;
}

export class CaptureFolder {
  /** The session's folder: what `socket-workbench capture` reads. */
  readonly folder: string;
  readonly data: CaptureLog;
  readonly index: CaptureLog;
  private readonly temporaryRoot: string | null;
  private settingsNow: CaptureSettings;
  private freeSpace: { bytes: number; at: number } = { bytes: Infinity, at: -Infinity };
  /** Bytes deleted by the limit so far, in both logs. */
  private droppedBytes = 0;
  /** When a failed segment start may be tried again (0: at once). */
  private retrySegmentsAt = 0;
  private segmentFailure: UserError | null = null;
  private readonly onFailure: (error: UserError | null) => void;
  private readonly onDeleted: () => void;
  private readonly sessionFile: SessionFile;

  constructor(
    captureDir: string | undefined,
    options: {
      settings?: Partial<CaptureSettings>;
      onFailure?: (error: UserError | null) => void;
      /** Hears when the limit has deleted segments (endpoints' oldest bytes are gone). */
      onDeleted?: () => void;
      /** Write at once past this many pending bytes. */
      batchBytes?: number;
    } = {},
  ) {
    if (captureDir === undefined) removeAbandonedTemporaryFolders();
    this.temporaryRoot =
      captureDir === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), TEMPORARY_PREFIX)) : null;
    const parent = captureDir ?? (this.temporaryRoot as string);
    fs.mkdirSync(parent, { recursive: true });
    this.folder = path.join(
      parent,
      `session-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`,
    );
    fs.mkdirSync(this.folder, { mode: 0o700 });
    this.sessionFile = {
      format: SESSION_FORMAT,
      version: SESSION_FORMAT_VERSION,
      startedAt: new Date().toISOString(),
      pid: process.pid,
      temporary: this.temporaryRoot !== null,
    };
    this.writeSessionFile();
    this.onFailure = options.onFailure ?? (() => undefined);
    this.onDeleted = options.onDeleted ?? (() => undefined);
    this.settingsNow = defaultSettings(this.folder, options.settings);
    const mayWrite = () => this.freeSpaceRefusal();
    const writeInline = isLocalDisk(this.folder);
    this.data = new CaptureLog(this.folder, {
      name: 'data',
      onFailure: options.onFailure,
      batchBytes: options.batchBytes,
      mayWrite,
      writeInline,
    });
    this.index = new CaptureLog(this.folder, {
      name: 'index',
      onFailure: options.onFailure,
      mayWrite,
      writeInline,
      failureWords: {
        file: 'the capture index file',
        meanwhile: 'Index rows stay in memory until it can be written again.',
      },
    });
    this.data.onPersisted(() => this.enforceLimit());
    this.index.onPersisted(() => this.enforceLimit());
  }

  /** Why the capture cannot be written as it should, if it cannot. */
  get error(): UserError | null {
    return this.data.error ?? this.index.error ?? this.segmentFailure;
  }

  get settings(): CaptureSettings {
    return { ...this.settingsNow };
  }

  /** Bytes the session's files take now. */
  get storedBytes(): number {
    return this.data.storedBytes + this.index.storedBytes;
  }

  /** Bytes the limit has deleted so far. */
  get deletedBytes(): number {
    return this.droppedBytes;
  }

  /** Free space where the capture lives, as last seen. */
  get freeBytes(): number {
    return this.refreshFreeSpace();
  }

  /** The size at which both logs start new segments: a sixteenth of the limit, within bounds. */
  get segmentBytes(): number {
    const limit = this.settingsNow.limitBytes ?? 16 * SEGMENT_MAX_BYTES;
    return Math.min(SEGMENT_MAX_BYTES, Math.max(SEGMENT_MIN_BYTES, Math.floor(limit / 16)));
  }

  /**
   * A new limit acts at once: what was written so far becomes whole segments that can go, so a
   * lowered limit deletes from the oldest until the rest fits (whole segments at a time).
   */
  configure(settings: Partial<CaptureSettings>): void {
    if (settings.limitBytes !== undefined) this.settingsNow.limitBytes = settings.limitBytes;
    if (settings.floorBytes !== undefined) this.settingsNow.floorBytes = settings.floorBytes;
    this.freeSpace.at = -Infinity;
    // What was written so far becomes segments that can go, unless there is nothing new.
    const newest = this.data.newestSegmentBytes + this.index.newestSegmentBytes;
    if (settings.limitBytes !== undefined && newest > 0) this.startSegments();
    this.enforceLimit();
  }

  /** Appends captured bytes to the data log, starting new segments as they fill. */
  appendData(bytes: Uint8Array): number {
    // The index counts too: a flood of empty datagrams fills only the index.
    const newest = this.data.newestSegmentBytes + this.index.newestSegmentBytes;
    if (newest >= this.segmentBytes && this.startSegments()) this.enforceLimit();
    return this.data.append(bytes);
  }

  /**
   * Both logs start a new segment, or neither does (they must stay in step). A file that cannot
   * be opened (no descriptors left, a full or read-only disk) leaves both on their current
   * segments, says why, and is tried again a second later: capturing goes on meanwhile.
   */
  private startSegments(): boolean {
    const now = performance.now();
    if (now < this.retrySegmentsAt) return false;
    let data: PreparedSegment | undefined;
    try {
      data = this.data.prepareSegment();
      const index = this.index.prepareSegment();
      this.data.startSegment(data);
      this.index.startSegment(index);
      this.retrySegmentsAt = 0;
      if (this.segmentFailure) {
        this.segmentFailure = null;
        this.onFailure(null);
      }
      return true;
    } catch (error) {
      if (data) this.data.abandonSegment(data);
      this.retrySegmentsAt = now + SEGMENT_RETRY_MS;
      const failure = error as NodeJS.ErrnoException;
      this.segmentFailure = {
        code: describeSystemError(failure.code, failure.message, {
          address: this.folder,
          operation: 'write',
        }).code,
        message:
          `Cannot start a new capture file in ${this.folder}: ${failure.message}. Capture goes ` +
          'on in the current one, past its usual size, until a new one can be made.',
      };
      this.onFailure(this.segmentFailure);
      return false;
    }
  }

  flush(): Promise<void> {
    return this.data.flush().then(() => this.index.flush());
  }

  async close(): Promise<void> {
    // Only a stop that wrote everything is a clean one; what a failing disk kept is said so.
    const complete =
      (await this.data
        .flush()
        .then(() => this.index.flush())
        .then(() => this.error)) === null &&
      this.data.unpersistedBytes === 0 &&
      this.index.unpersistedBytes === 0;
    await this.data.close();
    await this.index.close();
    if (this.temporaryRoot) {
      fs.rmSync(this.temporaryRoot, { recursive: true, force: true });
      return;
    }
    if (complete) this.sessionFile.stoppedAt = new Date().toISOString();
    else this.sessionFile.incompleteStopAt = new Date().toISOString();
    this.writeSessionFile();
  }

  /** Deletes the oldest segment pairs while the session is over its limit. */
  private enforceLimit(): void {
    const limit = this.settingsNow.limitBytes;
    if (limit === null) return;
    // Room for the newest segment to fill up, and for one more while the older ones are written
    // (a segment can be deleted only once it is wholly on disk).
    let deleted = false;
    while (this.storedBytes + 2 * this.segmentBytes - this.data.newestSegmentBytes > limit) {
      // Not on disk yet: try again when it is (the next write calls again).
      if (!this.data.canDropOldestSegment || !this.index.canDropOldestSegment) break;
      this.droppedBytes += this.data.dropOldestSegment() + this.index.dropOldestSegment();
      deleted = true;
    }
    if (deleted) this.onDeleted();
  }

  private freeSpaceRefusal(): UserError | null {
    const free = this.refreshFreeSpace();
    const floor = this.settingsNow.floorBytes;
    if (free >= floor) return null;
    return {
      code: 'CAPTURE_FLOOR',
      message:
        `Capture stopped: ${formatByteSize(free)} free where it is kept (${this.folder}), under ` +
        `the ${formatByteSize(floor)} floor. Reading is paused on every connection until space ` +
        'is freed or the floor is lowered.',
    };
  }

  private refreshFreeSpace(): number {
    const now = performance.now();
    if (now - this.freeSpace.at >= FREE_SPACE_CHECK_MS) {
      this.freeSpace = { bytes: freeSpaceAt(this.folder), at: now };
    }
    return this.freeSpace.bytes;
  }

  /**
   * Best effort: a full or read-only disk must not stop the app from starting or stopping (the
   * logs say why they cannot write). A folder without it is still read by its segment files.
   */
  private writeSessionFile(): void {
    try {
      fs.writeFileSync(
        path.join(this.folder, 'session.json'),
        `${JSON.stringify(this.sessionFile, null, 2)}\n`,
        { mode: 0o600 },
      );
    } catch {
      // Said by the logs' own failure, which the same disk causes.
    }
  }
}

const SEGMENT_MIN_BYTES = 64 * 1024;
const SEGMENT_RETRY_MS = 1000;
const SEGMENT_MAX_BYTES = 256 * 1024 * 1024;

function defaultSettings(folder: string, chosen: Partial<CaptureSettings> = {}): CaptureSettings {
  const free = freeSpaceAt(folder);
  return {
    limitBytes:
      chosen.limitBytes === undefined
        ? Math.min(DEFAULT_LIMIT_BYTES, Math.floor(free / 4))
        : chosen.limitBytes,
    // A floor above what is free when the capture starts would stop it before its first byte.
    floorBytes: chosen.floorBytes ?? Math.min(DEFAULT_FLOOR_BYTES, Math.floor(free / 2)),
  };
}

/**
 * The limit and floor as a user writes them (command line, environment): a size such as "2GiB",
 * or "unlimited" for the limit. A string says what is wrong.
 */
export function parseCaptureSettings(
  limit: string | undefined,
  floor: string | undefined,
): Partial<CaptureSettings> | string {
  const settings: Partial<CaptureSettings> = {};
  if (limit !== undefined) {
    if (limit.trim().toLowerCase() === 'unlimited') settings.limitBytes = null;
    else {
      const bytes = parseByteSize(limit);
      if (bytes === null || bytes < MIN_CAPTURE_LIMIT) {
        return `--capture-limit must be a size of at least ${formatByteSize(MIN_CAPTURE_LIMIT)} (e.g. 2GiB), or "unlimited", not "${limit}"`;
      }
      settings.limitBytes = bytes;
    }
  }
  if (floor !== undefined) {
    const bytes = parseByteSize(floor);
    if (bytes === null) return `--capture-floor must be a size such as 1GiB, not "${floor}"`;
    settings.floorBytes = bytes;
  }
  return settings;
}

function freeSpaceAt(folder: string): number {
  try {
    const stats = fs.statfsSync(folder);
    return stats.bavail * stats.bsize;
  } catch {
    return Infinity; // a file system that does not say: no floor can be kept
  }
}

/**
 * A killed process cannot remove its private temporary folder: the next start does, for every
 * such folder of this user whose process is gone.
 */
export function removeAbandonedTemporaryFolders(tmp = os.tmpdir()): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(tmp).filter((name) => name.startsWith(TEMPORARY_PREFIX));
  } catch {
    return removed;
  }
  for (const name of entries) {
    const root = path.join(tmp, name);
    try {
      const stats = fs.lstatSync(root);
      // Windows has no uids: there the temporary folder is the user's own anyway.
      const mine = process.getuid === undefined || stats.uid === process.getuid();
      if (!stats.isDirectory() || !mine) continue;
      const sessions = fs.readdirSync(root).filter((entry) => entry.startsWith('session-'));
      if (sessions.length === 0) continue;
      // A full disk may have kept session.json from being written: the pid ends the name too.
      const abandoned = (session: string): boolean => {
        const file = readSessionFile(path.join(root, session));
        if (file && !file.temporary) return false; // a folder the user chose: never ours to remove
        const pid = file?.pid ?? pidInName(session);
        return pid !== null && !isRunning(pid);
      };
      if (sessions.every(abandoned)) {
        fs.rmSync(root, { recursive: true, force: true });
        removed.push(root);
      }
    } catch {
      // Another user's, or changing under us: leave it.
    }
  }
  return removed;
}

export function readSessionFile(folder: string): SessionFile | null {
  try {
    const parsed = JSON.parse(
      fs.readFileSync(path.join(folder, 'session.json'), 'utf8'),
    ) as Partial<SessionFile>;
    if (parsed.format !== SESSION_FORMAT || typeof parsed.pid !== 'number') return null;
    return parsed as SessionFile;
  } catch {
    return null;
  }
}

function pidInName(session: string): number | null {
  const match = /-(\d+)$/.exec(session);
  return match ? Number(match[1]) : null;
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
