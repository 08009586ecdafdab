/**
 * The table encodings (gbk, gb18030, big5, shift_jis, euc-kr) for the engine, through iconv-lite.
 * The renderer ships no tables, so text in these encodings is encoded here (see ../../shared/payload).
 */
import iconv from 'iconv-lite';
import type { TextEncoding } from '../../shared/contract';
import {
  encodePayload,
  isLegacyEncoding,
  unencodableError,
  type LegacyEncoding,
  type LegacyTextEncoder,
  type ValidPayload,
} from '../../shared/payload';
import { WorkbenchError } from '../../shared/errors';
import { createTextDecoder, type StreamTextDecoder } from '../../shared/format';

/** iconv-lite's names; its big5 is Big5-HKSCS and its euckr is CP949, as in the WHATWG standard. */
const iconvNames = {
  gbk: 'gbk',
  gb18030: 'gb18030',
  big5: 'big5',
  shift_jis: 'shiftjis',
  'euc-kr': 'euckr',
} as const satisfies Record<LegacyEncoding, iconv.Encoding>;

/** What iconv-lite writes for a character missing from the table. */
const SUBSTITUTE = 0x3f;

const encodableCache = new Map<string, Map<number, boolean>>();

function isEncodable(codePoint: number, name: iconv.Encoding): boolean {
  let cache = encodableCache.get(name);
  if (!cache) {
    cache = new Map();
    encodableCache.set(name, cache);
  }
  let encodable = cache.get(codePoint);
  if (encodable === undefined) {
    const bytes = iconv.encode(String.fromCodePoint(codePoint), name);
    encodable = codePoint === SUBSTITUTE || bytes.length !== 1 || bytes[0] !== SUBSTITUTE;
    cache.set(codePoint, encodable);
  }
  return encodable;
}

/**
 * The first character of `text`, from `from` on, that the table cannot represent, or -1.
 * Characters before the first round-trip mismatch came back unchanged, so they are encodable.
 */
function findUnencodable(text: string, from: number, name: iconv.Encoding): number {
  let i = from;
  // Start on a whole character: the mismatch may be in the low half of a surrogate pair.
  if (i > 0 && isLowSurrogate(text.charCodeAt(i)) && isHighSurrogate(text.charCodeAt(i - 1))) i--;
  while (i < text.length) {
    const unit = text.charCodeAt(i);
    if (isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(i + 1))) {
      if (!isEncodable(text.codePointAt(i) ?? 0, name)) return i;
      i += 2;
      continue;
    }
    // A lone surrogate is not a character; iconv-lite writes '?' for it.
    if (isHighSurrogate(unit) || isLowSurrogate(unit)) return i;
    // Every table encoding here keeps ASCII as is.
    if (unit >= 0x80 && !isEncodable(unit, name)) return i;
    i++;
  }
  return -1;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * iconv-lite returns a slice of a Buffer sized for the worst case (up to 4 bytes a character),
 * and structured clone (IPC) copies a view's whole ArrayBuffer, so hand back a plain
 * Uint8Array that owns exactly its bytes.
 */
function exactBytes(bytes: Buffer): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? new Uint8Array(bytes.buffer, 0, bytes.byteLength)
    : new Uint8Array(bytes);
}

function firstDifference(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a.charCodeAt(i) !== b.charCodeAt(i)) return i;
  }
  return length;
}

/**
 * iconv-lite writes '?' for a character its table lacks instead of failing, so the text is
 * encoded whole, decoded back and compared: equal (the usual case) means every character was
 * represented. Only on a difference is each character checked, because some encodable
 * characters do not come back the same (shift_jis writes '¥' as 0x5c, which reads back as '\').
 */
export const nodeLegacyEncoder: LegacyTextEncoder = (text: string, encoding: TextEncoding) => {
  if (!isLegacyEncoding(encoding)) {
    throw new WorkbenchError('INTERNAL', `${encoding} is not a table encoding`);
  }
  const name = iconvNames[encoding];
  const bytes = iconv.encode(text, name);
  const back = iconv.decode(bytes, name, { stripBOM: false });
  if (back !== text) {
    const bad = findUnencodable(text, firstDifference(text, back), name);
    if (bad >= 0) throw unencodableError(text, bad, encoding);
  }
  return exactBytes(bytes);
};

/** The bytes a payload sends, with every encoding available. */
export function encodePayloadInNode(payload: ValidPayload): Uint8Array {
  return encodePayload(payload, nodeLegacyEncoder);
}

/**
 * A streaming decoder for the engine, as the views decode (createTextDecoder: the WHATWG
 * decoders, U+FFFD for invalid bytes). A Node built without full ICU has no TextDecoder for the
 * table encodings; iconv-lite's decoder stands in there (its U+FFFD placement may differ).
 */
export function createEngineTextDecoder(encoding: TextEncoding): StreamTextDecoder {
  // The same text as the shared decoders give, through Node's native latin1 (tens of times
  // faster than building strings from byte arrays in JavaScript: it matters over a capture).
  if (encoding === 'latin1') return { decode: latin1Text };
  if (encoding === 'ascii') return { decode: asciiText };
  try {
    return createTextDecoder(encoding);
  } catch (error) {
    if (!(error instanceof RangeError) || !isLegacyEncoding(encoding)) throw error;
    const decoder = iconv.getDecoder(iconvNames[encoding], { stripBOM: false });
    return {
      decode: (bytes, stream = false) => {
        const text = decoder.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        return stream ? text : text + (decoder.end() ?? '');
      },
    };
  }
}

const NOT_ASCII = /[\x80-\xff]/;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function latin1Text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** Bytes above 0x7f become U+FFFD; built as UTF-16 code units, which Node turns into text fast. */
function asciiText(bytes: Uint8Array): string {
  const latin1 = latin1Text(bytes);
  if (!NOT_ASCII.test(latin1)) return latin1;
  const units = new Uint16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    units[i] = byte < 0x80 ? byte : 0xfffd;
  }
  const bytesLE = Buffer.from(units.buffer);
  // A Uint16Array holds the machine's byte order: make it little-endian where it is not.
  if (!LITTLE_ENDIAN) bytesLE.swap16();
  return bytesLE.toString('utf16le');
}

/** Bytes one decoded character of a table encoding took, by code point: see tableCharByteLength. */
const tableCharBytes = new Map<LegacyEncoding, Map<number, number>>();

/**
 * How many bytes a character decoded from a table encoding took: what the encoder writes for
 * it. Where two byte sequences decode to the same character (gbk's 0x80 and A2 E3 are both
 * '€'), that is the encoder's choice.
 */
export function tableCharByteLength(codePoint: number, encoding: LegacyEncoding): number {
  let cache = tableCharBytes.get(encoding);
  if (!cache) {
    cache = new Map();
    tableCharBytes.set(encoding, cache);
  }
  let length = cache.get(codePoint);
  if (length === undefined) {
    const bytes = iconv.encode(String.fromCodePoint(codePoint), iconvNames[encoding]);
    length = bytes.length;
    if (length === 1 && bytes[0] === SUBSTITUTE) {
      // Not in the encoder's table, yet decoded from something: the WHATWG gbk decoder is the
      // gb18030 one (four-byte sequences too); other tables' stray single bytes are one byte.
      length =
        encoding === 'gbk'
          ? iconv.encode(String.fromCodePoint(codePoint), 'gb18030').length
          : codePoint <= 0xff
            ? 1
            : 2;
    }
    cache.set(codePoint, length);
  }
  return length;
}
