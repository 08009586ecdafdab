/**
 * Linux's socket tables in /proc/net: tcp and tcp6, udp and udp6 (one layout, see
 * Documentation/networking/proc_net_tcp.rst), and unix. They list every socket of the network
 * namespace, so a table is read as a stream and only the lines that can matter are kept: with
 * 10,000 connections /proc/net/tcp is megabytes, which ss (ss.ts) filters in the kernel instead.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { TcpKernelState } from '../../../shared/contract';
import { normalizeHost, type HostPort } from './hosts';

/** Reads a /proc table; resolves with the lines `keep` accepts, or null where it cannot be read. */
export type ProcLineReader = (
  file: string,
  keep: (line: string) => boolean,
) => Promise<string[] | null>;

/** Reads in pieces, so a large table never holds the event loop for long. */
export const readProcLines: ProcLineReader = (file, keep) =>
  new Promise((resolve) => {
    const kept: string[] = [];
    let partial = '';
    const stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 64 * 1024 });
    stream.on('data', (chunk) => {
      const lines = (partial + String(chunk)).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (keep(line)) kept.push(line);
    });
    stream.on('end', () => {
      if (partial && keep(partial)) kept.push(partial);
      resolve(kept);
    });
    stream.on('error', () => resolve(null));
  });

export const procTables = {
  tcp: ['/proc/net/tcp', '/proc/net/tcp6'],
  udp: ['/proc/net/udp', '/proc/net/udp6'],
  unix: ['/proc/net/unix'],
} as const;

/** The kernel's numbering of TCP states (include/net/tcp_states.h). */
const tcpStateCodes: Record<number, TcpKernelState> = {
  0x01: 'ESTABLISHED',
  0x02: 'SYN_SENT',
  0x03: 'SYN_RECV',
  0x04: 'FIN_WAIT1',
  0x05: 'FIN_WAIT2',
  0x06: 'TIME_WAIT',
  0x07: 'CLOSE',
  0x08: 'CLOSE_WAIT',
  0x09: 'LAST_ACK',
  0x0a: 'LISTEN',
  0x0b: 'CLOSING',
  // A request socket waiting for the handshake's last ACK: SYN_RECV as ss and RFC 9293 name it.
  0x0c: 'SYN_RECV',
};

/** Timers in the "tr" column; 3 is TIME_WAIT's. The countdown is in USER_HZ ticks (100 a second). */
const TICK_MS = 10;

export interface ProcInetRow {
  local: HostPort;
  remote: HostPort;
  /** TCP only: UDP's column holds 07 (CLOSE) or 01 for a connected socket, which means nothing here. */
  state: TcpKernelState | null;
  /** For a TCP listener: connections waiting in accept(). Otherwise bytes not yet read. */
  rxQueue: number;
  /** Bytes not yet acknowledged (TCP) or not yet sent (UDP). */
  txQueue: number;
  timerMs: number | null;
  /** Retransmission timeouts in a row (TCP's icsk_retransmits). */
  retransmits: number;
  inode: number;
  /** TCP only, where the row has it. */
  cwnd: number | null;
}

const littleEndian = os.endianness() === 'LE';

/**
 * Each 32-bit word of an address is printed as %08X of the value in network byte order as the
 * CPU holds it: on a little-endian machine each word's four bytes come out reversed.
 */
function addressBytes(hex: string): number[] {
  const bytes: number[] = [];
  for (let word = 0; word + 8 <= hex.length; word += 8) {
    const group = [0, 2, 4, 6].map((at) => parseInt(hex.slice(word + at, word + at + 2), 16));
    bytes.push(...(littleEndian ? group.reverse() : group));
  }
  return bytes;
}

/** "0100007F:1F90" -> 127.0.0.1:8080; IPv6 rows (32 hex digits) the same way, word by word. */
export function parseProcAddress(text: string): HostPort | null {
  const [hex, portHex] = text.split(':');
  if (!hex || !portHex || (hex.length !== 8 && hex.length !== 32)) return null;
  const bytes = addressBytes(hex);
  const port = parseInt(portHex, 16);
  if (bytes.some(Number.isNaN) || Number.isNaN(port)) return null;
  if (bytes.length === 4) return { host: normalizeHost(bytes.join('.')), port };
  const hextets: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    hextets.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  }
  return { host: normalizeHost(hextets.join(':')), port };
}

/** The port as a table spells it, for a cheap test of a line before it is parsed. */
export function procPortHex(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

/** One row of tcp, tcp6, udp or udp6; null for the header and anything unexpected. */
export function parseProcInetRow(line: string, protocol: 'tcp' | 'udp'): ProcInetRow | null {
  // sl local rem st tx:rx tr:when retrnsmt uid timeout inode [refcnt ptr rto ato qack cwnd ...]
  const fields = line.trim().split(/\s+/);
  if (fields.length < 10 || !/^\d+:$/.test(fields[0] ?? '')) return null;
  const local = parseProcAddress(fields[1] ?? '');
  const remote = parseProcAddress(fields[2] ?? '');
  const [txHex, rxHex] = (fields[4] ?? '').split(':');
  const [timer, whenHex] = (fields[5] ?? '').split(':');
  if (!local || !remote || !txHex || !rxHex || !timer || !whenHex) return null;
  const stateCode = parseInt(fields[3] ?? '', 16);
  const cwndField = protocol === 'tcp' && fields.length >= 17 ? Number(fields[15]) : NaN;
  return {
    local,
    remote,
    state: protocol === 'tcp' ? (tcpStateCodes[stateCode] ?? null) : null,
    rxQueue: parseInt(rxHex, 16),
    txQueue: parseInt(txHex, 16),
    timerMs: Number(timer) === 0 ? null : parseInt(whenHex, 16) * TICK_MS,
    retransmits: parseInt(fields[6] ?? '0', 16),
    inode: Number(fields[9]),
    cwnd: Number.isFinite(cwndField) && cwndField > 0 ? cwndField : null,
  };
}

/** A socket of /proc/net/unix. */
export interface ProcUnixRow {
  inode: number;
  listening: boolean;
  /** LISTEN, ESTABLISHED (connected), SYN_SENT (connecting) or CLOSE (neither). */
  state: TcpKernelState;
  /** The bound name; "@..." for an abstract one; null for an unnamed socket. */
  path: string | null;
}

/** __SO_ACCEPTCON: listen() was called on it. */
const ACCEPTING_FLAG = 0x10000;

/** One row of /proc/net/unix: Num RefCount Protocol Flags Type St Inode [Path]. */
export function parseProcUnixRow(line: string): ProcUnixRow | null {
  const match =
    /^\s*[0-9a-f]+:\s+[0-9A-F]+\s+[0-9A-F]+\s+([0-9A-F]+)\s+[0-9A-F]+\s+([0-9A-F]+)\s+(\d+)(?: (.*))?$/.exec(
      line,
    );
  if (!match?.[1] || !match[2] || !match[3]) return null;
  const listening = (parseInt(match[1], 16) & ACCEPTING_FLAG) !== 0;
  // socket.h's socket_state: 1 unconnected, 2 connecting, 3 connected, 4 disconnecting.
  const socketState = parseInt(match[2], 16);
  const state: TcpKernelState = listening
    ? 'LISTEN'
    : socketState === 3
      ? 'ESTABLISHED'
      : socketState === 2
        ? 'SYN_SENT'
        : 'CLOSE';
  return { inode: Number(match[3]), listening, state, path: match[4] ?? null };
}
