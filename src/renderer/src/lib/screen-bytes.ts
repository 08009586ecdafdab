/**
 * Which capture bytes the cells on a terminal's screen show: what a selection covers, and which
 * cells a range of bytes (a search match) was drawn in. Dump lines are mapped by their layout;
 * text lines by reading their bytes back (capture.read) and decoding them again as they were
 * drawn (text-cells.ts). Used by the terminal writer; DOM only.
 */
import type { Terminal } from '@xterm/xterm';
import { MAX_CAPTURE_READ } from '../../../shared/contract';
import {
  dumpByteAt,
  dumpHexCell,
  dumpLineCells,
  dumpPrefixCells,
  type RenderSettings,
} from './render';
import { LineMap, readCells, type LineInfo, type LineRows } from './line-map';
import type { Session } from './session.svelte';
import { mapTextLine, type CellBytes } from './text-cells';

/** Capture bytes [from, to), e.g. what a selection covers. */
export interface ByteRange {
  from: number;
  to: number;
}

/** Bytes of a text line read back from the capture (null: gone from the capture). */
interface LineBytes {
  from: number;
  bytes: Uint8Array;
}
export type ReadBack = Map<number, LineBytes | null>;
export interface ReadRequest {
  line: number;
  from: number;
  to: number;
}

/** A drawn cell and the capture bytes [from, to) it shows. */
interface MappedCell {
  row: number;
  col: number;
  width: number;
  from: number;
  to: number;
  /** Dump lines: a cell of the character column, which repeats the bytes of the hex digits. */
  chars?: boolean;
}

/** A line's drawn cells with their bytes; `head`/`tail`: the first/last is the line's own. */
interface LineCells {
  cells: MappedCell[];
  head: boolean;
  tail: boolean;
}

/** Rows of a line (inclusive) whose cells are to be matched to bytes. */
interface NeededRows {
  from: number;
  to: number;
}

/**
 * Text lines are matched to bytes from their start (rows [rowFrom, rowTo] from the first, bytes
 * [from, to) from the line's start) or from their end.
 */
interface TextPlan {
  forward: boolean;
  rowFrom: number;
  rowTo: number;
  from: number;
  to: number;
}

/**
 * The most cells a byte draws (`\x00` takes four) and, near enough, the most bytes a cell
 * shows (a 4-byte UTF-8 character; combining marks stacked on one cell can take more).
 */
const BYTES_PER_CELL = 4;

/** A position in the buffer, compared row first. */
interface Position {
  row: number;
  col: number;
}

function before(a: Position, b: Position): boolean {
  return a.row < b.row || (a.row === b.row && a.col < b.col);
}

/** What is on screen now: the endpoint and how its bytes are drawn. */
interface Shown {
  id: string | null;
  settings: RenderSettings | null;
}

export class ScreenBytes {
  constructor(
    private readonly term: Terminal,
    private readonly map: LineMap,
    private readonly session: Session,
    private readonly shown: () => Shown,
  ) {}

  /**
   * Reads back the bytes of text lines (what the mapping of their cells needs), into `read`.
   * Bytes the capture limit deleted meanwhile come back as null.
   */
  async readLines(requests: ReadRequest[], read: ReadBack): Promise<void> {
    const id = this.shown().id;
    await Promise.all(
      requests.map(async ({ line, from, to }) => {
        const bytes = new Uint8Array(to - from);
        let at = from;
        while (id !== null && at < to) {
          const result = await this.session.invoke('capture.read', {
            id,
            offset: at,
            length: Math.min(MAX_CAPTURE_READ, to - at),
          });
          if (!result.ok || result.value.keptFrom > at) {
            read.set(line, null);
            return;
          }
          const before = at;
          for (const chunk of result.value.chunks) {
            const chunkEnd = Math.min(to, chunk.offset + chunk.bytes.length);
            if (chunkEnd <= at || chunk.offset > at) continue;
            bytes.set(chunk.bytes.subarray(at - chunk.offset, chunkEnd - chunk.offset), at - from);
            at = chunkEnd;
          }
          // Nothing more to read here (the capture ends, or lists only empty datagrams at `at`).
          if (at === before) break;
        }
        read.set(line, { from, bytes: bytes.subarray(0, at - from) });
      }),
    );
  }

  /**
   * How the cells of a text line's rows `need` are matched to its bytes: from the line's start
   * (its first row to the last needed, and its bytes from the start) or, when that is shorter or
   * the start has left the scrollback, from its end. Either way only as many bytes are read as
   * those cells can show (a few a cell).
   */
  private textPlan(info: LineInfo, rows: LineRows, need: NeededRows): TextPlan {
    const cols = this.term.cols;
    const window = (count: number): number =>
      Math.min(MAX_CAPTURE_READ, count * cols * BYTES_PER_CELL + info.header + 64);
    if (rows.first >= 0 && need.to - rows.first <= rows.last - need.from) {
      const to = Math.min(info.end, info.start + window(need.to - rows.first + 1));
      return { forward: true, rowFrom: rows.first, rowTo: need.to, from: info.start, to };
    }
    let from = Math.max(info.start, info.end - window(rows.last - need.from + 1));
    // UTF-16 is decoded from the line's start a unit at a time.
    if (this.shown().settings?.decoding.startsWith('utf-16')) from -= (from - info.start) % 2;
    return { forward: false, rowFrom: need.from, rowTo: rows.last, from, to: info.end };
  }

  /**
   * The drawn cells of a line and the bytes each shows: by the dump layout, or for text by
   * lining the cells of the rows `need` up with the line's bytes, read back (`need` when they are
   * still to read). `head`/`tail`: the first/last cell is the line's first/last.
   */
  private lineCells(
    line: number,
    info: LineInfo,
    rows: LineRows,
    read: ReadBack,
    need: NeededRows,
  ): LineCells | { need: ReadRequest } | null {
    const cols = this.term.cols;
    if (info.kind === 'dump') {
      const prefix = dumpPrefixCells(info.start);
      const count = info.end - info.start;
      const length = dumpLineCells(prefix, count);
      const top = rows.last - Math.floor((length - 1) / cols);
      const cells: MappedCell[] = [];
      for (let cell = 0; cell < length; cell++) {
        const byte = dumpByteAt(prefix, count, cell);
        if (byte < 0) continue;
        const row = top + Math.floor(cell / cols);
        if (row < 0) continue;
        const from = info.start + byte;
        const chars = cell >= dumpHexCell(prefix, count);
        cells.push({ row, col: cell % cols, width: 1, from, to: from + 1, chars });
      }
      return { cells, head: false, tail: false };
    }
    const settings = this.shown().settings;
    if (!settings) return null;
    const plan = this.textPlan(info, rows, need);
    const data = read.get(line);
    if (data === null) return null;
    const usable =
      data !== undefined &&
      data.from <= plan.from &&
      data.from + data.bytes.length >= plan.to &&
      (!plan.forward || data.from === info.start);
    if (!usable) {
      read.delete(line);
      return { need: { line, from: plan.from, to: plan.to } };
    }
    const run = readCells(this.term.buffer.active, plan.rowFrom, plan.rowTo);
    const bytes: CellBytes = mapTextLine(
      info,
      run.texts,
      data.bytes.subarray(0, Math.max(0, info.end - data.from)),
      data.from,
      settings.decoding,
      settings.datagrams,
      plan.forward,
    );
    const cells: MappedCell[] = [];
    for (let i = 0; i < run.texts.length; i++) {
      const from = bytes.from[i] as number;
      if (from < 0) continue;
      const cell = {
        row: run.rows[i] as number,
        col: run.cols[i] as number,
        width: run.widths[i] as number,
      };
      cells.push({ ...cell, from, to: bytes.to[i] as number });
    }
    return { cells, head: plan.forward, tail: plan.rowTo === rows.last };
  }

  /** What selectionRange answers, or the bytes to read first. */
  selectedBytes(read: ReadBack): ByteRange | { need: ReadRequest[] } | null {
    const selected = this.term.getSelectionPosition();
    if (!selected) return null;
    const buffer = this.term.buffer.active;
    const cursorRow = buffer.baseY + buffer.cursorY;
    // xterm's selection: from the start cell up to, not including, the end cell.
    const start: Position = { row: selected.start.y, col: selected.start.x };
    let end: Position = { row: selected.end.y, col: selected.end.x };
    if (start.row > cursorRow) return null;
    if (end.row > cursorRow) end = { row: cursorRow, col: this.term.cols };
    const first = this.map.lineAt(buffer, start.row);
    const last = this.map.lineAt(buffer, end.row);
    if (!first || !last) return null;
    let from = Number.POSITIVE_INFINITY;
    let to = Number.NEGATIVE_INFINITY;
    const need: ReadRequest[] = [];
    for (let line = first.line; line <= last.line; line++) {
      const info = this.map.info(line);
      if (!info) continue;
      const isFirst = line === first.line;
      const isLast = line === last.line;
      if (!isFirst && !isLast) {
        from = Math.min(from, info.start);
        to = Math.max(to, info.end);
        continue;
      }
      const rows = isFirst ? first : last;
      // The rows with the selection's ends; the rest of the line is selected whole.
      const needed: NeededRows = {
        from: isFirst ? start.row : Math.max(0, rows.first),
        to: isLast ? end.row : Math.min(rows.last, start.row + 1),
      };
      const mapped = this.lineCells(line, info, rows, read, needed);
      if (mapped === null) continue;
      if ('need' in mapped) {
        need.push(mapped.need);
        continue;
      }
      const { cells } = mapped;
      const inside = (cell: MappedCell): boolean =>
        (!isFirst || !before({ row: cell.row, col: cell.col + cell.width - 1 }, start)) &&
        (!isLast || before(cell, end));
      // In a dump line the bytes are those whose hex digits are selected; only where none are,
      // those whose characters are (the character column repeats the bytes).
      const hex = { from: Number.POSITIVE_INFINITY, to: Number.NEGATIVE_INFINITY };
      const chars = { from: Number.POSITIVE_INFINITY, to: Number.NEGATIVE_INFINITY };
      for (const cell of cells) {
        if (!inside(cell)) continue;
        const span = cell.chars ? chars : hex;
        span.from = Math.min(span.from, cell.from);
        span.to = Math.max(span.to, cell.to);
      }
      const span = hex.from < hex.to ? hex : chars;
      from = Math.min(from, span.from);
      to = Math.max(to, span.to);
      if (info.kind !== 'text') continue;
      // A text line selected to an edge takes the bytes there that draw nothing on it: the end
      // of a character begun on the line before, the start of one completed on the next.
      const head = cells[0];
      const tail = cells.at(-1);
      if (!isFirst || (mapped.head && head && inside(head))) from = Math.min(from, info.start);
      if (!isLast || (mapped.tail && tail && inside(tail))) to = Math.max(to, info.end);
    }
    if (need.length > 0) return { need };
    return from < to ? { from, to } : null;
  }

  /**
   * The cells of the bytes [offset, lastByte] in the view's main representation (dump lines in
   * the dump modes, text in text mode), or `need` when text lines' bytes are still to read.
   */
  matchCells(
    offset: number,
    lastByte: number,
    read: ReadBack,
  ): { start: MappedCell; end: MappedCell } | { need: ReadRequest[] } | null {
    const kind = this.shown().settings?.mode === 'text' ? 'text' : 'dump';
    const buffer = this.term.buffer.active;
    const firstLine = this.map.find(offset, kind);
    let lastLine = this.map.find(lastByte, kind);
    if (lastLine < firstLine) lastLine = firstLine;
    const need: ReadRequest[] = [];
    const found: MappedCell[][] = [];
    for (const line of firstLine === lastLine ? [firstLine] : [firstLine, lastLine]) {
      const info = this.map.info(line);
      const rows = this.map.rowsOf(buffer, line);
      if (!info || !rows) {
        if (line === firstLine) return null;
        continue;
      }
      // The rows the bytes can be on, at most a few cells a byte from either end of the line.
      const lo = line === firstLine ? offset : lastByte;
      const hi = line === lastLine ? lastByte : offset;
      const cols = this.term.cols;
      const top = Math.max(0, rows.first);
      const needed: NeededRows = {
        from: Math.max(top, rows.last - Math.ceil(((info.end - lo) * BYTES_PER_CELL) / cols)),
        to: Math.min(
          rows.last,
          top + Math.ceil(((hi + 1 - info.start) * BYTES_PER_CELL + info.header) / cols),
        ),
      };
      const cells = this.lineCells(line, info, rows, read, needed);
      if (cells === null) {
        if (line === firstLine) return null;
        continue;
      }
      if ('need' in cells) need.push(cells.need);
      else found.push(cells.cells.filter((cell) => !cell.chars));
    }
    if (need.length > 0) return { need };
    const startCells = found[0] ?? [];
    const endCells = found.at(-1) ?? [];
    // A character split across two records is drawn on the second, whose line holds the rest.
    const start =
      startCells.find((cell) => cell.to > offset) ?? endCells.find((cell) => cell.to > offset);
    if (!start) return null;
    let end = start;
    for (const cell of endCells) {
      if (cell.from > lastByte) break;
      if (!before(cell, start)) end = cell;
    }
    return { start, end };
  }
}
