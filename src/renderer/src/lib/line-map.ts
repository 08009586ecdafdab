/**
 * The terminal's line map: which capture bytes each logical line the writer drew shows, so that
 * cells on screen map back to capture offsets (copying a selection) and offsets to cells
 * (showing a search match).
 *
 * A logical line is what lies between two of the CRLFs the renderer emits; xterm wraps it over
 * rows it marks `isWrapped`. The map keeps the most recent lines in the order written, in a ring
 * about the size of the scrollback, a few numbers each: no xterm marker per line (markers cost
 * time on every scrollback trim). A buffer row is matched to its line by walking from the cursor
 * row, whose line is known, up to it, counting the rows that start a line.
 *
 * What a line shows:
 * - text: the bytes [start, end) as printable text, after `header` cells' worth of header text
 *   (UTF-16 code units). Which cell shows which of those bytes is worked out when needed, from
 *   the bytes themselves (capture.read) and the cells' characters (text-cells.ts);
 * - dump: a hexdump -C line of the bytes [start, end), whose layout says where each byte is;
 * - anything else (notes, dump headers): no bytes.
 */
import type { IBuffer, IBufferCell } from '@xterm/xterm';

/** What the renderer reports while it builds the terminal's output, in output order. */
export interface LineSink {
  /** A CRLF was emitted: the next logical line begins. */
  newline(): void;
  /** Header text (`units` UTF-16 code units) on the current line, before its bytes. */
  header(units: number): void;
  /**
   * The capture bytes [from, to) drawn as text on the current line. `boundary`: they start a
   * slice of stream text, so the first character drawn may hold bytes from before `from`.
   */
  text(from: number, to: number, boundary: boolean): void;
  /** The current line is a hex dump line of the `count` bytes from `offset`. */
  dump(offset: number, count: number): void;
  /** The current line does not map to bytes, whatever it was told. */
  unmapped(): void;
}

const OTHER = 0;
const TEXT = 1;
const DUMP = 2;
const BROKEN = 3;
const KIND = 3;
const BOUNDARY = 4;

export interface LineInfo {
  kind: 'text' | 'dump';
  /** Capture offsets of the bytes the line shows, as far as xterm has drawn it. */
  start: number;
  end: number;
  /** Text lines: header code units before the bytes. */
  header: number;
  /** Text lines: the first character drawn may hold bytes from before `start`. */
  boundary: boolean;
}

/**
 * A line's rows in the buffer: [first, last], first -1 when the line's top rows have left the
 * scrollback (then only [0, last] is there).
 */
export interface LineRows {
  line: number;
  first: number;
  last: number;
}

/**
 * Lines kept besides the scrollback: the viewport's rows, and lines written but not yet parsed
 * by xterm (while it catches up, the oldest lines on screen may be forgotten for a moment).
 */
const EXTRA_LINES = 2048;

export class LineMap implements LineSink {
  private readonly capacity: number;
  private readonly kinds: Uint8Array;
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  private readonly headers: Uint32Array;
  /** Lines are numbered from 0 (since the last reset) in the order written: the newest. */
  private newest = 0;
  /** The oldest line still in the ring. */
  private oldest = 0;
  /** Changes on every reset: what xterm parses of writes from before it is ignored. */
  private generation = 0;
  /**
   * The line of xterm's cursor row, as of the last write xterm parsed, and how far that line's
   * bytes went then (NaN: none yet). -1: nothing of this generation parsed yet.
   */
  private cursorLine = -1;
  private cursorEnd = Number.NaN;

  constructor(scrollback: number) {
    this.capacity = scrollback + EXTRA_LINES;
    this.kinds = new Uint8Array(this.capacity);
    this.starts = new Float64Array(this.capacity);
    this.ends = new Float64Array(this.capacity);
    this.headers = new Uint32Array(this.capacity);
    this.clearSlot(0);
  }

  /** Forgets every line: the terminal was reset. Returns the new generation. */
  reset(): number {
    this.generation++;
    this.newest = 0;
    this.oldest = 0;
    this.cursorLine = -1;
    this.cursorEnd = Number.NaN;
    this.clearSlot(0);
    return this.generation;
  }

  get epoch(): number {
    return this.generation;
  }

  /** The line output built so far ends on. */
  get line(): number {
    return this.newest;
  }

  /** How far the bytes of the line output ends on go, NaN if it shows none yet. */
  get lineEnd(): number {
    const slot = this.slot(this.newest);
    return (this.kinds[slot] as number) & KIND ? (this.ends[slot] as number) : Number.NaN;
  }

  /**
   * xterm has parsed the writes of generation `epoch` up to one built when the output ended on
   * line `line`, whose bytes then went up to `end`.
   */
  parsed(epoch: number, line: number, end: number): void {
    if (epoch !== this.generation) return;
    this.cursorLine = line;
    this.cursorEnd = end;
  }

  // LineSink ------------------------------------------------------------------------------------

  newline(): void {
    this.newest++;
    if (this.newest - this.oldest >= this.capacity) this.oldest = this.newest - this.capacity + 1;
    this.clearSlot(this.slot(this.newest));
  }

  header(units: number): void {
    const slot = this.slot(this.newest);
    this.headers[slot] = (this.headers[slot] as number) + units;
  }

  text(from: number, to: number, boundary: boolean): void {
    if (to <= from) return;
    const slot = this.slot(this.newest);
    const kind = (this.kinds[slot] as number) & KIND;
    if (kind === OTHER) {
      this.kinds[slot] = TEXT | (boundary ? BOUNDARY : 0);
      this.starts[slot] = from;
      this.ends[slot] = to;
    } else if (kind === TEXT && this.ends[slot] === from) {
      this.ends[slot] = to;
    } else {
      this.kinds[slot] = BROKEN;
    }
  }

  dump(offset: number, count: number): void {
    const slot = this.slot(this.newest);
    this.kinds[slot] = (this.kinds[slot] as number) & KIND ? BROKEN : DUMP;
    this.starts[slot] = offset;
    this.ends[slot] = offset + count;
  }

  unmapped(): void {
    this.kinds[this.slot(this.newest)] = BROKEN;
  }

  // Queries -------------------------------------------------------------------------------------

  /** What line `line` shows, as far as xterm has drawn it; null when it shows no bytes. */
  info(line: number): LineInfo | null {
    if (line < this.oldest || line > this.cursorLine || line < 0) return null;
    const slot = this.slot(line);
    const flags = this.kinds[slot] as number;
    const kind = flags & KIND;
    if (kind !== TEXT && kind !== DUMP) return null;
    const start = this.starts[slot] as number;
    let end = this.ends[slot] as number;
    if (line === this.cursorLine) {
      // Bytes built onto the cursor's line after the last write xterm parsed are not drawn yet.
      if (Number.isNaN(this.cursorEnd)) return null;
      end = Math.min(end, this.cursorEnd);
    }
    if (end <= start) return null;
    return {
      kind: kind === TEXT ? 'text' : 'dump',
      start,
      end,
      header: this.headers[slot] as number,
      boundary: (flags & BOUNDARY) !== 0,
    };
  }

  /** True when line `line` is written but xterm has not parsed it yet. */
  pending(line: number): boolean {
    return line > this.cursorLine && line <= this.newest;
  }

  /**
   * The newest line of the given kind showing capture offset `offset` (written, perhaps not
   * drawn yet), or -1. Lines of a kind show bytes in capture order, so the search stops at the
   * first one that ends before the offset.
   */
  find(offset: number, kind: 'text' | 'dump'): number {
    const wanted = kind === 'text' ? TEXT : DUMP;
    for (let line = this.newest; line >= this.oldest; line--) {
      const slot = this.slot(line);
      if (((this.kinds[slot] as number) & KIND) !== wanted) continue;
      if ((this.ends[slot] as number) <= offset) return -1;
      if ((this.starts[slot] as number) <= offset) return line;
    }
    return -1;
  }

  /** The cursor's row and line, null before anything of this generation was parsed. */
  private cursor(buffer: IBuffer): { row: number; line: number } | null {
    if (this.cursorLine < 0) return null;
    return { row: buffer.baseY + buffer.cursorY, line: this.cursorLine };
  }

  /** The line buffer row `row` belongs to, and that line's rows; null below the cursor. */
  lineAt(buffer: IBuffer, row: number): LineRows | null {
    const cursor = this.cursor(buffer);
    if (!cursor || row < 0 || row > cursor.row) return null;
    let line = cursor.line;
    for (let r = cursor.row; r > row; r--) if (!isWrapped(buffer, r)) line--;
    let first = row;
    while (first > 0 && isWrapped(buffer, first)) first--;
    if (isWrapped(buffer, first)) first = -1;
    let last = row;
    while (last < cursor.row && isWrapped(buffer, last + 1)) last++;
    return { line, first, last };
  }

  /** The rows of line `line`, null when it is not in the buffer (or not parsed yet). */
  rowsOf(buffer: IBuffer, line: number): LineRows | null {
    const cursor = this.cursor(buffer);
    if (!cursor || line > cursor.line || line < 0) return null;
    let current = cursor.line;
    let last = cursor.row;
    for (;;) {
      let first = last;
      while (first > 0 && isWrapped(buffer, first)) first--;
      if (current === line) return { line, first: isWrapped(buffer, first) ? -1 : first, last };
      if (first <= 0) return null;
      current--;
      last = first - 1;
    }
  }

  private slot(line: number): number {
    return line % this.capacity;
  }

  private clearSlot(slot: number): void {
    this.kinds[slot] = OTHER;
    this.headers[slot] = 0;
    this.starts[slot] = Number.NaN;
    this.ends[slot] = Number.NaN;
  }
}

function isWrapped(buffer: IBuffer, row: number): boolean {
  return buffer.getLine(row)?.isWrapped ?? false;
}

/** The drawn cells of some buffer rows: their characters and where they are. */
export interface CellRun {
  texts: string[];
  rows: number[];
  cols: number[];
  widths: number[];
}

/**
 * The cells of rows [from, to] that show a character, in order. Empty cells (never written, or
 * left at a row's end when a wide character wrapped) and the second half of wide characters
 * have no characters and are left out; a combining mark shares its base character's cell.
 */
export function readCells(buffer: IBuffer, from: number, to: number): CellRun {
  const run: CellRun = { texts: [], rows: [], cols: [], widths: [] };
  let cell: IBufferCell | undefined;
  for (let row = Math.max(0, from); row <= to; row++) {
    const line = buffer.getLine(row);
    if (!line) continue;
    for (let col = 0; col < line.length; col++) {
      cell = line.getCell(col, cell);
      if (!cell) break;
      const chars = cell.getChars();
      if (chars === '') continue;
      run.texts.push(chars);
      run.rows.push(row);
      run.cols.push(col);
      run.widths.push(Math.max(1, cell.getWidth()));
    }
  }
  return run;
}
