/**
 * A terminal writer: drives one xterm terminal from an endpoint's capture and its feed. It
 * replays the recent part of the capture, then follows the feed without showing a byte twice or
 * silently losing one. Live bytes are acknowledged after xterm parsed them; when the view falls
 * behind, the engine skips ahead and the feed says so.
 *
 * Nothing here keeps the bytes: a mode or encoding change re-reads them from `capture.read`,
 * so memory stays flat however long a connection runs.
 */
import type { Terminal } from '@xterm/xterm';
import { FEED_WINDOW_MIN, MAX_CAPTURE_READ, type CaptureChunk } from '../../../shared/contract';
import { RateBudget } from './rate-budget';
import {
  ChunkRenderer,
  RENDER_SLICE_BYTES,
  type RenderLabels,
  type RenderSettings,
} from './render';
import type { Feed } from './feed';
import { LineMap } from './line-map';
import type { Session } from './session.svelte';
import { ScreenBytes, type ByteRange, type ReadBack } from './screen-bytes';

export type { ByteRange };

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
  return Math.max(FEED_WINDOW_MIN, LIVE_BYTES_PER_SECOND[mode] / 8);
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

/** Capture bytes [offset, end), e.g. a search match. */
export interface MatchRange {
  offset: number;
  end: number;
}

type Work = () => void | Promise<void>;

/** Passes of "read the bytes the mapping needs, then map" before giving up (the screen moved). */
const MAP_ATTEMPTS = 3;

export class TerminalWriter {
  /** Aborted when what is shown changes: ends the feed and stops the work queued for it. */
  private shown = new AbortController();
  private id: string | null = null;
  private settings: RenderSettings | null = null;
  private renderer: ChunkRenderer | null = null;
  private feed: Feed | null = null;
  private queue: Work[] = [];
  private running = false;
  private held = false;
  /** Capture offset up to which bytes were rendered, or are known to be skipped. */
  private end = 0;
  private lastSeq = -1;
  /** Which bytes each line on screen shows. */
  private readonly map: LineMap;
  private readonly screen: ScreenBytes;
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
  ) {
    this.map = new LineMap(Math.max(SCROLLBACK_LINES, term.options.scrollback ?? 0));
    this.screen = new ScreenBytes(term, this.map, session, () => ({
      id: this.id,
      settings: this.settings,
    }));
  }

  /** Shows an endpoint from scratch (also after a mode change or a reconnect). */
  async show(id: string | null, settings: RenderSettings): Promise<void> {
    this.detach();
    const signal = this.shown.signal;
    this.id = id;
    this.settings = settings;
    this.queue = [];
    this.held = true;
    this.reset();
    if (id === null) return;
    const rate = LIVE_BYTES_PER_SECOND[settings.mode];
    this.liveBudget.reset(rate, rate / 4);

    // The feed first, so nothing falls between the replay and live data. Everything after that
    // (replay, live data, catching up after a skip) runs in order through one queue.
    const opened = await this.session.feeds.open(
      id,
      {
        data: (chunks) => this.enqueue(signal, () => this.renderChunks(chunks, true)),
        // The notice is given by the fill, once it knows how much of the range it shows.
        skipped: (offset, bytes) =>
          this.enqueue(signal, () => this.fill(signal, offset, offset + bytes, 'gap')),
      },
      { windowBytes: liveWindow(settings.mode), signal },
    );
    if (signal.aborted) return;
    this.feed = opened.ok ? opened.feed : null;
    this.end = this.clearedAt.get(id) ?? 0;
    this.parsedEnd = this.end;
    if (!opened.ok && opened.error) this.note(this.texts().readFailed(opened.error.message));
    const start = opened.ok ? opened.feed.start : this.end;
    this.queue.unshift(this.guard(signal, () => this.fill(signal, this.end, start, 'earlier')));
    this.held = false;
    this.pump();
  }

  /** Empties the view; the capture keeps everything and a re-render starts after this point. */
  clear(): void {
    if (this.id !== null) this.clearedAt.set(this.id, this.end);
    this.reset();
  }

  /**
   * Scrolls to the capture bytes [offset, end) (a search match) and selects their cells: in the
   * dump modes their hex digits, in text mode the characters they decode to. False when the
   * first byte is no longer in the terminal (older than the replay, cleared, or gone from the
   * scrollback).
   */
  async locate(match: MatchRange): Promise<boolean> {
    const epoch = this.map.epoch;
    const kind = this.settings?.mode === 'text' ? 'text' : 'dump';
    const first = this.map.find(match.offset, kind);
    if (first < 0) return false;
    // Written but not drawn yet: wait for xterm to catch up.
    const lastByte = Math.max(match.offset, match.end - 1);
    if (this.map.pending(Math.max(first, this.map.find(lastByte, kind)))) await this.drawn();
    const read: ReadBack = new Map();
    for (let attempt = 0; attempt < MAP_ATTEMPTS; attempt++) {
      if (epoch !== this.map.epoch) return false;
      const outcome = this.screen.matchCells(match.offset, lastByte, read);
      if (outcome === null) return false;
      if ('need' in outcome) {
        await this.screen.readLines(outcome.need, read);
        continue;
      }
      const { start, end } = outcome;
      const cols = this.term.cols;
      this.term.scrollToLine(Math.max(0, start.row - 2));
      const length = (end.row - start.row) * cols + end.col + end.width - start.col;
      this.term.select(start.col, start.row, Math.max(1, length));
      return true;
    }
    return false;
  }

  /**
   * The capture bytes [from, to) the terminal's selection covers, null when nothing is selected
   * or the selection shows no captured byte (only notes and headers). A selection that starts or
   * ends inside a character (a multi-byte one, or a mark such as `\r` drawn in two cells) covers
   * all of its bytes. Text lines are matched to their bytes by reading those back (capture.read),
   * so the answer comes asynchronously.
   */
  async selectionRange(): Promise<ByteRange | null> {
    const epoch = this.map.epoch;
    const read: ReadBack = new Map();
    for (let attempt = 0; attempt < MAP_ATTEMPTS; attempt++) {
      if (epoch !== this.map.epoch) return null;
      const outcome = this.screen.selectedBytes(read);
      if (outcome === null || !('need' in outcome)) return outcome;
      await this.screen.readLines(outcome.need, read);
    }
    return null;
  }

  dispose(): void {
    this.detach();
  }

  /** Ends the feed and the work queued for it. Credit still owed is dropped with the feed. */
  private detach(): void {
    this.shown.abort();
    this.shown = new AbortController();
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.unacked = 0;
    this.feed = null;
  }

  private reset(): void {
    this.term.reset();
    const epoch = this.map.reset();
    // Writes xterm had queued are still parsed after term.reset(); a full reset (RIS) queued
    // behind them wipes what they draw, so the screen, like the line map, starts afresh.
    this.term.write('\x1bc', () => this.map.parsed(epoch, 0, Number.NaN));
    this.lastSeq = -1;
    this.renderer = this.settings ? new ChunkRenderer(this.settings, this.texts(), this.map) : null;
  }

  /**
   * Runs view work strictly in order. While `held`, work only queues up: the replay is put in
   * front of live data that arrived before the replay's range was known.
   */
  private enqueue(signal: AbortSignal, action: Work): void {
    this.queue.push(this.guard(signal, action));
    this.pump();
  }

  /** Work for what was shown before does nothing. */
  private guard(signal: AbortSignal, action: Work): Work {
    return () => (signal.aborted ? undefined : action());
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
    signal: AbortSignal,
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
      if (signal.aborted) return;
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
      const before = this.end;
      await this.renderChunks(result.value.chunks, false);
      // Only empty datagrams at this offset (now shown): nothing later is in the capture yet.
      if (this.end === before) return;
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
    const signal = this.shown.signal;
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
        const lineBefore = this.map.line;
        const rendered = renderer.render(piece, from > 0);
        const pieceEnd = piece.offset + piece.bytes.length;
        const credit = live ? piece.bytes.length : 0;
        // The lead ends the line before: the cursor is then on a new line, with nothing on it.
        if (rendered.lead) this.write(rendered.lead, undefined, lineBefore + 1, Number.NaN);
        this.write(rendered.body, () => this.parsed(pieceEnd, credit));
        if (performance.now() > deadline) {
          await yieldToBrowser();
          // A new show() replaced this view (and its feed, so no credit is owed); after a clear
          // the rest goes on with the fresh renderer.
          if (signal.aborted) return;
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

  /**
   * Writes to xterm; once it has parsed this, its cursor is on line `line` of the line map,
   * whose bytes go up to `end` (by default, where the output built so far ends).
   */
  private write(
    data: string,
    parsed?: () => void,
    line = this.map.line,
    end = this.map.lineEnd,
  ): void {
    if (data.length === 0 && !parsed) return;
    const signal = this.shown.signal;
    const epoch = this.map.epoch;
    this.term.write(data, () => {
      this.map.parsed(epoch, line, end);
      if (!signal.aborted) parsed?.();
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
    if (this.feed && this.unacked > 0) {
      const credit = this.liveBudget.take(this.unacked);
      this.feed.ack(credit);
      this.unacked -= credit;
      if (this.unacked > 0) this.ackTimer = setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
    }
    // A hook for benchmarks and tests: how far the view has caught up with the capture.
    this.term.element?.setAttribute('data-view-end', String(this.parsedEnd));
  }

  /** Resolves once xterm has parsed everything written so far. */
  private drawn(): Promise<void> {
    return new Promise((resolve) => this.term.write('', resolve));
  }
}
