/**
 * Where each of an endpoint's chunks is: its offset in the stream, its place in the capture
 * file, when it came, its size, direction and peer. One row per chunk, 33 bytes.
 *
 * A busy UDP socket takes millions of datagrams, so the rows cannot all stay in memory: the
 * recent ones do (typed arrays, out of the GC's way), and older ones are written to an
 * append-only index file in blocks of BLOCK_ROWS. Memory then holds two typed-array entries per
 * written block (about 30 bytes with the arrays' room to grow: bench/chunk-cost.ts), so it stays
 * flat however many chunks flow, and an old row costs one small read when asked for.
 */

/** Rows written to the index file together. */
export const BLOCK_ROWS = 64;
const ROW_BYTES = 8 * 3 + 4 + 1 + 4;
/**
 * Rows an index starts with. Most of 10,000 connections carry a handful of chunks, so a small
 * start keeps each one cheap; a busy one doubles its way up to two blocks.
 */
const INITIAL_ROWS = 4;

export interface ChunkRow {
  streamOffset: number;
  fileOffset: number;
  at: number;
  size: number;
  /** 0 for in, 1 for out. */
  dir: number;
  /** Index into the store's peer table, or -1. */
  peer: number;
}

/** The append-only file that old rows go to (a CaptureLog). */
export interface RowFile {
  append(bytes: Uint8Array): number;
  read(fileOffset: number, length: number): Uint8Array;
  readonly persistedSize: number;
}

export class ChunkIndex {
  private rows = 0;
  /** Seq of the first row still in memory; every row before it is in a written block. */
  private hotStart = 0;
  private streamOffset = new Float64Array(INITIAL_ROWS);
  private fileOffset = new Float64Array(INITIAL_ROWS);
  private at = new Float64Array(INITIAL_ROWS);
  private size = new Uint32Array(INITIAL_ROWS);
  private dir = new Uint8Array(INITIAL_ROWS);
  private peer = new Int32Array(INITIAL_ROWS);
  /**
   * Written blocks: where each lies in the file and the stream offset of its first row. Most
   * endpoints never write one, so these start shared and empty.
   */
  private blocks = 0;
  private blockFileOffset = NO_BLOCKS;
  private blockFirstStreamOffset = NO_BLOCKS;
  /** Blocks' rows until the file has them (reads come from here meanwhile), oldest first. */
  private unpersisted: Map<number, Uint8Array> | null = null;
  /** The block read last: reading a range asks for its rows one after another. */
  private cached: { block: number; rows: DataView } | null = null;

  constructor(private readonly file: RowFile) {}

  get length(): number {
    return this.rows;
  }

  push(row: ChunkRow): number {
    let hot = this.rows - this.hotStart;
    if (hot === 2 * BLOCK_ROWS) {
      this.spillOldestBlock();
      hot -= BLOCK_ROWS;
    }
    if (hot === this.size.length) this.grow();
    this.streamOffset[hot] = row.streamOffset;
    this.fileOffset[hot] = row.fileOffset;
    this.at[hot] = row.at;
    this.size[hot] = row.size;
    this.dir[hot] = row.dir;
    this.peer[hot] = row.peer;
    return this.rows++;
  }

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
    const block = Math.floor(seq / BLOCK_ROWS);
    return decodeRow(this.blockRows(block), seq - block * BLOCK_ROWS);
  }

  /** The first chunk that ends after stream offset `offset` (the length if none does). */
  firstEndingAfter(offset: number): number {
    const hotRows = this.rows - this.hotStart;
    if (this.blocks === 0 || (hotRows > 0 && offset >= (this.streamOffset[0] as number))) {
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
    // The last written block that starts at or before `offset` (or the first block).
    let low = 0;
    let high = this.blocks - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if ((this.blockFirstStreamOffset[mid] as number) <= offset) low = mid;
      else high = mid - 1;
    }
    const rows = this.blockRows(low);
    for (let i = 0; i < BLOCK_ROWS; i++) {
      const row = decodeRow(rows, i);
      if (row.streamOffset + row.size > offset) return low * BLOCK_ROWS + i;
    }
    return (low + 1) * BLOCK_ROWS;
  }

  private spillOldestBlock(): void {
    const bytes = new Uint8Array(BLOCK_ROWS * ROW_BYTES);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < BLOCK_ROWS; i++) {
      const at = i * ROW_BYTES;
      view.setFloat64(at, this.streamOffset[i] as number, true);
      view.setFloat64(at + 8, this.fileOffset[i] as number, true);
      view.setFloat64(at + 16, this.at[i] as number, true);
      view.setUint32(at + 24, this.size[i] as number, true);
      view.setUint8(at + 28, this.dir[i] as number);
      view.setInt32(at + 29, this.peer[i] as number, true);
    }
    if (this.blocks === this.blockFileOffset.length) {
      const capacity = Math.max(4, this.blocks * 2);
      this.blockFileOffset = grownTo(this.blockFileOffset, capacity);
      this.blockFirstStreamOffset = grownTo(this.blockFirstStreamOffset, capacity);
    }
    this.blockFileOffset[this.blocks] = this.file.append(bytes);
    this.blockFirstStreamOffset[this.blocks] = this.streamOffset[0] as number;
    (this.unpersisted ??= new Map()).set(this.blocks, bytes);
    this.blocks += 1;
    for (const column of this.columns()) column.copyWithin(0, BLOCK_ROWS, 2 * BLOCK_ROWS);
    this.hotStart += BLOCK_ROWS;
    this.releasePersistedBlocks();
  }

  /** Blocks the file has taken need not be held. They lie in the file in the order written. */
  private releasePersistedBlocks(): void {
    if (!this.unpersisted) return;
    const persisted = this.file.persistedSize;
    for (const block of this.unpersisted.keys()) {
      if ((this.blockFileOffset[block] as number) + BLOCK_ROWS * ROW_BYTES > persisted) break;
      this.unpersisted.delete(block);
    }
  }

  private blockRows(block: number): DataView {
    if (this.cached?.block === block) return this.cached.rows;
    // Also here, so that a store that has gone quiet lets go of its last blocks.
    this.releasePersistedBlocks();
    const fileOffset = this.blockFileOffset[block] as number;
    const bytes =
      this.unpersisted?.get(block) ?? this.file.read(fileOffset, BLOCK_ROWS * ROW_BYTES);
    const rows = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.cached = { block, rows };
    return rows;
  }

  private columns() {
    return [this.streamOffset, this.fileOffset, this.at, this.size, this.dir, this.peer];
  }

  private grow(): void {
    const capacity = Math.min(this.size.length * 2, 2 * BLOCK_ROWS);
    const grown = <T extends Float64Array | Uint32Array | Uint8Array | Int32Array>(
      old: T,
      make: (n: number) => T,
    ): T => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    this.streamOffset = grown(this.streamOffset, (n) => new Float64Array(n));
    this.fileOffset = grown(this.fileOffset, (n) => new Float64Array(n));
    this.at = grown(this.at, (n) => new Float64Array(n));
    this.size = grown(this.size, (n) => new Uint32Array(n));
    this.dir = grown(this.dir, (n) => new Uint8Array(n));
    this.peer = grown(this.peer, (n) => new Int32Array(n));
  }
}

const NO_BLOCKS = new Float64Array(0);

function grownTo(old: Float64Array, capacity: number): Float64Array<ArrayBuffer> {
  const next = new Float64Array(capacity);
  next.set(old);
  return next;
}

function decodeRow(rows: DataView, i: number): ChunkRow {
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
