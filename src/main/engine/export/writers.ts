/**
 * What each export format does with a chunk's bytes and with a connection's handshake and
 * teardown: pcapng draws packets (drawers.ts, packets.ts, pcapng.ts); raw writes the bytes; hex
 * and transcript write a block per chunk (text-formats.ts).
 */
import type { ExportFormat } from '../../../shared/contract';
import type { CapturedEndpoint, RowColumns } from '../capture-reader';
import {
  describeAddress,
  isDatagramSocket,
  peerOfStream,
  type DatagramDrawer,
  type PacketPlan,
  type StreamDrawer,
} from './drawers';
import type { Output } from './output';
import {
  enhancedPacketOverhead,
  EPB_HEADER,
  finishEnhancedPacketBlock,
  interfaceDescriptionBlock,
  LINKTYPE_RAW,
  sectionHeaderBlock,
} from './pcapng';
import { MAX_PACKET_BYTES, writeTcpPacket, writeUdpPacket } from './packets';
import { headingLine, hexLines, transcriptEnd, transcriptText } from './text-formats';
import type { Control } from './timeline';

/**
 * The most bytes turned into hex or transcript text without letting the event loop turn: a 1 MiB
 * chunk in one go held a live engine's sockets for tens of milliseconds (hundreds, when text was
 * built a character at a time). A multiple of 16: a hex line never straddles two slices.
 */
export const TEXT_SLICE_BYTES = 8 * 1024;

/** One exported endpoint: its rows, and how pcapng draws it. */
export interface Slot {
  endpoint: CapturedEndpoint;
  rows: RowColumns;
  stream: StreamDrawer | null;
  datagrams: DatagramDrawer | null;
  /** A comment still to put on the endpoint's first packet. */
  pendingComment: string | undefined;
}

export interface Piece {
  bytes: Uint8Array;
  /** The stream offset of bytes[0]. */
  offset: number;
  first: boolean;
  last: boolean;
  at: number;
  /** The bytes of the chunk the export holds, all pieces together. */
  chunkBytes: number;
}

/** What a format does with each item. */
export interface Writer {
  packets: number;
  begin(): Promise<void>;
  control(slot: Slot, control: Control, at: number): Promise<void>;
  /** A piece of a chunk's bytes (all of them, or the part a range keeps). */
  data(slot: Slot, row: number, piece: Piece): Promise<void>;
  /** Bytes of a chunk that could not be read. */
  missing(slot: Slot, row: number, length: number): void;
}

export function makeWriter(format: ExportFormat, out: Output): Writer {
  if (format === 'pcapng') return new PcapngWriter(out);
  return new TextWriter(format, out);
}

class PcapngWriter implements Writer {
  packets = 0;

  constructor(private readonly out: Output) {}

  async begin(): Promise<void> {
    await this.out.append(sectionHeaderBlock('Socket Workbench'));
    await this.out.append(interfaceDescriptionBlock(LINKTYPE_RAW, 'socket-workbench'));
  }

  async control(slot: Slot, control: Control, at: number): Promise<void> {
    if (!slot.stream) return;
    for (const plan of slot.stream.control(control))
      await this.packet(slot, plan, at, new Uint8Array(0));
  }

  async data(slot: Slot, row: number, { bytes, at }: Piece): Promise<void> {
    const dir = slot.rows.dir[row] as number;
    if (slot.stream) {
      let done = 0;
      for (const plan of slot.stream.data(dir, bytes.byteLength)) {
        const length = plan.transport === 'tcp' ? plan.segment.payloadLength : 0;
        await this.packet(slot, plan, at, bytes.subarray(done, done + length));
        done += length;
      }
    } else if (slot.datagrams) {
      const plan = slot.datagrams.datagram(dir, slot.rows.peer[row] as number);
      slot.pendingComment ??= slot.datagrams.comment;
      await this.packet(slot, plan, at, bytes);
    }
  }

  missing(slot: Slot, row: number, length: number): void {
    slot.stream?.skip(slot.rows.dir[row] as number, length);
  }

  private async packet(
    slot: Slot,
    plan: PacketPlan,
    at: number,
    payload: Uint8Array,
  ): Promise<void> {
    const comment = slot.pendingComment;
    slot.pendingComment = undefined;
    const commentBytes = comment === undefined ? 0 : Buffer.byteLength(comment);
    const out = this.out;
    await out.reserve(MAX_PACKET_BYTES + enhancedPacketOverhead(commentBytes));
    const start = out.used;
    const length =
      plan.transport === 'tcp'
        ? writeTcpPacket(out.buffer, start + EPB_HEADER, plan.flow, plan.segment, payload)
        : writeUdpPacket(out.buffer, start + EPB_HEADER, plan.flow, payload);
    out.advance(finishEnhancedPacketBlock(out.buffer, start, 0, at, length, comment));
    this.packets += 1;
  }
}

class TextWriter implements Writer {
  packets = 0;
  private lastText = '';

  constructor(
    private readonly format: 'raw' | 'hex' | 'transcript',
    private readonly out: Output,
  ) {}

  async begin(): Promise<void> {}

  async control(): Promise<void> {}

  async data(slot: Slot, row: number, piece: Piece): Promise<void> {
    const { bytes, offset, first, last } = piece;
    if (first) this.packets += 1;
    if (this.format === 'raw') {
      await this.out.append(bytes);
      return;
    }
    if (first) {
      await this.out.text(
        headingLine({
          at: piece.at,
          dir: slot.rows.dir[row] as number,
          endpointId: slot.endpoint.description.id,
          peer: peerOf(slot, row),
          size: piece.chunkBytes,
          streamOffset: offset,
        }),
      );
    }
    this.lastText = '';
    for (let done = 0; done < bytes.byteLength; done += TEXT_SLICE_BYTES) {
      if (done > 0) await new Promise((resolve) => setImmediate(resolve));
      const slice = bytes.subarray(done, done + TEXT_SLICE_BYTES);
      if (this.format === 'hex') await this.out.text(hexLines(slice, offset + done));
      else {
        this.lastText = transcriptText(slice);
        await this.out.text(this.lastText);
      }
    }
    if (!last) return;
    await this.out.text(this.format === 'hex' ? '\n' : transcriptEnd(this.lastText));
  }

  missing(): void {}
}

function peerOf(slot: Slot, row: number): string {
  const { endpoint } = slot;
  if (isDatagramSocket(endpoint)) {
    const peer = endpoint.peers[slot.rows.peer[row] as number];
    return peer ? describeAddress(peer) : '?';
  }
  return peerOfStream(endpoint);
}
