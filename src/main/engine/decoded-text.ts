/**
 * Where decoded text came from: a regex search runs over text, but answers capture offsets, so
 * a position in the text must map back to the byte its character began at.
 *
 * A DirectionDecoder decodes one direction's chunks as the views do (a character split across
 * chunks is whole) and says where each piece of text it makes began in that direction's bytes;
 * the bytes of the characters after that are counted by their encoding. Exact for any bytes in
 * UTF-8 (a U+FFFD counts the bytes it replaced), UTF-16, latin1 and ascii, and for valid text in
 * the table encodings (gbk…). There, bytes that are not valid become U+FFFD one or two at a time
 * (Node's gbk decoder even drops some, like 0xFF, without a trace) and count as one byte, so a
 * position after them in the same chunk may be a byte or two off; each chunk starts exact.
 */
import type { TextEncoding } from '../../shared/contract';
import type { StreamTextDecoder } from '../../shared/format';
import type { LegacyEncoding } from '../../shared/payload';
import { createEngineTextDecoder, tableCharByteLength } from './encodings';

/** A decoder holds back at most this many bytes of a character split across chunks. */
const MAX_HELD_BYTES = 3;

/**
 * How many bytes of `encoding` decoded to `text[from, to)` (both on character boundaries),
 * counting each U+FFFD as what it is when it was valid: EF BF BD in UTF-8 (see utf8ByteLength
 * for the exact count), two bytes in UTF-16, one byte in the table encodings.
 */
export function decodedByteLength(
  text: string,
  from: number,
  to: number,
  encoding: TextEncoding,
): number {
  if (to <= from) return 0;
  if (encoding === 'latin1' || encoding === 'ascii') return to - from;
  if (encoding === 'utf-16le' || encoding === 'utf-16be') return 2 * (to - from);
  if (encoding === 'utf-8') return Buffer.byteLength(text.slice(from, to), 'utf8');
  return tableByteLength(text, from, to, encoding as LegacyEncoding);
}

function tableByteLength(text: string, from: number, to: number, encoding: LegacyEncoding): number {
  let bytes = 0;
  for (let i = from; i < to; i++) {
    const unit = text.charCodeAt(i);
    // Every table encoding keeps ASCII as is; U+FFFD: see the top of this file.
    if (unit < 0x80 || unit === 0xfffd) {
      bytes += 1;
      continue;
    }
    const codePoint = text.codePointAt(i) as number;
    if (codePoint > 0xffff) i++;
    bytes += tableCharByteLength(codePoint, encoding);
  }
  return bytes;
}

/**
 * The exact bytes UTF-8 text[from, to) was decoded from, given those bytes from `at` on: each
 * U+FFFD stands for a real EF BF BD or for the invalid bytes it replaced, which the bytes tell.
 */
export function utf8ByteLength(
  text: string,
  from: number,
  to: number,
  bytes: Uint8Array,
  at: number,
): number {
  // A slice, so that looking for the next U+FFFD never runs past `to`.
  const part = text.slice(from, to);
  let position = at;
  let char = 0;
  for (let f = part.indexOf('\ufffd'); f >= 0; f = part.indexOf('\ufffd', char)) {
    position += Buffer.byteLength(part.slice(char, f), 'utf8');
    position += utf8ReplacedBytes(bytes, position);
    char = f + 1;
  }
  return position - at + Buffer.byteLength(part.slice(char), 'utf8');
}

/** What the second byte after a UTF-8 lead may be (WHATWG), and how many follow the lead. */
function utf8Lead(byte: number): { needed: number; lower: number; upper: number } | null {
  if (byte >= 0xc2 && byte <= 0xdf) return { needed: 1, lower: 0x80, upper: 0xbf };
  if (byte >= 0xe0 && byte <= 0xef) {
    return { needed: 2, lower: byte === 0xe0 ? 0xa0 : 0x80, upper: byte === 0xed ? 0x9f : 0xbf };
  }
  if (byte >= 0xf0 && byte <= 0xf4) {
    return { needed: 3, lower: byte === 0xf0 ? 0x90 : 0x80, upper: byte === 0xf4 ? 0x8f : 0xbf };
  }
  return null;
}

/**
 * How many bytes, from `at`, a U+FFFD there stands for: 3 for a real EF BF BD, else the invalid
 * sequence's "maximal subpart" that the WHATWG decoder (TextDecoder) replaces with one U+FFFD: a
 * byte that cannot lead, or a lead and the valid continuation bytes before the one that broke it.
 */
export function utf8ReplacedBytes(bytes: Uint8Array, at: number): number {
  const lead = utf8Lead(bytes[at] as number);
  if (!lead) return 1;
  let seen = 0;
  let lower = lead.lower;
  let upper = lead.upper;
  while (seen < lead.needed) {
    const next = bytes[at + 1 + seen];
    if (next === undefined || next < lower || next > upper) break;
    seen += 1;
    lower = 0x80;
    upper = 0xbf;
  }
  // A whole sequence decoded to U+FFFD is EF BF BD itself.
  return 1 + seen;
}

/**
 * How many of the last bytes given to a UTF-8 decoder it holds back, unfinished: a lead byte
 * and the valid continuation bytes after it, fewer than it needs. `last` holds the stream's last
 * three bytes (or all of them, if fewer). A lead byte always starts afresh in the decoder (it
 * never continues a sequence), so these bytes alone tell.
 */
export function utf8HeldBytes(last: Uint8Array): number {
  let k = 1;
  // Back over continuation bytes to the byte that would lead them.
  while (k <= last.length && isContinuation(last[last.length - k] as number)) k += 1;
  if (k > last.length) return 0;
  const lead = utf8Lead(last[last.length - k] as number);
  const following = k - 1;
  if (!lead || following >= lead.needed) return 0;
  const second = last[last.length - k + 1];
  if (second !== undefined && (second < lead.lower || second > lead.upper)) return 0;
  return k;
}

function isContinuation(byte: number): boolean {
  return byte >= 0x80 && byte <= 0xbf;
}

/** A piece of text a DirectionDecoder made, and the bytes it came from. */
export interface DecodedPiece {
  text: string;
  /** Where its first character's first byte is in the direction's byte stream. */
  position: number;
  /**
   * UTF-8: the bytes from `position` on (what was held back, then the piece's; a view of the
   * piece's while nothing was held back, so only as lasting as the piece's bytes).
   */
  bytes: Uint8Array | null;
}

/** One direction's decoder, following where its text came from. */
export class DirectionDecoder {
  private decoder: StreamTextDecoder;
  /** Bytes given to the decoder so far, and (table encodings) bytes its text accounts for. */
  private fed = 0;
  private accounted = 0;
  /** UTF-8: the last bytes fed (up to MAX_HELD_BYTES), for what the decoder holds back. */
  private last: Uint8Array = new Uint8Array(0);

  constructor(private readonly encoding: TextEncoding) {
    this.decoder = createEngineTextDecoder(encoding);
  }

  /** Bytes of this direction decoded so far: the stream position of the next piece. */
  get position(): number {
    return this.fed;
  }

  /** The smallest stream position text still to come may begin at (what may be held back). */
  get oldestHeld(): number {
    return Math.max(0, this.fed - MAX_HELD_BYTES);
  }

  decode(bytes: Uint8Array): DecodedPiece {
    const text = this.decoder.decode(bytes, true);
    const piece = this.encoding === 'utf-8' ? this.followUtf8(text, bytes) : this.followOther(text);
    this.fed += bytes.byteLength;
    return piece;
  }

  /** The bytes before the next piece are not what came before it (they are gone). */
  restart(): void {
    this.decoder = createEngineTextDecoder(this.encoding);
    this.accounted = this.fed;
    this.last = new Uint8Array(0);
  }

  private followUtf8(text: string, bytes: Uint8Array): DecodedPiece {
    const held = this.last.subarray(this.last.length - utf8HeldBytes(this.last));
    let from = bytes;
    if (held.length > 0) {
      from = new Uint8Array(held.length + bytes.length);
      from.set(held);
      from.set(bytes, held.length);
    }
    this.last = lastBytes(this.last, bytes);
    return { text, position: this.fed - held.length, bytes: from };
  }

  /**
   * Bytes fed that no text accounts for yet are held back: the text's first character began
   * with them. Exact for valid text; kept within what a decoder can hold, so that a count gone
   * wrong (a U+FFFD in a table encoding) is right again at the next piece.
   */
  private followOther(text: string): DecodedPiece {
    const held = Math.min(MAX_HELD_BYTES, Math.max(0, this.fed - this.accounted));
    const position = this.fed - held;
    if (text.length > 0) {
      this.accounted = position + decodedByteLength(text, 0, text.length, this.encoding);
    }
    return { text, position, bytes: null };
  }
}

/** The last MAX_HELD_BYTES bytes of a stream whose last bytes were `before`, then `bytes`. */
function lastBytes(before: Uint8Array, bytes: Uint8Array): Uint8Array {
  // Copies (new Uint8Array(view)): `bytes` may be a Buffer, whose slice() is only a view.
  if (bytes.length >= MAX_HELD_BYTES) return new Uint8Array(bytes.subarray(-MAX_HELD_BYTES));
  const joined = new Uint8Array(before.length + bytes.length);
  joined.set(before);
  joined.set(bytes, before.length);
  return joined.slice(Math.max(0, joined.length - MAX_HELD_BYTES));
}
