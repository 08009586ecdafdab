/**
 * What the kernel says about a UDP socket that the socket API does not: how many datagrams it
 * dropped because the receive buffer was full. On Linux that is the "drops" column of
 * /proc/net/udp (IPv4) and /proc/net/udp6 (IPv6), one row per socket, keyed by the socket's
 * inode. Elsewhere the OS does not say, and every answer here is null.
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

/**
 * While datagrams arrive, a socket's drop count is read again this long after the last reading
 * (see UdpEndpoint.noteDatagram): counters are published a few times a second.
 */
export const KERNEL_TABLE_MAX_AGE_MS = 250;

export type UdpFamily = 'IPv4' | 'IPv6';

interface ProcUdpRow {
  /** The local address: IPv4 dotted, IPv6 as canonicalIPv6() spells it. */
  host: string;
  port: number;
  inode: number;
  drops: number;
  /** Bytes waiting in the receive buffer. */
  rxQueue: number;
}

const littleEndian = os.endianness() === 'LE';

/**
 * The kernel prints each 32-bit word of an address as one hexadecimal number in host byte order
 * (%08X of a big-endian value), so on a little-endian machine each word's bytes are reversed.
 */
function addressBytes(hex: string): number[] {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    const group = [0, 2, 4, 6].map((at) => parseInt(hex.slice(word + at, word + at + 2), 16));
    bytes.push(...(littleEndian ? group.reverse() : group));
  }
  return bytes;
}

/** IPv6 text in the one spelling WHATWG URL gives it, so two spellings of an address compare. */
function canonicalIPv6(text: string): string {
  try {
    return new URL(`http://[${text}]/`).hostname;
  } catch {
    return text;
  }
}

function rowHost(hex: string): string {
  const bytes = addressBytes(hex);
  if (bytes.length === 4) return bytes.join('.');
  const hextets: string[] = [];
  for (let i = 0; i < 16; i += 2)
    hextets.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return canonicalIPv6(hextets.join(':'));
}

/** Parses /proc/net/udp or /proc/net/udp6 (see proc_udp(5)'s layout in the kernel's udp.c). */
export function parseProcUdp(text: string): ProcUdpRow[] {
  const rows: ProcUdpRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    // ref pointer drops
    const fields = line.trim().split(/\s+/);
    if (fields.length < 13) continue;
    const [local, queues, inode, drops] = [fields[1], fields[4], fields[9], fields[12]];
    const [addressHex, portHex] = (local ?? '').split(':');
    if (!addressHex || !portHex || !queues || !inode || !drops) continue;
    rows.push({
      host: rowHost(addressHex),
      port: parseInt(portHex, 16),
      inode: Number(inode),
      drops: Number(drops),
      rxQueue: parseInt(queues.split(':')[1] ?? '0', 16),
    });
  }
  return rows;
}

/** One /proc table, read at most every KERNEL_TABLE_MAX_AGE_MS however many sockets ask. */
class ProcUdpTable {
  private readAt = -Infinity;
  private dropsByInode = new Map<number, number>();

  constructor(private readonly file: string) {}

  read(): ProcUdpRow[] | null {
    const startedAt = performance.now();
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'latin1');
    } catch {
      return null; // no /proc here, or not readable: the OS does not say
    }
    return this.took(text, startedAt);
  }

  /**
   * The same, read off the event loop: the table lists every UDP socket of the machine, and
   * with thousands (another program's) the kernel takes a tenth of a second to write it out.
   */
  async readWithoutBlocking(): Promise<ProcUdpRow[] | null> {
    const startedAt = performance.now();
    let text: string;
    try {
      text = await fs.promises.readFile(this.file, 'latin1');
    } catch {
      return null;
    }
    return this.took(text, startedAt);
  }

  /**
   * A reading is as old as its start (what came meanwhile may not be in it), and one that
   * started before the reading kept does not replace it.
   */
  private took(text: string, startedAt: number): ProcUdpRow[] {
    const rows = parseProcUdp(text);
    if (startedAt >= this.readAt) {
      this.readAt = startedAt;
      this.dropsByInode = new Map(rows.map((row) => [row.inode, row.drops]));
    }
    return rows;
  }

  /**
   * A socket's kernel drop count as of the last reading; undefined once its row is gone. With
   * `readAfter` (a performance.now() time), the table is read first, on the event loop, unless
   * the last reading came after it: for a socket about to close, whose row goes with it.
   */
  drops(inode: number, readAfter?: number): number | undefined {
    if (readAfter !== undefined && this.readAt < readAfter) this.read();
    return this.dropsByInode.get(inode);
  }

  private refreshing: Promise<unknown> | null = null;
  private refreshingSince = -Infinity;

  /**
   * Resolves once a reading taken after `readAfter` is in: one read at a time, off the event
   * loop, shared by every socket that asks meanwhile.
   */
  refresh(readAfter: number): Promise<unknown> {
    if (this.readAt >= readAfter) return Promise.resolve();
    if (this.refreshing !== null && this.refreshingSince >= readAfter) return this.refreshing;
    const previous = this.refreshing ?? Promise.resolve();
    const since = performance.now();
    const reading = previous.then(() => this.readWithoutBlocking());
    this.refreshing = reading;
    this.refreshingSince = since;
    void reading.finally(() => {
      if (this.refreshing === reading) this.refreshing = null;
    });
    return reading;
  }
}

const tables: Record<UdpFamily, ProcUdpTable> = {
  IPv4: new ProcUdpTable('/proc/net/udp'),
  IPv6: new ProcUdpTable('/proc/net/udp6'),
};

/** True when this process holds the socket with this inode (a /proc/self/fd link to it). */
async function ownsSocketInode(inode: number): Promise<boolean> {
  const link = `socket:[${inode}]`;
  let fds: string[];
  try {
    fds = await fs.promises.readdir('/proc/self/fd');
  } catch {
    return false;
  }
  // The socket was just made, so its descriptor is most likely among the highest.
  fds.sort((a, b) => Number(b) - Number(a));
  for (const fd of fds) {
    try {
      if ((await fs.promises.readlink(`/proc/self/fd/${fd}`)) === link) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/**
 * The inode of this process's UDP socket bound to host:port, found by its row's local address
 * and confirmed by one of our descriptors; null where the OS does not say.
 */
export async function findUdpSocketInode(
  family: UdpFamily,
  host: string,
  port: number,
): Promise<number | null> {
  if (process.platform !== 'linux') return null;
  const rows = await tables[family].readWithoutBlocking();
  if (!rows) return null;
  const wanted = family === 'IPv6' ? canonicalIPv6(host.replace(/%.*$/, '')) : host;
  for (const row of rows) {
    if (row.port !== port || row.host !== wanted) continue;
    if (await ownsSocketInode(row.inode)) return row.inode;
  }
  return null;
}

/**
 * The kernel's drop count for the socket with this inode as last read; undefined once the socket
 * is gone. `readAfter` reads the table now unless the last reading came after it (see drops()).
 */
export function kernelUdpDrops(
  family: UdpFamily,
  inode: number,
  readAfter?: number,
): number | undefined {
  return tables[family].drops(inode, readAfter);
}

/**
 * Resolves once the family's table was read after `readAfter`, without blocking the event loop:
 * the table lists every UDP socket of the machine, and with thousands (another program's) the
 * kernel takes a tenth of a second to write it out.
 */
export function refreshKernelUdp(family: UdpFamily, readAfter: number): Promise<unknown> {
  return tables[family].refresh(readAfter);
}
