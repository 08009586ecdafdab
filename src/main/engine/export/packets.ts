/**
 * IPv4, IPv6, TCP and UDP headers with valid checksums, written straight into an output buffer
 * (pcapng's LINKTYPE_RAW: the packet starts with its IP header, no link-layer header).
 */
import net from 'node:net';
import os from 'node:os';

/** An IP address as it goes on the wire. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** One direction of a conversation: who sends to whom. */
export interface Flow {
  src: IpAddress;
  dst: IpAddress;
  srcPort: number;
  dstPort: number;
}

export const TcpFlag = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 } as const;

const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
export const TCP_HEADER = 20;
const UDP_HEADER = 8;
/**
 * The most data a TCP segment carries here: an IPv4 packet's total length (a u16) holds the IP and
 * TCP headers too, so 65,535 - 40. The same limit serves IPv6.
 */
export const MAX_SEGMENT_PAYLOAD = 65_535 - IPV4_HEADER - TCP_HEADER;
/** The largest IP packet these functions write (a UDP datagram over IPv6 at most). */
export const MAX_PACKET_BYTES = IPV6_HEADER + 65_535;

const PROTOCOL_TCP = 6;
const PROTOCOL_UDP = 17;
const littleEndian = os.endianness() === 'LE';

/**
 * Parses a numeric IPv4 or IPv6 address (a zone like `%eth0` is dropped); an IPv4-mapped IPv6
 * address (`::ffff:1.2.3.4`) becomes the IPv4 address, as it is on the wire. Null for anything
 * else (a host name, an empty string).
 */
export function parseIp(host: string | undefined): IpAddress | null {
  if (!host) return null;
  const bare = host.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (net.isIPv4(bare)) return { family: 4, bytes: Uint8Array.from(bare.split('.').map(Number)) };
  if (!net.isIPv6(bare)) return null;
  const bytes = ipv6Bytes(bare);
  const mapped =
    bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? { family: 4, bytes: bytes.slice(12) } : { family: 6, bytes };
}

function ipv6Bytes(address: string): Uint8Array {
  // A trailing dotted IPv4 part (`::ffff:1.2.3.4`) is two 16-bit words.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    [((Number(a) << 8) | Number(b)).toString(16), ((Number(c) << 8) | Number(d)).toString(16)].join(
      ':',
    ),
  );
  const [head = '', rest] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((w) => parseInt(w, 16)));
  const front = parse(head);
  const back = rest === undefined ? [] : parse(rest);
  const zeros = new Array<number>(Math.max(0, 8 - front.length - back.length)).fill(0);
  const bytes = new Uint8Array(16);
  [...front, ...zeros, ...back].slice(0, 8).forEach((word, i) => {
    bytes[i * 2] = word >> 8;
    bytes[i * 2 + 1] = word & 0xff;
  });
  return bytes;
}

/** The address 0.0.0.0 or :: of a family (a wildcard bind has no other). */
export function unspecified(family: 4 | 6): IpAddress {
  return { family, bytes: new Uint8Array(family === 4 ? 4 : 16) };
}

let nextIpv4Id = 0;

/**
 * Writes an IP packet holding a TCP segment at `out[at…]`; returns its length. `payload` is copied
 * in; the caller keeps it at most MAX_SEGMENT_PAYLOAD bytes.
 */
export function writeTcpPacket(
  out: Uint8Array,
  at: number,
  flow: Flow,
  segment: { seq: number; ack: number; flags: number },
  payload: Uint8Array,
): number {
  const ipHeader = flow.src.family === 4 ? IPV4_HEADER : IPV6_HEADER;
  const transportLength = TCP_HEADER + payload.byteLength;
  writeIpHeader(out, at, flow, PROTOCOL_TCP, transportLength);
  const tcp = at + ipHeader;
  const view = new DataView(out.buffer, out.byteOffset);
  view.setUint16(tcp, flow.srcPort);
  view.setUint16(tcp + 2, flow.dstPort);
  view.setUint32(tcp + 4, segment.seq >>> 0);
  view.setUint32(tcp + 8, segment.flags & TcpFlag.ack ? segment.ack >>> 0 : 0);
  view.setUint8(tcp + 12, (TCP_HEADER / 4) << 4);
  view.setUint8(tcp + 13, segment.flags);
  view.setUint16(tcp + 14, 65_535); // window
  view.setUint16(tcp + 16, 0);
  view.setUint16(tcp + 18, 0); // urgent pointer
  out.set(payload, tcp + TCP_HEADER);
  view.setUint16(tcp + 16, transportChecksum(out, tcp, transportLength, flow, PROTOCOL_TCP));
  return ipHeader + transportLength;
}

/**
 * Writes an IP packet holding a UDP datagram at `out[at…]`; returns its length. A datagram never
 * holds more than an IP packet can; anything past that (none the sockets could carry) is cut.
 */
export function writeUdpPacket(
  out: Uint8Array,
  at: number,
  flow: Flow,
  datagram: Uint8Array,
): number {
  const ipHeader = flow.src.family === 4 ? IPV4_HEADER : IPV6_HEADER;
  const room = 65_535 - UDP_HEADER - (flow.src.family === 4 ? IPV4_HEADER : 0);
  const payload = datagram.byteLength > room ? datagram.subarray(0, room) : datagram;
  const transportLength = UDP_HEADER + payload.byteLength;
  writeIpHeader(out, at, flow, PROTOCOL_UDP, transportLength);
  const udp = at + ipHeader;
  const view = new DataView(out.buffer, out.byteOffset);
  view.setUint16(udp, flow.srcPort);
  view.setUint16(udp + 2, flow.dstPort);
  view.setUint16(udp + 4, transportLength & 0xffff);
  view.setUint16(udp + 6, 0);
  out.set(payload, udp + UDP_HEADER);
  const sum = transportChecksum(out, udp, transportLength, flow, PROTOCOL_UDP);
  // In UDP a checksum of 0 means "none", so a computed 0 is sent as all ones.
  view.setUint16(udp + 6, sum === 0 ? 0xffff : sum);
  return ipHeader + transportLength;
}

function writeIpHeader(
  out: Uint8Array,
  at: number,
  flow: Flow,
  protocol: number,
  transportLength: number,
): void {
  const view = new DataView(out.buffer, out.byteOffset);
  if (flow.src.family === 4) {
    view.setUint8(at, 0x45); // version 4, 5 words of header
    view.setUint8(at + 1, 0);
    view.setUint16(at + 2, IPV4_HEADER + transportLength);
    view.setUint16(at + 4, nextIpv4Id);
    nextIpv4Id = (nextIpv4Id + 1) & 0xffff;
    view.setUint16(at + 6, 0x4000); // don't fragment
    view.setUint8(at + 8, 64); // TTL
    view.setUint8(at + 9, protocol);
    view.setUint16(at + 10, 0);
    out.set(flow.src.bytes, at + 12);
    out.set(flow.dst.bytes, at + 16);
    view.setUint16(at + 10, finish(sumWords(out, at, IPV4_HEADER)));
    return;
  }
  view.setUint32(at, 0x6000_0000); // version 6, no traffic class, no flow label
  view.setUint16(at + 4, transportLength);
  view.setUint8(at + 6, protocol);
  view.setUint8(at + 7, 64); // hop limit
  out.set(flow.src.bytes, at + 8);
  out.set(flow.dst.bytes, at + 24);
}

/** The TCP or UDP checksum: over the pseudo-header, then the header and the payload. */
function transportChecksum(
  out: Uint8Array,
  at: number,
  length: number,
  flow: Flow,
  protocol: number,
): number {
  let sum = sumWords(flow.src.bytes, 0, flow.src.bytes.byteLength);
  sum += sumWords(flow.dst.bytes, 0, flow.dst.bytes.byteLength);
  sum += protocol + (length >>> 16) + (length & 0xffff);
  sum += sumWords(out, at, length);
  return finish(sum);
}

/** One's-complement folding of a sum of 16-bit words, inverted. */
function finish(sum: number): number {
  let folded = sum;
  while (folded > 0xffff) folded = (folded % 0x10000) + Math.floor(folded / 0x10000);
  return ~folded & 0xffff;
}

/**
 * The sum of the big-endian 16-bit words of `bytes[at, at + length)` (an odd last byte is padded
 * with zero), not yet folded. Aligned stretches are read 32 bits at a time in the machine's
 * order: a one's-complement sum of byte-swapped words is the byte-swapped sum, so one swap at the
 * end puts it right. This is the export's inner loop over every byte.
 */
export function sumWords(bytes: Uint8Array, at: number, length: number): number {
  let sum = 0;
  let i = at;
  const end = at + length;
  const absolute = bytes.byteOffset + i;
  if (littleEndian && absolute % 4 === 0 && length >= 64) {
    const words = Math.floor(length / 4);
    const view = new Uint32Array(bytes.buffer, absolute, words);
    let native = 0;
    for (let w = 0; w < words;) {
      // The halves of each 32-bit word are two 16-bit words. Blocks of 16 Ki words keep the
      // partial sums small integers, which V8 adds fastest.
      const stop = Math.min(words, w + 16_384);
      let low = 0;
      let high = 0;
      for (; w + 1 < stop; w += 2) {
        const x = view[w] as number;
        const y = view[w + 1] as number;
        low += (x & 0xffff) + (y & 0xffff);
        high += (x >>> 16) + (y >>> 16);
      }
      if (w < stop) {
        const x = view[w++] as number;
        low += x & 0xffff;
        high += x >>> 16;
      }
      native += low + high;
    }
    let folded = native;
    while (folded > 0xffff) folded = (folded % 0x10000) + Math.floor(folded / 0x10000);
    sum += ((folded & 0xff) << 8) | (folded >> 8);
    i += words * 4;
  }
  for (; i + 1 < end; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
  if (i < end) sum += (bytes[i] as number) << 8;
  return sum;
}
