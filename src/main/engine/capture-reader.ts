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

  private segmentHolding(row: ChunkRow): DataSegment | undefined {
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

  private *records(): Generator<
    | { kind: 1 | 3; json: unknown }
    | { kind: 2; endpoint: number; firstSeq: number; count: number; rows: DataView }
  > {
    for (const file of this.indexFiles) {
      const bytes = fs.readFileSync(file);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let at = 0;
      while (at < bytes.byteLength) {
        if (at + RECORD_PREFIX_BYTES > bytes.byteLength) {
          this.warnings.push(`${path.basename(file)}: a record is cut short at byte ${at}`);
          break;
        }
        const kind = view.getUint8(at);
        const length = view.getUint32(at + 4, true);
        const end = at + RECORD_PREFIX_BYTES + length;
        if (end > bytes.byteLength) {
          this.warnings.push(`${path.basename(file)}: a record is cut short at byte ${at}`);
          break;
        }
        if (kind === RecordKind.rows) {
          const count = end - at >= ROWS_HEADER_BYTES ? view.getUint32(at + 20, true) : -1;
          if (ROWS_HEADER_BYTES + count * ROW_BYTES !== end - at) {
            this.warnings.push(`${path.basename(file)}: a malformed row record at byte ${at}`);
            break;
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
            this.warnings.push(`${path.basename(file)}: unreadable JSON record at byte ${at}`);
          }
        } else {
          this.warnings.push(`${path.basename(file)}: unknown record kind ${kind} at byte ${at}`);
        }
        at = end;
      }
    }
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
