/**
 * Drives one xterm terminal from an endpoint's capture: replays the recent part of the capture,
 * then follows live `endpoint.data` events without showing a byte twice or silently losing one.
 * It is the engine's flow-controlled view: live bytes are acknowledged after xterm parsed them,
 * and when the view falls behind the engine skips ahead and says so (`endpoint.skipped`).
 *
 * Nothing here keeps the bytes: a mode or encoding change re-reads them from `capture.read`,
 * so memory stays flat however long a connection runs.
 */
import type { IMarker, Terminal } from '@xterm/xterm';
import { MAX_CAPTURE_READ, VIEW_WINDOW_MIN, type CaptureChunk } from '../../../shared/contract';
import { RateBudget } from '../../../shared/rate-budget';
import {
  ChunkRenderer,
  hexDumpPosition,
  RENDER_SLICE_BYTES,
  type RenderLabels,
  type RenderSettings,
} from './render';
import type { Session } from './session.svelte';

export interface ViewTexts extends RenderLabels {
  earlier: (n: number) => string;
  gap: (n: number) => string;
  gone: (n: number) => string;
  readFailed: (message: string) => string;
}

/**
 * How much of the capture a (re)render replays: about what the terminal's scrollback
 * (SCROLLBACK_LINES) can hold in each mode, since more would only be parsed to be dropped. The
 * rest stays readable through search and copy.
 */
export const SCROLLBACK_LINES = 20_000;
const REPLAY_BYTES: Record<RenderSettings['mode'], number> = {
  text: 1024 * 1024,
  hex: 256 * 1024,
  both: 128 * 1024,
};

/** Acknowledgements are batched: one message per frame at most, however many chunks parsed. */
const ACK_DELAY_MS = 16;

/**
 * The most live data a view takes in per second, per mode. Credit goes back to the engine no
 * faster than this, so in a flood the engine skips ahead (the skipped part is filled in from the
 * capture once the flood stops) instead of the page spending every moment turning bytes into
 * text nobody can read at that speed, while typing and scrolling wait.
 */
const LIVE_BYTES_PER_SECOND: Record<RenderSettings['mode'], number> = {
  text: 1024 * 1024,
  hex: 256 * 1024,
  both: 128 * 1024,
};

/**
 * The credit window the view asks the engine for: an eighth of a second of its live rate. The
 * engine never has more than that in flight to this view (it cuts stream chunks to fit; a
 * datagram comes whole), so when a flood stops the view is told what it skipped within about
 * that long, and shows the end of the stream.
 */
export function liveWindow(mode: RenderSettings['mode']): number {
  return Math.max(VIEW_WINDOW_MIN, LIVE_BYTES_PER_SECOND[mode] / 8);
}

/**
 * How much of a skipped range is filled in from the capture once the view catches up: the
 * latest sixteenth of a second of live data. Another skip may follow at once in a flood, so
 * catching up never costs more than that; the rest is a notice and the history browser.
 */
function gapFillBytes(mode: RenderSettings['mode']): number {
  return LIVE_BYTES_PER_SECOND[mode] / 16;
}

/**
 * Where filling [from, to) from the capture starts, in a view that has shown everything before
 * `end` and renders at most the last `budget` bytes of the range. [end, start) is what the view
 * does not show: its note in the terminal and the skipped notice say exactly that range, not the
 * engine's whole skip (part of which the fill does show).
 */
function fillStart(from: number, to: number, end: number, budget: number): number {
  return Math.max(from, end, to - budget);
}

/** Rendering work done in one go before the browser gets a turn (input, animation frames). */
const WORK_BUDGET_MS = 8;

function yieldToBrowser(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

export interface SearchMatch {
  offset: number;
  length: number;
  /** How the match reads in text mode (as rendered: control-character marks and all). */
  text: string;
  /** Every match's offset, ascending: to tell which occurrence on screen this one is. */
  all: readonly number[];
}

type Work = () => void | Promise<void>;

interface Mark {
  offset: number;
  marker: IMarker;
}

export class CaptureView {
  private generation = 0;
  private id: string | null = null;
  private settings: RenderSettings | null = null;
  private renderer: ChunkRenderer | null = null;
  private stopLive: (() => void) | null = null;
  private queue: Work[] = [];
  private running = false;
  private held = false;
  /** Capture offset up to which bytes were rendered, or are known to be skipped. */
  private end = 0;
  private lastSeq = -1;
  private marks: Mark[] = [];
  private unacked = 0;
  /**
   * Paces credit returned to the engine at the mode's live rate. Filling in a skipped range is
   * rendering work too, so it is charged here and delays the next acknowledgements.
   */
  private readonly liveBudget = new RateBudget(0, 0);
  private parsedEnd = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly clearedAt = new Map<string, number>();

  constructor(
    private readonly term: Terminal,
    private readonly session: Session,
    private readonly texts: () => ViewTexts,
    /**
     * Told of every range of live bytes the view did not show (the engine skipped them and the
     * fill showed only their end), so the UI can say so exactly and offer to show them.
     */
    private readonly onSkipped: (offset: number, bytes: number) => void = () => {},
  ) {}

  /** Shows an endpoint from scratch (also after a mode change or a reconnect). */
  async show(id: string | null, settings: RenderSettings): Promise<void> {
    const generation = ++this.generation;
    this.detach();
    this.id = id;
    this.settings = settings;
    this.queue = [];
    this.held = true;
    this.reset();
    if (id === null) return;
    const rate = LIVE_BYTES_PER_SECOND[settings.mode];
    this.liveBudget.reset(rate, rate / 4);

    // Watch first, so nothing falls between the replay and the live stream. Everything after
    // that (replay, live data, catching up after a skip) runs in order through one queue.
    const live = await this.session.watchLive(
      id,
      {
        data: (chunks) => this.enqueue(generation, () => this.renderChunks(chunks, true)),
        // The notice is given by the fill, once it knows how much of the range it shows.
        skipped: (offset, bytes) =>
          this.enqueue(generation, () => this.fill(generation, offset, offset + bytes, 'gap')),
      },
      liveWindow(settings.mode),
    );
    if (generation !== this.generation) {
      live.stop();
      return;
    }
    this.stopLive = live.stop;
    this.end = this.clearedAt.get(id) ?? 0;
    this.parsedEnd = this.end;
    const start = live.start;
    this.queue.unshift(
      this.guard(generation, () => this.fill(generation, this.end, start, 'earlier')),
    );
    this.held = false;
    this.pump();
  }

  /** Empties the view; the capture keeps everything and a re-render starts after this point. */
  clear(): void {
    if (this.id !== null) this.clearedAt.set(this.id, this.end);
    this.reset();
  }

  /**
   * Scrolls to a search match and selects it where the layout allows. False when that byte is
   * no longer in the view (older than the replay, cleared, or out of the scrollback).
   */
  locate(match: SearchMatch): boolean {
    const { offset, length, text } = match;
    const mark = this.markBefore(offset);
    if (!mark || !this.settings) return false;
    const buffer = this.term.buffer.active;
    const cols = this.term.cols;
    this.term.scrollToLine(Math.max(0, mark.marker.line - 2));
    if (this.settings.mode === 'text') {
      const nth = match.all.filter((m) => m >= mark.offset && m < offset).length;
      const found = this.findText(mark.marker.line, text, nth);
      if (found) this.term.select(found.col, found.row, Math.max(1, found.cells));
      else this.term.selectLines(mark.marker.line, mark.marker.line);
      return true;
    }
    const { linePrefix, column } = hexDumpPosition(mark.offset, offset);
    for (
      let row = mark.marker.line;
      row < Math.min(buffer.length, mark.marker.line + 4096);
      row++
    ) {
      const line = buffer.getLine(row)?.translateToString(true) ?? '';
      if (line.startsWith(linePrefix)) {
        this.term.select(column, row, Math.min(cols - column, length * 3 - 1));
        return true;
      }
    }
    this.term.selectLines(mark.marker.line, mark.marker.line);
    return true;
  }

  dispose(): void {
    this.generation += 1;
    this.detach();
  }

  /** Stops the live stream. Credit still owed is dropped: unwatching resets it in the engine. */
  private detach(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.unacked = 0;
    this.stopLive?.();
    this.stopLive = null;
  }

  private reset(): void {
    this.term.reset();
    for (const mark of this.marks) mark.marker.dispose();
    this.marks = [];
    this.lastSeq = -1;
    this.renderer = this.settings ? new ChunkRenderer(this.settings, this.texts()) : null;
  }

  /**
   * Runs view work strictly in order. While `held`, work only queues up: the replay is put in
   * front of live data that arrived before the replay's range was known.
   */
  private enqueue(generation: number, action: Work): void {
    this.queue.push(this.guard(generation, action));
    this.pump();
  }

  /** Work for a view that has since been replaced does nothing. */
  private guard(generation: number, action: Work): Work {
    return () => (generation === this.generation ? action() : undefined);
  }

  private pump(): void {
    if (this.running || this.held) return;
    this.running = true;
    void (async () => {
      try {
        for (let next = this.queue.shift(); next; next = this.queue.shift()) await next();
      } finally {
        this.running = false;
      }
    })();
  }

  /**
   * Renders [from, to) from the capture: the replay, or bytes the engine skipped in the live
   * stream (it did because the view was behind; now it has caught up and they are read back at
   * the view's own pace). Beyond the replay budget only the most recent part is shown.
   */
  private async fill(
    generation: number,
    from: number,
    to: number,
    reason: 'earlier' | 'gap',
  ): Promise<void> {
    if (!this.id || !this.settings) return;
    const budget =
      reason === 'earlier' ? REPLAY_BYTES[this.settings.mode] : gapFillBytes(this.settings.mode);
    const start = fillStart(from, to, this.end, budget);
    if (reason === 'gap') this.liveBudget.spend(Math.max(0, to - start));
    if (start > this.end) {
      if (reason === 'earlier') this.note(this.texts().earlier(start - this.end));
      else this.notShown(start);
      this.end = start;
    }
    while (this.end < to) {
      const result = await this.session.invoke('capture.read', {
        id: this.id,
        offset: this.end,
        length: Math.min(MAX_CAPTURE_READ, to - this.end),
      });
      if (generation !== this.generation) return;
      if (!result.ok) {
        this.note(this.texts().readFailed(result.error.message));
        return;
      }
      if (this.end < result.value.keptFrom) {
        this.note(this.texts().gone(result.value.keptFrom - this.end));
        this.end = result.value.keptFrom;
        continue;
      }
      if (result.value.chunks.length === 0) return;
      await this.renderChunks(result.value.chunks, false);
    }
  }

  /**
   * Writes chunks not shown yet. Live bytes are acknowledged once xterm has parsed them (or at
   * once, when they were already shown), which is what paces the engine's live stream. Turning
   * bytes into terminal text is done in slices, yielding to the browser whenever a slice of
   * work has used its time budget, so a flood never freezes the page.
   */
  private async renderChunks(chunks: CaptureChunk[], live: boolean): Promise<void> {
    let renderer = this.renderer;
    if (!renderer || !this.settings) return;
    const generation = this.generation;
    const slice = this.settings.datagrams ? Number.POSITIVE_INFINITY : RENDER_SLICE_BYTES;
    let deadline = performance.now() + WORK_BUDGET_MS;
    let duplicate = 0;
    for (const original of chunks) {
      const size = original.bytes.length;
      const chunkEnd = original.offset + size;
      // Offsets tell what was shown; only an empty datagram needs its sequence number for that.
      // (A chunk may come in parts: the live stream can stop mid-chunk and the rest be read back.)
      if (size > 0 ? chunkEnd <= this.end : original.seq <= this.lastSeq) {
        duplicate += size;
        continue;
      }
      let chunk = original;
      if (original.offset < this.end) {
        const from = this.end - original.offset;
        duplicate += from;
        chunk = { ...original, offset: this.end, bytes: original.bytes.subarray(from) };
      } else if (original.offset > this.end) {
        this.notShown(original.offset, renderer);
      }
      this.end = chunkEnd;
      this.lastSeq = original.seq;
      const start = chunk.offset;
      for (let from = 0; from === 0 || from < chunk.bytes.length; from += slice) {
        const piece =
          chunk.bytes.length <= slice
            ? chunk
            : { ...chunk, offset: start + from, bytes: chunk.bytes.subarray(from, from + slice) };
        const rendered = renderer.render(piece, from > 0);
        const pieceEnd = piece.offset + piece.bytes.length;
        const credit = live ? piece.bytes.length : 0;
        this.write(rendered.lead, from === 0 ? () => this.mark(start) : undefined);
        this.write(rendered.body, () => this.parsed(pieceEnd, credit));
        if (performance.now() > deadline) {
          await yieldToBrowser();
          // A new show() replaced this view (and its watch, so no credit is owed); after a clear
          // the rest goes on with the fresh renderer.
          if (generation !== this.generation) return;
          renderer = this.renderer ?? renderer;
          deadline = performance.now() + WORK_BUDGET_MS;
        }
      }
    }
    if (live && duplicate > 0) this.parsed(this.parsedEnd, duplicate);
  }

  /**
   * Live bytes in [this.end, until) are not shown (the view fell behind): a note in the terminal
   * where they would be, and the skipped notice, both for exactly that range.
   */
  private notShown(until: number, renderer = this.renderer): void {
    const bytes = until - this.end;
    if (renderer) this.write(renderer.note(this.texts().gap(bytes)));
    this.onSkipped(this.end, bytes);
  }

  private note(text: string): void {
    if (this.renderer) this.write(this.renderer.note(text));
  }

  private write(data: string, parsed?: () => void): void {
    if (data.length === 0 && !parsed) return;
    const generation = this.generation;
    this.term.write(data, () => {
      if (generation === this.generation) parsed?.();
    });
  }

  /**
   * xterm has parsed the view up to capture offset `end`; `liveBytes` of it came live and are
   * credited back to the engine. Both are reported at most once a frame.
   */
  private parsed(end: number, liveBytes: number): void {
    this.parsedEnd = Math.max(this.parsedEnd, end);
    this.unacked += liveBytes;
    this.ackTimer ??= setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
  }

  private flushAcks(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.id !== null && this.unacked > 0) {
      const credit = this.liveBudget.take(this.unacked);
      if (credit > 0) this.session.ack(this.id, credit);
      this.unacked -= credit;
      if (this.unacked > 0) this.ackTimer = setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
    }
    // A hook for benchmarks and tests: how far the view has caught up with the capture.
    this.term.element?.setAttribute('data-view-end', String(this.parsedEnd));
  }

  /** Remembers where a chunk starts on screen, one marker per line at most. */
  private mark(offset: number): void {
    const buffer = this.term.buffer.active;
    const line = buffer.baseY + buffer.cursorY;
    const last = this.marks.at(-1);
    if (last && !last.marker.isDisposed && last.marker.line === line) return;
    const marker = this.term.registerMarker(0);
    this.marks.push({ offset, marker });
    if (
      this.marks.length > 4 * (this.term.options.scrollback ?? 1000) &&
      this.marks[0]?.marker.isDisposed
    ) {
      this.marks = this.marks.filter((m) => !m.marker.isDisposed);
    }
  }

  private markBefore(offset: number): Mark | null {
    let low = 0;
    let high = this.marks.length - 1;
    let found: Mark | null = null;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const mark = this.marks[mid] as Mark;
      if (mark.offset <= offset) {
        found = mark;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found && !found.marker.isDisposed ? found : null;
  }

  /**
   * Finds the `nth` occurrence (from 0) of `text` on screen from `startRow`, counting wide
   * characters as the two cells they take.
   */
  private findText(
    startRow: number,
    text: string,
    nth: number,
  ): { row: number; col: number; cells: number } | null {
    if (text.length === 0) return null;
    const buffer = this.term.buffer.active;
    const lastRow = Math.min(buffer.length, startRow + 512);
    let joined = '';
    const cells: { row: number; col: number }[] = [];
    for (let row = startRow; row < lastRow; row++) {
      const line = buffer.getLine(row);
      if (!line) break;
      if (row > startRow && !line.isWrapped) {
        joined += '\n';
        cells.push({ row, col: 0 });
      }
      let used = 0;
      for (let col = 0; col < line.length; col++) if (line.getCell(col)?.getChars()) used = col + 1;
      for (let col = 0; col < used; col++) {
        const cell = line.getCell(col);
        if (!cell || cell.getWidth() === 0) continue;
        const chars = cell.getChars() || ' ';
        joined += chars;
        for (let i = 0; i < chars.length; i++) cells.push({ row, col });
      }
    }
    let at = -1;
    for (let i = 0; i <= nth; i++) {
      at = joined.indexOf(text, at + 1);
      if (at < 0) return null;
    }
    const first = cells[at];
    const last = cells[at + text.length - 1];
    if (!first || !last) return null;
    const width = buffer.getLine(last.row)?.getCell(last.col)?.getWidth() ?? 1;
    const span = (last.row - first.row) * this.term.cols + last.col + width - first.col;
    return { row: first.row, col: first.col, cells: span };
  }
}
