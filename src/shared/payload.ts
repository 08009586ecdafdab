/**
 * Payload codecs: what the user typed in the composer (text with escapes, hex or base64) becomes
 * the exact bytes a send carries. Shared by the renderer (live preview) and the engine (the send
 * itself), so this file stays pure: no node:*, no Buffer, no DOM.
 *
 * Every error position is a 0-based UTF-16 index into the user's original text, which is what a
 * textarea's selectionStart uses, so the UI can put the caret on the problem.
 */
import { toByteArray } from 'base64-js';
import type { z } from 'zod';
import { checksumBytes } from './checksum';
import {
  MAX_PAYLOAD_BYTES,
  type LineEnding,
  type TextEncoding,
  type payloadSchema,
} from './contract';
import { WorkbenchError } from './errors';

export type ValidPayload = z.output<typeof payloadSchema>;

/** Encodes with a table the renderer does not ship (iconv-lite in the engine). */
export type LegacyTextEncoder = (text: string, encoding: TextEncoding) => Uint8Array;

/** Encodings that need tables, so only the engine (through a LegacyTextEncoder) can encode them. */
export const legacyEncodings = ['gbk', 'gb18030', 'big5', 'shift_jis', 'euc-kr'] as const;
export type LegacyEncoding = (typeof legacyEncodings)[number];

export function isLegacyEncoding(encoding: TextEncoding): encoding is LegacyEncoding {
  return (legacyEncodings as readonly string[]).includes(encoding);
}

// ---------------------------------------------------------------------------------------------
// Describing characters in messages
// ---------------------------------------------------------------------------------------------

function codePointName(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

function isInvisible(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xdfff);
}

/** The character at `index` as a message shows it: `"g"`, or `U+000A` when quoting would hide it. */
export function describeCharacter(text: string, index: number): string {
  const cp = text.codePointAt(index) ?? 0;
  return isInvisible(cp) ? codePointName(cp) : `"${String.fromCodePoint(cp)}"`;
}

function isLoneSurrogate(text: string, index: number): boolean {
  const unit = text.charCodeAt(index);
  if (unit >= 0xd800 && unit <= 0xdbff) {
    const next = text.charCodeAt(index + 1);
    return !(next >= 0xdc00 && next <= 0xdfff);
  }
  if (unit >= 0xdc00 && unit <= 0xdfff) {
    const previous = index > 0 ? text.charCodeAt(index - 1) : 0;
    return !(previous >= 0xd800 && previous <= 0xdbff);
  }
  return false;
}

/**
 * The error for a character an encoding cannot represent. `index` is where it is in `text`;
 * `position` is where it is in the user's original input, when `text` was derived from it.
 */
export function unencodableError(
  text: string,
  index: number,
  encoding: TextEncoding,
  position = index,
): WorkbenchError {
  const cp = text.codePointAt(index) ?? 0;
  const message = isLoneSurrogate(text, index)
    ? `Lone surrogate ${codePointName(cp)} at position ${position} is half of a character and ` +
      `cannot be encoded in ${encoding}`
    : isInvisible(cp)
      ? `Character ${codePointName(cp)} at position ${position} cannot be encoded in ${encoding}`
      : `Character ${describeCharacter(text, index)} (${codePointName(cp)}) at position ` +
        `${position} cannot be encoded in ${encoding}`;
  return new WorkbenchError('UNENCODABLE_TEXT', message, position);
}

// ---------------------------------------------------------------------------------------------
// Hex
// ---------------------------------------------------------------------------------------------

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** ASCII whitespace: what a paste from a terminal, a dump or an editor puts between bytes. */
function isWhitespace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

/** Whitespace, ':' (de:ad), ',' (0xde, 0xad) and '-' (de-ad, as MAC addresses are written). */
function isHexSeparator(code: number): boolean {
  return isWhitespace(code) || code === 0x3a || code === 0x2c || code === 0x2d;
}

function badHexDigit(text: string, index: number): WorkbenchError {
  return new WorkbenchError(
    'BAD_HEX',
    `Invalid hex digit ${describeCharacter(text, index)} at position ${index}`,
    index,
  );
}

/**
 * Hex as people paste it: `de ad be ef`, `deadbeef`, `0xDE,0xAD`, `0xdead 0xbe`, `de:ad:be:ef`.
 * Each run of digits between separators is read as pairs, so a run with an odd number of digits
 * is an error rather than a guess about which byte the lone digit belongs to.
 */
export function parseHex(text: string): Uint8Array {
  const length = text.length;
  const out = new Uint8Array(length >> 1);
  let count = 0;
  let i = 0;
  while (i < length) {
    const code = text.charCodeAt(i);
    if (isHexSeparator(code)) {
      i++;
      continue;
    }
    // A run starts here; it may open with 0x.
    if (code === 0x30 && i + 1 < length && (text.charCodeAt(i + 1) | 0x20) === 0x78) {
      const prefix = i;
      i += 2;
      if (i >= length || isHexSeparator(text.charCodeAt(i))) {
        throw new WorkbenchError(
          'BAD_HEX',
          `"${text.slice(prefix, prefix + 2)}" at position ${prefix} has no hex digits after it`,
          prefix,
        );
      }
    }
    while (i < length) {
      const hiCode = text.charCodeAt(i);
      if (isHexSeparator(hiCode)) break;
      const hi = hexValue(hiCode);
      if (hi < 0) throw badHexDigit(text, i);
      if (i + 1 >= length || isHexSeparator(text.charCodeAt(i + 1))) {
        throw new WorkbenchError(
          'BAD_HEX',
          `Incomplete byte: ${describeCharacter(text, i)} at position ${i} needs a second hex digit`,
          i,
        );
      }
      const lo = hexValue(text.charCodeAt(i + 1));
      if (lo < 0) throw badHexDigit(text, i + 1);
      out[count++] = (hi << 4) | lo;
      i += 2;
    }
  }
  // Separators usually take a third of the text; do not keep that slack alive.
  return count === out.length ? out : out.slice(0, count);
}

// ---------------------------------------------------------------------------------------------
// Escapes
// ---------------------------------------------------------------------------------------------

/** For each escape letter (\r, \n, ...), the character code it stands for; -1 if none. */
const ESCAPED_CODES = new Int32Array(128).fill(-1);
for (const [letter, code] of [
  ['r', 0x0d],
  ['n', 0x0a],
  ['t', 0x09],
  ['0', 0x00],
  ['\\', 0x5c],
  ['a', 0x07],
  ['b', 0x08],
  ['f', 0x0c],
  ['v', 0x0b],
  ['e', 0x1b],
  ['"', 0x22],
  ["'", 0x27],
] as const) {
  ESCAPED_CODES[letter.charCodeAt(0)] = code;
}

function escapedCode(letter: number): number {
  return letter < 128 ? ESCAPED_CODES[letter] : -1;
}

const knownEscapes = '\\r \\n \\t \\0 \\\\ \\xHH \\a \\b \\f \\v \\e \\" \\\'';

const BACKSLASH = 0x5c;
const LETTER_X = 0x78;

function badEscape(message: string, position: number): WorkbenchError {
  return new WorkbenchError('BAD_ESCAPE', message, position);
}

function isByteEscape(source: string, index: number): boolean {
  return source.charCodeAt(index) === BACKSLASH && source.charCodeAt(index + 1) === LETTER_X;
}

function byteEscapeValue(source: string, backslash: number): number {
  return (
    (hexValue(source.charCodeAt(backslash + 2)) << 4) | hexValue(source.charCodeAt(backslash + 3))
  );
}

/** Throws unless the escape at `backslash` is one the composer knows. */
function checkEscape(source: string, backslash: number): void {
  if (backslash + 1 >= source.length) {
    throw badEscape(
      `Lone "\\" at position ${backslash} ends the text; write \\\\ for a backslash`,
      backslash,
    );
  }
  const letter = source.charCodeAt(backslash + 1);
  if (letter === LETTER_X) {
    if (byteEscapeValue(source, backslash) < 0) {
      throw badEscape(
        `"\\x" at position ${backslash} needs two hex digits, as in \\x0d or \\xff`,
        backslash,
      );
    }
    return;
  }
  if (escapedCode(letter) < 0) {
    const shown = isInvisible(source.codePointAt(backslash + 1) ?? 0)
      ? `"\\" followed by ${describeCharacter(source, backslash + 1)}`
      : `"\\${String.fromCodePoint(source.codePointAt(backslash + 1) ?? 0)}"`;
    throw badEscape(
      `Unknown escape ${shown} at position ${backslash}; known escapes are ${knownEscapes}`,
      backslash,
    );
  }
  // C reads \012 as octal (a line feed); guessing either way would send the wrong bytes.
  const after = source.charCodeAt(backslash + 2);
  if (letter === 0x30 && after >= 0x30 && after <= 0x39) {
    throw badEscape(
      `"\\0" at position ${backslash} is followed by a digit; octal escapes are not ` +
        `supported, so write \\xHH for the byte you mean`,
      backslash,
    );
  }
}

/** Syntax first: every escape is checked before any character is encoded. */
function checkEscapes(source: string): void {
  for (let at = source.indexOf('\\'); at >= 0; at = source.indexOf('\\', at + 2)) {
    checkEscape(source, at);
  }
}

/**
 * Calls `onText` for each run of text between \xHH escapes (as [start, end) of the checked
 * source) and `onBytes` for each run of \xHH escapes.
 */
function forEachRun(
  source: string,
  onText: (start: number, end: number) => void,
  onBytes: (start: number, end: number) => void,
): void {
  let textStart = 0;
  let at = source.indexOf('\\');
  while (at >= 0) {
    if (!isByteEscape(source, at)) {
      at = source.indexOf('\\', at + 2);
      continue;
    }
    let runEnd = at;
    while (isByteEscape(source, runEnd)) runEnd += 4;
    if (at > textStart) onText(textStart, at);
    onBytes(at, runEnd);
    textStart = runEnd;
    at = source.indexOf('\\', runEnd);
  }
  if (source.length > textStart) onText(textStart, source.length);
}

function byteRun(source: string, start: number, end: number): Uint8Array {
  const out = new Uint8Array((end - start) / 4);
  for (let at = start, n = 0; at < end; at += 4, n++) out[n] = byteEscapeValue(source, at);
  return out;
}

const CHUNK = 8192;

/**
 * A checked run of text with its one-character escapes replaced. Built from character codes:
 * joining one string per escape, or a replace() callback, takes seconds on 16 MiB of \r\n.
 */
function unescapeRun(source: string, start: number, end: number): string {
  const first = source.indexOf('\\', start);
  if (first < 0 || first >= end) return source.slice(start, end);
  const codes = new Uint16Array(end - start);
  let n = 0;
  for (let at = start; at < end; at++) {
    const unit = source.charCodeAt(at);
    codes[n++] = unit === BACKSLASH ? escapedCode(source.charCodeAt(++at)) : unit;
  }
  let text = '';
  for (let from = 0; from < n; from += CHUNK) {
    // apply() takes the typed array as is; spreading it goes through an iterator, far slower.
    const chunk = codes.subarray(from, Math.min(from + CHUNK, n)) as unknown as number[];
    text += String.fromCharCode.apply(null, chunk);
  }
  return text;
}

/**
 * Splits composer text into text segments (escapes such as \n already turned into characters)
 * and raw-byte segments (from \xHH, which inserts one byte whatever the text encoding is).
 */
export function parseEscapes(text: string): Array<string | Uint8Array> {
  checkEscapes(text);
  const segments: Array<string | Uint8Array> = [];
  forEachRun(
    text,
    (start, end) => segments.push(unescapeRun(text, start, end)),
    (start, end) => segments.push(byteRun(text, start, end)),
  );
  return segments;
}

/**
 * Where character `index` of an unescaped run came from in the source. A run holds no \x
 * escapes, and every other escape is two source characters for one, so counting is exact. Only
 * the error path pays for this walk.
 */
function sourcePosition(source: string, start: number, index: number): number {
  let position = start;
  for (let produced = 0; produced < index; produced++) {
    position += source.charCodeAt(position) === BACKSLASH ? 2 : 1;
  }
  return position;
}

// ---------------------------------------------------------------------------------------------
// Text encodings
// ---------------------------------------------------------------------------------------------

/** Growable output that refuses to grow past `limit` bytes (plus a character's worth). */
class ByteSink {
  bytes: Uint8Array;
  length = 0;

  constructor(
    private readonly limit: number,
    estimate: number,
  ) {
    this.bytes = new Uint8Array(Math.max(16, Math.min(estimate, limit + 4)));
  }

  /** Room for `count` more bytes; `exact` when exactly that many will be written. */
  reserve(count: number, exact: boolean): void {
    const needed = this.length + count;
    // A guess (`exact` false) may overshoot by the slack; only the bytes written are certain.
    if (needed > this.limit + (exact ? 0 : 4))
      throw tooLarge(exact ? needed : this.length + 1, true);
    if (needed <= this.bytes.length) return;
    const grown = new Uint8Array(Math.min(Math.max(needed, this.bytes.length * 2), this.limit + 4));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  write(bytes: Uint8Array): void {
    this.reserve(bytes.length, true);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  finish(): Uint8Array {
    if (this.length > this.limit) throw tooLarge(this.length, false);
    return this.length === this.bytes.length ? this.bytes : this.bytes.slice(0, this.length);
  }
}

type BuiltinEncoding = Exclude<TextEncoding, LegacyEncoding>;

function writeUtf16Unit(out: Uint8Array, at: number, unit: number, littleEndian: boolean): number {
  out[at] = littleEndian ? unit & 0xff : unit >> 8;
  out[at + 1] = littleEndian ? unit >> 8 : unit & 0xff;
  return at + 2;
}

/**
 * Encodes `source` into `sink` with an encoding done here. With `escapes`, the source has been
 * checked and its escapes are handled inline, so an error's position is simply the loop index.
 */
function writeBuiltin(
  sink: ByteSink,
  source: string,
  encoding: BuiltinEncoding,
  escapes: boolean,
  start = 0,
  end = source.length,
): void {
  for (let i = start; i < end; i++) {
    const position = i;
    let code = source.charCodeAt(i);
    if (escapes && code === BACKSLASH) {
      if (source.charCodeAt(i + 1) === LETTER_X) {
        sink.reserve(1, true);
        sink.bytes[sink.length++] = byteEscapeValue(source, i);
        i += 3;
        continue;
      }
      code = escapedCode(source.charCodeAt(++i));
    } else if (code >= 0xd800 && code <= 0xdfff) {
      const next = source.charCodeAt(i + 1);
      if (code > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) {
        // TextEncoder would quietly write U+FFFD (ef bf bd) instead.
        throw unencodableError(source, position, encoding);
      }
      code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
      i++;
    }
    sink.reserve(4, false);
    const out = sink.bytes;
    let n = sink.length;
    switch (encoding) {
      case 'utf-8':
        if (code < 0x80) {
          out[n++] = code;
        } else if (code < 0x800) {
          out[n++] = 0xc0 | (code >> 6);
          out[n++] = 0x80 | (code & 0x3f);
        } else if (code < 0x10000) {
          out[n++] = 0xe0 | (code >> 12);
          out[n++] = 0x80 | ((code >> 6) & 0x3f);
          out[n++] = 0x80 | (code & 0x3f);
        } else {
          out[n++] = 0xf0 | (code >> 18);
          out[n++] = 0x80 | ((code >> 12) & 0x3f);
          out[n++] = 0x80 | ((code >> 6) & 0x3f);
          out[n++] = 0x80 | (code & 0x3f);
        }
        break;
      case 'utf-16le':
      case 'utf-16be': {
        const littleEndian = encoding === 'utf-16le';
        if (code >= 0x10000) {
          n = writeUtf16Unit(out, n, 0xd800 + ((code - 0x10000) >> 10), littleEndian);
          code = 0xdc00 + ((code - 0x10000) & 0x3ff);
        }
        n = writeUtf16Unit(out, n, code, littleEndian);
        break;
      }
      case 'latin1':
      case 'ascii':
        if (code > (encoding === 'latin1' ? 0xff : 0x7f)) {
          throw unencodableError(source, position, encoding);
        }
        out[n++] = code;
        break;
    }
    sink.length = n;
  }
}

function needsEngine(encoding: LegacyEncoding): WorkbenchError {
  return new WorkbenchError('UNENCODABLE_TEXT', `Encoding ${encoding} needs the engine to encode`);
}

/** True when every character is ASCII, which all the table encodings here keep as is. */
function isAscii(text: string): boolean {
  return !/[\u0080-\uffff]/.test(text);
}

/** Short runs seen before in this payload (a frame repeated between \xHH bytes, say). */
type RunCache = Map<string, Uint8Array>;
const CACHED_RUN_LENGTH = 64;
const CACHED_RUNS = 4096;

/**
 * Writes one unescaped run with a table encoding. `start` is where the run begins in the
 * source, so an error from the encoder can be moved to the character the user typed.
 */
function writeTableRun(
  sink: ByteSink,
  source: string,
  start: number,
  end: number,
  encoding: LegacyEncoding,
  legacy: LegacyTextEncoder,
  cache: RunCache,
): void {
  // Escapes stand for ASCII characters, so an ASCII source run is ASCII once unescaped too.
  if (isAscii(source.slice(start, end))) {
    writeBuiltin(sink, source, 'ascii', true, start, end);
    return;
  }
  const text = unescapeRun(source, start, end);
  // Each call of a table encoder costs microseconds; a payload can hold millions of runs.
  const cached = cache.get(text);
  if (cached) {
    sink.write(cached);
    return;
  }
  let bytes: Uint8Array;
  try {
    bytes = legacy(text, encoding);
  } catch (error) {
    if (
      error instanceof WorkbenchError &&
      error.code === 'UNENCODABLE_TEXT' &&
      error.position !== undefined
    ) {
      const index = error.position;
      throw unencodableError(text, index, encoding, sourcePosition(source, start, index));
    }
    throw error;
  }
  if (text.length <= CACHED_RUN_LENGTH && cache.size < CACHED_RUNS) cache.set(text, bytes);
  sink.write(bytes);
}

/**
 * Characters to bytes. utf-8, utf-16le/be, latin1 and ascii are done here; the table encodings
 * (see legacyEncodings) go through `legacy`. A character the encoding cannot represent is an
 * error, never a silent '?' or U+FFFD.
 */
export function encodeText(
  text: string,
  encoding: TextEncoding,
  legacy?: LegacyTextEncoder,
): Uint8Array {
  if (isLegacyEncoding(encoding)) {
    if (text.length === 0) return new Uint8Array(0);
    if (!legacy) throw needsEngine(encoding);
    return legacy(text, encoding);
  }
  const sink = new ByteSink(Infinity, text.length);
  writeBuiltin(sink, text, encoding, false);
  return sink.finish();
}

// ---------------------------------------------------------------------------------------------
// Base64
// ---------------------------------------------------------------------------------------------

function base64Value(code: number): number {
  if (code >= 0x41 && code <= 0x5a) return code - 0x41;
  if (code >= 0x61 && code <= 0x7a) return code - 0x61 + 26;
  if (code >= 0x30 && code <= 0x39) return code - 0x30 + 52;
  if (code === 0x2b) return 62;
  if (code === 0x2f) return 63;
  return -1;
}

function badBase64(message: string, position: number): WorkbenchError {
  return new WorkbenchError('BAD_BASE64', message, position);
}

/**
 * Standard base64 (RFC 4648 section 4), strictly: whitespace anywhere is fine, but the alphabet
 * is + and /, the last group is padded with =, and the bits padding drops must be zero (so a
 * mistyped last character is caught instead of silently changing nothing or the wrong thing).
 */
export function parseBase64(text: string): Uint8Array {
  let count = 0;
  let padding = 0;
  let paddingStart = -1;
  let groupStart = -1;
  let last = -1;
  let hasWhitespace = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (isWhitespace(code)) {
      hasWhitespace = true;
      continue;
    }
    if (code === 0x3d) {
      if (padding === 0) paddingStart = i;
      padding++;
      if (padding > 2) {
        throw badBase64(`Too much "=" padding at position ${i}: at most two`, i);
      }
      continue;
    }
    if (base64Value(code) < 0) {
      const hint =
        code === 0x2d || code === 0x5f ? ' (that is base64url; standard base64 uses + and /)' : '';
      throw badBase64(
        `Invalid base64 character ${describeCharacter(text, i)} at position ${i}${hint}`,
        i,
      );
    }
    if (padding > 0) {
      throw badBase64(
        `Base64 character ${describeCharacter(text, i)} at position ${i} comes after "=" ` +
          `padding, which may only end the text`,
        i,
      );
    }
    if (count % 4 === 0) groupStart = i;
    count++;
    last = i;
  }

  const remainder = count % 4;
  if (remainder === 1) {
    throw badBase64(
      `Base64 ends with a lone character ${describeCharacter(text, last)} at position ${last}; ` +
        `a group needs at least two`,
      last,
    );
  }
  if (padding > 0 && remainder === 0) {
    const what = count === 0 ? 'has no data before it' : 'follows a complete group of four';
    throw badBase64(`Padding "=" at position ${paddingStart} ${what}`, paddingStart);
  }
  if (remainder !== 0 && remainder + padding !== 4) {
    const needed = 4 - remainder;
    throw badBase64(
      `Base64 group at position ${groupStart} has ${remainder} characters and needs ` +
        `${needed === 1 ? 'one' : 'two'} "=" to make four`,
      groupStart,
    );
  }
  if (remainder !== 0) {
    const unusedBits = remainder === 2 ? 0x0f : 0x03;
    if ((base64Value(text.charCodeAt(last)) & unusedBits) !== 0) {
      throw badBase64(
        `Base64 character ${describeCharacter(text, last)} at position ${last} sets bits that ` +
          `padding drops; the last character is probably mistyped`,
        last,
      );
    }
  }
  return toByteArray(hasWhitespace ? text.replace(/[\t\n\v\f\r ]/g, '') : text);
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

function tooLarge(bytes: number, atLeast: boolean): WorkbenchError {
  const mib = MAX_PAYLOAD_BYTES / 1048576;
  return new WorkbenchError(
    'PAYLOAD_TOO_LARGE',
    `Payload is ${atLeast ? 'at least ' : ''}${bytes} bytes, over the ${mib} MiB limit ` +
      `(${MAX_PAYLOAD_BYTES} bytes)`,
  );
}

/** Composer text: escapes checked first, then text encoded and \xHH bytes copied in order. */
function encodeComposerText(
  source: string,
  encoding: TextEncoding,
  legacy: LegacyTextEncoder | undefined,
): Uint8Array {
  checkEscapes(source);
  const sink = new ByteSink(MAX_PAYLOAD_BYTES, source.length);
  if (!isLegacyEncoding(encoding)) {
    writeBuiltin(sink, source, encoding, true);
    return sink.finish();
  }
  const cache: RunCache = new Map();
  forEachRun(
    source,
    (start, end) => {
      if (!legacy) throw needsEngine(encoding);
      writeTableRun(sink, source, start, end, encoding, legacy, cache);
    },
    (start, end) => sink.write(byteRun(source, start, end)),
  );
  return sink.finish();
}

function decodeData(payload: ValidPayload, legacy: LegacyTextEncoder | undefined): Uint8Array {
  switch (payload.format) {
    case 'text':
      return encodeComposerText(payload.data, payload.encoding, legacy);
    case 'hex':
      return parseHex(payload.data);
    case 'base64':
      return parseBase64(payload.data);
  }
}

const LINE_ENDING_BYTES: Record<LineEnding, Uint8Array> = {
  none: new Uint8Array(0),
  lf: Uint8Array.of(0x0a),
  crlf: Uint8Array.of(0x0d, 0x0a),
  cr: Uint8Array.of(0x0d),
};

/** The data's bytes, then its checksum, then its line ending. */
function withSuffixes(payload: ValidPayload, data: Uint8Array): Uint8Array {
  let check: Uint8Array = new Uint8Array(0);
  if (payload.checksum) {
    try {
      check = checksumBytes(payload.checksum, data);
    } catch (error) {
      throw new WorkbenchError('BAD_CHECKSUM', (error as Error).message);
    }
  }
  const ending = LINE_ENDING_BYTES[payload.lineEnding ?? 'none'];
  if (check.length === 0 && ending.length === 0) return data;
  const out = new Uint8Array(data.length + check.length + ending.length);
  out.set(data);
  out.set(check, data.length);
  out.set(ending, data.length + check.length);
  return out;
}

/** The exact bytes a send carries. `legacy` is needed only for text in a table encoding. */
export function encodePayload(payload: ValidPayload, legacy?: LegacyTextEncoder): Uint8Array {
  const bytes = withSuffixes(payload, decodeData(payload, legacy));
  if (bytes.length > MAX_PAYLOAD_BYTES) throw tooLarge(bytes.length, false);
  return bytes;
}
