/**
 * Bytes as people read and copy them: hex, a C array, base64, a `hexdump -C` style dump, and
 * text decoded for display. Pure (no node:*, no Buffer, no DOM), shared by the UI and the engine.
 */
import { fromByteArray } from 'base64-js';
import type { TextEncoding } from './contract';

const HEX_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, byte) =>
  byte.toString(16).padStart(2, '0'),
);

/** Lowercase hex pairs: `de ad be ef` (separator `''` gives `deadbeef`). */
export function toHex(bytes: Uint8Array, separator = ' '): string {
  const pairs = new Array<string>(bytes.length);
  for (let i = 0; i < bytes.length; i++) pairs[i] = HEX_PAIRS[bytes[i]];
  return pairs.join(separator);
}

const C_ARRAY_PER_LINE = 12;

/** A valid C identifier from whatever the user named the array. */
function cIdentifier(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_]/g, '_');
  return cleaned === '' || /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned;
}

/**
 * A C array definition, 12 bytes a line:
 * `const unsigned char data[4] = { 0xde, 0xad, 0xbe, 0xef };`
 * No bytes gives `data[0] = {}`, which C23 and GNU C accept; ISO C before C23 has no empty array.
 */
export function toCArray(bytes: Uint8Array, name = 'data'): string {
  const head = `const unsigned char ${cIdentifier(name)}[${bytes.length}] =`;
  if (bytes.length === 0) return `${head} {};`;
  const items = new Array<string>(bytes.length);
  for (let i = 0; i < bytes.length; i++) items[i] = `0x${HEX_PAIRS[bytes[i]]}`;
  if (bytes.length <= C_ARRAY_PER_LINE) return `${head} { ${items.join(', ')} };`;
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += C_ARRAY_PER_LINE) {
    lines.push(`  ${items.slice(i, i + C_ARRAY_PER_LINE).join(', ')}`);
  }
  return `${head} {\n${lines.join(',\n')}\n};`;
}

/** Standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  return fromByteArray(bytes);
}

function dumpCharacter(byte: number): string {
  return byte >= 0x20 && byte <= 0x7e ? String.fromCharCode(byte) : '.';
}

/**
 * `hexdump -C` lines: `00000000  68 65 6c 6c 6f 0d 0a  ...  |hello..|`. The offset is
 * `startOffset` plus the line's position (at least 8 hex digits), an extra space follows every
 * 8th byte column, short lines are padded so the text column lines up, and bytes outside
 * 0x20-0x7e show as '.'. No bytes, no lines.
 */
export function hexDumpLines(bytes: Uint8Array, startOffset = 0, width = 16): string[] {
  if (!Number.isInteger(width) || width < 1) {
    throw new RangeError(`Hex dump width must be a whole number of bytes, 1 or more`);
  }
  const lines: string[] = [];
  for (let lineStart = 0; lineStart < bytes.length; lineStart += width) {
    const count = Math.min(width, bytes.length - lineStart);
    let hex = '';
    let text = '';
    for (let column = 0; column < width; column++) {
      if (column < count) {
        const byte = bytes[lineStart + column];
        hex += `${HEX_PAIRS[byte]} `;
        text += dumpCharacter(byte);
      } else {
        hex += '   ';
      }
      if ((column + 1) % 8 === 0 || column + 1 === width) hex += ' ';
    }
    const offset = (startOffset + lineStart).toString(16).padStart(8, '0');
    lines.push(`${offset}  ${hex}|${text}|`);
  }
  return lines;
}

export interface PrintableOptions {
  /** Follow each `\n` mark with a real line break, so multi-line text keeps its shape. */
  keepLineBreaks?: boolean;
  /**
   * Wraps each mark (`\r`, `\n`, `\e`, `\x01`, `\\`, `<U+0085>` …), e.g. to draw it in a
   * distinct colour. Whatever it adds is the caller's own output, never the peer's.
   */
  mark?: (mark: string) => string;
}

/** The composer's one-letter escapes, so a mark pasted into the composer sends the same byte. */
const LETTER_MARKS: Readonly<Record<number, string>> = {
  0x07: '\\a',
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0b: '\\v',
  0x0c: '\\f',
  0x0d: '\\r',
  0x1b: '\\e',
  0x5c: '\\\\',
};

/** How one control character (or a backslash) is drawn: plain ASCII, no special glyph. */
function markOf(code: number): string {
  const letter = LETTER_MARKS[code];
  if (letter !== undefined) return letter;
  if (code < 0x20 || code === 0x7f) return `\\x${HEX_PAIRS[code]}`;
  return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
}

/**
 * Text with its control characters made visible, so nothing is hidden and nothing reaches a
 * terminal as a command. Marks are plain ASCII in the composer's escape syntax, so they need no
 * special glyph (Unicode's control pictures ␍ ␊ are empty boxes where no font has them):
 * - C0 controls and DEL become escapes: \r, \n, \t, \e (ESC), \a, \b, \v, \f, and \xHH
 *   for the rest (NUL is \x00);
 * - a backslash becomes \\, so a mark and text that looks like one never read the same;
 * - C1 controls U+0080-U+009F become `<U+0085>` (as `less` shows them);
 * - everything else is unchanged. With `keepLineBreaks`, \n is followed by a real line break.
 */
export function toPrintableText(text: string, options: PrintableOptions = {}): string {
  const { keepLineBreaks = false, mark } = options;
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\x00-\x1f\x5c\x7f-\x9f]/g, (character) => {
    const code = character.charCodeAt(0);
    const drawn = mark ? mark(markOf(code)) : markOf(code);
    return code === 0x0a && keepLineBreaks ? `${drawn}\n` : drawn;
  });
}

/** The letter of each one-letter mark (`n` of `\n`), and the character it stands for. */
const LETTER_CODES: ReadonlyMap<string, number> = new Map(
  Object.entries(LETTER_MARKS).map(([code, mark]) => [mark.slice(1), Number(code)]),
);

/**
 * Undoes toPrintableText without `keepLineBreaks`: marks (`\r`, `\x01`, `\\`, `<U+0085>`) back
 * to their characters. Exact for controls and backslashes, since a backslash in the text is itself
 * drawn as a mark (text that spells `<U+0085>` itself still reads back as that C1 control).
 */
export function fromPrintableText(shown: string): string {
  return shown.replace(
    /\\(?:x([0-9a-f]{2})|([abtnvfre\\]))|<U\+(00[89][0-9A-F])>/g,
    (whole, byte?: string, letter?: string, c1?: string) => {
      if (byte !== undefined) return String.fromCharCode(parseInt(byte, 16));
      if (letter !== undefined) return String.fromCharCode(LETTER_CODES.get(letter) ?? 0);
      return c1 !== undefined ? String.fromCharCode(parseInt(c1, 16)) : whole;
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/**
 * WHATWG labels for TextDecoder. latin1 and ascii are missing on purpose: the Encoding Standard
 * maps both labels (and 'iso-8859-1') to windows-1252, which decodes 0x80 as '€' in browsers,
 * while Node 20 decodes it as U+0080. Real ISO-8859-1 is byte = code point, and ascii has no
 * bytes above 0x7f, so both are done by hand and read the same everywhere.
 */
const whatwgLabels = {
  'utf-8': 'utf-8',
  'utf-16le': 'utf-16le',
  'utf-16be': 'utf-16be',
  gbk: 'gbk',
  gb18030: 'gb18030',
  big5: 'big5',
  shift_jis: 'shift_jis',
  'euc-kr': 'euc-kr',
} as const satisfies Partial<Record<TextEncoding, string>>;

const CHUNK = 8192;

function decodeLatin1(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return out;
}

function decodeAscii(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += CHUNK) {
    const units = Array.from(bytes.subarray(i, i + CHUNK), (byte) => (byte > 0x7f ? 0xfffd : byte));
    out += String.fromCharCode(...units);
  }
  return out;
}

/** Decodes chunk by chunk: a character split across chunks is held until its last byte comes. */
export interface StreamTextDecoder {
  decode(bytes: Uint8Array, stream?: boolean): string;
}

/**
 * A decoder for display. Bytes that are not valid in the encoding become U+FFFD; a leading BOM
 * is kept (as U+FEFF), because a byte-exact view must not hide bytes.
 */
export function createTextDecoder(encoding: TextEncoding): StreamTextDecoder {
  if (encoding === 'latin1') return { decode: decodeLatin1 };
  if (encoding === 'ascii') return { decode: decodeAscii };
  const decoder = new TextDecoder(whatwgLabels[encoding], { ignoreBOM: true });
  return { decode: (bytes, stream = false) => decoder.decode(bytes, { stream }) };
}

const oneShotDecoders = new Map<TextEncoding, StreamTextDecoder>();

/** Bytes to text for display (see createTextDecoder for what happens to invalid bytes). */
export function decodeText(bytes: Uint8Array, encoding: TextEncoding): string {
  let decoder = oneShotDecoders.get(encoding);
  if (!decoder) {
    decoder = createTextDecoder(encoding);
    oneShotDecoders.set(encoding, decoder);
  }
  return decoder.decode(bytes, false);
}
