/**
 * Domain rules the engine and the renderer both apply, defined once: which endpoints carry a byte
 * stream, which states may still send, which are final, the limits of what a form may ask for,
 * and how an address reads. Pure: no node:*, no DOM.
 */
import type { EndpointInfo, EndpointState } from './contract';

// ---------------------------------------------------------------------------------------------
// Endpoints and their states
// ---------------------------------------------------------------------------------------------

/** A connection (made or accepted) carries a byte stream; a listener or UDP socket does not. */
export function isStreamRole(role: EndpointInfo['role']): boolean {
  return role === 'client' || role === 'accepted';
}

/** States an endpoint never leaves. */
export const terminalStates: ReadonlySet<EndpointState> = new Set(['closed', 'reset', 'error']);

export function isTerminalState(state: EndpointState): boolean {
  return terminalStates.has(state);
}

/** A connection may still send (and half-close) until it has sent its own FIN. */
export function canStreamWrite(state: EndpointState): boolean {
  return state === 'open' || state === 'half-closed-remote';
}

/** A connection may still receive until the peer has sent its FIN. */
export function canStreamRead(state: EndpointState): boolean {
  return state === 'open' || state === 'half-closed-local';
}

// ---------------------------------------------------------------------------------------------
// Form limits: the contract's schemas enforce them, the renderer's forms check them early
// ---------------------------------------------------------------------------------------------

export const PORT_MAX = 65535;
export const BACKLOG_MAX = 65535;
export const TIMEOUT_MS_MIN = 1;
export const TIMEOUT_MS_MAX = 600_000;
/** The longest DNS name. */
export const HOST_LENGTH_MAX = 253;
/** The longest socket path a command may carry (the OS limit is checked by the engine). */
export const SOCKET_PATH_LENGTH_MAX = 1024;

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/** How an address reads in messages, the timeline and the views: 127.0.0.1:80, [::1]:80. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
