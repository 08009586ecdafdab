/**
 * A feed: one view's flow-controlled stream of one endpoint's live data (see design.md).
 *
 * The view holds a credit window: it acknowledges bytes once it has parsed them. While the bytes
 * in flight fit the window, every captured chunk is queued for the view; when the next one does
 * not fit, the feed stops sending and remembers where it stopped. Once the view has worked its
 * backlog down to a part of the window, the feed says what it skipped (the bytes stay in the
 * capture) and goes on with live data. Nothing here ever pauses a socket.
 */
import type { CaptureChunk } from '../../shared/contract';
import { bytesToKeep } from './read-slabs';

/** Once a skipping feed's view has worked its backlog down to this part of its window, it resumes. */
const RESUME_FRACTION = 1 / 4;

/** What a feed hands to its view, in order. */
export type FeedOutput =
  { kind: 'data'; chunks: CaptureChunk[] } | { kind: 'skipped'; offset: number; bytes: number };

export class Feed {
  private inFlight = 0;
  private skippingFrom: number | null = null;
  private pending: CaptureChunk[] = [];
  /** Bytes queued for the view but not yet delivered. */
  pendingBytes = 0;

  /** Chunks queued for the view (an empty datagram is a chunk of no bytes). */
  get pendingChunks(): number {
    return this.pending.length;
  }

  constructor(
    readonly feed: number,
    readonly endpointId: string,
    private readonly windowBytes: number,
    /** How many bytes the endpoint has captured so far. */
    private readonly capturedBytes: () => number,
  ) {}

  /** Where the feed's data starts: everything captured before it is for capture.read. */
  get start(): number {
    return this.capturedBytes();
  }

  /** A chunk was captured: queue it (or the part the window takes), or skip it. */
  offer(chunk: CaptureChunk): void {
    if (this.skippingFrom !== null) return;
    const room = this.windowBytes - this.inFlight;
    if (chunk.bytes.byteLength > room) {
      // A stream chunk is cut to the window, so the view is never more than a window behind. A
      // datagram is never cut: it is skipped whole, unless nothing is in flight (a window smaller
      // than one datagram must still show something).
      const datagram = chunk.peer !== undefined;
      if (datagram ? this.inFlight > 0 : room <= 0) {
        this.skippingFrom = chunk.offset;
        return;
      }
      if (!datagram) {
        this.skippingFrom = chunk.offset + room;
        chunk = { ...chunk, bytes: chunk.bytes.subarray(0, room) };
      }
    }
    // A queued chunk may wait longer than the capture keeps its slab.
    chunk = { ...chunk, bytes: bytesToKeep(chunk) };
    this.inFlight += chunk.bytes.byteLength;
    this.pending.push(chunk);
    this.pendingBytes += chunk.bytes.byteLength;
  }

  /**
   * The view has parsed `bytes` more. Answers the skipped notice when this ends a skip: the view
   * gets it after what is still queued.
   */
  ack(bytes: number): { offset: number; bytes: number } | null {
    this.inFlight = Math.max(0, this.inFlight - bytes);
    if (this.skippingFrom === null || this.inFlight > this.windowBytes * RESUME_FRACTION) {
      return null;
    }
    const from = this.skippingFrom;
    this.skippingFrom = null;
    const skipped = this.capturedBytes() - from;
    return skipped > 0 ? { offset: from, bytes: skipped } : null;
  }

  /** Takes what is queued for the view. */
  take(): CaptureChunk[] {
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    return chunks;
  }
}
