/**
 * The text exports (docs/export.md): a classic hex dump and a transcript, each chunk a block that
 * starts with a header line. A chunk may come in pieces (big ones are read a piece at a time);
 * pieces of one chunk continue where the last one stopped.
 */

export interface ChunkHeading {
  /** Capture time, ms since the epoch. */
  at: number;
  /** 0 received, 1 sent. */
  dir: number;
  endpointId: string;
  /** The other end: `host:port`, `[v6]:port` or a socket path. */
  peer: string;
  size: number;
  streamOffset: number;
}

/** `2026-12-02T05:19:05.123Z >> conn-2 127.0.0.1:5555 (5 bytes)`: `>>` sent, `<<` received. */
export function headingLine(chunk: ChunkHeading): string {
  const arrow = chunk.dir === 1 ? '>>' : '<<';
  const bytes = chunk.size === 1 ? '1 byte' : `${chunk.size} bytes`;
  return `${new Date(chunk.at).toISOString()} ${arrow} ${chunk.endpointId} ${chunk.peer} (${bytes}, stream offset ${chunk.streamOffset})\n`;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
const HEX_DIGIT = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const [SPACE, BAR, DOT, NEWLINE] = [0x20, 0x7c, 0x2e, 0x0a];
/** A hex dump line past its offset: two spaces, 16 × 3 + 1 of hex, " |", 16 of ASCII, "|\n". */
const HEX_LINE_REST = 2 + 49 + 2 + 16 + 2;

/**
 * Hex dump lines, 16 bytes each: the stream offset of the line's first byte (8+ hex digits), the
 * bytes in hex (a wider gap after the eighth), and the bytes as ASCII between bars (`.` for
 * anything else). `offset` is the stream offset of `bytes[0]`; pieces of a chunk are whole lines
 * but for the chunk's last one.
 */
export function hexLines(bytes: Uint8Array, offset: number): string {
  // Written as bytes and made a string once: a string built a byte at a time cost about half a
  // microsecond a byte.
  const length = bytes.byteLength;
  const offsetDigits = Math.max(8, (offset + length).toString(16).length);
  const out = Buffer.allocUnsafe(Math.ceil(length / 16) * (offsetDigits + HEX_LINE_REST));
  let at = 0;
  for (let line = 0; line < length; line += 16) {
    at += out.write((offset + line).toString(16).padStart(8, '0'), at, 'latin1');
    out[at++] = SPACE;
    out[at++] = SPACE;
    const count = Math.min(16, length - line);
    for (let i = 0; i < 16; i++) {
      if (i === 8) out[at++] = SPACE;
      if (i < count) {
        const b = bytes[line + i] as number;
        out[at++] = HEX_DIGIT[b >> 4] as number;
        out[at++] = HEX_DIGIT[b & 15] as number;
      } else {
        out[at++] = SPACE;
        out[at++] = SPACE;
      }
      out[at++] = SPACE;
    }
    out[at++] = SPACE;
    out[at++] = BAR;
    for (let i = 0; i < count; i++) {
      const b = bytes[line + i] as number;
      out[at++] = b >= 0x20 && b < 0x7f ? b : DOT;
    }
    out[at++] = BAR;
    out[at++] = NEWLINE;
  }
  return out.toString('latin1', 0, at);
}

/** How each byte is written in a transcript. */
const ESCAPED = Array.from({ length: 256 }, (_, b) => {
  if (b === 0x5c) return '\\\\';
  if (b === 0x0d) return '\\r';
  // The escape, then a real line break so that lines of text stay lines; a reader drops it.
  if (b === 0x0a) return '\\n\n';
  if (b === 0x09) return '\\t';
  if (b >= 0x20 && b < 0x7f) return String.fromCharCode(b);
  return `\\x${HEX[b]}`;
});

/** Each byte's escape as character codes (all ASCII), for transcriptText. */
const ESCAPED_CODES = ESCAPED.map((text) => Array.from(text, (c) => c.charCodeAt(0)));
/** The longest escape: `\\xff`. */
const ESCAPE_MAX = 4;

/** A piece of a chunk's bytes as transcript text: printable ASCII as is, the rest escaped. */
export function transcriptText(bytes: Uint8Array): string {
  // Written as bytes and made a string once, like hexLines.
  const out = Buffer.allocUnsafe(bytes.byteLength * ESCAPE_MAX);
  let at = 0;
  for (let i = 0; i < bytes.byteLength; i++) {
    const b = bytes[i] as number;
    if (b >= 0x20 && b < 0x7f && b !== 0x5c) {
      out[at++] = b;
      continue;
    }
    for (const code of ESCAPED_CODES[b] as number[]) out[at++] = code;
  }
  return out.toString('latin1', 0, at);
}

/**
 * What ends a transcript block: a line break if the text did not end with one, then an empty
 * line (the text never has an empty line: every real line break follows a `\n` escape).
 */
export function transcriptEnd(lastText: string): string {
  return lastText.endsWith('\n') ? '\n' : '\n\n';
}

/** Reads a transcript block's text back into bytes (the inverse of transcriptText). */
export function parseTranscriptText(lines: string[]): Uint8Array {
  const text = lines.join('');
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c !== '\\') {
      bytes.push(c.charCodeAt(0));
      continue;
    }
    const e = text[++i];
    if (e === '\\') bytes.push(0x5c);
    else if (e === 'r') bytes.push(0x0d);
    else if (e === 'n') bytes.push(0x0a);
    else if (e === 't') bytes.push(0x09);
    else if (e === 'x') {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    }
  }
  return Uint8Array.from(bytes);
}
