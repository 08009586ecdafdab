/**
 * Where each of an endpoint's chunks is: its offset in the stream, its place in the data log,
 * when it came, its size, direction and peer. One row per chunk.
 *
 * Rows are journaled to the index log as row records, in order, once the bytes they point at are
 * on disk: the index on disk is never ahead of the data, and a reader of a crashed session's
 * folder finds every chunk whose record was written (docs/capture-format.md). The newest rows
 * also stay in memory (typed arrays, out of the GC's way); older ones are read back from their
 * record when asked for, so memory holds three typed-array entries per written record and
 * stays flat however many chunks flow.
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
  /** Rows below this seq are in written records. */
  private journaled = 0;
  private streamOffset = new Float64Array(INITIAL_ROWS);
  private fileOffset = new Float64Array(INITIAL_ROWS);
  private at = new Float64Array(INITIAL_ROWS);
  private size = new Uint32Array(INITIAL_ROWS);
  private dir = new Uint8Array(INITIAL_ROWS);
  private peer = new Int32Array(INITIAL_ROWS);
  /**
   * Written records: where each lies in the index log, its first seq and the stream offset of
   * its first row. Most endpoints write few, so these start shared and empty.
   */
  private records = 0;
  private recordLogOffset = NONE;
  private recordFirstSeq = NONE;
  private recordFirstStreamOffset = NONE;
  /** Records' bytes until the log has them (reads come from here meanwhile). */
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
      ? (this.at[this.journaled - this.hotStart] as number)
      : undefined;
  }

  push(row: ChunkRow): number {
    let hot = this.rows - this.hotStart;
    if (hot === this.size.length) {
      this.dropJournaledRows();
      hot = this.rows - this.hotStart;
      if (hot === this.size.length) this.grow();
    }
    this.streamOffset[hot] = row.streamOffset;
    this.fileOffset[hot] = row.fileOffset;
    this.at[hot] = row.at;
    this.size[hot] = row.size;
    this.dir[hot] = row.dir;
    this.peer[hot] = row.peer;
    return this.rows++;
  }

  /** Throws CAPTURE_GONE when the row's record was deleted by the capture limit. */
  row(seq: number): ChunkRow {
    if (seq >= this.hotStart) {
      const i = seq - this.hotStart;
      return {
        streamOffset: this.streamOffset[i] as number,
        fileOffset: this.fileOffset[i] as number,
        at: this.at[i] as number,
        size: this.size[i] as number,
        dir: this.dir[i] as number,
        peer: this.peer[i] as number,
      };
    }
    const record = this.recordHolding(seq);
    return decodeRow(this.recordRows(record), seq - (this.recordFirstSeq[record] as number));
  }

  /** The first chunk that ends after stream offset `offset` (the length if none does). */
  firstEndingAfter(offset: number): number {
    const hotRows = this.rows - this.hotStart;
    if (this.hotStart === 0 || (hotRows > 0 && offset >= (this.streamOffset[0] as number))) {
      let low = 0;
      let high = hotRows;
      while (low < high) {
        const mid = (low + high) >>> 1;
        const end = (this.streamOffset[mid] as number) + (this.size[mid] as number);
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
      if ((this.recordFirstStreamOffset[mid] as number) <= offset) low = mid;
      else high = mid - 1;
    }
    const first = this.recordFirstSeq[low] as number;
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
        if ((this.fileOffset[i] as number) + (this.size[i] as number) > dataPersisted) break;
        lastPeer = Math.max(lastPeer, this.peer[i] as number);
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
      view.setFloat64(at, this.streamOffset[i] as number, true);
      view.setFloat64(at + 8, this.fileOffset[i] as number, true);
      view.setFloat64(at + 16, this.at[i] as number, true);
      view.setUint32(at + 24, this.size[i] as number, true);
      view.setUint8(at + 28, this.dir[i] as number);
      view.setInt32(at + 29, this.peer[i] as number, true);
    }
    if (this.records === this.recordLogOffset.length) {
      const capacity = Math.max(4, this.records * 2);
      this.recordLogOffset = grownTo(this.recordLogOffset, capacity);
      this.recordFirstSeq = grownTo(this.recordFirstSeq, capacity);
      this.recordFirstStreamOffset = grownTo(this.recordFirstStreamOffset, capacity);
    }
    this.recordLogOffset[this.records] = this.log.append(bytes);
    this.recordFirstSeq[this.records] = this.journaled;
    this.recordFirstStreamOffset[this.records] = this.streamOffset[from] as number;
    (this.unpersisted ??= new Map()).set(this.records, bytes);
    this.records += 1;
    this.journaled += count;
    this.releasePersistedRecords();
  }

  /** Journaled rows leave memory, but for the newest HOT_ROWS. */
  private dropJournaledRows(): void {
    const drop = Math.min(this.journaled, this.rows - HOT_ROWS) - this.hotStart;
    if (drop <= 0) return;
    const keep = this.rows - this.hotStart - drop;
    for (const column of this.columns()) column.copyWithin(0, drop, drop + keep);
    this.hotStart += drop;
  }

  /** Records the log has taken need not be held. They lie in the log in the order written. */
  private releasePersistedRecords(): void {
    if (!this.unpersisted) return;
    const persisted = this.log.persistedSize;
    for (const record of this.unpersisted.keys()) {
      if ((this.recordLogOffset[record] as number) >= persisted) break;
      const bytes = this.unpersisted.get(record) as Uint8Array;
      if ((this.recordLogOffset[record] as number) + bytes.byteLength > persisted) break;
      this.unpersisted.delete(record);
    }
  }

  private recordHolding(seq: number): number {
    let low = 0;
    let high = this.records - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if ((this.recordFirstSeq[mid] as number) <= seq) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  private recordEnd(record: number): number {
    return record + 1 < this.records ? (this.recordFirstSeq[record + 1] as number) : this.journaled;
  }

  private recordIsGone(record: number): boolean {
    return (this.recordLogOffset[record] as number) < this.log.floor;
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
      (this.recordEnd(record) - (this.recordFirstSeq[record] as number)) * ROW_BYTES;
    const bytes =
      this.unpersisted?.get(record) ??
      this.log.read(this.recordLogOffset[record] as number, length);
    const rows = new DataView(
      bytes.buffer,
      bytes.byteOffset + ROWS_HEADER_BYTES,
      bytes.byteLength - ROWS_HEADER_BYTES,
    );
    this.cached = { record, rows };
    return rows;
  }

  private columns() {
    return [this.streamOffset, this.fileOffset, this.at, this.size, this.dir, this.peer];
  }

  private grow(): void {
    const capacity = this.size.length * 2;
    this.streamOffset = grownTo(this.streamOffset, capacity);
    this.fileOffset = grownTo(this.fileOffset, capacity);
    this.at = grownTo(this.at, capacity);
    this.size = grownTo(this.size, capacity);
    this.dir = grownTo(this.dir, capacity);
    this.peer = grownTo(this.peer, capacity);
  }
}

const NONE = new Float64Array(0);

type Column =
  | Float64Array<ArrayBuffer>
  | Uint32Array<ArrayBuffer>
  | Uint8Array<ArrayBuffer>
  | Int32Array<ArrayBuffer>;

/** A column of the same type with room for `capacity` rows, holding the old one's rows. */
function grownTo<T extends Column>(old: T, capacity: number): T {
  const next = new (old.constructor as new (length: number) => T)(capacity);
  next.set(old);
  return next;
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
