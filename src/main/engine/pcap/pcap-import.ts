/**
 * Turns a pcap or pcapng file's TCP streams and UDP traffic into opened endpoints, packet by
 * packet as the file is read, so that memory holds only what is out of order.
 *
 * - TCP: one endpoint per connection (4-tuple; a new SYN after the end starts a new one). The
 *   side that sent the SYN is the client, or the first sender when no SYN was captured; the
 *   endpoint is the client's (local = client), so "out" is what the client sent. Each direction
 *   is reassembled by sequence number: a byte captured twice (retransmission, overlap) is kept
 *   as first seen; a byte never captured is a gap, warned about with its size, and skipped.
 *   Bytes are replayed when they become contiguous, at the time of the packet that made them so,
 *   so both directions interleave in capture order.
 * - UDP: one endpoint per local address:port. The receiver of the first datagram between two
 *   addresses not yet known is the local socket (a server is usually sent to first); every later
 *   datagram from or to that address joins it, with its peer.
 */
import { WorkbenchError } from '../../../shared/errors';
import { formatHostPort } from '../../../shared/domain';
import type { Direction, Peer } from '../capture';
import { OpenedEndpoint, type CaptureOpenHost, type ImportRun } from '../opened-capture';
import {
  decodeFrame,
  SUPPORTED_LINK_TYPES,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  type Endpoints,
} from './packet';
import { openFrameReader } from './pcap-file';

/** Streams (TCP connections and UDP sockets) opened from one file at most. */
export const STREAMS_MAX = 10_000;
/**
 * Out-of-order bytes one direction may hold waiting for a gap to fill; past it the gap is taken
 * as lost, so a hostile or badly damaged capture cannot make the engine hold it all.
 */
const PENDING_MAX_BYTES = 4 * 1024 * 1024;
/** Out-of-order segments one direction may hold: finding the first of them is linear. */
const PENDING_MAX_SEGMENTS = 1024;
/** Out-of-order bytes all directions of a file together may hold. */
const PENDING_MAX_TOTAL_BYTES = 32 * 1024 * 1024;

/** What every direction of one file holds out of order, together. */
interface PendingTotal {
  bytes: number;
}

interface PendingSegment {
  bytes: Uint8Array;
}

/** One direction of a TCP connection, reassembled. */
class TcpDirection {
  started = false;
  /** The sequence number of the next byte expected (mod 2^32). */
  nextSeq = 0;
  /** Bytes of this direction replayed (or skipped as missing) so far. */
  delivered = 0;
  missing = 0;
  finSeen = false;
  private readonly pending = new Map<number, PendingSegment>();
  private pendingBytes = 0;

  constructor(
    private readonly deliver: (bytes: Uint8Array) => void,
    private readonly total: PendingTotal,
  ) {}

  start(seq: number): void {
    this.started = true;
    this.nextSeq = seq >>> 0;
  }

  segment(seq: number, payload: Uint8Array): void {
    if (payload.byteLength === 0) return;
    if (!this.started) this.start(seq);
    // The signed distance from what is expected, across sequence-number wraparound.
    const ahead = (seq - this.nextSeq) | 0;
    if (ahead <= 0) {
      const already = -ahead;
      if (already >= payload.byteLength) return; // a retransmission of bytes already kept
      this.emit(payload.subarray(already));
      this.drain();
      return;
    }
    const at = this.delivered + ahead;
    if (!this.pending.has(at)) {
      this.pending.set(at, { bytes: new Uint8Array(payload) });
      this.hold(payload.byteLength);
    }
    if (
      this.pendingBytes > PENDING_MAX_BYTES ||
      this.pending.size > PENDING_MAX_SEGMENTS ||
      this.total.bytes > PENDING_MAX_TOTAL_BYTES
    ) {
      this.skipGap();
    }
  }

  /** The capture ends: whatever still waits behind a gap is replayed after it. */
  finish(): void {
    while (this.pending.size > 0) this.skipGap();
  }

  private hold(bytes: number): void {
    this.pendingBytes += bytes;
    this.total.bytes += bytes;
  }

  private firstPending(): number {
    let first = Infinity;
    for (const at of this.pending.keys()) if (at < first) first = at;
    return first;
  }

  private emit(bytes: Uint8Array): void {
    this.deliver(bytes);
    this.delivered += bytes.byteLength;
    this.nextSeq = (this.nextSeq + bytes.byteLength) >>> 0;
  }

  /** Replays the waiting segments that have become contiguous. */
  private drain(): void {
    while (this.pending.size > 0) {
      const first = this.firstPending();
      if (first > this.delivered) return;
      const { bytes } = this.pending.get(first) as PendingSegment;
      this.pending.delete(first);
      this.hold(-bytes.byteLength);
      const already = this.delivered - first;
      if (already < bytes.byteLength) this.emit(bytes.subarray(already));
    }
  }

  /** The bytes up to the first waiting segment were never captured: count them and go on. */
  private skipGap(): void {
    const first = this.firstPending();
    const gap = first - this.delivered;
    if (gap > 0) {
      this.missing += gap;
      this.delivered += gap;
      this.nextSeq = (this.nextSeq + gap) >>> 0;
    }
    this.drain();
  }
}

class TcpStream {
  readonly out: TcpDirection;
  readonly in: TcpDirection;
  lastAt: number;

  constructor(
    readonly endpoint: OpenedEndpoint,
    readonly client: string,
    at: number,
    pending: PendingTotal,
  ) {
    this.lastAt = at;
    this.out = new TcpDirection((bytes) => endpoint.replay('out', bytes, this.lastAt), pending);
    this.in = new TcpDirection((bytes) => endpoint.replay('in', bytes, this.lastAt), pending);
  }
}

interface UdpSocket {
  endpoint: OpenedEndpoint;
  lastAt: number;
}

const hostPort = (host: string, port: number) => `${host}|${port}`;

export async function importPcap(
  host: CaptureOpenHost,
  file: string,
  run: ImportRun,
): Promise<string[]> {
  let reader;
  try {
    reader = await openFrameReader(file);
  } catch (error) {
    if (error instanceof WorkbenchError) throw error;
    throw new WorkbenchError(
      'BAD_CAPTURE_FILE',
      `Cannot read ${file}: ${(error as Error).message}`,
    );
  }
  const ids: string[] = [];
  const tcp = new Map<string, TcpStream>();
  const udp = new Map<string, UdpSocket>();
  const counts = { fragments: 0, malformed: 0, beyondLimit: 0, frames: 0 };
  const unsupported = new Map<number, number>();
  const pending: PendingTotal = { bytes: 0 };

  const streamKey = (p: Endpoints) => {
    const a = hostPort(p.srcHost, p.srcPort);
    const b = hostPort(p.dstHost, p.dstPort);
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  };
  const roomForAnother = () => {
    if (ids.length < STREAMS_MAX) return true;
    counts.beyondLimit += 1;
    return false;
  };
  const open = (
    prefix: 'conn' | 'udp',
    local: Peer,
    remote: Peer | null,
    family: 'IPv4' | 'IPv6',
    at: number,
  ) => {
    const endpoint = new OpenedEndpoint(
      host.newId(prefix),
      host.context,
      {
        kind: prefix === 'conn' ? 'tcp-connection' : 'udp-socket',
        role: prefix === 'conn' ? 'client' : 'udp',
        parentId: null,
        local: { ...local, family },
        remote: remote ? { ...remote, family } : null,
        createdAt: at,
        initialState: prefix === 'conn' ? 'connecting' : 'opening',
      },
      run,
    );
    host.add(endpoint);
    ids.push(endpoint.id);
    return endpoint;
  };

  for await (const frame of reader.frames()) {
    if (run.cancelled) break;
    counts.frames += 1;
    if (!SUPPORTED_LINK_TYPES.has(frame.linkType)) {
      unsupported.set(frame.linkType, (unsupported.get(frame.linkType) ?? 0) + 1);
      continue;
    }
    const packet = decodeFrame(frame.linkType, frame.bytes);
    if (packet.protocol === 'other') continue;
    if (packet.protocol === 'skipped') {
      if (packet.reason === 'fragment') counts.fragments += 1;
      else counts.malformed += 1;
      continue;
    }
    const at = frame.at;
    const key = streamKey(packet);
    const source = { host: packet.srcHost, port: packet.srcPort };
    const destination = { host: packet.dstHost, port: packet.dstPort };
    if (packet.protocol === 'udp') {
      let socket = udp.get(hostPort(source.host, source.port));
      let dir: Direction = 'out';
      let peer = destination;
      if (!socket) {
        socket = udp.get(hostPort(destination.host, destination.port));
        dir = 'in';
        peer = source;
      }
      if (!socket) {
        if (!roomForAnother()) continue;
        const endpoint = open('udp', destination, null, packet.family, at);
        endpoint.happened('bound', 'bound', at);
        socket = { endpoint, lastAt: at };
        udp.set(hostPort(destination.host, destination.port), socket);
      }
      socket.lastAt = at;
      if (!socket.endpoint.abandoned) socket.endpoint.replay(dir, packet.payload, at, peer);
      await run.paced(packet.payload.byteLength);
      continue;
    }
    const syn = (packet.flags & TCP_SYN) !== 0;
    const ack = (packet.flags & TCP_ACK) !== 0;
    let stream = tcp.get(key);
    // The same four-tuple again after the connection ended: a new connection.
    if (stream && syn && !ack && stream.endpoint.isFinished) stream = undefined;
    if (!stream) {
      // A bare ACK or RST of a connection whose start was not captured shows nothing.
      if (!syn && packet.payload.byteLength === 0) continue;
      if (!roomForAnother()) continue;
      const clientIsSource = !(syn && ack);
      const client = clientIsSource ? source : destination;
      const server = clientIsSource ? destination : source;
      const endpoint = open('conn', client, server, packet.family, at);
      stream = new TcpStream(endpoint, hostPort(client.host, client.port), at, pending);
      tcp.set(key, stream);
      if (syn) endpoint.happened('connect', 'connecting', at);
      else {
        endpoint.happened('established', 'open', at, {
          detail: 'the capture begins after the handshake: earlier bytes were not captured',
        });
      }
    }
    stream.lastAt = at;
    const endpoint = stream.endpoint;
    const fromClient = hostPort(source.host, source.port) === stream.client;
    const direction = fromClient ? stream.out : stream.in;
    if (syn) {
      if (!direction.started) direction.start(packet.seq + 1);
      if (ack && !fromClient && endpoint.currentState === 'connecting') {
        endpoint.happened('established', 'open', at);
      }
    }
    // A SYN takes a sequence number: what it carries (TCP Fast Open) starts after it.
    if (!endpoint.abandoned) direction.segment(syn ? packet.seq + 1 : packet.seq, packet.payload);
    if (packet.flags & TCP_FIN && !direction.finSeen && !endpoint.isFinished) {
      direction.finSeen = true;
      const other = fromClient ? stream.in : stream.out;
      if (other.finSeen) {
        endpoint.happened(fromClient ? 'fin-sent' : 'fin-received', 'closed', at, {
          by: fromClient ? 'local' : 'remote',
        });
      } else {
        endpoint.happened(
          fromClient ? 'fin-sent' : 'fin-received',
          fromClient ? 'half-closed-local' : 'half-closed-remote',
          at,
          { by: fromClient ? 'local' : 'remote' },
        );
      }
    }
    if (packet.flags & TCP_RST && !endpoint.isFinished) {
      endpoint.happened(fromClient ? 'rst-sent' : 'rst-received', 'reset', at, {
        by: fromClient ? 'local' : 'remote',
      });
    }
    await run.paced(packet.payload.byteLength);
  }
  // The engine is stopping: its capture is closing, nothing more may be written to it.
  if (run.cancelled) return ids;
  for (const warning of reader.warnings) run.warn(warning);
  if (ids.length === 0) {
    throw new WorkbenchError(
      'BAD_CAPTURE_FILE',
      noStreams(file, counts.frames, unsupported, reader.warnings),
    );
  }
  for (const stream of tcp.values()) finishTcp(stream, run);
  for (const socket of udp.values()) {
    if (!socket.endpoint.isFinished) {
      socket.endpoint.happened('closed', 'closed', socket.lastAt, {
        detail: 'the capture ends here',
      });
    }
  }
  if (counts.fragments > 0) {
    run.warn(
      `${counts.fragments.toLocaleString('en-US')} IP fragments were skipped: fragmented packets are not reassembled`,
    );
  }
  if (counts.malformed > 0) {
    run.warn(`${counts.malformed.toLocaleString('en-US')} packets were malformed and skipped`);
  }
  for (const [linkType, frames] of unsupported) {
    run.warn(
      `${frames.toLocaleString('en-US')} packets of link type ${linkType}, which is not supported, were skipped`,
    );
  }
  if (counts.beyondLimit > 0) {
    run.warn(
      `Only the first ${STREAMS_MAX.toLocaleString('en-US')} streams were opened; ${counts.beyondLimit.toLocaleString('en-US')} packets of later ones were skipped`,
    );
  }
  return ids;
}

function finishTcp(stream: TcpStream, run: ImportRun): void {
  const endpoint = stream.endpoint;
  if (endpoint.abandoned) return;
  stream.out.finish();
  stream.in.finish();
  const where = describe(endpoint);
  for (const [direction, who] of [
    [stream.out, 'the client'],
    [stream.in, 'the server'],
  ] as const) {
    if (direction.missing > 0) {
      run.warn(
        `${endpoint.id} (${where}): ${direction.missing.toLocaleString('en-US')} bytes ${who} sent are missing (not captured)`,
      );
    }
  }
  if (!endpoint.isFinished) {
    endpoint.happened('closed', 'closed', stream.lastAt, {
      detail: `the capture ends here; the connection was ${endpoint.currentState} then`,
    });
  }
}

function describe(endpoint: OpenedEndpoint): string {
  const { local, remote } = endpoint.info();
  const text = (address: typeof local) =>
    address && 'port' in address ? formatHostPort(address.host, address.port) : '?';
  return `${text(local)} → ${text(remote)}`;
}

function noStreams(
  file: string,
  frames: number,
  unsupported: Map<number, number>,
  warnings: string[],
): string {
  const reason =
    unsupported.size > 0
      ? `its link type (${[...unsupported.keys()].join(', ')}) is not supported: raw IP, Ethernet, Linux cooked (SLL, SLL2) and BSD loopback are`
      : frames === 0
        ? 'it holds no packets'
        : `none of its ${frames.toLocaleString('en-US')} packets is TCP or UDP over IP`;
  const also = warnings.length > 0 ? ` (${warnings.join('; ')})` : '';
  return `${file} cannot be opened: ${reason}${also}`;
}
