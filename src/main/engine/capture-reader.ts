/**
 * Reads a capture session's folder without the app (docs/capture-format.md): what
 * `socket-workbench capture FOLDER` lists and exports, and what tests check the files against.
 *
 * It trusts nothing it reads: a record cut short by a crash ends the reading of its segment
 * with a warning, and a row whose bytes are not (or no longer) in a data segment is counted as
 * missing, never read.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  decodeRow,
  RECORD_PREFIX_BYTES,
  RecordKind,
  ROW_BYTES,
  ROWS_HEADER_BYTES,
  type ChunkRow,
} from './capture-index';
import { readSessionFile, type SessionFile } from './capture-folder';
import { parseSegmentFileName } from './capture-log';

export interface CapturedEndpoint {
  number: number;
  /** The latest description the index holds (id, kind, role, addresses, state, times). */
  description: Record<string, unknown> & { id: string };
  peers: Array<{ host: string; port: number } | undefined>;
  /** Rows whose bytes are in the data segments, in stream order. */
  chunks: number;
  bytesIn: number;
  bytesOut: number;
  /** Stream offset of the first kept byte: earlier ones were deleted by the capture limit. */
  keptFrom: number | null;
  /** Rows the index has whose bytes are gone (deleted segments, or cut short by a crash). */
  missingChunks: number;
}

type IndexRecord =
  | { kind: 1 | 3; json: unknown }
  | { kind: 2; endpoint: number; firstSeq: number; count: number; rows: DataView };

/** An endpoint's rows as columns of numbers: cheap to hold for many chunks. */
export class RowColumns {
  length = 0;
  streamOffset = new Float64Array(16);
  fileOffset = new Float64Array(16);
  at = new Float64Array(16);
  size = new Uint32Array(16);
  dir = new Uint8Array(16);
  peer = new Int32Array(16);

  push(row: ChunkRow): void {
    if (this.length === this.size.length) this.grow();
    const i = this.length++;
    this.streamOffset[i] = row.streamOffset;
    this.fileOffset[i] = row.fileOffset;
    this.at[i] = row.at;
    this.size[i] = row.size;
    this.dir[i] = row.dir;
    this.peer[i] = row.peer;
  }

  private grow(): void {
    const capacity = this.length * 2;
    const grown = <T extends Float64Array | Uint32Array | Uint8Array | Int32Array>(old: T): T => {
      const next = new (old.constructor as new (length: number) => T)(capacity);
      next.set(old);
      return next;
    };
    this.streamOffset = grown(this.streamOffset);
    this.fileOffset = grown(this.fileOffset);
    this.at = grown(this.at);
    this.size = grown(this.size);
    this.dir = grown(this.dir);
    this.peer = grown(this.peer);
  }
}

/** How much of an index file scanRows reads at once. */
const INDEX_PIECE_BYTES = 4 * 1024 * 1024;

/** The length of the complete records at the start of `bytes`. */
function wholeRecordsLength(bytes: Buffer): number {
  let at = 0;
  while (at + RECORD_PREFIX_BYTES <= bytes.byteLength) {
    const end = at + RECORD_PREFIX_BYTES + bytes.readUInt32LE(at + 4);
    if (end > bytes.byteLength) break;
    at = end;
  }
  return at;
}

/** Rows (and records) scanRows goes through before letting the event loop turn. */
export const SCAN_ROWS_PER_TURN = 4096;

interface DataSegment {
  start: number;
  size: number;
  file: string;
}

export class CaptureFolderReader {
  readonly session: SessionFile | null;
  readonly warnings: string[] = [];
  private readonly dataSegments: DataSegment[];
  private readonly indexFiles: string[];

  constructor(readonly folder: string) {
    // A disk that was full from the start may have kept session.json from being written.
    this.session = readSessionFile(folder);
    const names = fs.readdirSync(folder);
    if (!this.session && !names.some((name) => parseSegmentFileName('index', name))) {
      throw new Error(`${folder} is not a capture session folder: it has no session.json`);
    }
    if (!this.session) this.warnings.push('session.json is missing or unreadable');
    const segments = (log: string) =>
      names
        .map((name) => ({ file: path.join(folder, name), ...parseSegmentFileName(log, name) }))
        .filter(
          (entry): entry is { file: string; number: number; start: number } =>
            entry.start !== undefined,
        )
        .sort((a, b) => a.number - b.number);
    this.dataSegments = segments('data').map(({ file, start }) => ({
      start,
      size: fs.statSync(file).size,
      file,
    }));
    this.indexFiles = segments('index').map(({ file }) => file);
  }

  /** Every endpoint the index names, with what is kept of its capture. */
  endpoints(): CapturedEndpoint[] {
    const found = new Map<number, CapturedEndpoint>();
    const seen = new Map<number, number>(); // endpoint -> rows already counted (by seq)
    for (const record of this.records()) {
      if (record.kind !== RecordKind.rows) {
        this.applyJson(found, record.kind, record.json);
        continue;
      }
      const entry = found.get(record.endpoint);
      if (!entry) continue;
      let next = seen.get(record.endpoint) ?? 0;
      for (let i = 0; i < record.count; i++) {
        const seq = record.firstSeq + i;
        if (seq < next) continue; // the engine writes each row once; a reader stays right if not
        next = seq + 1;
        const row = decodeRow(record.rows, i);
        if (!this.holds(row)) {
          entry.missingChunks += 1;
          continue;
        }
        entry.keptFrom ??= row.streamOffset;
        entry.chunks += 1;
        if (row.dir === 0) entry.bytesIn += row.size;
        else entry.bytesOut += row.size;
      }
      seen.set(record.endpoint, next);
    }
    return [...found.values()].sort((a, b) => a.number - b.number);
  }

  /** The kept chunks of one endpoint, in stream order, with their bytes. */
  *chunks(
    id: string,
    direction?: 'in' | 'out',
  ): Generator<ChunkRow & { bytes: Uint8Array; peerAddress?: { host: string; port: number } }> {
    const endpoint = this.endpoints().find((entry) => entry.description.id === id);
    if (!endpoint) throw new Error(`No endpoint ${id} in ${this.folder}`);
    let next = 0;
    const fds = new Map<string, number>();
    try {
      for (const record of this.records()) {
        if (record.kind !== RecordKind.rows || record.endpoint !== endpoint.number) continue;
        for (let i = 0; i < record.count; i++) {
          const seq = record.firstSeq + i;
          if (seq < next) continue;
          next = seq + 1;
          const row = decodeRow(record.rows, i);
          if ((direction === 'in' && row.dir !== 0) || (direction === 'out' && row.dir !== 1)) {
            continue;
          }
          const segment = this.segmentHolding(row);
          if (!segment) continue;
          let fd = fds.get(segment.file);
          if (fd === undefined) {
            fd = fs.openSync(segment.file, 'r');
            fds.set(segment.file, fd);
          }
          const bytes = new Uint8Array(row.size);
          fs.readSync(fd, bytes, 0, row.size, row.fileOffset - segment.start);
          const peerAddress = row.peer >= 0 ? endpoint.peers[row.peer] : undefined;
          yield { ...row, bytes, ...(peerAddress ? { peerAddress } : {}) };
        }
      }
    } finally {
      for (const fd of fds.values()) fs.closeSync(fd);
    }
  }

  private holds(row: ChunkRow): boolean {
    return this.segmentHolding(row) !== undefined;
  }

  private segmentHolding(row: Pick<ChunkRow, 'fileOffset' | 'size'>): DataSegment | undefined {
    for (let i = this.dataSegments.length - 1; i >= 0; i--) {
      const segment = this.dataSegments[i] as DataSegment;
      if (segment.start > row.fileOffset) continue;
      return row.fileOffset + row.size <= segment.start + segment.size ? segment : undefined;
    }
    return undefined;
  }

  private applyJson(found: Map<number, CapturedEndpoint>, kind: number, json: unknown): void {
    if (!json || typeof json !== 'object') return;
    const value = json as Record<string, unknown>;
    const number = value['number'];
    if (typeof number !== 'number') return;
    if (kind === RecordKind.endpoint) {
      if (typeof value['id'] !== 'string') return;
      const description = value as CapturedEndpoint['description'];
      const entry = found.get(number);
      if (entry) entry.description = description;
      else {
        found.set(number, {
          number,
          description,
          peers: [],
          chunks: 0,
          bytesIn: 0,
          bytesOut: 0,
          keptFrom: null,
          missingChunks: 0,
        });
      }
      return;
    }
    const entry = found.get(number);
    const first = value['first'];
    const peers = value['peers'];
    if (!entry || typeof first !== 'number' || !Array.isArray(peers)) return;
    peers.forEach((peer: { host: string; port: number }, i) => (entry.peers[first + i] = peer));
  }

  private *records(): Generator<IndexRecord> {
    for (const file of this.indexFiles) yield* this.parseRecords(file, fs.readFileSync(file));
  }

  /**
   * What an export needs, read without blocking the event loop: every endpoint (as endpoints()
   * says), and the rows of the endpoints `select` picks (from their description), in stream
   * order. Index files are read one at a time, asynchronously; the rows are kept as columns of
   * numbers (33 bytes a chunk), never the chunks' bytes.
   */
  async scanRows(
    select: (description: CapturedEndpoint['description']) => boolean,
  ): Promise<{ endpoints: CapturedEndpoint[]; rows: Map<number, RowColumns> }> {
    const found = new Map<number, CapturedEndpoint>();
    const rows = new Map<number, RowColumns>();
    const seen = new Map<number, number>();
    // The data logged when the reader was made: rows for bytes captured since (the index file
    // grows while it is read) are left for a later reading, not counted as missing.
    const last = this.dataSegments.at(-1);
    const dataEnd = last ? last.start + last.size : 0;
    let handled = 0;
    for await (const record of this.indexRecords()) {
      // Counted in rows: a row record holds up to a thousand, so 4,096 records could be
      // millions of rows in one go.
      handled += record.kind === RecordKind.rows ? 1 + record.count : 1;
      if (handled >= SCAN_ROWS_PER_TURN) {
        handled = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (record.kind !== RecordKind.rows) {
        this.applyJson(found, record.kind, record.json);
        const number = (record.json as { number?: unknown } | null)?.number;
        const entry = typeof number === 'number' ? found.get(number) : undefined;
        if (record.kind === RecordKind.endpoint && entry && !rows.has(entry.number)) {
          if (select(entry.description)) rows.set(entry.number, new RowColumns());
        }
        continue;
      }
      const entry = found.get(record.endpoint);
      if (!entry) continue;
      const columns = rows.get(record.endpoint);
      let next = seen.get(record.endpoint) ?? 0;
      for (let i = 0; i < record.count; i++) {
        const seq = record.firstSeq + i;
        if (seq < next) continue;
        next = seq + 1;
        const row = decodeRow(record.rows, i);
        if (row.fileOffset + row.size > dataEnd) break;
        if (!this.holds(row)) {
          entry.missingChunks += 1;
          continue;
        }
        entry.keptFrom ??= row.streamOffset;
        entry.chunks += 1;
        if (row.dir === 0) entry.bytesIn += row.size;
        else entry.bytesOut += row.size;
        columns?.push(row);
      }
      seen.set(record.endpoint, next);
    }
    return { endpoints: [...found.values()].sort((a, b) => a.number - b.number), rows };
  }

  /**
   * The index files' records, read a piece at a time (an index segment of tiny chunks can be
   * hundreds of MiB): a record cut by a piece's end waits for the next piece.
   */
  private async *indexRecords(): AsyncGenerator<IndexRecord> {
    for (const file of this.indexFiles) {
      let handle: fs.promises.FileHandle;
      try {
        handle = await fs.promises.open(file, 'r');
      } catch (error) {
        // The capture limit may delete the oldest segment while an export reads the folder.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      try {
        // What is there when it is opened: the engine appends to the newest file meanwhile.
        const size = (await handle.stat()).size;
        let pending: Buffer = Buffer.alloc(0);
        for (let position = 0; ;) {
          const piece = Buffer.allocUnsafe(
            Math.max(0, Math.min(INDEX_PIECE_BYTES, size - position)),
          );
          const { bytesRead } =
            piece.byteLength === 0
              ? { bytesRead: 0 }
              : await handle.read(piece, 0, piece.byteLength, position);
          position += bytesRead;
          const read = piece.subarray(0, bytesRead);
          const bytes = pending.byteLength > 0 ? Buffer.concat([pending, read]) : read;
          if (bytesRead === 0) {
            // The end: whatever is left is a record cut short, which parseRecords reports.
            yield* this.parseRecords(file, bytes, position - bytes.byteLength);
            break;
          }
          const whole = wholeRecordsLength(bytes);
          const cut = bytes.byteLength - whole;
          const endOfCut =
            cut >= RECORD_PREFIX_BYTES
              ? position - cut + RECORD_PREFIX_BYTES + bytes.readUInt32LE(whole + 4)
              : 0;
          if (endOfCut > size) {
            // A record said to go past the file's end (a crash, or damage): no use reading on.
            yield* this.parseRecords(file, bytes, position - bytes.byteLength);
            break;
          }
          const base = position - bytes.byteLength;
          if (yield* this.parseRecords(file, bytes.subarray(0, whole), base)) break;
          pending = bytes.subarray(whole);
        }
      } finally {
        await handle.close();
      }
    }
  }

  /** Where a chunk's bytes are: the data segment file and the position in it (if kept). */
  locate(fileOffset: number, size: number): { file: string; position: number } | undefined {
    const segment = this.segmentHolding({ fileOffset, size });
    return segment && { file: segment.file, position: fileOffset - segment.start };
  }

  /** `base`: where `bytes` starts in the file (the warnings name the file's byte). */
  /**
   * `base`: where `bytes` starts in the file (the warnings name the file's byte). True if it
   * stopped at a record cut short or malformed: what follows is not to be trusted.
   */
  private *parseRecords(file: string, bytes: Buffer, base = 0): Generator<IndexRecord, boolean> {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (at < bytes.byteLength) {
      if (at + RECORD_PREFIX_BYTES > bytes.byteLength) {
        this.warnings.push(`${path.basename(file)}: a record is cut short at byte ${base + at}`);
        return true;
      }
      const kind = view.getUint8(at);
      const length = view.getUint32(at + 4, true);
      const end = at + RECORD_PREFIX_BYTES + length;
      if (end > bytes.byteLength) {
        this.warnings.push(`${path.basename(file)}: a record is cut short at byte ${base + at}`);
        return true;
      }
      if (kind === RecordKind.rows) {
        const count = end - at >= ROWS_HEADER_BYTES ? view.getUint32(at + 20, true) : -1;
        if (ROWS_HEADER_BYTES + count * ROW_BYTES !== end - at) {
          this.warnings.push(`${path.basename(file)}: a malformed row record at byte ${base + at}`);
          return true;
        }
        yield {
          kind,
          endpoint: view.getUint32(at + 8, true),
          firstSeq: view.getFloat64(at + 12, true),
          count,
          rows: new DataView(
            bytes.buffer,
            bytes.byteOffset + at + ROWS_HEADER_BYTES,
            count * ROW_BYTES,
          ),
        };
      } else if (kind === RecordKind.endpoint || kind === RecordKind.peers) {
        const text = bytes.subarray(at + RECORD_PREFIX_BYTES, end).toString('utf8');
        try {
          yield { kind, json: JSON.parse(text) as unknown };
        } catch {
          this.warnings.push(`${path.basename(file)}: unreadable JSON record at byte ${base + at}`);
        }
      } else {
        this.warnings.push(
          `${path.basename(file)}: unknown record kind ${kind} at byte ${base + at}`,
        );
      }
      at = end;
    }
    return false;
  }
}

/**
 * A session folder: it has session.json, or (when a full disk kept that from being written) the
 * index log's segment files.
 */
export function isSessionFolder(folder: string): boolean {
  if (readSessionFile(folder)) return true;
  try {
    return fs.readdirSync(folder).some((name) => parseSegmentFileName('index', name) !== null);
  } catch {
    return false;
  }
}

/** The session folders in a capture directory (a session folder itself is its own only one). */
export function findSessions(folder: string): string[] {
  if (isSessionFolder(folder)) return [folder];
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch (error) {
    throw new Error(`Cannot read ${folder}: ${(error as Error).message}`, { cause: error });
  }
  return names
    .filter((name) => name.startsWith('session-'))
    .map((name) => path.join(folder, name))
    .filter(isSessionFolder)
    .sort();
}
