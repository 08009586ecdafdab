/**
 * How each kind of endpoint becomes packets: a stream connection (TCP, or a Unix-domain stream
 * drawn as TCP between placeholder addresses) as a TCP conversation, a UDP socket as datagrams
 * between its address and each peer's. Listeners have no packets of their own.
 */
import type { CapturedEndpoint } from '../capture-reader';
import type { Control } from './timeline';
import { parseIp, unspecified, type Flow, type IpAddress } from './packets';
import { TcpSession, type Segment, type Side } from './tcp-session';

/** TEST-NET-1 (RFC 5737): addresses that are never anyone's, for Unix-domain sockets. */
export const UNIX_CONNECTING_ADDRESS = '192.0.2.1';
export const UNIX_LISTENING_ADDRESS = '192.0.2.2';
const IPV6_PLACEHOLDER_LOCAL = '2001:db8::1';
const IPV6_PLACEHOLDER_REMOTE = '2001:db8::2';

/** A packet to write: an IP/TCP or IP/UDP packet, and what it carries. */
export type PacketPlan =
  { transport: 'tcp'; flow: Flow; segment: Segment } | { transport: 'udp'; flow: Flow };

interface Transition {
  at: number;
  event: string;
  by?: string;
}

type AddressJson = { host?: unknown; port?: unknown; path?: unknown } | null | undefined;

/** The description's `transitions`, as far as they are well formed. */
export function transitionsOf(endpoint: CapturedEndpoint): Transition[] {
  const list = endpoint.description['transitions'];
  if (!Array.isArray(list)) return [];
  return list
    .filter(
      (entry): entry is Transition =>
        typeof entry === 'object' &&
        entry !== null &&
        typeof (entry as Transition).at === 'number' &&
        typeof (entry as Transition).event === 'string',
    )
    .sort((a, b) => a.at - b.at);
}

export function isStreamConnection(endpoint: CapturedEndpoint): boolean {
  const { kind, role } = endpoint.description;
  return (
    (kind === 'tcp-connection' || kind === 'unix-connection') &&
    (role === 'client' || role === 'accepted')
  );
}

export function isDatagramSocket(endpoint: CapturedEndpoint): boolean {
  return endpoint.description['kind'] === 'udp-socket';
}

function addressOf(value: unknown): AddressJson {
  return typeof value === 'object' ? (value as AddressJson) : null;
}

/** `host:port`, `[v6]:port` or a socket path: the other end, as the text formats name it. */
export function describeAddress(value: unknown): string {
  const address = addressOf(value);
  if (!address) return '?';
  if (typeof address.path === 'string') return address.path;
  const host = String(address.host ?? '?');
  return host.includes(':')
    ? `[${host}]:${String(address.port)}`
    : `${host}:${String(address.port)}`;
}

/** The other end of a stream connection, for the text formats' headings. */
export function peerOfStream(endpoint: CapturedEndpoint): string {
  if (endpoint.description['kind'] === 'unix-connection') return `unix:${unixSocketPath(endpoint)}`;
  return describeAddress(endpoint.description['remote']);
}

/** The path a Unix-domain connection went through: the listener's (its side) or the target's. */
export function unixSocketPath(endpoint: CapturedEndpoint): string {
  const { description } = endpoint;
  const address = addressOf(
    description['role'] === 'client' ? description['remote'] : description['local'],
  );
  return typeof address?.path === 'string' && address.path !== '' ? address.path : '?';
}

/** A deterministic initial sequence number per endpoint and side, spread over 32 bits. */
function initialSequence(number: number, side: Side): number {
  return (Math.imul(number * 2 + (side === 'local' ? 1 : 2), 2_654_435_761) >>> 0) & 0x7fffffff;
}

/** Draws one stream connection's packets. */
export class StreamDrawer {
  readonly session: TcpSession;
  /** Said on the connection's first packet: where the addresses come from, what is missing. */
  comment: string | undefined;
  private readonly outbound: Flow;
  private readonly inbound: Flow;

  constructor(
    readonly endpoint: CapturedEndpoint,
    /** Data bytes each side sent before the first drawn one; null: the stream starts here. */
    alreadySent: Record<Side, number> | null,
    notes: string[],
  ) {
    const { number, description } = endpoint;
    const local = addressOf(description['local']);
    const remote = addressOf(description['remote']);
    const initiator: Side = description['role'] === 'client' ? 'local' : 'remote';
    const comments = [...notes];
    let localIp: IpAddress | null;
    let remoteIp: IpAddress | null;
    let localPort: number;
    let remotePort: number;
    if (description['kind'] === 'unix-connection') {
      // The connecting end is always 192.0.2.1 and its port follows the endpoint's number, so
      // that every connection is a conversation of its own.
      const connecting = 49_152 + (number % 16_384);
      const listening = 1024 + (number % 48_000);
      const socketPath = unixSocketPath(endpoint);
      localIp = parseIp(initiator === 'local' ? UNIX_CONNECTING_ADDRESS : UNIX_LISTENING_ADDRESS);
      remoteIp = parseIp(initiator === 'local' ? UNIX_LISTENING_ADDRESS : UNIX_CONNECTING_ADDRESS);
      localPort = initiator === 'local' ? connecting : listening;
      remotePort = initiator === 'local' ? listening : connecting;
      comments.unshift(
        `${description.id}: Unix-domain stream socket ${socketPath}. The addresses ` +
          `${UNIX_CONNECTING_ADDRESS} (the connecting end) and ${UNIX_LISTENING_ADDRESS} (the ` +
          `listening end) and the ports are placeholders, not real addresses.`,
      );
    } else {
      localIp = parseIp(typeof local?.host === 'string' ? local.host : undefined);
      remoteIp = parseIp(typeof remote?.host === 'string' ? remote.host : undefined);
      localPort = typeof local?.port === 'number' ? local.port : 0;
      remotePort = typeof remote?.port === 'number' ? remote.port : 0;
      if (!localIp || !remoteIp || localIp.family !== remoteIp.family) {
        const family = remoteIp?.family ?? localIp?.family ?? 4;
        const missing = !localIp ? 'local' : 'remote';
        if (!localIp || localIp.family !== family) {
          localIp = parseIp(family === 4 ? UNIX_CONNECTING_ADDRESS : IPV6_PLACEHOLDER_LOCAL);
        }
        if (!remoteIp)
          remoteIp = parseIp(family === 4 ? UNIX_LISTENING_ADDRESS : IPV6_PLACEHOLDER_REMOTE);
        comments.push(
          `${description.id}: its ${missing} address is not known; a placeholder stands in.`,
        );
      }
    }
    const localAddress = localIp as IpAddress;
    const remoteAddress = remoteIp as IpAddress;
    this.outbound = {
      src: localAddress,
      dst: remoteAddress,
      srcPort: localPort,
      dstPort: remotePort,
    };
    this.inbound = {
      src: remoteAddress,
      dst: localAddress,
      srcPort: remotePort,
      dstPort: localPort,
    };
    this.session = new TcpSession(
      { local: initialSequence(number, 'local'), remote: initialSequence(number, 'remote') },
      alreadySent,
    );
    this.comment = comments.length > 0 ? comments.join(' ') : undefined;
  }

  control(control: Control): PacketPlan[] {
    let segments: Segment[];
    if (control.step === 'handshake') segments = this.session.handshake(control.side);
    else if (control.step === 'syn-only') segments = this.session.synOnly(control.side);
    else if (control.step === 'fin') segments = this.session.fin(control.side);
    else segments = this.session.rst(control.side);
    return segments.map((segment) => this.plan(segment));
  }

  /** dir 1 is sent by this end (local), 0 received from the peer (remote). */
  data(dir: number, length: number): PacketPlan[] {
    return this.session.data(dir === 1 ? 'local' : 'remote', length).map((s) => this.plan(s));
  }

  skip(dir: number, length: number): void {
    this.session.skip(dir === 1 ? 'local' : 'remote', length);
  }

  private plan(segment: Segment): PacketPlan {
    return {
      transport: 'tcp',
      flow: segment.from === 'local' ? this.outbound : this.inbound,
      segment,
    };
  }
}

/**
 * The handshake and teardown of a stream connection, from its transitions. The handshake is drawn
 * only when the stream's start is in the export; it is put no later than the first chunk.
 */
export function streamControls(
  endpoint: CapturedEndpoint,
  firstRowAt: number | null,
  drawStart: boolean,
  drawEnd: boolean,
): { leading: Control[]; controls: Control[] } {
  const transitions = transitionsOf(endpoint);
  const when = (event: string) => transitions.find((t) => t.event === event)?.at;
  const createdAt = endpoint.description['createdAt'];
  const fallback = firstRowAt ?? (typeof createdAt === 'number' ? createdAt : 0);
  const notAfterFirstRow = (at: number) => (firstRowAt === null ? at : Math.min(at, firstRowAt));
  const leading: Control[] = [];
  if (drawStart) {
    if (endpoint.description['role'] === 'client') {
      const established = when('established');
      const connectAt = notAfterFirstRow(when('connect') ?? established ?? fallback);
      if (established === undefined && firstRowAt === null) {
        leading.push({ at: connectAt, step: 'syn-only', side: 'local' });
      } else {
        leading.push({ at: connectAt, step: 'handshake', side: 'local' });
      }
    } else {
      leading.push({
        at: notAfterFirstRow(when('accepted') ?? fallback),
        step: 'handshake',
        side: 'remote',
      });
    }
  }
  const controls: Control[] = [];
  if (drawEnd) {
    for (const { at, event } of transitions) {
      if (event === 'fin-sent') controls.push({ at, step: 'fin', side: 'local' });
      else if (event === 'fin-received') controls.push({ at, step: 'fin', side: 'remote' });
      else if (event === 'rst-sent') controls.push({ at, step: 'rst', side: 'local' });
      else if (event === 'rst-received') controls.push({ at, step: 'rst', side: 'remote' });
      // A plain close sends a FIN that the timeline may not list on its own (the session
      // ignores a second FIN from a side, and anything after a reset).
      else if (event === 'closed' && leading[0]?.step !== 'syn-only') {
        controls.push({ at, step: 'fin', side: 'local' });
      }
    }
  }
  return { leading, controls };
}

/** Draws a UDP socket's datagrams between its address and each peer's. */
export class DatagramDrawer {
  comment: string | undefined;
  private readonly local: { host: string | undefined; port: number };

  constructor(readonly endpoint: CapturedEndpoint) {
    const local = addressOf(endpoint.description['local']);
    this.local = {
      host: typeof local?.host === 'string' ? local.host : undefined,
      port: typeof local?.port === 'number' ? local.port : 0,
    };
  }

  datagram(dir: number, peerIndex: number): PacketPlan {
    const peer = this.endpoint.peers[peerIndex];
    let peerIp = parseIp(peer?.host);
    if (!peerIp) {
      peerIp = unspecified(4);
      this.comment ??= `${this.endpoint.description.id}: a datagram's peer address is not known; 0.0.0.0:0 stands in.`;
    }
    let localIp = parseIp(this.local.host);
    // A socket bound to :: talks to IPv4 peers as ::ffff:a.b.c.d; on the wire both are IPv4.
    if (!localIp || localIp.family !== peerIp.family) localIp = unspecified(peerIp.family);
    const peerPort = peer?.port ?? 0;
    const flow: Flow =
      dir === 1
        ? { src: localIp, dst: peerIp, srcPort: this.local.port, dstPort: peerPort }
        : { src: peerIp, dst: localIp, srcPort: peerPort, dstPort: this.local.port };
    return { transport: 'udp', flow };
  }
}
