/**
 * Which kernel socket an endpoint is: a TCP connection by its 4-tuple (which still names it in
 * TIME_WAIT after the engine let go of it), a listener by its address, a UDP socket by its local
 * address, a Unix-domain socket by its inode (read from its descriptor) or a listener by its path.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Address, EndpointInfo } from '../../../shared/contract';
import type { Endpoint } from '../endpoint';
import { normalizeHost, type HostPort } from './hosts';

export type KernelTarget =
  /** remote is null while connecting: Node learns the peer's address only once connected. */
  | { kind: 'tcp'; local: HostPort; remote: HostPort | null }
  | { kind: 'tcp-listener'; local: HostPort }
  | { kind: 'udp'; local: HostPort }
  /** `names`: what ss may print as its own name ("*" for an unnamed client). */
  | { kind: 'unix'; inode: number; names: string[] }
  | { kind: 'unix-listener'; path: string; inode: number | null };

export function targetKey(target: KernelTarget): string {
  switch (target.kind) {
    case 'tcp':
      return `tcp ${hostPortKey(target.local)} ${target.remote ? hostPortKey(target.remote) : '?'}`;
    case 'tcp-listener':
    case 'udp':
      return `${target.kind} ${hostPortKey(target.local)}`;
    case 'unix':
      return `unix ${target.inode}`;
    case 'unix-listener':
      return `unix-listener ${target.inode ?? ''} ${target.path}`;
  }
}

function hostPortKey({ host, port }: HostPort): string {
  return `${normalizeHost(host)}:${port}`;
}

function hostPort(address: Address | null): HostPort | null {
  return address && 'port' in address ? { host: address.host, port: address.port } : null;
}

/**
 * The local address the kernel gave a socket that is still connecting. Asked of libuv's handle
 * directly: net.Socket's localPort would cache an empty answer if asked before connect().
 */
function boundAddressOf(socket: net.Socket): HostPort | null {
  const libuvHandle: unknown = Reflect.get(socket, '_handle');
  if (typeof libuvHandle !== 'object' || libuvHandle === null) return null;
  const getsockname: unknown = Reflect.get(libuvHandle, 'getsockname');
  if (typeof getsockname !== 'function') return null;
  const out: { address?: unknown; port?: unknown } = {};
  if (getsockname.call(libuvHandle, out) !== 0) return null;
  const { address, port } = out;
  return typeof address === 'string' && typeof port === 'number' && port > 0
    ? { host: address, port }
    : null;
}

/** The descriptor of a socket or server, on Linux and macOS (libuv's handle.fd); null if closed. */
function descriptorOf(handle: net.Socket | net.Server): number | null {
  const libuvHandle: unknown = Reflect.get(handle, '_handle');
  if (typeof libuvHandle !== 'object' || libuvHandle === null) return null;
  const fd: unknown = Reflect.get(libuvHandle, 'fd');
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/** The socket inode behind one of this process's descriptors: /proc/self/fd/N -> socket:[N]. */
async function socketInode(fd: number): Promise<number | null> {
  try {
    const link = await fs.promises.readlink(`/proc/self/fd/${fd}`);
    const match = /^socket:\[(\d+)\]$/.exec(link);
    return match?.[1] ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Finds the endpoint's kernel socket; null when it has none to look for (opened from a file,
 * a listener or UDP socket that stopped, a Unix-domain socket that closed: nothing lingers).
 * `remembered` keeps what was learnt while the socket was open, for after it closed.
 */
export async function targetOf(
  endpoint: Endpoint,
  remembered: WeakMap<Endpoint, KernelTarget>,
): Promise<KernelTarget | null> {
  const info: EndpointInfo = endpoint.info();
  if (info.openedFrom !== undefined) return null;
  const known = remembered.get(endpoint);
  const found = await currentTarget(endpoint, info, known);
  if (found) remembered.set(endpoint, found);
  return found;
}

async function currentTarget(
  endpoint: Endpoint,
  info: EndpointInfo,
  known: KernelTarget | undefined,
): Promise<KernelTarget | null> {
  const local = hostPort(info.local);
  switch (info.kind) {
    case 'tcp-listener':
      return info.state === 'listening' && local ? { kind: 'tcp-listener', local } : null;
    case 'udp-socket':
      return !endpoint.isFinished && local ? { kind: 'udp', local } : null;
    case 'tcp-connection': {
      const socket = local ? null : endpoint.nodeHandle();
      const connecting = socket instanceof net.Socket ? boundAddressOf(socket) : null;
      const tupleLocal = local ?? connecting;
      // Closed before it connected: the port it had is all there is to go by.
      if (!tupleLocal) return known?.kind === 'tcp' ? known : null;
      return { kind: 'tcp', local: tupleLocal, remote: hostPort(info.remote) };
    }
    case 'unix-listener': {
      if (info.state !== 'listening' || !info.local || !('path' in info.local)) return null;
      const server = endpoint.nodeHandle();
      const fd = server ? descriptorOf(server) : null;
      const inode = fd === null ? null : await socketInode(fd);
      return { kind: 'unix-listener', path: info.local.path, inode };
    }
    case 'unix-connection': {
      if (endpoint.isFinished) return null;
      if (known?.kind === 'unix') return known;
      const socket = endpoint.nodeHandle();
      const fd = socket ? descriptorOf(socket) : null;
      const inode = fd === null ? null : await socketInode(fd);
      if (inode === null) return null;
      // An accepted socket is named after its listener's path; a client is usually unnamed.
      const names = ['*'];
      if (info.role === 'accepted' && info.local && 'path' in info.local) {
        names.push(info.local.path);
      }
      return { kind: 'unix', inode, names };
    }
  }
}
