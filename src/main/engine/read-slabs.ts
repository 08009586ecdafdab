/**
 * Where the capture keeps the bytes read from stream sockets: large slabs, reused once every
 * chunk in them is on disk and out of memory.
 *
 * Why: a buffer allocated per socket read lives until its bytes are written and then until the
 * memory budget lets it go, long enough for V8 to promote it; at a gigabyte a second V8 then
 * runs a full mark-compact every few tens of megabytes ("external memory pressure"), which cost
 * the capture a third of its CPU. Sockets read into one shared buffer instead (socket-reads.ts),
 * each read is copied here at once, and the slabs go round.
 *
 * The rule that keeps it safe: bytes in a slab are the capture's own. The tail of a store and
 * the data log's write queue hold them; anything that keeps bytes beyond the call that handed
 * them over (a view's feed, a rule's reply, a query's answer) takes a copy.
 */

/** What says where a captured chunk's bytes are kept. */
interface ChunkKind {
  dir: 'in' | 'out';
  peer?: unknown;
}

/** Whether a chunk's bytes go into a slab: a stream's received bytes (datagrams have a peer). */
export function keptInSlab(chunk: ChunkKind): boolean {
  return chunk.dir === 'in' && chunk.peer === undefined;
}

/**
 * A chunk's bytes for someone who keeps them beyond the call that handed them over: a copy
 * where they sit in a slab, the bytes themselves otherwise.
 */
export function bytesToKeep(chunk: ChunkKind & { bytes: Uint8Array }): Uint8Array {
  return keptInSlab(chunk) ? chunk.bytes.slice() : chunk.bytes;
}

/** One slab: 1 MiB holds 16 full socket reads, and a few stay in use at a time. */
export const SLAB_BYTES = 1024 * 1024;
/** Reads larger than this get a buffer of their own (a socket read is 64 KiB at most). */
const LARGEST_SLABBED = SLAB_BYTES / 4;

interface Slab {
  readonly bytes: Uint8Array;
  /** Chunks in it that a store's tail still holds. */
  live: number;
  /** Where its last chunk ends in the data log: reusable once the log has persisted that far. */
  logEnd: number;
}

export class ReadSlabs {
  private current: Slab | null = null;
  private used = 0;
  /** Full slabs waiting for their chunks to leave memory and reach the disk, oldest first. */
  private readonly full: Slab[] = [];
  private readonly spare: Uint8Array[] = [];
  private readonly slabOf = new Map<ArrayBufferLike, Slab>();
  private persisted = 0;

  /** @param spareMax slabs kept for reuse beyond those in use; more are left to the GC. */
  constructor(private readonly spareMax: number) {}

  /** Copies a read into the current slab; the copy is the capture's (see the file comment). */
  copy(data: Uint8Array): Uint8Array {
    if (data.byteLength > LARGEST_SLABBED) return new Uint8Array(data);
    if (!this.current || this.used + data.byteLength > SLAB_BYTES) this.startSlab();
    const slab = this.current as Slab;
    slab.bytes.set(data, this.used);
    const copy = slab.bytes.subarray(this.used, this.used + data.byteLength);
    this.used += data.byteLength;
    slab.live += 1;
    return copy;
  }

  /** A copy was appended to the data log, ending at `logEnd`. */
  logged(bytes: Uint8Array, logEnd: number): void {
    const slab = this.slabOf.get(bytes.buffer);
    if (slab) slab.logEnd = Math.max(slab.logEnd, logEnd);
  }

  /** A store let go of a chunk (evicted or forgotten); bytes not from a slab are ignored. */
  dropped(bytes: Uint8Array): void {
    const slab = this.slabOf.get(bytes.buffer);
    if (!slab) return;
    slab.live -= 1;
    if (slab.live === 0) this.recycle();
  }

  /** The data log is on disk up to `size`. */
  persistedUpTo(size: number): void {
    this.persisted = size;
    this.recycle();
  }

  /** Slabs holding captured bytes now, and spare ones: for tests and the memory bench. */
  get counts(): { inUse: number; spare: number } {
    return { inUse: this.full.length + (this.current ? 1 : 0), spare: this.spare.length };
  }

  private startSlab(): void {
    if (this.current) this.full.push(this.current);
    const bytes = this.spare.pop() ?? new Uint8Array(SLAB_BYTES);
    this.current = { bytes, live: 0, logEnd: 0 };
    this.slabOf.set(bytes.buffer, this.current);
    this.used = 0;
    this.recycle();
  }

  /** Full slabs go back to the spares in order, once nothing holds them and they are on disk. */
  private recycle(): void {
    while (this.full.length > 0) {
      const oldest = this.full[0] as Slab;
      if (oldest.live > 0 || oldest.logEnd > this.persisted) return;
      this.full.shift();
      this.slabOf.delete(oldest.bytes.buffer);
      if (this.spare.length < this.spareMax) this.spare.push(oldest.bytes);
    }
  }
}
