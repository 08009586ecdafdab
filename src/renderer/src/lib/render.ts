/**
 * Turns capture chunks into terminal output: text, a hexdump -C style dump, or both, coloured by
 * direction with ANSI codes so the xterm theme decides the actual colours (light and dark).
 * Everything the peer sent goes through toPrintableText first: its control bytes are shown,
 * never executed by the terminal.
 */
import type { CaptureChunk, TextEncoding } from '../../../shared/contract';
import {
  createTextDecoder,
  hexDumpLines,
  toPrintableText,
  type StreamTextDecoder,
} from '../../../shared/format';
import { formatHostPort } from '../../../shared/domain';
import { formatClock } from './display';

export const viewModes = ['text', 'hex', 'both'] as const;
export type ViewMode = (typeof viewModes)[number];
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
 * Where a byte sits in hexDumpLines' layout (16 a line, offset in 8+ hex digits and two spaces,
 * an extra space after the 8th byte): lets search select the byte it found.
 */
const HEX_BYTES_PER_LINE = 16;
export function hexDumpPosition(
  chunkOffset: number,
  offset: number,
): { linePrefix: string; column: number } {
  const byteInLine = (offset - chunkOffset) % HEX_BYTES_PER_LINE;
  const lineOffset = offset - byteInLine;
  const linePrefix = `${lineOffset.toString(16).padStart(8, '0')}  `;
  return { linePrefix, column: linePrefix.length + byteInLine * 3 + (byteInLine >= 8 ? 1 : 0) };
}

export interface RenderedChunk {
  /** Output that belongs before the chunk (ending the previous line). */
  lead: string;
  body: string;
}

export class ChunkRenderer {
  private atLineStart = true;
  private lastDir: Dir | null = null;
  private readonly decoders: Record<Dir, StreamTextDecoder>;

  constructor(
    private readonly settings: RenderSettings,
    private readonly labels: RenderLabels,
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
    const color = COLOR[chunk.dir];
    const record =
      !continuation && (mode !== 'text' || datagrams || timestamps || chunk.dir !== this.lastDir);
    const lead = record && !this.atLineStart ? NL : '';
    this.lastDir = chunk.dir;

    if (mode === 'text') {
      const text = this.decodeText(chunk);
      const header =
        !continuation && (datagrams || timestamps) ? `${this.header(chunk, datagrams)} ` : '';
      let body = `${header ? `${DIM}${header}${RESET}` : ''}${color}${text}${RESET}`;
      const visible = header + text;
      if (datagrams) {
        if (!visible.endsWith(NL)) body += NL;
        this.atLineStart = true;
      } else if (visible.length > 0) {
        this.atLineStart = visible.endsWith(NL);
      } else if (lead) {
        this.atLineStart = true;
      }
      return { lead, body };
    }

    let body = continuation ? '' : `${DIM}${this.header(chunk, true)}${RESET}${NL}`;
    if (mode === 'both') {
      const text = this.decodeText(chunk);
      body += `${color}${text}${RESET}`;
      if (!text.endsWith(NL)) body += NL;
    }
    const hexColor = mode === 'both' ? DIM : color;
    for (const line of hexDumpLines(chunk.bytes, chunk.offset, HEX_BYTES_PER_LINE))
      body += `${hexColor}${line}${RESET}${NL}`;
    this.atLineStart = true;
    return { lead, body };
  }

  /** A line of commentary from the workbench itself (skipped bytes, read errors). */
  note(text: string): string {
    const lead = this.atLineStart ? '' : NL;
    this.atLineStart = true;
    this.lastDir = null;
    return `${lead}${DIM}${text}${RESET}${NL}`;
  }

  private decodeText(chunk: CaptureChunk): string {
    const text = this.decoders[chunk.dir].decode(chunk.bytes, !this.settings.datagrams);
    return toPrintableText(text, { keepLineBreaks: true, mark: markStyle }).replaceAll('\n', NL);
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
