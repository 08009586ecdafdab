/**
 * One endpoint's capture: every chunk in both directions, byte-exact, in the order it happened.
 *
 * Offsets count bytes across both directions, so a range read returns exactly what a Follow
 * Stream view shows. Every byte goes to the session's capture folder (CaptureFolder); the most
 * recent chunks also stay in memory, within one budget shared by all endpoints (CaptureMemory).
 * A range read is served from memory or disk transparently. Once the capture limit deletes the
 * folder's oldest segments, an endpoint's oldest bytes are gone: `keptFrom` says where what is
 * left begins.
 */
import type { CaptureChunk } from '../../shared/contract';
import { ChunkIndex, HOT_ROWS, jsonRecord, RecordKind } from './capture-index';
import type { CaptureFolder } from './capture-folder';
import { nowMs } from './clock';
import { Deque } from './deque';
import { bytesToKeep, keptInSlab, ReadSlabs } from './read-slabs';

export type Direction = CaptureChunk['dir'];
export type Peer = NonNullable<CaptureChunk['peer']>;

/**
 * What a chunk held in memory costs beyond its bytes, for the memory budget: the chunk object,
 * its typed array and array buffer, its timestamp and the allocator's share (measured by
 * bench/chunk-cost.ts; figures in docs/benchmarks.md). Small datagrams cost far more than their
 * bytes; a budget that did not count it would let memory grow several times past itself.
 */
const CHUNK_OVERHEAD = 384;

/**
 * How far past its budget capture memory may grow while the file is behind. Connections stop
 * reading at the budget; datagrams cannot be paused, so they are taken up to this and then
 * dropped unread (and counted), as a full receive buffer would drop them.
 */
const DATAGRAM_CEILING_FACTOR = 2;

/** How often the index log is brought up to date with what no data write brings along. */
const JOURNAL_MS = 200;
/**
 * Rows wait to be journaled until an endpoint has HOT_ROWS of them or its oldest is this old: a
 * record costs memory (three numbers) whatever its size, so a quiet endpoint must not write one
 * per chunk; and a crash loses at most about this much of the index beyond the data it loses.
 */
const JOURNAL_MAX_AGE_MS = 1000;

/**
 * Chunks one block visits at most (those of the other direction included), so that a block of
 * tiny datagrams, or of chunks the reader skips, still ends soon and lets the event loop turn.
 */
const BLOCK_MAX_CHUNKS = 16_384;

/** The first and the largest buffer a store copies batches of datagrams into. */
const BATCH_SPACE_MIN = 4 * 1024;
export const BATCH_SPACE_MAX = 64 * 1024;

/** Spent slots at the front of a store's tail that may wait before they are dropped. */
const TAIL_COMPACT_AFTER = 1024;
/** Slabs kept for the next reads once free: enough for the churn of a flood, no more. */
const SPARE_SLABS = 4;

/** One chunk's bytes (or the part of them in range) inside a block's buffer. */
export interface BlockPiece {
  dir: Direction;
  /** Capture offset of the piece's first byte. */
  offset: number;
  /** Where the piece's bytes are in the buffer. */
  at: number;
  length: number;
}

/** What one readBlock call read. */
export interface CaptureBlock {
  /** Where the block begins: where it was asked to, or keptFrom if the bytes before are gone. */
  start: number;
  /** Where the next block begins: just past the last byte visited. */
  end: number;
  /** The pieces, in capture order, one after another in the buffer. */
  pieces: BlockPiece[];
  /** Bytes written to the buffer. */
  bytes: number;
}

/**
 * Datagrams for CaptureStore.appendReceived: those from `first` to before `end` in the three
 * lists, their bytes back to back in `data` (see DatagramBacklog).
 */
export interface ReceivedBatch {
  data: Uint8Array;
  sizes: readonly number[];
  peers: readonly Peer[];
  times: readonly number[];
  first: number;
  end: number;
}

/** What an endpoint's description record says (docs/capture-format.md). */
export type EndpointDescription = Record<string, unknown> & { id: string };

/** Whose capture a store is: asked for its description when the index log is written. */
export interface CaptureOwner {
  captureDescription(): EndpointDescription;
}

/** The memory budget shared by every endpoint's recent chunks. */
export class CaptureMemory {
  private used = 0;
  /** Datagrams read but not yet captured (DatagramBacklog.cost): counted against the ceiling. */
  private backlogged = 0;
  /** One entry per admitted chunk, oldest first: whose oldest chunk to evict next. */
  private readonly order = new Deque<CaptureStore>(4096);
  private releasedStores = 0;
  private pressure = false;
  private readonly pressureListeners = new Set<(pressure: boolean) => void>();
  /** Stores with rows or a description not yet in the index log. */
  private readonly unjournaled = new Set<CaptureStore>();
  private journalTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** Where stream reads are kept while in memory. */
  readonly slabs = new ReadSlabs(SPARE_SLABS);

  constructor(
    readonly budgetBytes: number,
    readonly folder: CaptureFolder,
  ) {
    folder.data.onPersisted(() => {
      this.slabs.persistedUpTo(folder.data.persistedSize);
      this.trim();
      // Busy endpoints' rows follow their bytes to disk at once, without the index log's usual
      // batching delay: a crash then loses at most about one data write of index.
      this.journal();
      if (folder.index.unpersistedBytes > 0) void folder.index.flush();
    });
  }

  /** Bytes of captured data held in memory now. */
  get usedBytes(): number {
    return this.used;
  }

  /** True while unpersisted bytes alone exceed the budget (the disk is slower than the wire). */
  get underPressure(): boolean {
    return this.pressure;
  }

  /** True when not even a datagram may be taken in: memory is at its hard ceiling. */
  get atDatagramCeiling(): boolean {
    return this.used + this.backlogged >= this.budgetBytes * DATAGRAM_CEILING_FACTOR;
  }

  /** What backlogs of datagrams cost now (see DatagramBacklog). */
  get backloggedBytes(): number {
    return this.backlogged;
  }

  /** Backlogs of datagrams grew (or, negative, shrank) by `cost`: see DatagramBacklog. */
  backlog(cost: number): void {
    this.backlogged += cost;
  }

  onPressure(listener: (pressure: boolean) => void): () => void {
    this.pressureListeners.add(listener);
    return () => this.pressureListeners.delete(listener);
  }

  admit(store: CaptureStore, cost: number, chunks = 1): void {
    for (let i = 0; i < chunks; i++) this.order.push(store);
    this.used += cost;
    if (this.used > this.budgetBytes) this.trim();
  }

  /** The store has something for the index log: journal it soon. */
  needsJournal(store: CaptureStore): void {
    if (this.stopped) return;
    this.unjournaled.add(store);
    this.journalSoon();
  }

  /** Unreferenced: the index catching up is no reason to keep a process alive. */
  private journalSoon(): void {
    this.journalTimer ??= setTimeout(() => {
      this.journalTimer = undefined;
      this.journal();
    }, JOURNAL_MS).unref();
  }

  /**
   * Writes rows whose bytes are on disk, and changed descriptions, to the index log: every such
   * row when `everything`, otherwise those of endpoints with enough rows or old enough ones.
   */
  journal(everything = false): void {
    for (const store of this.unjournaled) {
      if (store.journal(everything)) this.unjournaled.delete(store);
    }
    if (this.unjournaled.size > 0) this.journalSoon();
  }

  /** Everything on disk, every row journaled, the index on disk. */
  async flushAll(): Promise<void> {
    await this.folder.data.flush();
    this.journal(true);
    if (this.journalTimer) clearTimeout(this.journalTimer);
    this.journalTimer = undefined;
    await this.folder.index.flush();
  }

  /** A clean stop: flushAll, then nothing more is journaled (the logs close next). */
  async stop(): Promise<void> {
    await this.flushAll();
    this.stopped = true;
    this.unjournaled.clear();
  }

  release(cost: number): void {
    this.used -= cost;
    // A forgotten store stays reachable through `order` until traffic trims past it, which may
    // never happen on quiet connections (each one keeps its ~3.5 KB index alive). Drop such
    // entries once releases reach an eighth of the queue: at most 8 steps per release.
    this.releasedStores += 1;
    if (this.releasedStores * 8 > this.order.length) {
      this.order.retain((store) => !store.isReleased);
      this.releasedStores = 0;
    }
  }

  private trim(): void {
    // Hysteresis: once under pressure, free a quarter of the budget before reading resumes.
    const target = this.pressure ? this.budgetBytes * 0.75 : this.budgetBytes;
    while (this.used > target && this.order.length > 0) {
      const store = this.order.at(0) as CaptureStore;
      if (!store.canEvictOldest()) break;
      this.used -= store.evictOldest();
      this.order.shift();
    }
    const next = this.used > target;
    if (next !== this.pressure) {
      this.pressure = next;
      for (const listener of this.pressureListeners) listener(next);
    }
  }
}

export class CaptureStore {
  private readonly index: ChunkIndex;
  /** Where the index log's newest segment started when this store last described itself there. */
  private describedInSegment = -1;
  private describedPeers = 0;
  private descriptionChanged = true;
  /** Cached first kept seq, valid while the data log's floor is `keptFloor`. */
  private keptFloor = 0;
  private keptSeq = 0;
  private reportedKeptFrom = 0;
  /**
   * The bytes of the most recent chunks, oldest first: chunk `tailSeq` is `tail[tailHead]`, the
   * slots before it are spent. The rest of each chunk is in its index row, which stays in memory
   * as long as its bytes do. Most of 10,000 quiet connections hold one chunk here: a chunk object
   * (and its boxed time) each would cost about 90 bytes more, a Deque object 40 more.
   */
  private tail: (Uint8Array | undefined)[] = [];
  /**
   * Where each tail slot's chunk begins in the slot's bytes, or -1 where the slot is the chunk's
   * own bytes: datagrams received together share their batch's buffer, so that a flood keeps
   * no object per datagram. Null until a store takes its first batch (connections never do).
   */
  private tailPlace: number[] | null = null;
  /** Where batches of datagrams are copied to (see batchSpace). */
  private batchBuffer: Uint8Array | null = null;
  private batchBufferUsed = 0;
  private tailHead = 0;
  private tailSeq = 0;
  private bytes = 0;
  /** The peers of a UDP endpoint's datagrams (none on a connection, hence made when needed). */
  private peers: Peer[] | null = null;
  private peerIds: Map<string, number> | null = null;
  private released = false;

  constructor(
    private readonly memory: CaptureMemory,
    endpointNumber: number,
    /** The endpoint's description, for the index log (read when it is written). */
    private readonly owner: CaptureOwner,
  ) {
    this.index = new ChunkIndex(memory.folder.index, endpointNumber);
    this.index.keepRowsFrom(this.tailSeq);
    memory.needsJournal(this);
  }

  /** The number its endpoint's rows are journaled under. */
  get endpointNumber(): number {
    return this.index.endpointNumber;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  get chunkCount(): number {
    return this.index.length;
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** The stream offset where the bytes still kept begin: everything before it is gone. */
  get keptFrom(): number {
    const seq = this.firstKeptSeq();
    return seq < this.index.length ? this.index.row(seq).streamOffset : this.bytes;
  }

  /** True once each time `keptFrom` has moved since the last time this was asked. */
  keptFromMoved(): boolean {
    const now = this.keptFrom;
    if (now === this.reportedKeptFrom) return false;
    this.reportedKeptFrom = now;
    return true;
  }

  /** The first chunk (seq) whose bytes are still kept. */
  get firstKeptChunk(): number {
    return this.firstKeptSeq();
  }

  /** Each kept chunk's time, size and direction (0 in, 1 out), for seqs in [from, to). */
  visitChunks(
    from: number,
    to: number,
    visit: (at: number, size: number, dir: number) => void,
  ): void {
    const end = Math.min(to, this.index.length);
    for (let seq = Math.max(from, this.firstKeptSeq()); seq < end; seq++) {
      const row = this.index.row(seq);
      visit(row.at, row.size, row.dir);
    }
  }

  /** The endpoint's description changed (a transition): the index log gets it again. */
  describeAgain(): void {
    this.descriptionChanged = true;
    this.memory.needsJournal(this);
  }

  /**
   * Writes this store's journaled-ready rows (and first its description and new peers, where the
   * index log's newest segment lacks them). True when nothing is left to write.
   */
  journal(everything: boolean): boolean {
    const log = this.memory.folder.index;
    const segment = log.size - log.newestSegmentBytes;
    if (this.descriptionChanged || this.describedInSegment !== segment) {
      this.writeDescription(segment);
    }
    const oldest = this.index.oldestUnjournaledAt;
    const due =
      everything ||
      this.index.unjournaledRows >= HOT_ROWS ||
      (oldest !== undefined && nowMs() - oldest >= JOURNAL_MAX_AGE_MS);
    // A store stays due until the index log holds its records, so that it lets go of them then.
    if (!due) return this.index.unjournaledRows === 0 && this.index.releasePersistedRecords();
    const left = this.index.journal(this.memory.folder.data.persistedSize, (lastPeer) => {
      const now = log.size - log.newestSegmentBytes;
      if (this.describedInSegment !== now) this.writeDescription(now);
      if (lastPeer >= this.describedPeers) this.writePeers();
    });
    return left === 0 && this.index.releasePersistedRecords();
  }
  /** `at`: when it happened; now, unless the chunk comes from a file opened read-only. */
  append(dir: Direction, data: Uint8Array, peer?: Peer, at = nowMs()): CaptureChunk {
    // A stream socket's read arrives in a buffer that the next read reuses: it goes into a slab.
    // Anything else: a small read can be a view into a large pooled allocation, so copy it, or
    // the budget lies. Either way a plain Uint8Array, not a Buffer: views serialise it as bytes,
    // not as JSON. (A Buffer's slice() is a view, not a copy: copy with the Uint8Array
    // constructor.)
    const fromStream = keptInSlab({ dir, peer });
    const bytes = fromStream
      ? this.memory.slabs.copy(data)
      : data.buffer.byteLength > data.byteLength * 2 + 1024
        ? new Uint8Array(data)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const peerId = peer ? this.peerId(peer) : -1;
    const fileOffset = this.memory.folder.appendData(bytes);
    if (fromStream) this.memory.slabs.logged(bytes, fileOffset + bytes.byteLength);
    const seq = this.index.push(
      this.bytes,
      fileOffset,
      at,
      bytes.byteLength,
      dir === 'in' ? 0 : 1,
      peerId,
    );
    // Every chunk from one peer shares one peer object.
    const sharedPeer = peerId >= 0 ? this.peers?.[peerId] : undefined;
    const chunk: CaptureChunk = {
      seq,
      at,
      dir,
      offset: this.bytes,
      bytes,
      ...(sharedPeer ? { peer: sharedPeer } : {}),
    };
    this.bytes += bytes.byteLength;
    this.memory.needsJournal(this);
    if (!this.released) {
      // A literal holds exactly the one chunk; a first push() would make room for 17.
      if (this.tail.length === 0) this.tail = [bytes];
      else this.tail.push(bytes);
      this.tailPlace?.push(-1);
      this.memory.admit(this, bytes.byteLength + CHUNK_OVERHEAD);
    }
    return chunk;
  }

  /**
   * Datagrams received one after another, oldest first, each with its sender and time: what
   * append('in', …) does for each, but their bytes are copied into one buffer that goes to the
   * data log as one append and stays in memory as the bytes of all of them (at most
   * BATCH_SPACE_MAX at a time). A flood of small datagrams then costs one log append per batch,
   * one allocation per batch space (see batchSpace) and no object per datagram: the chunks are
   * made only when `chunks` is true (someone is told of each one), as views into the batch's
   * buffer. A chunk's memory is freed with the last chunk in its buffer.
   */
  appendReceived(received: ReceivedBatch, chunks: boolean): CaptureChunk[] | null {
    const { data, sizes, peers, times, first, end } = received;
    const count = end - first;
    const joined = this.batchSpace(data.byteLength);
    joined.set(data);
    const fileStart = this.memory.folder.appendData(joined);
    const made: CaptureChunk[] | null = chunks ? [] : null;
    const keep = !this.released;
    const tail = this.tail;
    const tailPlace = keep ? this.placesInTail() : null;
    let place = 0;
    for (let i = first; i < end; i++) {
      const size = sizes[i] as number;
      const peerId = this.peerId(peers[i] as Peer);
      const at = times[i] as number;
      const seq = this.index.push(this.bytes, fileStart + place, at, size, 0, peerId);
      if (made) {
        const peer = (this.peers as Peer[])[peerId] as Peer;
        const bytes = joined.subarray(place, place + size);
        made.push({ seq, at, dir: 'in', offset: this.bytes, bytes, peer });
      }
      if (tailPlace) {
        tail.push(joined);
        tailPlace.push(place);
      }
      this.bytes += size;
      place += size;
    }
    if (keep) this.memory.admit(this, data.byteLength + count * CHUNK_OVERHEAD, count);
    this.memory.needsJournal(this);
    return made;
  }

  /**
   * Room for a batch's bytes: a part of a buffer that later batches share, so that a flood
   * allocates a buffer per BATCH_SPACE_MAX bytes, not per turn. The buffer is never reused: it
   * goes when the last chunk in it does (chunks handed out may be kept by whoever took them).
   * It starts small and grows with use, and is let go when the store has nothing in memory: the
   * budget counts chunks, not these buffers, so a store holds at most two of them (the one
   * batches go to, and one its oldest chunk in memory is in) beyond what is counted.
   */
  private batchSpace(bytes: number): Uint8Array {
    let space = this.batchBuffer;
    if (space === null || this.batchBufferUsed + bytes > space.byteLength) {
      const size =
        space === null ? BATCH_SPACE_MIN : Math.min(space.byteLength * 2, BATCH_SPACE_MAX);
      space = this.batchBuffer = new Uint8Array(Math.max(size, bytes));
      this.batchBufferUsed = 0;
    }
    const start = this.batchBufferUsed;
    this.batchBufferUsed += bytes;
    return space.subarray(start, start + bytes);
  }

  private dropBatchSpace(): void {
    this.batchBuffer = null;
    this.batchBufferUsed = 0;
  }

  /** tailPlace, made (every slot so far a chunk's own bytes) when the first batch comes. */
  private placesInTail(): number[] {
    return (this.tailPlace ??= Array.from({ length: this.tail.length }, () => -1));
  }

  /**
   * The chunks overlapping [offset, offset + length), trimmed to that range. A chunk of no bytes
   * (an empty datagram) is in the range its offset is in, and also in any range that reaches the
   * capture's end when it is there: the last page of a capture lists the empty datagrams that
   * came last, which no later page could. So those may be listed by two ranges (a reader that
   * pages on from the end sees them again; the live view tells them apart by seq).
   */
  read(offset: number, length: number): CaptureChunk[] {
    const asked = offset + length;
    const end = Math.min(asked, this.bytes);
    const result: CaptureChunk[] = [];
    const keptFrom = this.keptFrom;
    // Nothing kept in the range; but a range ending at keptFrom that reaches the capture's end
    // still lists the empty datagrams there (a socket that received only empty ones).
    if (end < keptFrom || (end === keptFrom && asked < this.bytes)) return result;
    offset = Math.max(offset, keptFrom);
    const emptiesUpTo = asked >= this.bytes ? end : end - 1;
    for (let seq = this.index.firstEndingAfter(offset - 1); seq < this.index.length; seq++) {
      const { start, size } = this.span(seq);
      if (start > end) break;
      if (size === 0) {
        if (start >= offset && start <= emptiesUpTo) result.push(this.chunkAt(seq, 0, 0));
        continue;
      }
      const from = Math.max(offset, start) - start;
      const to = Math.min(end, start + size) - start;
      if (to <= from) continue;
      result.push(this.chunkAt(seq, from, to));
    }
    return result;
  }

  /**
   * Reads the next block of [from, to) into `buffer` from `at` on, for scanning ranges far bigger
   * than memory: the chunks overlapping it in capture order (only `dir`'s, when given), as many
   * as fit. A chunk still in memory is copied from there; the others are read from the capture
   * files, and chunks that follow one another in the file (one busy endpoint) with one read.
   * Bytes before keptFrom are gone, so a block asked for from earlier begins at keptFrom; between
   * two calls keptFrom may move on, so a caller goes on from `end`, and `start` says whether
   * bytes were skipped. Reads nothing once `from` reaches `to`.
   */
  readBlock(from: number, to: number, buffer: Uint8Array, at = 0, dir?: Direction): CaptureBlock {
    const start = Math.max(from, this.keptFrom);
    const end = Math.min(to, this.bytes);
    const block: CaptureBlock = { start, end: start, pieces: [], bytes: 0 };
    if (start >= end) return block;
    const reads = new CoalescedReads(this.memory.folder.data, buffer);
    let room = buffer.byteLength - at;
    let visited = 0;
    for (let seq = this.index.firstEndingAfter(start); seq < this.index.length; seq++) {
      const chunk = this.locate(seq);
      if (chunk.offset >= end || room === 0 || visited === BLOCK_MAX_CHUNKS) break;
      visited += 1;
      const skip = Math.max(start, chunk.offset) - chunk.offset;
      const inRange = Math.min(end, chunk.offset + chunk.size) - chunk.offset;
      if (dir !== undefined && chunk.dir !== dir) {
        block.end = chunk.offset + inRange;
        continue;
      }
      // A chunk bigger than the room left goes in part; the next block takes the rest.
      const length = Math.min(inRange - skip, room);
      const place = at + block.bytes;
      if (chunk.bytes) buffer.set(chunk.bytes.subarray(skip, skip + length), place);
      else reads.add(chunk.fileOffset + skip, place, length);
      block.pieces.push({ dir: chunk.dir, offset: chunk.offset + skip, at: place, length });
      block.bytes += length;
      block.end = chunk.offset + skip + length;
      room -= length;
    }
    reads.flush();
    return block;
  }

  /** Called by CaptureMemory: the oldest in-memory chunk may go once it is on disk. */
  canEvictOldest(): boolean {
    if (this.tailHead === this.tail.length) return true; // nothing left: a released store
    // The index has where each chunk ends in the file, so the tail need not keep it too.
    return this.index.isOnDisk(this.tailSeq, this.memory.folder.data.persistedSize);
  }

  /** Drops the oldest in-memory chunk; returns what it cost. */
  evictOldest(): number {
    const oldest = this.tail[this.tailHead];
    if (oldest === undefined) return 0;
    const size = this.index.sizeOf(this.tailSeq);
    this.tail[this.tailHead] = undefined;
    // A share of a batch's buffer is never a slab's.
    if (this.placeInTail(this.tailHead) === -1) this.memory.slabs.dropped(oldest);
    this.tailHead += 1;
    // The spent front goes once it is most of the array: amortised O(1) per chunk.
    if (this.tailHead > TAIL_COMPACT_AFTER && this.tailHead * 2 > this.tail.length) {
      this.tail = this.tail.slice(this.tailHead);
      this.tailPlace = this.tailPlace?.slice(this.tailHead) ?? null;
      this.tailHead = 0;
    }
    this.tailSeq += 1;
    this.index.keepRowsFrom(this.tailSeq);
    // Nothing of this store is in memory any more: neither is its batch space, which the budget
    // does not count (a quiet socket then holds nothing; the next burst starts a small one).
    if (this.tailHead === this.tail.length) this.dropBatchSpace();
    return size + CHUNK_OVERHEAD;
  }

  /** The endpoint is forgotten: give its memory back (its bytes stay in the file). */
  release(): void {
    if (this.released) return;
    this.released = true;
    let cost = 0;
    for (let i = this.tailHead; i < this.tail.length; i++) {
      cost += this.index.sizeOf(this.tailSeq + i - this.tailHead) + CHUNK_OVERHEAD;
      if (this.placeInTail(i) === -1) this.memory.slabs.dropped(this.tail[i] as Uint8Array);
    }
    // Unpersisted chunks are still referenced by the log's queue; only the accounting moves.
    this.tail = [];
    this.tailPlace = null;
    this.dropBatchSpace();
    this.tailHead = 0;
    this.index.keepRowsFrom(null);
    this.memory.release(cost);
  }

  /** Where chunk `seq` lies in the stream. */
  private span(seq: number): { start: number; size: number } {
    const row = this.index.row(seq);
    return { start: row.streamOffset, size: row.size };
  }

  /** Where chunk `seq` is: its bytes while in memory, else its place in the data log. */
  private locate(seq: number): LocatedChunk {
    const row = this.index.row(seq);
    const bytes = this.bytesInMemory(seq);
    return {
      offset: row.streamOffset,
      size: row.size,
      dir: row.dir === 0 ? 'in' : 'out',
      bytes: bytes ?? null,
      fileOffset: bytes ? 0 : row.fileOffset,
    };
  }

  /** Chunk `seq`'s bytes while they are still in memory. */
  private bytesInMemory(seq: number): Uint8Array | undefined {
    if (seq < this.tailSeq || this.released) return undefined;
    const slot = this.tailHead + seq - this.tailSeq;
    const bytes = this.tail[slot];
    const place = this.placeInTail(slot);
    if (bytes === undefined || place === -1) return bytes;
    return bytes.subarray(place, place + this.index.sizeOf(seq));
  }

  /** Where tail slot `slot`'s chunk begins in the slot's bytes; -1 when they are its own. */
  private placeInTail(slot: number): number {
    return this.tailPlace?.[slot] ?? -1;
  }

  private chunkAt(seq: number, from: number, to: number): CaptureChunk {
    const row = this.index.row(seq);
    const whole = this.bytesInMemory(seq);
    const peer = row.peer >= 0 ? this.peers?.[row.peer] : undefined;
    const dir = row.dir === 0 ? 'in' : 'out';
    return {
      seq,
      at: row.at,
      dir,
      offset: row.streamOffset + from,
      bytes: whole
        ? bytesToKeep({ dir, peer, bytes: whole.subarray(from, to) })
        : this.memory.folder.data.read(row.fileOffset + from, to - from),
      ...(peer ? { peer } : {}),
    };
  }

  private firstKeptSeq(): number {
    const floor = this.memory.folder.data.floor;
    if (floor !== this.keptFloor) {
      this.keptSeq = this.index.firstKept(floor);
      this.keptFloor = floor;
    }
    return this.keptSeq;
  }

  private writeDescription(segment: number): void {
    this.memory.folder.index.append(
      jsonRecord(RecordKind.endpoint, {
        ...this.owner.captureDescription(),
        number: this.index.endpointNumber,
      }),
    );
    this.describedInSegment = segment;
    this.descriptionChanged = false;
    this.describedPeers = 0;
    if (this.peers) this.writePeers();
  }

  /** Peers are described once per segment, as they come, by their place in the store's table. */
  private writePeers(): void {
    if (!this.peers) return;
    this.memory.folder.index.append(
      jsonRecord(RecordKind.peers, {
        number: this.index.endpointNumber,
        first: this.describedPeers,
        peers: this.peers.slice(this.describedPeers),
      }),
    );
    this.describedPeers = this.peers.length;
  }

  private peerId(peer: Peer): number {
    // A UDP flood from one sender passes the object it was first stored as: no key to build.
    const known = this.peers;
    if (known && known[known.length - 1] === peer) return known.length - 1;
    const key = `${peer.host}|${peer.port}`;
    const peers = (this.peers ??= []);
    const peerIds = (this.peerIds ??= new Map());
    let id = peerIds.get(key);
    if (id === undefined) {
      id = peers.length;
      peers.push(peer);
      peerIds.set(key, id);
    }
    return id;
  }
}

interface LocatedChunk {
  offset: number;
  size: number;
  dir: Direction;
  /** The bytes, while the chunk is in memory. */
  bytes: Uint8Array | null;
  /** Where the bytes are in the data log (when not in memory). */
  fileOffset: number;
}

/**
 * File reads for one block, joined while each starts where the last one ended in the log and
 * lands right after it in the buffer: one system call for many chunks of a busy endpoint.
 */
class CoalescedReads {
  private run: { fileOffset: number; at: number; length: number } | null = null;

  constructor(
    private readonly log: { readInto(offset: number, target: Uint8Array): void },
    private readonly buffer: Uint8Array,
  ) {}

  add(fileOffset: number, at: number, length: number): void {
    const run = this.run;
    if (run && run.fileOffset + run.length === fileOffset && run.at + run.length === at) {
      run.length += length;
      return;
    }
    this.flush();
    this.run = { fileOffset, at, length };
  }

  flush(): void {
    const run = this.run;
    if (!run) return;
    this.run = null;
    this.log.readInto(run.fileOffset, this.buffer.subarray(run.at, run.at + run.length));
  }
}
