/**
 * Turns capture chunks into terminal output: text, a hexdump -C style dump, or both, coloured by
 * direction with ANSI codes so the xterm theme decides the actual colours (light and dark).
 * Everything the peer sent goes through toPrintableText first: its control bytes are shown,
 * never executed by the terminal.
 */
import type { CaptureChunk, TextEncoding, ViewMode } from '../../../shared/contract';
import {
  createTextDecoder,
  hexDumpLines,
  toPrintableText,
  type StreamTextDecoder,
} from '../../../shared/format';
import { formatHostPort } from '../../../shared/domain';
import { formatClock } from './display';
import type { LineSink } from './line-map';

// The contract declares them: a workspace keeps the view mode too.
export { viewModes, type ViewMode } from '../../../shared/contract';
type Dir = CaptureChunk['dir'];

export interface RenderSettings {
  mode: ViewMode;
  decoding: TextEncoding;
  timestamps: boolean;
  /** UDP: every chunk is a datagram, shown as its own record with its peer. */
  datagrams: boolean;
}

export interface RenderLabels {
  received: string;
  sent: string;
  bytes: (n: number) => string;
}

const CSI = '\x1b[';
const RESET = `${CSI}0m`;
const DIM = `${CSI}90m`;
const COLOR: Record<Dir, string> = { in: `${CSI}32m`, out: `${CSI}34m` };
const ARROW: Record<Dir, string> = { in: '←', out: '→' };
const NL = '\r\n';
/**
 * Marks for control characters (`\r`, `\n`, `\e` …) are drawn faint in the direction's colour,
 * so they read apart from the same characters sent as text. SGR 22 ends only the faintness.
 */
const markStyle = (mark: string): string => `${CSI}2m${mark}${CSI}22m`;

/**
 * Large chunks are rendered this many bytes at a time (a multiple of the dump's line width, so
 * the dump's lines fall exactly where they would for the whole chunk).
 */
export const RENDER_SLICE_BYTES = 4 * 1024;

/**
 * hexDumpLines' layout, 16 bytes a line: the line's capture offset in at least 8 hex digits and
 * two spaces, each byte's two hex digits and a space (one more after the 8th byte), then the
 * bytes as characters between bars. The line map uses it to tell which byte a cell shows.
 */
export const HEX_BYTES_PER_LINE = 16;
const DUMP_HEX_CELLS = HEX_BYTES_PER_LINE * 3 + 2;

/** Cells before the first hex digit of the dump line that starts at `lineOffset`. */
export function dumpPrefixCells(lineOffset: number): number {
  return Math.max(8, lineOffset.toString(16).length) + 2;
}

/** The cells of a dump line of `count` bytes. */
export function dumpLineCells(prefix: number, count: number): number {
  return prefix + DUMP_HEX_CELLS + count + 2;
}

/** The cell of the first hex digit of byte `index` (from 0) of a dump line. */
export function dumpHexCell(prefix: number, index: number): number {
  return prefix + index * 3 + (index >= 8 ? 1 : 0);
}

/** The byte (from 0) a cell of a dump line shows, as hex digits or as a character; -1 if none. */
export function dumpByteAt(prefix: number, count: number, cell: number): number {
  const hex = cell - prefix;
  if (hex < 0) return -1;
  if (hex < DUMP_HEX_CELLS) {
    const column = hex < 24 ? hex : hex - 1;
    const index = Math.floor(column / 3);
    const digit = hex !== 24 && column % 3 < 2;
    return digit && index < count ? index : -1;
  }
  const char = hex - DUMP_HEX_CELLS - 1;
  return char >= 0 && char < count ? char : -1;
}

const ignoreLines: LineSink = {
  newline: () => {},
  header: () => {},
  text: () => {},
  dump: () => {},
  unmapped: () => {},
};

export interface RenderedChunk {
  /** Output that belongs before the chunk (ending the previous line). */
  lead: string;
  body: string;
}

export class ChunkRenderer {
  private atLineStart = true;
  private lastDir: Dir | null = null;
  private readonly decoders: Record<Dir, StreamTextDecoder>;
  /** UTF-16: the byte of a unit whose second byte has not come yet, per direction (or -1). */
  private readonly oddByte: Record<Dir, number> = { in: -1, out: -1 };

  /**
   * `lines` is told, as the output is built, where each line starts (every CRLF the renderer
   * emits) and which capture bytes it shows, so that cells on screen map back to bytes.
   */
  constructor(
    private readonly settings: RenderSettings,
    private readonly labels: RenderLabels,
    private readonly lines: LineSink = ignoreLines,
  ) {
    this.decoders = {
      in: createTextDecoder(settings.decoding),
      out: createTextDecoder(settings.decoding),
    };
  }

  /**
   * `continuation`: this is the next slice of the chunk rendered last (large chunks are rendered
   * in slices so the page stays responsive), so it gets no header and starts no new record.
   */
  render(chunk: CaptureChunk, continuation = false): RenderedChunk {
    const { mode, timestamps, datagrams } = this.settings;
    const lines = this.lines;
    const color = COLOR[chunk.dir];
    const record =
      !continuation && (mode !== 'text' || datagrams || timestamps || chunk.dir !== this.lastDir);
    const lead = record && !this.atLineStart ? NL : '';
    if (lead) lines.newline();
    this.lastDir = chunk.dir;

    if (mode === 'text') {
      const header =
        !continuation && (datagrams || timestamps) ? `${this.header(chunk, datagrams)} ` : '';
      if (header) lines.header(header.length);
      const text = this.decodeText(chunk);
      let body = `${header ? `${DIM}${header}${RESET}` : ''}${color}${text}${RESET}`;
      const visible = header + text;
      if (datagrams) {
        if (!visible.endsWith(NL)) {
          body += NL;
          lines.newline();
        }
        this.atLineStart = true;
      } else if (visible.length > 0) {
        this.atLineStart = visible.endsWith(NL);
      } else if (lead) {
        this.atLineStart = true;
      }
      return { lead, body };
    }

    let body = '';
    if (!continuation) {
      body = `${DIM}${this.header(chunk, true)}${RESET}${NL}`;
      lines.newline();
    }
    if (mode === 'both') {
      const text = this.decodeText(chunk);
      body += `${color}${text}${RESET}`;
      if (!text.endsWith(NL)) {
        body += NL;
        lines.newline();
      }
    }
    const hexColor = mode === 'both' ? DIM : color;
    let lineOffset = chunk.offset;
    for (const line of hexDumpLines(chunk.bytes, chunk.offset, HEX_BYTES_PER_LINE)) {
      body += `${hexColor}${line}${RESET}${NL}`;
      const count = Math.min(HEX_BYTES_PER_LINE, chunk.offset + chunk.bytes.length - lineOffset);
      lines.dump(lineOffset, count);
      lines.newline();
      lineOffset += HEX_BYTES_PER_LINE;
    }
    this.atLineStart = true;
    return { lead, body };
  }

  /** A line of commentary from the workbench itself (skipped bytes, read errors). */
  note(text: string): string {
    const lead = this.atLineStart ? '' : NL;
    if (lead) this.lines.newline();
    this.lines.newline();
    this.atLineStart = true;
    this.lastDir = null;
    return `${lead}${DIM}${text}${RESET}${NL}`;
  }

  private decodeText(chunk: CaptureChunk): string {
    const text = this.decoders[chunk.dir].decode(chunk.bytes, !this.settings.datagrams);
    this.textLines(chunk, text);
    return toPrintableText(text, { keepLineBreaks: true, mark: markStyle }).replaceAll('\n', NL);
  }

  /**
   * Tells the line map which bytes each line of a chunk's text shows. A line break follows each
   * `\n` of the text, whose byte 0x0a (no other byte of these encodings decodes to it, and it is
   * never part of another character) or UTF-16 unit is found in the bytes by a plain search.
   */
  private textLines(chunk: CaptureChunk, text: string): void {
    const { offset, bytes } = chunk;
    const lines = this.lines;
    // Stream text may begin with a character whose first bytes came before (a slice or chunk
    // boundary); datagrams are decoded one by one.
    const boundary = !this.settings.datagrams;
    let breaks = 0;
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) breaks++;
    const utf16 = this.settings.decoding === 'utf-16le' || this.settings.decoding === 'utf-16be';
    const ends = breaks > 0 || utf16 ? this.breakEnds(chunk) : [];
    let from = 0;
    for (let i = 0; i < breaks; i++) {
      const end = ends[i];
      if (end === undefined) {
        // Never expected: the text's line breaks are not where the bytes say. The lines are
        // drawn all the same, but none of them maps back to bytes.
        lines.unmapped();
        lines.newline();
        from = bytes.length;
        continue;
      }
      lines.text(offset + from, offset + end, boundary && from === 0);
      lines.newline();
      from = end;
    }
    if (from < bytes.length)
      lines.text(offset + from, offset + bytes.length, boundary && from === 0);
  }

  /** Where each line break's bytes end in a chunk (UTF-16 units may straddle two chunks). */
  private breakEnds(chunk: CaptureChunk): number[] {
    const { bytes, dir } = chunk;
    const ends: number[] = [];
    const encoding = this.settings.decoding;
    if (encoding !== 'utf-16le' && encoding !== 'utf-16be') {
      for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1))
        ends.push(at + 1);
      return ends;
    }
    const le = encoding === 'utf-16le';
    const isBreak = (first: number, second: number): boolean =>
      le ? first === 0x0a && second === 0x00 : first === 0x00 && second === 0x0a;
    const stream = !this.settings.datagrams;
    const odd = stream ? this.oddByte[dir] : -1;
    if (bytes.length === 0) return ends;
    let at = 0;
    if (odd >= 0) {
      if (isBreak(odd, bytes[0] as number)) ends.push(1);
      at = 1;
    }
    for (; at + 1 < bytes.length; at += 2) {
      if (isBreak(bytes[at] as number, bytes[at + 1] as number)) ends.push(at + 2);
    }
    this.oddByte[dir] = stream && at < bytes.length ? (bytes[at] as number) : -1;
    return ends;
  }

  private header(chunk: CaptureChunk, full: boolean): string {
    const parts: string[] = [];
    if (this.settings.timestamps) parts.push(formatClock(chunk.at));
    parts.push(ARROW[chunk.dir]);
    if (full) parts.push(chunk.dir === 'in' ? this.labels.received : this.labels.sent);
    if (chunk.peer) parts.push(formatHostPort(chunk.peer.host, chunk.peer.port));
    if (full) parts.push(this.labels.bytes(chunk.bytes.length));
    return parts.join(' ');
  }
}
