/**
 * Who may talk to the browser-mode server: the token (made, judged, compared in constant time),
 * the Host header values that name this server, and the connections that have not shown the
 * token yet. Static files and the WebSocket transport both ask here before anything else.
 *
 * Any web page the user visits can try to reach a localhost port. Every request must name this
 * server in its Host header (DNS rebinding); the page and the WebSocket need the token printed
 * at start, in the URL (`?token=`). The scripts and styles the page loads are the public build
 * and need no token, so no cookie is ever set: cookies are not bound to a port, and any other
 * service on this host would receive one.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';

/** The strength a token given by the user must have; the generated one has 256 bits. */
export const MIN_TOKEN_BITS = 128;

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Standard alphabets a hand-made token is likely drawn from, smallest first. A token's strength
 * is estimated as its length times log2 of the smallest one holding all of its characters: an
 * upper bound, since a person's choice within the alphabet is rarely uniform.
 */
const tokenAlphabets: ReadonlyArray<{ name: string; size: number; holds: RegExp }> = [
  { name: 'decimal digits', size: 10, holds: /^[0-9]*$/ },
  { name: 'hexadecimal', size: 16, holds: /^[0-9a-f]*$/i },
  { name: 'base64url', size: 64, holds: /^[A-Za-z0-9_-]*$/ },
  { name: 'base64', size: 64, holds: /^[A-Za-z0-9+/]*$/ },
  { name: 'printable ASCII', size: 94, holds: /^[\x21-\x7e]*$/ },
];

/** Estimated bits of a token, and the alphabet the estimate assumed; null if not printable ASCII. */
export function tokenStrength(token: string): { bits: number; alphabet: string } | null {
  // Base64 padding carries nothing.
  const text = /^[A-Za-z0-9+/]+=+$/.test(token) ? token.replace(/=+$/, '') : token;
  const alphabet = tokenAlphabets.find((candidate) => candidate.holds.test(text));
  if (!alphabet) return null;
  return { bits: text.length * Math.log2(alphabet.size), alphabet: alphabet.name };
}

/** Why a token the user chose cannot protect the server, or null when it can. */
export function weakTokenReason(token: string, source = 'The token'): string | null {
  const strength = tokenStrength(token);
  if (strength === null) {
    return (
      `${source} may only use printable ASCII characters (no spaces, control characters or ` +
      'other scripts), so that it survives being typed and pasted as part of a URL.'
    );
  }
  if (strength.bits >= MIN_TOKEN_BITS) return null;
  const characters = `${token.length} character${token.length === 1 ? '' : 's'}`;
  return (
    `${source} is too weak: ${characters} of ${strength.alphabet} give about ` +
    `${Math.floor(strength.bits)} bits, and it must have at least ${MIN_TOKEN_BITS} (for ` +
    'example 32 hexadecimal or 22 base64url characters). Leave it unset for a random ' +
    '256-bit token, or make one with `openssl rand -hex 32`.'
  );
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Whether a URL carries the token. Constant-time: digests make the lengths equal whatever the
 * candidate is.
 */
export function tokenCheck(token: string): (url: URL) => boolean {
  const expected = digest(token);
  return (url) => {
    const candidate = url.searchParams.get('token');
    if (candidate === null || candidate.length === 0) return false;
    return timingSafeEqual(digest(candidate), expected);
  };
}

/** A host as it appears in a URL: IPv6 literals in brackets. */
export function formatHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '::0';
}

export function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * The Host header values that name this server. Anything else is a DNS-rebinding attempt (or a
 * proxy we were not told about), so it is refused before the token is even looked at.
 */
export function allowedHostHeaders(host: string, port: number): Set<string> {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]', formatHost(host).toLowerCase()]);
  if (isWildcardHost(host)) {
    // Bound to every interface: the user reaches it by one of this machine's addresses.
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) {
        names.add(formatHost(address.address.toLowerCase()));
      }
    }
  }
  const allowed = new Set<string>();
  for (const name of names) {
    allowed.add(`${name}:${port}`);
    // Browsers leave the default port out of Host and Origin.
    if (port === 80) allowed.add(name);
  }
  return allowed;
}

/** What static files and the transport ask before serving a request. */
export interface Access {
  /** The request's Host header, lower-cased, if it names this server; otherwise null. */
  checkHost(req: IncomingMessage): string | null;
  hasToken(url: URL): boolean;
  unauthenticated: UnauthenticatedSockets;
}

/**
 * Connections that have not presented the token. They cost a descriptor each, so they are
 * capped: past the cap the oldest goes, which keeps a flood of idle connections from locking
 * the user out (their browser's connection is the newest, and shows the token at once).
 */
export class UnauthenticatedSockets {
  /** In arrival order: a Set iterates oldest first. */
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly limits: { maxUnauthenticatedSockets: number; unauthenticatedIdleMs: number },
  ) {}

  admit(socket: Socket): void {
    for (const oldest of this.sockets) {
      if (this.sockets.size < this.limits.maxUnauthenticatedSockets) break;
      this.sockets.delete(oldest);
      oldest.destroy();
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // Node's own timeout handler is gone once a socket is upgraded; this one stays.
    socket.setTimeout(this.limits.unauthenticatedIdleMs);
    socket.on('timeout', () => {
      if (this.sockets.has(socket)) socket.destroy();
    });
  }

  /** The socket presented the token: no longer counted, no longer on the idle clock. */
  authenticate(socket: Socket): void {
    if (this.sockets.delete(socket)) socket.setTimeout(0);
  }

  isUnauthenticated(socket: Socket): boolean {
    return this.sockets.has(socket);
  }

  get size(): number {
    return this.sockets.size;
  }
}
