/**
 * Where each of an endpoint's chunks is: its offset in the stream, its place in the data log,
 * when it came, its size, direction and peer. One row per chunk.
 *
 * Rows are journaled to the index log as row records, in order, once the bytes they point at are
 * on disk: the index on disk is never ahead of the data, and a reader of a crashed session's
 * folder finds every chunk whose record was written (docs/capture-format.md). The newest rows
 * also stay in memory; older ones are read back from their record when asked for, so memory
 * holds three numbers per written record and stays flat however many chunks flow.
 *
 * Rows and records are kept interleaved in plain arrays of numbers (unboxed doubles, which the GC
 * does not scan), not in typed arrays: a typed array costs about 200 bytes of objects before its
 * first element, and most of 10,000 idle connections hold one or two rows and one record. A
 * record's place in the log is kept on its first row while that row is in memory, and goes to
 * the table of records only when the row leaves: a quiet endpoint, all of whose rows are in
 * memory, has no table at all.
 */
import { WorkbenchError } from '../../shared/errors';

/** Rows an index keeps in memory at least (the most recent), once they are journaled. */
export const HOT_ROWS = 64;
/** The largest row record: a busy endpoint's rows go out in records of at most this many. */
const RECORD_MAX_ROWS = 1024;
/**
 * Rows an index starts with. Most of 10,000 connections carry a handful of chunks, so a small
 * start keeps each one cheap; a busy one doubles its way up.
 */
const INITIAL_ROWS = 4;

/** A hot row's numbers, in this order, one row after another. */
const ROW_FIELDS = 7;
const STREAM_OFFSET = 0;
const FILE_OFFSET = 1;
const AT = 2;
const SIZE = 3;
const DIR = 4;
const PEER = 5;
/** Where the record this row begins lies in the index log; NOT_A_RECORD_START otherwise. */
const RECORD_AT = 6;
const NOT_A_RECORD_START = -1;
/** A written record's numbers: where it lies in the log, its first seq, its first stream offset. */
const RECORD_FIELDS = 3;
const LOG_OFFSET = 0;
const FIRST_SEQ = 1;
const FIRST_STREAM_OFFSET = 2;

/** The index log's record kinds (docs/capture-format.md). */
export const RecordKind = { endpoint: 1, rows: 2, peers: 3 } as const;
/** Every record starts with its kind (1 byte), 3 zero bytes and its payload's length (u32 LE). */
export const RECORD_PREFIX_BYTES = 8;
/** A row record's payload starts with endpoint number (u32), first seq (f64), row count (u32). */
export const ROWS_HEADER_BYTES = RECORD_PREFIX_BYTES + 4 + 8 + 4;
/** stream offset f64, data offset f64, time f64, size u32, direction u8, peer i32. */
export const ROW_BYTES = 8 * 3 + 4 + 1 + 4;

export interface ChunkRow {
  streamOffset: number;
  /** Where the chunk's bytes are in the data log. */
  fileOffset: number;
  at: number;
  size: number;
  /** 0 for in, 1 for out. */
  dir: number;
  /** Index into the store's peer table, or -1. */
  peer: number;
}

/** The index log, as a ChunkIndex needs it (a CaptureLog). */
export interface RecordLog {
  append(bytes: Uint8Array): number;
  read(offset: number, length: number): Uint8Array;
  readonly persistedSize: number;
  /** Records below this offset were deleted by the capture limit. */
  readonly floor: number;
}

export class ChunkIndex {
  private rows = 0;
  /** Seq of the first row still in memory. */
  private hotStart = 0;
  /**
   * Rows from this seq on stay in memory: their chunks' bytes still are (see CaptureStore). Null
   * when no chunk is held. (Never Infinity: one double here would box this field in every index.)
   */
  private keepFrom: number | null = null;
  /** Rows below this seq are in written records. */
  private journaled = 0;
  /** The rows in memory, ROW_FIELDS numbers each (seq hotStart first). */
  private hot: number[] = [];
  /** Hot rows held before journaled ones are dropped (or, if none can be, this doubles). */
  private hotCapacity = INITIAL_ROWS;
  /**
   * Written records whose first row has left memory, RECORD_FIELDS numbers each, in order: every
   * row before hotStart is in one of them (the last one may go on into rows still in memory).
   * Null until the first (an empty array would still cost an object).
   */
  private recordTable: number[] | null = null;
  /** Records' bytes by their place in the log, until the log has them (reads come from here). */
  private unpersisted: Map<number, Uint8Array> | null = null;
  /** The record read last: reading a range asks for its rows one after another. */
  private cached: { record: number; rows: DataView } | null = null;

  constructor(
    private readonly log: RecordLog,
    /** The endpoint's number, which every row record names (the digits of its id). */
    readonly endpointNumber: number,
  ) {}

  get length(): number {
    return this.rows;
  }

  /** Rows not yet in a written record. */
  get unjournaledRows(): number {
    return this.rows - this.journaled;
  }

  /** When the oldest row not yet in a record came (undefined if there is none). */
  get oldestUnjournaledAt(): number | undefined {
    return this.journaled < this.rows
      ? this.hotField(this.journaled - this.hotStart, AT)
      : undefined;
  }

  /** Adds a row (ChunkRow's fields, one by one: a flood of datagrams makes no row object). */
  push(
    streamOffset: number,
    fileOffset: number,
    at: number,
    size: number,
    dir: number,
    peer: number,
  ): number {
    if (this.rows - this.hotStart === this.hotCapacity) {
      this.dropJournaledRows();
      // Room for as many again as stay: otherwise a dropping that frees a few rows would move
      // the whole array at each of the next few pushes.
      if ((this.rows - this.hotStart) * 2 > this.hotCapacity) this.hotCapacity *= 2;
    }
    const recordAt = NOT_A_RECORD_START;
    // A literal holds exactly one row; a first push() would make room for three.
    if (this.hot.length === 0) {
      this.hot = [streamOffset, fileOffset, at, size, dir, peer, recordAt];
      return this.rows++;
    }
    // Into the room rows dropped from the front left (see dropJournaledRows), or past the end.
    const hot = this.hot;
    const place = (this.rows - this.hotStart) * ROW_FIELDS;
    hot[place + STREAM_OFFSET] = streamOffset;
    hot[place + FILE_OFFSET] = fileOffset;
    hot[place + AT] = at;
    hot[place + SIZE] = size;
    hot[place + DIR] = dir;
    hot[place + PEER] = peer;
    hot[place + RECORD_AT] = recordAt;
    return this.rows++;
  }

  /**
   * Whether chunk `seq`'s bytes are below `dataPersisted` in the data log. A row is journaled
   * only once they are, and only journaled rows leave memory: no record is read for this.
   */
  isOnDisk(seq: number, dataPersisted: number): boolean {
    if (seq < this.journaled) return true;
    const i = seq - this.hotStart;
    return this.hotField(i, FILE_OFFSET) + this.hotField(i, SIZE) <= dataPersisted;
  }

  /** Rows before `seq` may leave memory once journaled; those from it on stay (null: none). */
  keepRowsFrom(seq: number | null): void {
    this.keepFrom = seq;
  }

  /** Chunk `seq`'s size, for a row still in memory (one whose bytes are: see keepRowsFrom). */
  sizeOf(seq: number): number {
    return this.hotField(seq - this.hotStart, SIZE);
  }

  /** Throws CAPTURE_GONE when the row's record was deleted by the capture limit. */
  row(seq: number): ChunkRow {
    if (seq >= this.hotStart) {
      const i = seq - this.hotStart;
      return {
        streamOffset: this.hotField(i, STREAM_OFFSET),
        fileOffset: this.hotField(i, FILE_OFFSET),
        at: this.hotField(i, AT),
        size: this.hotField(i, SIZE),
        dir: this.hotField(i, DIR),
        peer: this.hotField(i, PEER),
      };
    }
    const record = this.recordHolding(seq);
    return decodeRow(this.recordRows(record), seq - this.recordField(record, FIRST_SEQ));
  }

  /** The first chunk that ends after stream offset `offset` (the length if none does). */
  firstEndingAfter(offset: number): number {
    const hotRows = this.rows - this.hotStart;
    if (this.hotStart === 0 || (hotRows > 0 && offset >= this.hotField(0, STREAM_OFFSET))) {
      let low = 0;
      let high = hotRows;
      while (low < high) {
        const mid = (low + high) >>> 1;
        const end = this.hotField(mid, STREAM_OFFSET) + this.hotField(mid, SIZE);
        if (end <= offset) low = mid + 1;
        else high = mid;
      }
      return this.hotStart + low;
    }
    // The last written record that starts at or before `offset` (or the first record).
    let low = 0;
    let high = this.records - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (this.recordField(mid, FIRST_STREAM_OFFSET) <= offset) low = mid;
      else high = mid - 1;
    }
    const first = this.recordField(low, FIRST_SEQ);
    const count = this.recordEnd(low) - first;
    const rows = this.recordRows(low);
    for (let i = 0; i < count; i++) {
      const row = decodeRow(rows, i);
      if (row.streamOffset + row.size > offset) return first + i;
    }
    return first + count;
  }

  /**
   * The first row whose bytes are still kept: not in a deleted record, and at or after the data
   * log's floor. Rows only ever go from the front, so this is a binary search.
   */
  firstKept(dataFloor: number): number {
    const gone = (seq: number): boolean => {
      if (seq < this.hotStart && this.recordIsGone(this.recordHolding(seq))) return true;
      return this.row(seq).fileOffset < dataFloor;
    };
    let low = 0;
    let high = this.rows;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (gone(mid)) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /**
   * Writes the rows whose bytes are on disk (the data log is persisted below `dataPersisted`) as
   * row records; `beforeRecord` runs before each one (the store writes what the record relies
   * on: its endpoint and peers). Returns how many rows are still not journaled.
   */
  journal(dataPersisted: number, beforeRecord: (lastPeer: number) => void): number {
    while (this.journaled < this.rows) {
      const from = this.journaled - this.hotStart;
      const available = Math.min(this.rows - this.journaled, RECORD_MAX_ROWS);
      let count = 0;
      let lastPeer = -1;
      while (count < available) {
        const i = from + count;
        if (this.hotField(i, FILE_OFFSET) + this.hotField(i, SIZE) > dataPersisted) break;
        lastPeer = Math.max(lastPeer, this.hotField(i, PEER));
        count += 1;
      }
      if (count === 0) break;
      beforeRecord(lastPeer);
      this.writeRecord(from, count);
    }
    return this.rows - this.journaled;
  }

  private writeRecord(from: number, count: number): void {
    const bytes = new Uint8Array(ROWS_HEADER_BYTES + count * ROW_BYTES);
    const view = new DataView(bytes.buffer);
    view.setUint8(0, RecordKind.rows);
    view.setUint32(4, bytes.byteLength - RECORD_PREFIX_BYTES, true);
    view.setUint32(8, this.endpointNumber, true);
    view.setFloat64(12, this.journaled, true);
    view.setUint32(20, count, true);
    for (let r = 0; r < count; r++) {
      const i = from + r;
      const at = ROWS_HEADER_BYTES + r * ROW_BYTES;
      view.setFloat64(at, this.hotField(i, STREAM_OFFSET), true);
      view.setFloat64(at + 8, this.hotField(i, FILE_OFFSET), true);
      view.setFloat64(at + 16, this.hotField(i, AT), true);
      view.setUint32(at + 24, this.hotField(i, SIZE), true);
      view.setUint8(at + 28, this.hotField(i, DIR));
      view.setInt32(at + 29, this.hotField(i, PEER), true);
    }
    const logOffset = this.log.append(bytes);
    this.hot[from * ROW_FIELDS + RECORD_AT] = logOffset;
    (this.unpersisted ??= new Map()).set(logOffset, bytes);
    this.journaled += count;
    this.releasePersistedRecords();
  }

  /** Journaled rows leave memory, but for the newest HOT_ROWS and those from keepFrom on. */
  private dropJournaledRows(): void {
    const kept = this.keepFrom ?? this.rows;
    const drop = Math.min(this.journaled, this.rows - HOT_ROWS, kept) - this.hotStart;
    if (drop <= 0) return;
    const keep = this.rows - this.hotStart - drop;
    // The records that begin among the rows leaving memory go to the table.
    for (let i = 0; i < drop; i++) {
      const logOffset = this.hotField(i, RECORD_AT);
      if (logOffset === NOT_A_RECORD_START) continue;
      const firstStreamOffset = this.hotField(i, STREAM_OFFSET);
      // A literal holds exactly one record; a first push() would make room for five.
      if (!this.recordTable) this.recordTable = [logOffset, this.hotStart + i, firstStreamOffset];
      else this.recordTable.push(logOffset, this.hotStart + i, firstStreamOffset);
    }
    // A plain loop: Array.prototype.copyWithin takes each element through the generic path.
    const hot = this.hot;
    const from = drop * ROW_FIELDS;
    const count = keep * ROW_FIELDS;
    for (let i = 0; i < count; i++) hot[i] = hot[from + i] as number;
    // The room freed at the end is reused by the next pushes, unless most of the array is spent:
    // cutting it on every dropping would make a flood grow it back, copying, each time.
    if (keep * 4 < drop) this.hot.length = keep * ROW_FIELDS;
    this.hotStart += drop;
  }

  /**
   * Records the log has taken need not be held. They lie in the log in the order written.
   * True when none is held any more.
   */
  releasePersistedRecords(): boolean {
    if (!this.unpersisted) return true;
    const persisted = this.log.persistedSize;
    for (const [logOffset, bytes] of this.unpersisted) {
      if (logOffset + bytes.byteLength > persisted) break;
      this.unpersisted.delete(logOffset);
    }
    if (this.unpersisted.size > 0) return false;
    // An empty Map still costs its hash table: a quiet endpoint should not keep one.
    this.unpersisted = null;
    return true;
  }

  private recordHolding(seq: number): number {
    let low = 0;
    let high = this.records - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (this.recordField(mid, FIRST_SEQ) <= seq) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  private recordEnd(record: number): number {
    if (record + 1 < this.records) return this.recordField(record + 1, FIRST_SEQ);
    // The last one in the table ends where the next record begins, on a row still in memory.
    for (let seq = this.hotStart; seq < this.journaled; seq++) {
      if (this.hotField(seq - this.hotStart, RECORD_AT) !== NOT_A_RECORD_START) return seq;
    }
    return this.journaled;
  }

  private recordIsGone(record: number): boolean {
    return this.recordField(record, LOG_OFFSET) < this.log.floor;
  }

  private recordRows(record: number): DataView {
    if (this.cached?.record === record) return this.cached.rows;
    // Also here, so that a store that has gone quiet lets go of its last records.
    this.releasePersistedRecords();
    if (this.recordIsGone(record)) {
      throw new WorkbenchError(
        'CAPTURE_GONE',
        'These captured bytes are gone: the capture limit deleted the oldest part',
      );
    }
    const length =
      ROWS_HEADER_BYTES +
      (this.recordEnd(record) - this.recordField(record, FIRST_SEQ)) * ROW_BYTES;
    const logOffset = this.recordField(record, LOG_OFFSET);
    const bytes = this.unpersisted?.get(logOffset) ?? this.log.read(logOffset, length);
    const rows = new DataView(
      bytes.buffer,
      bytes.byteOffset + ROWS_HEADER_BYTES,
      bytes.byteLength - ROWS_HEADER_BYTES,
    );
    this.cached = { record, rows };
    return rows;
  }

  /** How many records are in the table. */
  private get records(): number {
    return (this.recordTable?.length ?? 0) / RECORD_FIELDS;
  }

  /** Field `field` of hot row `i` (counted from hotStart). */
  private hotField(i: number, field: number): number {
    return this.hot[i * ROW_FIELDS + field] as number;
  }

  private recordField(record: number, field: number): number {
    return (this.recordTable as number[])[record * RECORD_FIELDS + field] as number;
  }
}

/** Reads row `i` of a row record's rows (the bytes after its header). */
export function decodeRow(rows: DataView, i: number): ChunkRow {
  const at = i * ROW_BYTES;
  return {
    streamOffset: rows.getFloat64(at, true),
    fileOffset: rows.getFloat64(at + 8, true),
    at: rows.getFloat64(at + 16, true),
    size: rows.getUint32(at + 24, true),
    dir: rows.getUint8(at + 28),
    peer: rows.getInt32(at + 29, true),
  };
}

/** A record of JSON (an endpoint's description, or its new peers). */
export function jsonRecord(kind: number, value: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(value));
  const bytes = new Uint8Array(RECORD_PREFIX_BYTES + json.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, kind);
  view.setUint32(4, json.byteLength, true);
  bytes.set(json, RECORD_PREFIX_BYTES);
  return bytes;
}
