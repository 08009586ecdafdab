/**
 * The process's file-descriptor budget. Every accepted connection costs a descriptor, and a peer
 * can open connections faster than anyone can close them; the UI's own channel (the WebSocket in
 * browser mode, IPC pipes in Electron), the capture files and Node itself need descriptors too.
 * So the engine keeps a reserve for them: it refuses accepted connections (closing each right
 * after accept()) once the sockets it holds would leave fewer than the reserve free.
 */
import fs from 'node:fs';

/**
 * What the engine assumes where it cannot read the limit (anything but Linux, or an unreadable
 * /proc): the usual POSIX default soft limit. It errs on the safe side: at worst connections are
 * refused earlier than they had to be, never the UI locked out.
 */
export const FALLBACK_DESCRIPTOR_LIMIT = 1024;
/** The smallest reserve, whatever the limit: Node, the capture files and a few UI sockets. */
export const MIN_DESCRIPTOR_RESERVE = 64;
/** The reserve as a part of the limit, when that is more than the minimum. */
export const DESCRIPTOR_RESERVE_FRACTION = 0.1;

/**
 * The soft RLIMIT_NOFILE of this process. Node raises the soft limit to the hard one at startup,
 * so /proc/self/limits, read after that, is the limit the engine really works under.
 */
export function readDescriptorLimit(limitsFile = '/proc/self/limits'): number {
  if (process.platform !== 'linux') return FALLBACK_DESCRIPTOR_LIMIT;
  let text: string;
  try {
    text = fs.readFileSync(limitsFile, 'utf8');
  } catch {
    return FALLBACK_DESCRIPTOR_LIMIT;
  }
  return parseDescriptorLimit(text) ?? FALLBACK_DESCRIPTOR_LIMIT;
}

/** The soft limit on the "Max open files" line of a /proc/<pid>/limits text. */
export function parseDescriptorLimit(limitsText: string): number | null {
  const match = /^Max open files\s+(\S+)/m.exec(limitsText);
  if (!match) return null;
  if (match[1] === 'unlimited') return Number.POSITIVE_INFINITY;
  const soft = Number(match[1]);
  return Number.isSafeInteger(soft) && soft > 0 ? soft : null;
}

/** Descriptors kept free for everything but the engine's sockets: max(64, 10% of the limit). */
export function descriptorReserveFor(limit: number): number {
  return Math.max(MIN_DESCRIPTOR_RESERVE, Math.ceil(limit * DESCRIPTOR_RESERVE_FRACTION));
}

export class DescriptorBudget {
  readonly limit: number;
  readonly reserve: number;

  constructor(options: { limit?: number; reserve?: number } = {}) {
    this.limit = options.limit ?? readDescriptorLimit();
    this.reserve = options.reserve ?? descriptorReserveFor(this.limit);
  }

  /** Sockets the engine may hold before it refuses accepted connections. */
  get socketsAllowed(): number {
    return Math.max(0, this.limit - this.reserve);
  }

  /** Whether one more socket leaves the reserve whole, given the sockets held now. */
  allowsOneMore(socketsHeld: number): boolean {
    return socketsHeld + 1 <= this.socketsAllowed;
  }
}
