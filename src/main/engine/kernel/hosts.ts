/**
 * One spelling per address, so that what Node reports for a socket, what ss prints and what
 * /proc/net holds compare equal: an IPv4-mapped IPv6 address is its IPv4 address (a dual-stack
 * socket that talks IPv4 is reported either way), IPv6 is canonical and without a zone, and every
 * wildcard ("0.0.0.0", "::", ss's "*") is "*".
 */
import net from 'node:net';

export const ANY_HOST = '*';

export interface HostPort {
  host: string;
  port: number;
}

/** Dotted IPv4 from two hextets ("7f00", "1" -> "127.0.0.1"). */
function dottedFromHextets(high: string, low: string): string {
  const value = (parseInt(high, 16) << 16) | parseInt(low, 16);
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

export function normalizeHost(text: string): string {
  const host = text.replace(/^\[/, '').replace(/\]$/, '').replace(/%.*$/, '');
  if (host === '*' || host === '0.0.0.0' || host === '::' || host === '') return ANY_HOST;
  if (!net.isIPv6(host)) return host.toLowerCase();
  let canonical: string;
  try {
    canonical = new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return host.toLowerCase();
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped?.[1] && mapped[2]) return dottedFromHextets(mapped[1], mapped[2]);
  return canonical === '::' ? ANY_HOST : canonical;
}

export function sameHostPort(a: HostPort, b: HostPort): boolean {
  return a.port === b.port && normalizeHost(a.host) === normalizeHost(b.host);
}

/** The address part of ss's "host:port" ("[::1]:80", "127.0.0.53%lo:53", "*:*"). */
export function parseSsAddress(text: string): HostPort | null {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return null;
  const portText = text.slice(colon + 1);
  const port = portText === '*' ? 0 : Number(portText);
  if (!Number.isInteger(port)) return null;
  return { host: normalizeHost(text.slice(0, colon)), port };
}
