/**
 * The renderer's side of feeds (design.md): a flow-controlled stream of one endpoint's live data.
 * Open one with `Feeds.open`, pass an AbortSignal to end it; acknowledge what was parsed with
 * `Feed.ack`, so the engine sends more. Every view that follows live data (the terminal, and
 * whatever comes next) uses this; nothing else listens to feed events.
 */
import type { CaptureChunk } from '../../../shared/contract';
import type { UserError } from '../../../shared/errors';
import type { Transport } from './transport';

export interface FeedHandlers {
  /** Live chunks, in capture order, each starting where the previous one ended. */
  data(chunks: CaptureChunk[]): void;
  /** The engine did not send [offset, offset + bytes) because the view fell behind. */
  skipped(offset: number, bytes: number): void;
}

export interface FeedOptions {
  /** Unacknowledged bytes the engine may have in flight to this feed (engine default if unset). */
  windowBytes?: number;
  /** Aborting it ends the feed; nothing more reaches the handlers. */
  signal: AbortSignal;
}

/** One open feed. */
export class Feed {
  constructor(
    private readonly api: Transport,
    readonly number: number,
    /** The capture offset where this feed's data starts; earlier bytes come from capture.read. */
    readonly start: number,
  ) {}

  /** The view has parsed this many more of the feed's bytes: credit back to the engine. */
  ack(bytes: number): void {
    if (bytes > 0) this.api.notify('feed.ack', { feed: this.number, bytes });
  }
}

export type FeedResult = { ok: true; feed: Feed } | { ok: false; error: UserError | null };

export class Feeds {
  private next = 1;
  /** Plumbing, never rendered: a plain map. */
  private readonly handlers = new Map<number, FeedHandlers>();

  constructor(private readonly api: Transport) {
    api.on('feed.data', ({ feed, chunks }) => this.handlers.get(feed)?.data(chunks));
    api.on('feed.skipped', ({ feed, offset, bytes }) =>
      this.handlers.get(feed)?.skipped(offset, bytes),
    );
  }

  /**
   * Opens a feed on an endpoint. The handlers are in place before the engine is asked, so no
   * event can arrive unheard (over Electron IPC events and replies travel apart). Answers no
   * error and no feed when the signal was aborted meanwhile.
   */
  async open(
    endpointId: string,
    handlers: FeedHandlers,
    options: FeedOptions,
  ): Promise<FeedResult> {
    const { signal, windowBytes } = options;
    if (signal.aborted) return { ok: false, error: null };
    const number = this.next++;
    this.handlers.set(number, handlers);
    const close = (): void => {
      this.handlers.delete(number);
      this.api.notify('feed.close', { feed: number });
    };
    signal.addEventListener('abort', close, { once: true });
    const result = await this.api.invoke('feed.open', {
      feed: number,
      id: endpointId,
      windowBytes,
    });
    if (signal.aborted) return { ok: false, error: null };
    if (!result.ok) {
      signal.removeEventListener('abort', close);
      this.handlers.delete(number);
      return { ok: false, error: result.error };
    }
    return { ok: true, feed: new Feed(this.api, number, result.value.start) };
  }
}
