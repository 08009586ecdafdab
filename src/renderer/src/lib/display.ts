/** Small, pure formatting helpers shared by the views. */
import type { Address, EndpointInfo } from '../../../shared/contract';
import { formatHostPort, isStreamRole } from '../../../shared/domain';

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Local wall-clock time as HH:MM:SS.mmm: the precision a timeline of segments needs. */
export function formatClock(at: number): string {
  const date = new Date(at);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(
    date.getMilliseconds(),
    3,
  )}`;
}

export function formatAddress(address: Address | null): string {
  if (!address) return '—';
  if ('path' in address) return address.path;
  return address.family === 'IPv6'
    ? `[${address.host}]:${address.port}`
    : formatHostPort(address.host, address.port);
}

/** Compact sizes for narrow places (the sidebar); counters elsewhere show exact bytes. */
export { formatByteSize as formatBytes } from '../../../shared/byte-size';

/** Thousands grouping that reads the same in every locale the UI supports. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * Splits "host:port", "[v6]:port" into its parts; null when it is not one. Used by the UDP
 * destination field, which takes one address the way people write it.
 */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const trimmed = text.trim();
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(trimmed);
  const plain = /^([^:\s]+):(\d+)$/.exec(trimmed);
  const match = bracketed ?? plain;
  if (!match) return null;
  return { host: match[1] as string, port: Number(match[2]) };
}

/**
 * The address that names an endpoint: the peer for a connection, the local address for a
 * listener or UDP socket. An endpoint that failed before it had one is named by what was asked
 * for, which the engine records as the first transition's detail.
 */
export function endpointAddress(endpoint: EndpointInfo): string {
  const peer = isStreamRole(endpoint.role);
  const address = peer ? endpoint.remote : endpoint.local;
  if (address) return formatAddress(address);
  return endpoint.timeline.find((t) => t.detail !== undefined)?.detail ?? '—';
}
