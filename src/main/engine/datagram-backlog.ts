/**
 * Small datagrams a UDP socket has read but not yet captured, oldest first. They are kept in
 * pieces of up to BATCH_SPACE_MAX bytes, each piece's bytes back to back in one buffer and their
 * sizes, senders and times in plain arrays: a backlog of any length holds no object per
 * datagram for the garbage collector to move, and growing it never copies what it holds.
 */
import { BATCH_SPACE_MAX, type Peer, type ReceivedBatch } from './capture';

/** What a backlogged datagram costs beyond its bytes: a size, a sender reference and a time. */
export const BACKLOG_ROW_COST = 24;

/** The first piece of a backlog: a quiet socket's one datagram must not hold 64 KiB. */
const FIRST_PIECE_BYTES = 4 * 1024;

interface Piece extends ReceivedBatch {
  sizes: number[];
  peers: Peer[];
  times: number[];
  used: number;
}

export class DatagramBacklog {
  private readonly pieces: Piece[] = [];
  private datagrams = 0;
  private bytes = 0;

  get count(): number {
    return this.datagrams;
  }

  /** What the datagrams not yet taken cost in memory: bytes and BACKLOG_ROW_COST each. */
  get cost(): number {
    return this.bytes + this.datagrams * BACKLOG_ROW_COST;
  }

  /** When the oldest datagram not yet taken came (its capture time), or null if none. */
  get oldestAt(): number | null {
    return this.datagrams === 0 ? null : (this.pieces[0]?.times[0] ?? null);
  }

  /** Copies the datagram in (at most BATCH_SPACE_MAX bytes): the caller may reuse `bytes`. */
  add(bytes: Uint8Array, peer: Peer, at: number): void {
    const size = bytes.byteLength;
    let piece = this.pieces[this.pieces.length - 1];
    if (piece === undefined || piece.used + size > piece.data.byteLength) piece = this.newPiece();
    piece.data.set(bytes, piece.used);
    piece.used += size;
    piece.sizes.push(size);
    piece.peers.push(peer);
    piece.times.push(at);
    this.datagrams += 1;
    this.bytes += size;
  }

  /**
   * The oldest piece (the backlog must not be empty): what it held is the caller's now.
   */
  take(): ReceivedBatch {
    const piece = this.pieces.shift() as Piece;
    this.datagrams -= piece.sizes.length;
    this.bytes -= piece.used;
    return { ...piece, data: piece.data.subarray(0, piece.used), end: piece.sizes.length };
  }

  private newPiece(): Piece {
    const last = this.pieces[this.pieces.length - 1];
    const capacity = last ? Math.min(last.data.byteLength * 2, BATCH_SPACE_MAX) : FIRST_PIECE_BYTES;
    const piece: Piece = {
      data: new Uint8Array(capacity),
      used: 0,
      sizes: [],
      peers: [],
      times: [],
      first: 0,
      end: 0,
    };
    this.pieces.push(piece);
    return piece;
  }
}
