/**
 * Decodes a captured frame down to its TCP segment or UDP datagram: the link layers a capture
 * of sockets shows (raw IP, Ethernet with VLAN tags, Linux cooked SLL and SLL2, BSD loopback),
 * IPv4 and IPv6, TCP and UDP. Every length is checked against the bytes there are.
 */

export const LINK_NULL = 0;
export const LINK_ETHERNET = 1;
export const LINK_RAW = 101;
export const LINK_LOOP = 108;
export const LINK_LINUX_SLL = 113;
export const LINK_IPV4 = 228;
export const LINK_IPV6 = 229;
export const LINK_LINUX_SLL2 = 276;

export const SUPPORTED_LINK_TYPES: ReadonlySet<number> = new Set([
  LINK_NULL,
  LINK_ETHERNET,
  LINK_RAW,
  LINK_LOOP,
  LINK_LINUX_SLL,
  LINK_IPV4,
  LINK_IPV6,
  LINK_LINUX_SLL2,
]);

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = [0x8100, 0x88a8, 0x9100];
const PROTO_TCP = 6;
const PROTO_UDP = 17;
/** IPv6 extension headers with the generic (next header, length in 8-byte units) layout. */
const IPV6_SKIPPABLE = new Set([0, 43, 60]);
const IPV6_FRAGMENT = 44;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

export interface Endpoints {
  family: 'IPv4' | 'IPv6';
  srcHost: string;
  srcPort: number;
  dstHost: string;
  dstPort: number;
}

export type Decoded =
  | (Endpoints & { protocol: 'tcp'; seq: number; flags: number; payload: Uint8Array })
  | (Endpoints & { protocol: 'udp'; payload: Uint8Array })
  /** Not TCP or UDP over IP (ARP, ICMP…): not part of any stream. */
  | { protocol: 'other' }
  /** IP that cannot be followed here: why, for a warning. */
  | { protocol: 'skipped'; reason: 'fragment' | 'malformed' };

const other: Decoded = { protocol: 'other' };
const malformed: Decoded = { protocol: 'skipped', reason: 'malformed' };

export function decodeFrame(linkType: number, frame: Uint8Array): Decoded {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  switch (linkType) {
    case LINK_RAW:
    case LINK_IPV4:
    case LINK_IPV6:
      return decodeIp(frame);
    case LINK_NULL:
    case LINK_LOOP:
      // The family is in the capturing machine's byte order; the IP version says the same.
      return frame.byteLength < 4 ? malformed : decodeIp(frame.subarray(4));
    case LINK_ETHERNET: {
      let at = 12;
      if (frame.byteLength < at + 2) return malformed;
      let type = view.getUint16(at);
      while (ETHERTYPE_VLAN.includes(type)) {
        at += 4;
        if (frame.byteLength < at + 2) return malformed;
        type = view.getUint16(at);
      }
      return byEtherType(type, frame.subarray(at + 2));
    }
    case LINK_LINUX_SLL:
      return frame.byteLength < 16
        ? malformed
        : byEtherType(view.getUint16(14), frame.subarray(16));
    case LINK_LINUX_SLL2:
      return frame.byteLength < 20 ? malformed : byEtherType(view.getUint16(0), frame.subarray(20));
    default:
      return other;
  }
}

function byEtherType(type: number, packet: Uint8Array): Decoded {
  return type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6 ? decodeIp(packet) : other;
}

function decodeIp(packet: Uint8Array): Decoded {
  if (packet.byteLength < 1) return malformed;
  const version = (packet[0] as number) >> 4;
  if (version === 4) return decodeIpv4(packet);
  if (version === 6) return decodeIpv6(packet);
  return other;
}

function decodeIpv4(packet: Uint8Array): Decoded {
  if (packet.byteLength < 20) return malformed;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const headerLength = (view.getUint8(0) & 0x0f) * 4;
  const totalLength = view.getUint16(2);
  if (headerLength < 20 || totalLength < headerLength || packet.byteLength < headerLength) {
    return malformed;
  }
  const fragment = view.getUint16(6);
  // More fragments, or not the first one: the segment is not whole in this packet.
  if (fragment & 0x2000 || fragment & 0x1fff) return { protocol: 'skipped', reason: 'fragment' };
  const protocol = view.getUint8(9);
  // A frame may be padded (Ethernet's minimum) or cut by the snap length: take the lesser.
  const end = Math.min(totalLength, packet.byteLength);
  const hosts = {
    family: 'IPv4' as const,
    srcHost: packet.subarray(12, 16).join('.'),
    dstHost: packet.subarray(16, 20).join('.'),
  };
  return decodeTransport(protocol, packet.subarray(headerLength, end), hosts);
}

function decodeIpv6(packet: Uint8Array): Decoded {
  if (packet.byteLength < 40) return malformed;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const end = Math.min(40 + view.getUint16(4), packet.byteLength);
  let next = view.getUint8(6);
  let at = 40;
  while (IPV6_SKIPPABLE.has(next)) {
    if (at + 2 > end) return malformed;
    const following = view.getUint8(at);
    at += (view.getUint8(at + 1) + 1) * 8;
    next = following;
  }
  if (next === IPV6_FRAGMENT) return { protocol: 'skipped', reason: 'fragment' };
  if (at > end) return malformed;
  const hosts = {
    family: 'IPv6' as const,
    srcHost: formatIpv6(packet.subarray(8, 24)),
    dstHost: formatIpv6(packet.subarray(24, 40)),
  };
  return decodeTransport(next, packet.subarray(at, end), hosts);
}

function decodeTransport(
  protocol: number,
  segment: Uint8Array,
  hosts: Pick<Endpoints, 'family' | 'srcHost' | 'dstHost'>,
): Decoded {
  const view = new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
  if (protocol === PROTO_TCP) {
    if (segment.byteLength < 20) return malformed;
    const dataOffset = (view.getUint8(12) >> 4) * 4;
    if (dataOffset < 20 || dataOffset > segment.byteLength) return malformed;
    return {
      protocol: 'tcp',
      ...hosts,
      srcPort: view.getUint16(0),
      dstPort: view.getUint16(2),
      seq: view.getUint32(4),
      flags: view.getUint8(13),
      payload: segment.subarray(dataOffset),
    };
  }
  if (protocol === PROTO_UDP) {
    if (segment.byteLength < 8) return malformed;
    const length = view.getUint16(4);
    // Length 0 is a UDP jumbogram's (IPv6): the IP payload says how long it is.
    const end = length >= 8 ? Math.min(length, segment.byteLength) : segment.byteLength;
    return {
      protocol: 'udp',
      ...hosts,
      srcPort: view.getUint16(0),
      dstPort: view.getUint16(2),
      payload: segment.subarray(8, end),
    };
  }
  return other;
}

/** An IPv6 address in its usual short form (RFC 5952): the longest run of zero groups is "::". */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
