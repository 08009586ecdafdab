/**
 * One endpoint's capture: every chunk in both directions, byte-exact, in the order it happened.
 *
 * Offsets count bytes across both directions, so a range read returns exactly what a Follow
 * Stream view shows. Every byte goes to the engine's append-only CaptureLog; the most recent
 * chunks also stay in memory, within one budget shared by all endpoints (CaptureMemory). A range
 * read is served from memory or disk transparently. What stays in memory per chunk otherwise is
 * a compact index row (~30 bytes), not the bytes.
 */
import type { CaptureChunk } from '../../shared/contract';
import { ChunkIndex } from './capture-index';
import type { CaptureLog } from './capture-log';
import { nowMs } from './clock';

export type Direction = CaptureChunk['dir'];
export type Peer = NonNullable<CaptureChunk['peer']>;

/**
 * What a chunk held in memory costs beyond its bytes, for the memory budget: the chunk object,
 * its typed array and array buffer, its timestamp and the allocator's share: 350-395 bytes of
 * heap and external memory for a 64-byte datagram on Node 20 (`node --expose-gc --import tsx
 * bench/chunk-cost.ts`). Small datagrams cost far more than their bytes; a budget that did not
 * count it would let memory grow several times past itself.
 */
const CHUNK_OVERHEAD = 384;

/**
 * How far past its budget capture memory may grow while the file is behind. Connections stop
 * reading at the budget; datagrams cannot be paused, so they are taken up to this and then
 * dropped unread (and counted), as a full receive buffer would drop them.
 */
const DATAGRAM_CEILING_FACTOR = 2;

/** The memory budget shared by every endpoint's recent chunks. */
export class CaptureMemory {
  private used = 0;
  private order: CaptureStore[] = [];
  private orderHead = 0;
  private releasedStores = 0;
  private pressure = false;
  private readonly pressureListeners = new Set<(pressure: boolean) => void>();

  constructor(
    readonly budgetBytes: number,
    readonly log: CaptureLog,
    /** Where the stores' older index rows go (see ChunkIndex). */
    readonly indexLog: CaptureLog,
  ) {
    log.onPersisted(() => this.trim());
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
    return this.used >= this.budgetBytes * DATAGRAM_CEILING_FACTOR;
  }

  onPressure(listener: (pressure: boolean) => void): () => void {
    this.pressureListeners.add(listener);
    return () => this.pressureListeners.delete(listener);
  }

  admit(store: CaptureStore, cost: number): void {
    this.order.push(store);
    this.used += cost;
    if (this.used > this.budgetBytes) this.trim();
  }

  release(cost: number): void {
    this.used -= cost;
    // A forgotten store stays reachable through `order` until traffic trims past it, which may
    // never happen on quiet connections (each one keeps its ~3.5 KB index alive). Drop such
    // entries once releases reach an eighth of the queue: at most 8 steps per release.
    this.releasedStores += 1;
    if (this.releasedStores * 8 > this.order.length - this.orderHead) {
      this.order = this.order.slice(this.orderHead).filter((store) => !store.isReleased);
      this.orderHead = 0;
      this.releasedStores = 0;
    }
  }

  private trim(): void {
    // Hysteresis: once under pressure, free a quarter of the budget before reading resumes.
    const target = this.pressure ? this.budgetBytes * 0.75 : this.budgetBytes;
    while (this.used > target && this.orderHead < this.order.length) {
      const store = this.order[this.orderHead] as CaptureStore;
      if (!store.canEvictOldest()) break;
      this.used -= store.evictOldest();
      this.orderHead += 1;
    }
    if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) {
      this.order.splice(0, this.orderHead);
      this.orderHead = 0;
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
  /** The most recent chunks, oldest first; `tail[tailHead]` has seq `tailSeq`. */
  private tail: CaptureChunk[] = [];
  /** Where each tail chunk ends in the capture file (it may leave memory once that is on disk). */
  private tailFileEnds: number[] = [];
  private tailHead = 0;
  private tailSeq = 0;
  private bytes = 0;
  private readonly peers: Peer[] = [];
  private readonly peerIds = new Map<string, number>();
  private released = false;

  constructor(private readonly memory: CaptureMemory) {
    this.index = new ChunkIndex(memory.indexLog);
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

  append(dir: Direction, data: Uint8Array, peer?: Peer): CaptureChunk {
    // A small read can be a view into a large pooled allocation: copy it, or the budget lies.
    // Either way a plain Uint8Array, not a Buffer: views serialise it as bytes, not as JSON.
    const bytes =
      data.buffer.byteLength > data.byteLength * 2 + 1024
        ? data.slice()
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const at = nowMs();
    const peerId = peer ? this.peerId(peer) : -1;
    const fileOffset = this.memory.log.append(bytes);
    const seq = this.index.push({
      streamOffset: this.bytes,
      fileOffset,
      at,
      size: bytes.byteLength,
      dir: dir === 'in' ? 0 : 1,
      peer: peerId,
    });
    // Every chunk from one peer shares one peer object.
    const sharedPeer = peerId >= 0 ? this.peers[peerId] : undefined;
    const chunk: CaptureChunk = {
      seq,
      at,
      dir,
      offset: this.bytes,
      bytes,
      ...(sharedPeer ? { peer: sharedPeer } : {}),
    };
    this.bytes += bytes.byteLength;
    if (!this.released) {
      this.tail.push(chunk);
      this.tailFileEnds.push(fileOffset + bytes.byteLength);
      this.memory.admit(this, bytes.byteLength + CHUNK_OVERHEAD);
    }
    return chunk;
  }

  /** The chunks overlapping [offset, offset + length), trimmed to that range. */
  read(offset: number, length: number): CaptureChunk[] {
    const end = Math.min(offset + length, this.bytes);
    const result: CaptureChunk[] = [];
    for (let seq = this.index.firstEndingAfter(offset); seq < this.index.length; seq++) {
      const { start, size } = this.span(seq);
      if (start >= end) break;
      const from = Math.max(offset, start) - start;
      const to = Math.min(end, start + size) - start;
      if (to <= from) continue;
      result.push(this.chunkAt(seq, from, to));
    }
    return result;
  }

  /** Called by CaptureMemory: the oldest in-memory chunk may go once it is on disk. */
  canEvictOldest(): boolean {
    if (this.tailHead >= this.tail.length) return true; // nothing left: a released store
    return (this.tailFileEnds[this.tailHead] as number) <= this.memory.log.persistedSize;
  }

  /** Drops the oldest in-memory chunk; returns what it cost. */
  evictOldest(): number {
    if (this.tailHead >= this.tail.length) return 0;
    const oldest = this.tail[this.tailHead] as CaptureChunk;
    this.tail[this.tailHead] = undefined as unknown as CaptureChunk;
    this.tailHead += 1;
    this.tailSeq += 1;
    if (this.tailHead > 1024 && this.tailHead * 2 > this.tail.length) {
      this.tail = this.tail.slice(this.tailHead);
      this.tailFileEnds = this.tailFileEnds.slice(this.tailHead);
      this.tailHead = 0;
    }
    return oldest.bytes.byteLength + CHUNK_OVERHEAD;
  }

  /** The endpoint is forgotten: give its memory back (its bytes stay in the file). */
  release(): void {
    if (this.released) return;
    this.released = true;
    let cost = 0;
    for (let i = this.tailHead; i < this.tail.length; i++) {
      cost += (this.tail[i] as CaptureChunk).bytes.byteLength + CHUNK_OVERHEAD;
    }
    // Unpersisted chunks are still referenced by the log's queue; only the accounting moves.
    this.tail = [];
    this.tailFileEnds = [];
    this.tailHead = 0;
    this.memory.release(cost);
  }

  /** Where chunk `seq` lies in the stream. */
  private span(seq: number): { start: number; size: number } {
    const inMemory = this.inMemory(seq);
    if (inMemory) return { start: inMemory.offset, size: inMemory.bytes.byteLength };
    const row = this.index.row(seq);
    return { start: row.streamOffset, size: row.size };
  }

  /** The chunk itself while it is still in memory. */
  private inMemory(seq: number): CaptureChunk | undefined {
    if (seq < this.tailSeq || this.released) return undefined;
    return this.tail[this.tailHead + (seq - this.tailSeq)];
  }

  private chunkAt(seq: number, from: number, to: number): CaptureChunk {
    const inMemory = this.inMemory(seq);
    if (inMemory) {
      const whole = inMemory.bytes;
      if (from === 0 && to === whole.byteLength) return inMemory;
      return { ...inMemory, offset: inMemory.offset + from, bytes: whole.subarray(from, to) };
    }
    const row = this.index.row(seq);
    const peer = row.peer >= 0 ? this.peers[row.peer] : undefined;
    return {
      seq,
      at: row.at,
      dir: row.dir === 0 ? 'in' : 'out',
      offset: row.streamOffset + from,
      bytes: this.memory.log.read(row.fileOffset + from, to - from),
      ...(peer ? { peer } : {}),
    };
  }

  private peerId(peer: Peer): number {
    const key = `${peer.host}|${peer.port}`;
    let id = this.peerIds.get(key);
    if (id === undefined) {
      id = this.peers.length;
      this.peers.push(peer);
      this.peerIds.set(key, id);
    }
    return id;
  }
}
