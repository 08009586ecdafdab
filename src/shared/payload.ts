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
import { MAX_PAYLOAD_BYTES, type TextEncoding, type payloadSchema } from './contract';
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

/** Escapes that stand for one character (encoded like any other character). */
const characterEscapes: ReadonlyMap<string, string> = new Map([
  ['r', '\r'],
  ['n', '\n'],
  ['t', '\t'],
  ['0', '\0'],
  ['\\', '\\'],
  ['a', '\x07'],
  ['b', '\b'],
  ['f', '\f'],
  ['v', '\v'],
  ['e', '\x1b'],
  ['"', '"'],
  ["'", "'"],
]);

const knownEscapes = '\\r \\n \\t \\0 \\\\ \\xHH \\a \\b \\f \\v \\e \\" \\\'';

/** A run of text with its start in the source, or raw bytes from \xHH escapes. */
type Segment = { text: string; start: number } | Uint8Array;

function badEscape(message: string, position: number): WorkbenchError {
  return new WorkbenchError('BAD_ESCAPE', message, position);
}

/** Throws unless the escape at `backslash` is a known one-character escape. */
function checkCharacterEscape(source: string, backslash: number): void {
  if (backslash + 1 >= source.length) {
    throw badEscape(
      `Lone "\\" at position ${backslash} ends the text; write \\\\ for a backslash`,
      backslash,
    );
  }
  const letter = source[backslash + 1];
  if (!characterEscapes.has(letter)) {
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
  if (letter === '0' && after >= 0x30 && after <= 0x39) {
    throw badEscape(
      `"\\0" at position ${backslash} is followed by a digit; octal escapes are not ` +
        `supported, so write \\xHH for the byte you mean`,
      backslash,
    );
  }
}

function isByteEscape(source: string, index: number): boolean {
  return source.charCodeAt(index) === 0x5c && source.charCodeAt(index + 1) === 0x78;
}

/** The bytes of the run of \xHH escapes from `start` to `end` (already validated). */
function byteRun(source: string, start: number, end: number): Uint8Array {
  const out = new Uint8Array((end - start) / 4);
  for (let i = start, n = 0; i < end; i += 4, n++) {
    out[n] = (hexValue(source.charCodeAt(i + 2)) << 4) | hexValue(source.charCodeAt(i + 3));
  }
  return out;
}

/** Text between byte runs; every backslash in it starts a validated one-character escape. */
function textRun(source: string, start: number, end: number): Segment {
  const raw = source.slice(start, end);
  const text = raw.includes('\\')
    ? raw.replace(/\\([\s\S])/g, (_, letter: string) => characterEscapes.get(letter) ?? letter)
    : raw;
  return { text, start };
}

/**
 * Validates every escape, then cuts the source at runs of \xHH. The text between runs is
 * unescaped with one native replace: a loop that builds strings escape by escape takes
 * seconds on a 16 MiB payload of \r\n.
 */
function scanEscapes(source: string): Segment[] {
  const segments: Segment[] = [];
  let textStart = 0;
  let backslash = source.indexOf('\\');
  while (backslash >= 0) {
    if (!isByteEscape(source, backslash)) {
      checkCharacterEscape(source, backslash);
      backslash = source.indexOf('\\', backslash + 2);
      continue;
    }
    let runEnd = backslash;
    while (isByteEscape(source, runEnd)) {
      if (
        hexValue(source.charCodeAt(runEnd + 2)) < 0 ||
        hexValue(source.charCodeAt(runEnd + 3)) < 0
      ) {
        throw badEscape(
          `"\\x" at position ${runEnd} needs two hex digits, as in \\x0d or \\xff`,
          runEnd,
        );
      }
      runEnd += 4;
    }
    if (backslash > textStart) segments.push(textRun(source, textStart, backslash));
    segments.push(byteRun(source, backslash, runEnd));
    textStart = runEnd;
    backslash = source.indexOf('\\', runEnd);
  }
  if (source.length > textStart) segments.push(textRun(source, textStart, source.length));
  return segments;
}

/**
 * Splits composer text into text segments (escapes such as \n already turned into characters)
 * and raw-byte segments (from \xHH, which inserts one byte whatever the text encoding is).
 */
export function parseEscapes(text: string): Array<string | Uint8Array> {
  return scanEscapes(text).map((segment) =>
    segment instanceof Uint8Array ? segment : segment.text,
  );
}

/**
 * Where character `index` of a text segment came from in the source. A segment holds no \x
 * escapes (they end it), and every other escape is two source characters for one, so counting
 * is exact. Only the error path pays for this walk.
 */
function sourcePosition(source: string, start: number, index: number): number {
  let position = start;
  for (let produced = 0; produced < index; produced++) {
    position += source.charCodeAt(position) === 0x5c ? 2 : 1;
  }
  return position;
}

// ---------------------------------------------------------------------------------------------
// Text encodings
// ---------------------------------------------------------------------------------------------

const utf8Encoder = new TextEncoder();

type PositionOf = (index: number) => number;
const samePosition: PositionOf = (index) => index;

function assertWellFormed(text: string, encoding: TextEncoding, at: PositionOf): void {
  // With the u flag a surrogate class matches only surrogates that are not part of a pair.
  const lone = /[\uD800-\uDFFF]/u.exec(text);
  if (lone) throw unencodableError(text, lone.index, encoding, at(lone.index));
}

function encodeSingleByte(
  text: string,
  highest: number,
  encoding: TextEncoding,
  at: PositionOf,
): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit > highest) throw unencodableError(text, i, encoding, at(i));
    out[i] = unit;
  }
  return out;
}

function encodeUtf16(
  text: string,
  littleEndian: boolean,
  encoding: TextEncoding,
  at: PositionOf,
): Uint8Array {
  assertWellFormed(text, encoding, at);
  const out = new Uint8Array(text.length * 2);
  const [low, high] = littleEndian ? [0, 1] : [1, 0];
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    out[2 * i + low] = unit & 0xff;
    out[2 * i + high] = unit >> 8;
  }
  return out;
}

function encodeWithTable(
  text: string,
  encoding: LegacyEncoding,
  legacy: LegacyTextEncoder | undefined,
  at: PositionOf,
): Uint8Array {
  if (text.length === 0) return new Uint8Array(0);
  if (!legacy) {
    throw new WorkbenchError('UNENCODABLE_TEXT', `Encoding ${encoding} needs the engine to encode`);
  }
  try {
    return legacy(text, encoding);
  } catch (error) {
    // The encoder counts in the segment it was given; the user needs a place in what they typed.
    if (
      error instanceof WorkbenchError &&
      error.code === 'UNENCODABLE_TEXT' &&
      error.position !== undefined &&
      at(error.position) !== error.position
    ) {
      throw unencodableError(text, error.position, encoding, at(error.position));
    }
    throw error;
  }
}

function encodeTextAt(
  text: string,
  encoding: TextEncoding,
  legacy: LegacyTextEncoder | undefined,
  at: PositionOf,
): Uint8Array {
  switch (encoding) {
    case 'utf-8':
      // TextEncoder would quietly turn a lone surrogate into U+FFFD (ef bf bd).
      assertWellFormed(text, encoding, at);
      return utf8Encoder.encode(text);
    case 'utf-16le':
      return encodeUtf16(text, true, encoding, at);
    case 'utf-16be':
      return encodeUtf16(text, false, encoding, at);
    case 'latin1':
      return encodeSingleByte(text, 0xff, encoding, at);
    case 'ascii':
      return encodeSingleByte(text, 0x7f, encoding, at);
    default:
      return encodeWithTable(text, encoding, legacy, at);
  }
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
  return encodeTextAt(text, encoding, legacy, samePosition);
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

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function encodeEscapedText(
  source: string,
  encoding: TextEncoding,
  legacy: LegacyTextEncoder | undefined,
): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const segment of scanEscapes(source)) {
    const bytes =
      segment instanceof Uint8Array
        ? segment
        : encodeTextAt(segment.text, encoding, legacy, (index) =>
            sourcePosition(source, segment.start, index),
          );
    parts.push(bytes);
    total += bytes.length;
    // Stop before concatenating something that can never be sent.
    if (total > MAX_PAYLOAD_BYTES) throw tooLarge(total, true);
  }
  return concat(parts, total);
}

function decodeData(payload: ValidPayload, legacy: LegacyTextEncoder | undefined): Uint8Array {
  switch (payload.format) {
    case 'text':
      return encodeEscapedText(payload.data, payload.encoding, legacy);
    case 'hex':
      return parseHex(payload.data);
    case 'base64':
      return parseBase64(payload.data);
  }
}

/** The exact bytes a send carries. `legacy` is needed only for text in a table encoding. */
export function encodePayload(payload: ValidPayload, legacy?: LegacyTextEncoder): Uint8Array {
  const bytes = decodeData(payload, legacy);
  if (bytes.length > MAX_PAYLOAD_BYTES) throw tooLarge(bytes.length, false);
  return bytes;
}
