/**
 * Reads the frames of a pcapng or classic pcap file, in bounded pieces and asynchronously, so
 * that a large file neither fills memory nor blocks the engine's event loop.
 *
 * Nothing in the file is trusted: every length is checked against what the file holds and
 * against a ceiling before anything is allocated, and a block cut short ends the reading with a
 * warning, keeping the frames before it.
 */
import fs from 'node:fs/promises';
import { WorkbenchError } from '../../../shared/errors';

/** One captured frame: its link-layer bytes, its link type and when it was captured. */
export interface Frame {
  /** Milliseconds since the epoch (fractions kept). */
  at: number;
  linkType: number;
  /** Valid only until the next frame is read: copy what must outlive it. */
  bytes: Uint8Array;
}

/** No real pcap block or record comes near this; a bigger length means a damaged file. */
export const MAX_BLOCK_BYTES = 16 * 1024 * 1024;
/** How much of the file is read at a time. */
const READ_BYTES = 1024 * 1024;

const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const PCAPNG_IDB = 1;
const PCAPNG_OBSOLETE_PACKET = 2;
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;
const IF_TSRESOL = 9;

/** A file read forward in bounded pieces, with what is buffered and not yet consumed. */
class ChunkedFile {
  private buffer = new Uint8Array(0);
  /** File offset of buffer[0]. */
  private base = 0;
  private start = 0;
  private end = 0;

  constructor(
    private readonly handle: fs.FileHandle,
    readonly size: number,
  ) {}

  /** File offset of the next unconsumed byte. */
  get position(): number {
    return this.base + this.start;
  }

  /**
   * At least `length` bytes from the current position, or fewer where the file ends. The view is
   * valid until the next call.
   */
  async peek(length: number): Promise<Uint8Array> {
    const wanted = Math.min(length, this.size - this.position);
    if (this.end - this.start < wanted) await this.fill(wanted);
    return this.buffer.subarray(this.start, this.start + Math.min(wanted, this.end - this.start));
  }

  skip(length: number): void {
    this.start += length;
  }

  private async fill(wanted: number): Promise<void> {
    const capacity = Math.max(READ_BYTES, wanted);
    if (this.buffer.byteLength < capacity) {
      const grown = new Uint8Array(capacity);
      grown.set(this.buffer.subarray(this.start, this.end));
      this.buffer = grown;
    } else {
      this.buffer.copyWithin(0, this.start, this.end);
    }
    this.base += this.start;
    this.end -= this.start;
    this.start = 0;
    while (this.end < wanted) {
      const room = Math.min(this.buffer.byteLength - this.end, this.size - this.base - this.end);
      if (room <= 0) return;
      const { bytesRead } = await this.handle.read(
        this.buffer,
        this.end,
        room,
        this.base + this.end,
      );
      if (bytesRead === 0) return;
      this.end += bytesRead;
    }
  }
}

/** What the reader found wrong, besides the frames it returned. */
export interface FrameReader {
  frames(): AsyncGenerator<Frame>;
  readonly warnings: string[];
  readonly format: 'pcap' | 'pcapng';
}

function badFile(file: string, why: string): WorkbenchError {
  return new WorkbenchError('BAD_CAPTURE_FILE', `${file} cannot be opened: ${why}`);
}

/**
 * Opens a pcap or pcapng file: fails with BAD_CAPTURE_FILE when it is neither. The frames are
 * read as they are iterated; the file is closed when the iteration ends (or is abandoned).
 */
export async function openFrameReader(file: string): Promise<FrameReader> {
  const handle = await fs.open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    const input = new ChunkedFile(handle, size);
    const head = await input.peek(24);
    if (head.byteLength < 4) throw badFile(file, `it is only ${size} bytes long`);
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const magicBig = view.getUint32(0, false);
    const warnings: string[] = [];
    if (magicBig === PCAPNG_SHB) {
      return {
        format: 'pcapng',
        warnings,
        frames: () => closing(handle, readPcapng(input, file, warnings)),
      };
    }
    const classic = classicHeader(view);
    if (!classic) {
      throw badFile(
        file,
        'it is neither a pcapng nor a pcap file (its first bytes are not a pcap magic number)',
      );
    }
    if (head.byteLength < 24) throw badFile(file, 'its pcap header is cut short');
    return {
      format: 'pcap',
      warnings,
      frames: () => closing(handle, readClassic(input, file, classic, warnings)),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function* closing(handle: fs.FileHandle, frames: AsyncGenerator<Frame>) {
  try {
    yield* frames;
  } finally {
    await handle.close();
  }
}

interface ClassicHeader {
  littleEndian: boolean;
  /** Timestamp fraction units per second: 1e6 (microseconds) or 1e9 (nanoseconds). */
  fractionsPerSecond: number;
}

function classicHeader(view: DataView): ClassicHeader | null {
  for (const littleEndian of [true, false]) {
    const magic = view.getUint32(0, littleEndian);
    if (magic === 0xa1b2c3d4) return { littleEndian, fractionsPerSecond: 1e6 };
    if (magic === 0xa1b23c4d) return { littleEndian, fractionsPerSecond: 1e9 };
  }
  return null;
}

async function* readClassic(
  input: ChunkedFile,
  file: string,
  header: ClassicHeader,
  warnings: string[],
): AsyncGenerator<Frame> {
  const head = await input.peek(24);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  // The upper bits may carry an FCS length; the link type is the low 16 bits.
  const linkType = view.getUint32(20, header.littleEndian) & 0xffff;
  input.skip(24);
  while (input.position < input.size) {
    const at = input.position;
    const recordHead = await input.peek(16);
    if (recordHead.byteLength < 16) {
      warnings.push(
        `${file}: the packet record at byte ${at} is cut short; the packets before it were read`,
      );
      return;
    }
    const record = new DataView(recordHead.buffer, recordHead.byteOffset, 16);
    const seconds = record.getUint32(0, header.littleEndian);
    const fraction = record.getUint32(4, header.littleEndian);
    const captured = record.getUint32(8, header.littleEndian);
    if (captured > MAX_BLOCK_BYTES) {
      warnings.push(
        `${file}: the packet record at byte ${at} claims ${captured} bytes, which no capture holds; reading stopped there`,
      );
      return;
    }
    const whole = await input.peek(16 + captured);
    if (whole.byteLength < 16 + captured) {
      warnings.push(
        `${file}: the packet record at byte ${at} is cut short; the packets before it were read`,
      );
      return;
    }
    yield {
      at: seconds * 1000 + (fraction * 1000) / header.fractionsPerSecond,
      linkType,
      bytes: whole.subarray(16, 16 + captured),
    };
    input.skip(16 + captured);
  }
}

interface PcapngInterface {
  linkType: number;
  snapLength: number;
  /** Timestamp units per second (if_tsresol; 1e6 by default). */
  unitsPerSecond: number;
}

async function* readPcapng(
  input: ChunkedFile,
  file: string,
  warnings: string[],
): AsyncGenerator<Frame> {
  let littleEndian = true;
  let interfaces: PcapngInterface[] = [];
  let lastAt = 0;
  let first = true;
  while (input.position < input.size) {
    const at = input.position;
    const head = await input.peek(12);
    if (head.byteLength < 12) {
      warnings.push(
        `${file}: the block at byte ${at} is cut short; the packets before it were read`,
      );
      return;
    }
    let view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const typeBig = view.getUint32(0, false);
    if (typeBig === PCAPNG_SHB) {
      // A new section: its own byte order, its own interfaces.
      const magic = view.getUint32(8, true);
      if (magic === PCAPNG_BYTE_ORDER_MAGIC) littleEndian = true;
      else if (view.getUint32(8, false) === PCAPNG_BYTE_ORDER_MAGIC) littleEndian = false;
      else {
        if (first) throw badFile(file, 'its pcapng section header has no valid byte-order magic');
        warnings.push(
          `${file}: the section header at byte ${at} is damaged; reading stopped there`,
        );
        return;
      }
      interfaces = [];
    } else if (first) {
      throw badFile(file, 'it does not begin with a pcapng section header');
    }
    first = false;
    const type = view.getUint32(0, littleEndian);
    const length = view.getUint32(4, littleEndian);
    if (length < 12 || length % 4 !== 0 || length > MAX_BLOCK_BYTES) {
      warnings.push(
        `${file}: the block at byte ${at} claims a length of ${length} bytes, which is not valid; reading stopped there`,
      );
      return;
    }
    const block = await input.peek(length);
    if (block.byteLength < length) {
      warnings.push(
        `${file}: the block at byte ${at} is cut short (${block.byteLength} of ${length} bytes); the packets before it were read`,
      );
      return;
    }
    view = new DataView(block.buffer, block.byteOffset, length);
    if (view.getUint32(length - 4, littleEndian) !== length) {
      warnings.push(
        `${file}: the block at byte ${at} has two different lengths; reading stopped there`,
      );
      return;
    }
    const body = block.subarray(8, length - 4);
    const bodyView = new DataView(body.buffer, body.byteOffset, body.byteLength);
    if (type === PCAPNG_IDB) {
      if (body.byteLength < 8) {
        warnings.push(
          `${file}: the interface block at byte ${at} is too short; reading stopped there`,
        );
        return;
      }
      interfaces.push({
        linkType: bodyView.getUint16(0, littleEndian),
        snapLength: bodyView.getUint32(4, littleEndian),
        unitsPerSecond: timestampResolution(body.subarray(8), littleEndian),
      });
    } else if (type === PCAPNG_EPB || type === PCAPNG_OBSOLETE_PACKET) {
      const obsolete = type === PCAPNG_OBSOLETE_PACKET;
      if (body.byteLength < 20) {
        warnings.push(`${file}: the packet block at byte ${at} is too short; it was skipped`);
      } else {
        const id = obsolete
          ? bodyView.getUint16(0, littleEndian)
          : bodyView.getUint32(0, littleEndian);
        const captured = bodyView.getUint32(12, littleEndian);
        const iface = interfaces[id];
        if (!iface) {
          warnings.push(
            `${file}: the packet block at byte ${at} names interface ${id}, which is not described; it was skipped`,
          );
        } else if (captured > body.byteLength - 20) {
          warnings.push(
            `${file}: the packet block at byte ${at} claims more bytes than it holds; it was skipped`,
          );
        } else {
          const ticks =
            bodyView.getUint32(4, littleEndian) * 2 ** 32 + bodyView.getUint32(8, littleEndian);
          lastAt = (ticks * 1000) / iface.unitsPerSecond;
          yield { at: lastAt, linkType: iface.linkType, bytes: body.subarray(20, 20 + captured) };
        }
      }
    } else if (type === PCAPNG_SPB) {
      const iface = interfaces[0];
      if (!iface || body.byteLength < 4) {
        warnings.push(
          `${file}: the simple packet block at byte ${at} has no interface or no length; it was skipped`,
        );
      } else {
        const original = bodyView.getUint32(0, littleEndian);
        let captured = Math.min(original, body.byteLength - 4);
        if (iface.snapLength > 0) captured = Math.min(captured, iface.snapLength);
        // A simple packet block has no timestamp: it is placed with the packet before it.
        yield { at: lastAt, linkType: iface.linkType, bytes: body.subarray(4, 4 + captured) };
      }
    }
    input.skip(length);
  }
}

/** The if_tsresol option of an interface block's options, as units per second. */
function timestampResolution(options: Uint8Array, littleEndian: boolean): number {
  const view = new DataView(options.buffer, options.byteOffset, options.byteLength);
  let at = 0;
  while (at + 4 <= options.byteLength) {
    const code = view.getUint16(at, littleEndian);
    const length = view.getUint16(at + 2, littleEndian);
    if (code === 0) break;
    if (code === IF_TSRESOL && length >= 1 && at + 5 <= options.byteLength) {
      const value = view.getUint8(at + 4);
      const exponent = value & 0x7f;
      // More than 2^-63 or 10^-18 per tick is not a real clock; keep the default.
      if (exponent > 63 || (!(value & 0x80) && exponent > 18)) return 1e6;
      return value & 0x80 ? 2 ** exponent : 10 ** exponent;
    }
    at += 4 + Math.ceil(length / 4) * 4;
  }
  return 1e6;
}
