/**
 * Datagrams a UDP socket has read but not yet captured, oldest first. They are kept in pieces
 * of up to BATCH_SPACE_MAX bytes and PIECE_ROWS datagrams (a larger datagram has a piece of its
 * own), each piece's bytes back to back in one buffer and their sizes, senders and times in
 * plain arrays: a backlog of any length holds no object per datagram for the garbage collector
 * to move, and growing it never copies what it holds.
 */
import { BATCH_SPACE_MAX, type Peer, type ReceivedBatch } from './capture';

/** What a backlogged datagram costs beyond its bytes: a size, a sender reference and a time. */
const ROW_COST = 24;
/**
 * What a datagram from another sender than the one before it costs on top: its own peer
 * object and address string (the same sender's datagrams share one).
 */
const PEER_COST = 96;
/** Datagrams a piece holds at most: the capture takes a piece at a time, so also its step. */
export const PIECE_ROWS = 2048;
/** The first piece of a backlog: a quiet socket's one datagram must not hold 64 KiB. */
const FIRST_PIECE_BYTES = 4 * 1024;

interface Piece {
  data: Uint8Array;
  sizes: number[];
  peers: Peer[];
  times: number[];
  /** Bytes of `data` filled so far, and what the piece's datagrams cost (see `cost`). */
  used: number;
  cost: number;
}

export class DatagramBacklog {
  private readonly pieces: Piece[] = [];
  private datagrams = 0;
  private totalCost = 0;

  get count(): number {
    return this.datagrams;
  }

  /** What the datagrams not yet taken cost in memory: their bytes, rows and senders. */
  get cost(): number {
    return this.totalCost;
  }

  /** When the oldest datagram not yet taken came (its capture time), or null if none. */
  get oldestAt(): number | null {
    return this.datagrams === 0 ? null : (this.pieces[0]?.times[0] ?? null);
  }

  /**
   * Copies the datagram in (the caller may reuse `bytes` at once), and says what it costs: the
   * caller counts that against capture memory until the datagram is taken.
   */
  add(bytes: Uint8Array, peer: Peer, at: number): number {
    const size = bytes.byteLength;
    let piece = this.pieces[this.pieces.length - 1];
    const sender = piece?.peers[piece.peers.length - 1];
    if (
      piece === undefined ||
      piece.sizes.length === PIECE_ROWS ||
      piece.used + size > piece.data.byteLength
    ) {
      piece = this.newPiece(size);
    }
    const cost = size + ROW_COST + (peer === sender ? 0 : PEER_COST);
    piece.data.set(bytes, piece.used);
    piece.used += size;
    piece.cost += cost;
    piece.sizes.push(size);
    piece.peers.push(peer);
    piece.times.push(at);
    this.datagrams += 1;
    this.totalCost += cost;
    return cost;
  }

  /**
   * The oldest piece (the backlog must not be empty), with what it cost: what it held is the
   * caller's now.
   */
  take(): { batch: ReceivedBatch; cost: number } {
    const piece = this.pieces.shift() as Piece;
    this.datagrams -= piece.sizes.length;
    this.totalCost -= piece.cost;
    const { data, used, sizes, peers, times } = piece;
    const batch = {
      data: data.subarray(0, used),
      sizes,
      peers,
      times,
      first: 0,
      end: sizes.length,
    };
    return { batch, cost: piece.cost };
  }

  private newPiece(size: number): Piece {
    // Sized by what the last piece held: twice its bytes, or as much as PIECE_ROWS datagrams of
    // its average size if less (tiny datagrams close a piece by rows, long before its bytes).
    const last = this.pieces[this.pieces.length - 1];
    const rowsWorth = last ? (last.used / last.sizes.length) * PIECE_ROWS : 0;
    const wanted = last ? Math.min(last.used * 2, Math.ceil(rowsWorth)) : 0;
    const grown = Math.min(Math.max(wanted, FIRST_PIECE_BYTES), BATCH_SPACE_MAX);
    const piece: Piece = {
      data: new Uint8Array(Math.max(grown, size)),
      used: 0,
      cost: 0,
      sizes: [],
      peers: [],
      times: [],
    };
    this.pieces.push(piece);
    return piece;
  }
}
