/**
 * Writes pcap and pcapng files for the open-capture tests with a small python3 script (struct),
 * byte by byte as a capture tool would: Ethernet (with an 802.1Q tag), Linux SLL2, raw IP or BSD
 * loopback framing around IPv4 or IPv6, TCP with chosen flags and sequence numbers, and UDP.
 */
import { spawnSync } from 'node:child_process';

export interface TestPacket {
  /** Seconds since the epoch (fractions kept to the microsecond). */
  t: number;
  proto: 'tcp' | 'udp';
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** TCP: some of S, A, F, R, P. */
  flags?: string;
  seq?: number;
  /** Payload, as UTF-8 text. */
  data?: string;
}

export type Framing = 'ethernet-vlan' | 'sll2' | 'raw' | 'null';
export type FileFormat = 'pcap-le-us' | 'pcap-be-ns' | 'pcapng-le' | 'pcapng-be';

const WRITER = String.raw`
import json, socket, struct, sys
out, fmt, framing = sys.argv[1], sys.argv[2], sys.argv[3]
packets = json.loads(sys.stdin.read())
LINK = {'ethernet-vlan': 1, 'sll2': 276, 'raw': 101, 'null': 0}[framing]

def csum(data):
    if len(data) % 2: data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def frame(p):
    v6 = ':' in p['src']
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    src, dst = socket.inet_pton(fam, p['src']), socket.inet_pton(fam, p['dst'])
    data = p.get('data', '').encode()
    if p['proto'] == 'tcp':
        bits = {'F': 1, 'S': 2, 'R': 4, 'P': 8, 'A': 16}
        flags = sum(bits[c] for c in p.get('flags', 'A'))
        l4 = struct.pack('!HHIIBBHHH', p['sport'], p['dport'], p.get('seq', 0), 0, 5 << 4, flags, 65535, 0, 0) + data
        proto = 6
    else:
        l4 = struct.pack('!HHHH', p['sport'], p['dport'], 8 + len(data), 0) + data
        proto = 17
    if v6:
        ip = struct.pack('!IHBB', 6 << 28, len(l4), proto, 64) + src + dst
        ethertype = 0x86dd
    else:
        h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, src, dst)
        ip = h[:10] + struct.pack('!H', csum(h)) + h[12:]
        ethertype = 0x0800
    pkt = ip + l4
    if framing == 'ethernet-vlan':
        return b'\x02' * 6 + b'\x04' * 6 + struct.pack('!HHH', 0x8100, 7, ethertype) + pkt
    if framing == 'sll2':
        return struct.pack('!HHIHBB8s', ethertype, 0, 1, 1, 0, 6, b'\x02' * 8) + pkt
    if framing == 'null':
        return struct.pack('<I', 30 if v6 else 2) + pkt
    return pkt

with open(out, 'wb') as f:
    if fmt.startswith('pcap-'):
        e = '<' if fmt == 'pcap-le-us' else '>'
        nano = fmt.endswith('ns')
        f.write(struct.pack(e + 'IHHiIII', 0xa1b23c4d if nano else 0xa1b2c3d4, 2, 4, 0, 0, 65535, LINK))
        for p in packets:
            b = frame(p)
            sec = int(p['t'])
            frac = round((p['t'] - sec) * (1e9 if nano else 1e6))
            f.write(struct.pack(e + 'IIII', sec, frac, len(b), len(b)) + b)
    else:
        e = '<' if fmt == 'pcapng-le' else '>'
        def block(kind, body):
            body += b'\0' * (-len(body) % 4)
            n = len(body) + 12
            f.write(struct.pack(e + 'II', kind, n) + body + struct.pack(e + 'I', n))
        block(0x0A0D0D0A, struct.pack(e + 'IHHq', 0x1A2B3C4D, 1, 0, -1))
        # if_tsresol 9: nanoseconds
        block(1, struct.pack(e + 'HHI', LINK, 0, 0) + struct.pack(e + 'HHB3x', 9, 1, 9) + struct.pack(e + 'HH', 0, 0))
        for p in packets:
            b = frame(p)
            ticks = round(p['t'] * 1e9)
            block(6, struct.pack(e + 'IIIII', 0, ticks >> 32, ticks & 0xffffffff, len(b), len(b)) + b)
`;

export function writeCaptureFile(
  file: string,
  format: FileFormat,
  framing: Framing,
  packets: TestPacket[],
): void {
  // The packets go in on stdin: a long list would pass the limit of one argument.
  const result = spawnSync('python3', ['-c', WRITER, file, format, framing], {
    input: JSON.stringify(packets),
  });
  if (result.status !== 0) {
    throw new Error(`python3 could not write ${file}: ${String(result.stderr ?? result.error)}`);
  }
}

/**
 * A TCP connection with everything reassembly must get right: a handshake, a client request in
 * two segments whose second arrives before the first and is then retransmitted, a reply
 * overlapping a retransmission of its own start, a half-close by the client, more reply, then
 * the server's FIN. Sequence numbers start near 2^32 so they wrap. Plus a UDP exchange.
 */
export function exchange(client: string, server: string): TestPacket[] {
  const c = { src: client, dst: server, sport: 40000, dport: 8080, proto: 'tcp' as const };
  const s = { src: server, dst: client, sport: 8080, dport: 40000, proto: 'tcp' as const };
  const isnC = 2 ** 32 - 10;
  const isnS = 5000;
  const at = (seq: number) => (seq >>> 0) % 2 ** 32;
  return [
    { ...c, t: 1700000000.1, flags: 'S', seq: isnC },
    { ...s, t: 1700000000.101, flags: 'SA', seq: isnS },
    { ...c, t: 1700000000.102, flags: 'A', seq: at(isnC + 1) },
    // "GET /x\n" then "Host: y\n": the second segment comes first.
    { ...c, t: 1700000000.2, flags: 'PA', seq: at(isnC + 1 + 7), data: 'Host: y\n' },
    { ...c, t: 1700000000.3, flags: 'PA', seq: at(isnC + 1), data: 'GET /x\n' },
    { ...c, t: 1700000000.31, flags: 'PA', seq: at(isnC + 1), data: 'GET /x\nHo' },
    { ...s, t: 1700000000.4, flags: 'PA', seq: isnS + 1, data: 'HTTP/1.0 200' },
    // A retransmission that also carries new bytes: the kept copy of "200" is the first one.
    { ...s, t: 1700000000.41, flags: 'PA', seq: isnS + 1 + 9, data: 'XXX OK\n' },
    { ...c, t: 1700000000.5, flags: 'FA', seq: at(isnC + 1 + 15) },
    { ...s, t: 1700000000.6, flags: 'PA', seq: isnS + 1 + 16, data: 'body after FIN' },
    { ...s, t: 1700000000.7, flags: 'FA', seq: isnS + 1 + 30 },
    { ...c, t: 1700000000.71, flags: 'A', seq: at(isnC + 1 + 16) },
    {
      t: 1700000001,
      proto: 'udp',
      src: client,
      dst: server,
      sport: 5353,
      dport: 53,
      data: 'query',
    },
    {
      t: 1700000001.5,
      proto: 'udp',
      src: server,
      dst: client,
      sport: 53,
      dport: 5353,
      data: 'answer',
    },
    { t: 1700000002, proto: 'udp', src: client, dst: server, sport: 5354, dport: 53, data: '' },
  ];
}

/** What the client and the server sent in `exchange`, reassembled. */
export const EXCHANGE_CLIENT_SENT = 'GET /x\nHost: y\n';
export const EXCHANGE_SERVER_SENT = 'HTTP/1.0 200 OK\nbody after FIN';
