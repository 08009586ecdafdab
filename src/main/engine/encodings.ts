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
