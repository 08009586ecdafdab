/**
 * pcapng blocks (the IETF pcapng draft): a section header, one interface description per link
 * type, and enhanced packet blocks. Little-endian, as the section header's byte-order magic says.
 */

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_END = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_TSRESOL = 9;

/** Raw IPv4 or IPv6, no link-layer header: the version nibble tells which. */
export const LINKTYPE_RAW = 101;
/** An enhanced packet block's fixed part before the packet's bytes. */
export const EPB_HEADER = 28;

const encoder = new TextEncoder();

function padded(length: number): number {
  return (length + 3) & ~3;
}

/** Options as they go in a block: code, length, value padded to 4 bytes, then the end marker. */
function options(entries: Array<[number, Uint8Array]>): Uint8Array {
  const size = entries.reduce((sum, [, value]) => sum + 4 + padded(value.byteLength), 0) + 4;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const [code, value] of entries) {
    view.setUint16(at, code, true);
    view.setUint16(at + 2, value.byteLength, true);
    bytes.set(value, at + 4);
    at += 4 + padded(value.byteLength);
  }
  view.setUint16(at, OPT_END, true);
  return bytes;
}

function block(type: number, body: Uint8Array): Uint8Array {
  const length = 12 + body.byteLength;
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, type, true);
  view.setUint32(4, length, true);
  bytes.set(body, 8);
  view.setUint32(length - 4, length, true);
  return bytes;
}

/** The section header: byte order, version 1.0, section length unknown (-1). */
export function sectionHeaderBlock(application: string): Uint8Array {
  const opts = options([[SHB_USERAPPL, encoder.encode(application)]]);
  const body = new Uint8Array(16 + opts.byteLength);
  const view = new DataView(body.buffer);
  view.setUint32(0, BYTE_ORDER_MAGIC, true);
  view.setUint16(4, 1, true);
  view.setUint16(6, 0, true);
  view.setBigInt64(8, -1n, true);
  body.set(opts, 16);
  return block(BLOCK_SHB, body);
}

/** An interface: its link type, no snap length limit, timestamps in microseconds. */
export function interfaceDescriptionBlock(linkType: number, name: string): Uint8Array {
  const opts = options([
    [IF_NAME, encoder.encode(name)],
    [IF_TSRESOL, Uint8Array.of(6)],
  ]);
  const body = new Uint8Array(8 + opts.byteLength);
  const view = new DataView(body.buffer);
  view.setUint16(0, linkType, true);
  view.setUint32(4, 0, true); // snap length: none
  body.set(opts, 8);
  return block(BLOCK_IDB, body);
}

/**
 * Completes an enhanced packet block whose packet bytes are already at `out[at + EPB_HEADER…]`:
 * writes its header, padding, options (a comment, if any) and trailer. Returns the block's
 * length. `timeMs` is milliseconds since the epoch (fractions kept to the microsecond).
 */
export function finishEnhancedPacketBlock(
  out: Uint8Array,
  at: number,
  interfaceId: number,
  timeMs: number,
  packetLength: number,
  comment?: string,
): number {
  const view = new DataView(out.buffer, out.byteOffset);
  const micros = Math.max(0, Math.round(timeMs * 1000));
  let end = at + EPB_HEADER + padded(packetLength);
  out.fill(0, at + EPB_HEADER + packetLength, end);
  if (comment !== undefined) {
    const opts = options([[OPT_COMMENT, encoder.encode(comment)]]);
    out.set(opts, end);
    end += opts.byteLength;
  }
  const length = end + 4 - at;
  view.setUint32(at, BLOCK_EPB, true);
  view.setUint32(at + 4, length, true);
  view.setUint32(at + 8, interfaceId, true);
  view.setUint32(at + 12, Math.floor(micros / 2 ** 32), true);
  view.setUint32(at + 16, micros % 2 ** 32, true);
  view.setUint32(at + 20, packetLength, true);
  view.setUint32(at + 24, packetLength, true);
  view.setUint32(end, length, true);
  return length;
}

/** Room an enhanced packet block needs beyond its packet, with a comment of this many bytes. */
export function enhancedPacketOverhead(commentBytes: number): number {
  return EPB_HEADER + 3 + 4 + (commentBytes > 0 ? 4 + padded(commentBytes) + 4 : 0);
}
