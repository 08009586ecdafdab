/**
 * Which bytes each cell of a text line shows. The bytes are decoded again, character by
 * character with each character's byte length, into the printable pieces the renderer drew
 * (toPrintableText: `\r`, `\x00`, `\\` marks, other characters as they are); the pieces are then
 * lined up with the cells' characters. The buffer gives only the cells (their characters and
 * widths); what they stand for comes from the capture, by offset.
 */
import type { TextEncoding } from '../../../shared/contract';
import { createTextDecoder, toPrintableText } from '../../../shared/format';

/** Decoded characters as drawn, each with the capture bytes [from, to) it was decoded from. */
export interface Pieces {
  texts: string[];
  from: number[];
  to: number[];
}

const REPLACEMENT = 0xfffd;

/** How each code point up to U+009F is drawn: C0, DEL and C1 controls and `\` as marks. */
const LOW: readonly string[] = Array.from({ length: 0xa0 }, (_, code) =>
  toPrintableText(String.fromCharCode(code)),
);

function drawn(code: number): string {
  return code < LOW.length ? (LOW[code] as string) : String.fromCodePoint(code);
}

/**
 * The most bytes a character drawn at the start of a stream slice can hold from before it (what
 * the decoder carried over): the longest character less one byte, or for UTF-16 an odd byte and
 * a lead surrogate.
 */
export function maxCarry(encoding: TextEncoding): number {
  switch (encoding) {
    case 'latin1':
    case 'ascii':
      return 0;
    case 'utf-8':
    case 'utf-16le':
    case 'utf-16be':
    case 'gb18030':
      return 3;
    default:
      return 1;
  }
}

/**
 * Decodes `bytes` (capture offset `base` on) as the renderer's decoder does, from its initial
 * state. `flush`: an incomplete character at the end is drawn (as U+FFFD), as for a datagram;
 * otherwise it is not drawn, as stream text holds it for the next chunk.
 */
export function decodePieces(
  bytes: Uint8Array,
  base: number,
  encoding: TextEncoding,
  flush: boolean,
): Pieces {
  const pieces: Pieces = { texts: [], from: [], to: [] };
  const add = (code: number, from: number, to: number): void => {
    pieces.texts.push(drawn(code));
    pieces.from.push(base + from);
    pieces.to.push(base + to);
  };
  switch (encoding) {
    case 'utf-8':
      utf8(bytes, flush, add);
      break;
    case 'utf-16le':
    case 'utf-16be':
      utf16(bytes, encoding === 'utf-16le', flush, add);
      break;
    case 'latin1':
      for (let i = 0; i < bytes.length; i++) add(bytes[i] as number, i, i + 1);
      break;
    case 'ascii':
      for (let i = 0; i < bytes.length; i++) {
        const byte = bytes[i] as number;
        add(byte > 0x7f ? REPLACEMENT : byte, i, i + 1);
      }
      break;
    default:
      legacy(bytes, encoding, flush, add);
  }
  return pieces;
}

type Add = (code: number, from: number, to: number) => void;

/** The Encoding Standard's UTF-8 decoder, which is what TextDecoder runs. */
function utf8(bytes: Uint8Array, flush: boolean, add: Add): void {
  const length = bytes.length;
  let i = 0;
  while (i < length) {
    const lead = bytes[i] as number;
    if (lead < 0x80) {
      add(lead, i, i + 1);
      i++;
      continue;
    }
    let needed: number;
    let code: number;
    let lower = 0x80;
    let upper = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      needed = 1;
      code = lead & 0x1f;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      needed = 2;
      code = lead & 0x0f;
      if (lead === 0xe0) lower = 0xa0;
      if (lead === 0xed) upper = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      needed = 3;
      code = lead & 0x07;
      if (lead === 0xf0) lower = 0x90;
      if (lead === 0xf4) upper = 0x8f;
    } else {
      add(REPLACEMENT, i, i + 1);
      i++;
      continue;
    }
    let j = i + 1;
    let complete = true;
    for (let seen = 0; seen < needed; seen++, j++) {
      if (j >= length) {
        // Incomplete at the end: held by a stream decoder, an error when flushed.
        if (flush) add(REPLACEMENT, i, length);
        return;
      }
      const next = bytes[j] as number;
      if (next < lower || next > upper) {
        // An error for the bytes so far; the byte that did not fit starts over.
        add(REPLACEMENT, i, j);
        complete = false;
        break;
      }
      lower = 0x80;
      upper = 0xbf;
      code = (code << 6) | (next & 0x3f);
    }
    if (complete) add(code, i, j);
    i = j;
  }
}

/** The Encoding Standard's UTF-16 decoder. */
function utf16(bytes: Uint8Array, littleEndian: boolean, flush: boolean, add: Add): void {
  const length = bytes.length;
  let leadSurrogate = -1;
  let leadAt = 0;
  let i = 0;
  for (; i + 1 < length; i += 2) {
    const first = bytes[i] as number;
    const second = bytes[i + 1] as number;
    const unit = littleEndian ? first | (second << 8) : (first << 8) | second;
    if (leadSurrogate >= 0) {
      const lead = leadSurrogate;
      leadSurrogate = -1;
      if (unit >= 0xdc00 && unit <= 0xdfff) {
        add(0x10000 + ((lead - 0xd800) << 10) + (unit - 0xdc00), leadAt, i + 2);
        continue;
      }
      add(REPLACEMENT, leadAt, leadAt + 2);
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
      leadSurrogate = unit;
      leadAt = i;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      add(REPLACEMENT, i, i + 2);
    } else {
      add(unit, i, i + 2);
    }
  }
  // A lead surrogate and an odd byte left over are one error when flushed.
  if (flush && (leadSurrogate >= 0 || i < length))
    add(REPLACEMENT, leadSurrogate >= 0 ? leadAt : i, length);
}

/**
 * GBK, GB18030, Big5, Shift_JIS, EUC-KR: TextDecoder fed a byte at a time. What it puts out
 * when a byte completes a character is that character, from the first byte not yet accounted
 * for; after an invalid sequence it may put out two (the error, then the ASCII byte that ended
 * it, which these decoders read again), the last of them one byte each.
 */
function legacy(bytes: Uint8Array, encoding: TextEncoding, flush: boolean, add: Add): void {
  const decoder = createTextDecoder(encoding);
  const one = new Uint8Array(1);
  let pending = 0;
  const put = (out: string, end: number): void => {
    const codes = Array.from(out, (c) => c.codePointAt(0) as number);
    let from = pending;
    for (let k = 0; k < codes.length; k++) {
      const later = codes.length - 1 - k;
      const to = Math.max(from, k === codes.length - 1 ? end : end - later);
      add(codes[k] as number, from, to);
      from = to;
    }
    pending = end;
  };
  for (let i = 0; i < bytes.length; i++) {
    one[0] = bytes[i] as number;
    const out = decoder.decode(one, true);
    if (out.length > 0) put(out, i + 1);
  }
  if (flush) {
    const out = decoder.decode(new Uint8Array(0), false);
    if (out.length > 0) put(out, bytes.length);
  }
}

/** For each cell, the first and last piece it shows (-1: none), and how often they disagreed. */
export interface Alignment {
  first: Int32Array;
  last: Int32Array;
  misses: number;
}

/** Pieces skipped at most to find a cell's characters again after the two disagree. */
const RESYNC_PIECES = 8;

/**
 * Lines up cells (their characters, in order) with pieces (the text drawn, in order), from the
 * start. A piece may span cells (a mark `\r` takes two) and a cell pieces (a base character and
 * a combining mark). Where they disagree (a character drawn with bytes from before the line,
 * or a character xterm draws differently), the cell takes the next piece, or the pieces skipped
 * until its characters turn up again go to the cell before, and the count of misses says so.
 */
export function alignForward(cells: readonly string[], pieces: readonly string[]): Alignment {
  const first = new Int32Array(cells.length).fill(-1);
  const last = new Int32Array(cells.length).fill(-1);
  let misses = 0;
  let piece = 0;
  let unit = 0;
  let previous = -1;

  const matches = (text: string, at: number, from: number): boolean => {
    let j = at;
    let k = from;
    for (let u = 0; u < text.length; u++) {
      let current = pieces[j];
      while (current !== undefined && k >= current.length) {
        j++;
        k = 0;
        current = pieces[j];
      }
      if (current === undefined || current.charCodeAt(k) !== text.charCodeAt(u)) return false;
      k++;
    }
    return true;
  };

  const consume = (cell: number, text: string): void => {
    if (first[cell] === -1) first[cell] = piece;
    let remaining = text.length;
    while (remaining > 0 && piece < pieces.length) {
      const size = (pieces[piece] as string).length;
      const take = Math.min(size - unit, remaining);
      remaining -= take;
      unit += take;
      last[cell] = piece;
      if (unit >= size) {
        piece++;
        unit = 0;
      }
    }
    previous = cell;
  };

  for (let cell = 0; cell < cells.length && piece < pieces.length; cell++) {
    const text = cells[cell] as string;
    if (matches(text, piece, unit)) {
      consume(cell, text);
      continue;
    }
    // A cell with nothing of the pieces (a character completed with bytes from before the line,
    // all of them there): the next cell goes on where this one would have. (It counts as a miss
    // below, as a cell left without a piece.)
    const following = cells[cell + 1];
    if (following !== undefined && matches(following, piece, unit)) continue;
    misses++;
    // A piece the cell before began is its own.
    const next = unit > 0 ? piece + 1 : piece;
    let found = -1;
    for (let at = piece + 1; at <= next + RESYNC_PIECES && at < pieces.length; at++) {
      if (matches(text, at, 0)) {
        found = at;
        break;
      }
    }
    if (found >= 0) {
      if (previous >= 0) last[previous] = found - 1;
      else first[cell] = next;
      piece = found;
      unit = 0;
      consume(cell, text);
    } else if (next < pieces.length) {
      first[cell] = next;
      last[cell] = next;
      piece = next + 1;
      unit = 0;
      previous = cell;
    } else {
      break;
    }
  }
  for (let cell = 0; cell < cells.length; cell++) if (first[cell] === -1) misses++;
  return { first, last, misses };
}

/** alignForward from the end: for a line whose start is no longer on screen. */
export function alignBackward(cells: readonly string[], pieces: readonly string[]): Alignment {
  const reverse = (texts: readonly string[]): string[] =>
    texts.map((text) => text.split('').reverse().join('')).reverse();
  const back = alignForward(reverse(cells), reverse(pieces));
  const count = cells.length;
  const first = new Int32Array(count).fill(-1);
  const last = new Int32Array(count).fill(-1);
  for (let cell = 0; cell < count; cell++) {
    const from = back.first[count - 1 - cell] as number;
    const to = back.last[count - 1 - cell] as number;
    if (from < 0) continue;
    first[cell] = pieces.length - 1 - to;
    last[cell] = pieces.length - 1 - from;
  }
  return { first, last, misses: back.misses };
}

/** A text line as the line map has it (see LineInfo). */
export interface TextLine {
  start: number;
  end: number;
  header: number;
  boundary: boolean;
}

/** The capture bytes [from, to) each cell shows, -1 for a cell that shows none. */
export interface CellBytes {
  from: Float64Array;
  to: Float64Array;
}

/** The cells a character takes: itself, or a mark (`\r`, `\x00`, `<U+0085>`). */
const CARRIED_CELLS = [1, 2, 4, 8];
const MARK = /^(?:\\[abtnvfre\\]|\\x[0-9a-f]{2}|<U\+00[89][0-9A-F]>)$/;

/** Cells a carry-over guess is judged on, and bytes decoded for it. */
const PROBE_CELLS = 256;
const PROBE_BYTES = PROBE_CELLS * 8;

/**
 * Which bytes each cell of a text line shows, from the line's drawn cells (every cell with a
 * character, in order: see readCells) and its bytes `data`, read from capture offset `dataFrom`.
 * `fromStart`: the cells begin with the line's first row (header and all) and `data` with its
 * first byte; otherwise the cells are the line's last rows and `data` ends with its last byte,
 * and the two are lined up from the end. `flush`: how the renderer decodes (datagrams).
 */
export function mapTextLine(
  line: TextLine,
  cells: readonly string[],
  data: Uint8Array,
  dataFrom: number,
  encoding: TextEncoding,
  flush: boolean,
  fromStart: boolean,
): CellBytes {
  const from = new Float64Array(cells.length).fill(-1);
  const to = new Float64Array(cells.length).fill(-1);
  const flushEnd = flush && dataFrom + data.length >= line.end;
  if (!fromStart) {
    // Bytes read from the middle of a line may begin inside a character. UTF-8 finds its step by
    // itself; UTF-16 tries both byte phases; the double-byte encodings also try decoding from
    // their first byte below 0x30, which is never part of another character. The start that
    // lines up best wins.
    const sync = syncPoint(data, encoding);
    const starts = encoding.startsWith('utf-16') ? [0, 1] : sync > 0 ? [0, sync] : [0];
    let best: { alignment: Alignment; pieces: Pieces } | null = null;
    for (const at of starts) {
      const pieces = decodePieces(data.subarray(at), dataFrom + at, encoding, flushEnd);
      const alignment = alignBackward(cells, pieces.texts);
      if (!best || alignment.misses < best.alignment.misses) best = { alignment, pieces };
    }
    if (best) fill(best.alignment, best.pieces, 0, from, to);
    return { from, to };
  }
  let skipped = 0;
  for (let units = line.header; units > 0 && skipped < cells.length; skipped++) {
    units -= (cells[skipped] as string).length;
  }
  const body = cells.slice(skipped);
  // A stream line that starts a slice may begin with a character the decoder completed with its
  // first `carry` bytes: that character's cells (one, or a mark's 2, 4 or 8) show those, and the
  // rest decodes from after them. The guess that lines up best wins (fewest disagreements, then
  // the smallest).
  let carry = 0;
  let lead = 0;
  const most = line.boundary ? Math.min(maxCarry(encoding), data.length) : 0;
  if (most > 0 && body.length > 0) {
    let best = Number.POSITIVE_INFINITY;
    for (let guess = 0; guess <= most && best > 0; guess++) {
      const probeEnd = Math.min(data.length, guess + PROBE_BYTES);
      const probe = decodePieces(
        data.subarray(guess, probeEnd),
        dataFrom + guess,
        encoding,
        flushEnd && probeEnd === data.length,
      );
      for (const cells of guess > 0 ? CARRIED_CELLS : [0]) {
        if (cells > body.length) break;
        if (cells > 1 && !MARK.test(body.slice(0, cells).join(''))) continue;
        const { misses } = alignForward(body.slice(cells, PROBE_CELLS), probe.texts);
        if (misses < best) {
          best = misses;
          carry = guess;
          lead = cells;
        }
        if (misses === 0) break;
      }
    }
  }
  const pieces = decodePieces(data.subarray(carry), dataFrom + carry, encoding, flushEnd);
  fill(alignForward(body.slice(lead), pieces.texts), pieces, skipped + lead, from, to);
  for (let cell = skipped; cell < skipped + lead; cell++) {
    from[cell] = dataFrom;
    to[cell] = dataFrom + carry;
  }
  return { from, to };
}

/**
 * The first byte of `data` a decoder starting afresh reads as the renderer's decoder did: in
 * the double-byte encodings, a byte below 0x30, which is never part of another character.
 */
const DOUBLE_BYTE: ReadonlySet<TextEncoding> = new Set([
  'gbk',
  'gb18030',
  'big5',
  'shift_jis',
  'euc-kr',
]);

function syncPoint(data: Uint8Array, encoding: TextEncoding): number {
  if (!DOUBLE_BYTE.has(encoding)) return 0;
  for (let i = 0; i < data.length; i++) if ((data[i] as number) < 0x30) return i;
  return 0;
}

function fill(
  alignment: Alignment,
  pieces: Pieces,
  offset: number,
  from: Float64Array,
  to: Float64Array,
): void {
  for (let cell = 0; cell < alignment.first.length; cell++) {
    const first = alignment.first[cell] as number;
    const last = alignment.last[cell] as number;
    if (first < 0) continue;
    from[offset + cell] = pieces.from[first] as number;
    to[offset + cell] = pieces.to[Math.max(first, last)] as number;
  }
}
