/**
 * Whether a listener or UDP socket bound to a host stays on this machine. Anything but a loopback
 * address takes connections and datagrams from other machines too, and 0, 0.0.0.0 and :: take
 * them on every interface. Pure: the open forms use it to warn before the user opens anything.
 */
export type HostExposure = 'loopback' | 'every-interface' | 'network-address' | 'name';

/** One part of an inet_aton() address, as the resolver reads it: decimal, 0x hex or 0 octal. */
function numericPart(part: string): number | null {
  if (/^0x[0-9a-f]*$/i.test(part)) return part.length === 2 ? 0 : parseInt(part.slice(2), 16);
  if (/^0[0-7]*$/.test(part)) return parseInt(part, 8);
  if (/^[1-9][0-9]*$/.test(part)) return Number(part);
  return null;
}

/**
 * An IPv4 address in any form getaddrinfo() accepts (inet_aton's): "0" is 0.0.0.0, "127.1" is
 * 127.0.0.1. The 32-bit value, or null when the text is not one.
 */
function ipv4Value(host: string): number | null {
  const parts = host.split('.');
  if (parts.length > 4) return null;
  const values = parts.map(numericPart);
  if (values.some((value) => value === null)) return null;
  const numbers = values as number[];
  // The last part fills the bytes the earlier ones leave: a.b.c.d, a.b.c16, a.b24, a32.
  const lastSpan = 256 ** (5 - numbers.length);
  let value = 0;
  for (const [index, part] of numbers.entries()) {
    const isLast = index === numbers.length - 1;
    if (part >= (isLast ? lastSpan : 256)) return null;
    value = isLast ? value * lastSpan + part : value * 256 + part;
  }
  return value;
}

/** IPv6 text in one canonical spelling ("[::1]"), or null when it is not an IPv6 address. */
function canonicalIPv6(host: string): string | null {
  try {
    return new URL(`http://[${host.replace(/%.*$/, '')}]/`).hostname;
  } catch {
    return null;
  }
}

/** What binding `host` exposes; null for an empty host (the form says what is wrong with it). */
export function hostExposure(text: string): HostExposure | null {
  const host = text
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (host.length === 0) return null;
  if (host.includes(':')) {
    const canonical = canonicalIPv6(host);
    if (canonical === null) return 'name';
    if (canonical === '[::]' || canonical === '[::ffff:0:0]') return 'every-interface';
    if (canonical === '[::1]' || canonical.startsWith('[::ffff:7f')) return 'loopback';
    return 'network-address';
  }
  const ipv4 = ipv4Value(host);
  if (ipv4 !== null) {
    if (ipv4 === 0) return 'every-interface';
    // 127.0.0.0/8
    return Math.floor(ipv4 / 2 ** 24) === 127 ? 'loopback' : 'network-address';
  }
  const name = host.replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return 'loopback';
  return 'name';
}
