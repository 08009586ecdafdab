/**
 * The TCP segments of one captured stream connection: the handshake, data segments with
 * sequence and acknowledgement numbers that add up, and the teardown (FIN, RST), as a packet
 * analyser expects to see them. Which segments come when is the caller's business; this keeps
 * the numbers.
 */
import { MAX_SEGMENT_PAYLOAD, TcpFlag } from './packets';

export type Side = 'local' | 'remote';

export interface Segment {
  from: Side;
  seq: number;
  ack: number;
  flags: number;
  /** Bytes of payload (data segments); 0 for control segments. */
  payloadLength: number;
}

const other = (side: Side): Side => (side === 'local' ? 'remote' : 'local');

export class TcpSession {
  /** The sequence number each side sends next. */
  private readonly next: Record<Side, number>;
  private readonly finished: Record<Side, boolean> = { local: false, remote: false };
  private reset = false;

  /**
   * `initial` is each side's initial sequence number; `alreadySent` the data bytes each side sent
   * before the first segment drawn (bytes the capture limit deleted, or before a range): with
   * them, the stream starts mid-way, without a handshake.
   */
  constructor(
    private readonly initial: Record<Side, number>,
    alreadySent: Record<Side, number> | null,
  ) {
    this.next = alreadySent
      ? {
          local: initial.local + 1 + alreadySent.local,
          remote: initial.remote + 1 + alreadySent.remote,
        }
      : { ...initial };
  }

  get isReset(): boolean {
    return this.reset;
  }

  /** SYN from the side that connected, SYN-ACK back, and the ACK that completes it. */
  handshake(initiator: Side): Segment[] {
    const responder = other(initiator);
    const syn = this.control(initiator, TcpFlag.syn, 1);
    const synAck = this.control(responder, TcpFlag.syn | TcpFlag.ack, 1);
    return [syn, synAck, this.control(initiator, TcpFlag.ack, 0)];
  }

  /** A SYN that was answered by nothing yet (a connect that failed or never completed). */
  synOnly(initiator: Side): Segment[] {
    return [this.control(initiator, TcpFlag.syn, 1)];
  }

  /** Data from one side, in segments of at most MAX_SEGMENT_PAYLOAD bytes (PSH on the last). */
  data(from: Side, length: number): Segment[] {
    const segments: Segment[] = [];
    for (let sent = 0; sent < length; sent += MAX_SEGMENT_PAYLOAD) {
      const size = Math.min(MAX_SEGMENT_PAYLOAD, length - sent);
      const last = sent + size >= length;
      segments.push({
        from,
        seq: this.next[from],
        ack: this.next[other(from)],
        flags: TcpFlag.ack | (last ? TcpFlag.psh : 0),
        payloadLength: size,
      });
      this.next[from] += size;
    }
    return segments;
  }

  /** Data bytes that are not drawn (gone from the capture) still move the numbers on. */
  skip(from: Side, length: number): void {
    this.next[from] += length;
  }

  /** FIN from one side, and the other side's ACK of it. */
  fin(from: Side): Segment[] {
    if (this.finished[from] || this.reset) return [];
    this.finished[from] = true;
    const fin = this.control(from, TcpFlag.fin | TcpFlag.ack, 1);
    return [fin, this.control(other(from), TcpFlag.ack, 0)];
  }

  /** RST from one side (with ACK, as a socket's reset of an established connection is). */
  rst(from: Side): Segment[] {
    if (this.reset) return [];
    this.reset = true;
    return [this.control(from, TcpFlag.rst | TcpFlag.ack, 0)];
  }

  private control(from: Side, flags: number, consumes: number): Segment {
    const segment = {
      from,
      seq: this.next[from],
      ack: this.next[other(from)],
      flags,
      payloadLength: 0,
    };
    this.next[from] += consumes;
    return segment;
  }

  /** For tests and comments: where each side's numbers started. */
  get initialSequence(): Record<Side, number> {
    return { ...this.initial };
  }
}
