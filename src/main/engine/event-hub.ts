/**
 * Batches what the engine tells its views, and keeps a slow view from slowing a socket.
 *
 * - A view is one page that shows the engine: Electron's window, or one browser tab. It gets
 *   every lifecycle and list event, and live data only through the feeds it opened (feed.ts).
 * - Live data is flushed every ~16 ms or once ~256 KB are pending (Hyper's DataBatcher).
 * - Counter updates are coalesced to a few per second per endpoint, so 10,000 busy endpoints do
 *   not flood the view; a lifecycle transition is sent at once, after the data that preceded it.
 */
import type { AnyEvent } from '../../shared/api';
import {
  FEED_WINDOW_DEFAULT,
  FEEDS_PER_VIEW_MAX,
  QUERIES_PER_VIEW_MAX,
  type CaptureChunk,
  type EndpointInfo,
} from '../../shared/contract';
import { WorkbenchError } from '../../shared/errors';
import { Feed } from './feed';

export const FLUSH_INTERVAL_MS = 16;
export const FLUSH_BYTES = 256 * 1024;
export const UPDATE_INTERVAL_MS = 250;

export interface HubSource {
  describe(id: string): EndpointInfo | undefined;
  capturedBytes(id: string): number;
  /** Called after each lifecycle transition has been told to the views. */
  transitioned?(id: string): void;
}

/** One page that shows the engine: its events, its feeds, its running capture queries. */
export class View {
  private readonly feeds = new Map<number, Feed>();
  /** The feeds of each endpoint, for the data path. */
  private readonly feedsByEndpoint = new Map<string, Set<Feed>>();
  private readonly queries = new Map<number, AbortController>();
  /** What the view's feeds have queued and not yet delivered. */
  pendingBytes = 0;
  pendingChunks = 0;

  constructor(
    private readonly hub: EventHub,
    private readonly listener: (event: AnyEvent) => void,
  ) {}

  /** Opens feed number `feed` on an endpoint; answers where its data starts. */
  openFeed(feed: number, endpointId: string, windowBytes = FEED_WINDOW_DEFAULT): number {
    if (this.feeds.has(feed)) {
      throw new WorkbenchError('FEED_IN_USE', `Feed ${feed} is already open in this view`);
    }
    if (this.feeds.size >= FEEDS_PER_VIEW_MAX) {
      throw new WorkbenchError(
        'TOO_MANY_FEEDS',
        `This view already has ${FEEDS_PER_VIEW_MAX} feeds open; close one first`,
      );
    }
    const opened = new Feed(feed, endpointId, windowBytes, () =>
      this.hub.capturedBytes(endpointId),
    );
    this.feeds.set(feed, opened);
    let set = this.feedsByEndpoint.get(endpointId);
    if (!set) this.feedsByEndpoint.set(endpointId, (set = new Set()));
    set.add(opened);
    return opened.start;
  }

  /** Ends a feed; what it still had queued is dropped. Closing an unknown feed is no error. */
  closeFeed(feed: number): void {
    const closing = this.feeds.get(feed);
    if (!closing) return;
    this.feeds.delete(feed);
    const dropped = closing.take();
    this.pendingChunks -= dropped.length;
    this.pendingBytes -= dropped.reduce((sum, c) => sum + c.bytes.byteLength, 0);
    const set = this.feedsByEndpoint.get(closing.endpointId);
    set?.delete(closing);
    if (set?.size === 0) this.feedsByEndpoint.delete(closing.endpointId);
  }

  /** The view has parsed `bytes` more of a feed (a notification: an unknown feed is ignored). */
  ack(feed: number, bytes: number): void {
    const target = this.feeds.get(feed);
    const skipped = target?.ack(bytes);
    if (!target || !skipped) return;
    // What is queued goes first, then the notice of what was skipped since.
    this.flush();
    this.deliver({ event: 'feed.skipped', payload: { feed, ...skipped } });
  }

  /** Whether this view shows `id` now: the engine treats it as what the user has selected. */
  watches(id: string): boolean {
    return this.feedsByEndpoint.has(id);
  }

  /**
   * Runs capture query number `query`, which capture.cancel can stop through its signal. A new
   * query with a number still running cancels the old one.
   */
  async runQuery<T>(query: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.queries.get(query)?.abort();
    this.queries.delete(query);
    // Each running query holds a block buffer (and a copy its answer): a page gets a few.
    if (this.queries.size >= QUERIES_PER_VIEW_MAX) {
      throw new WorkbenchError(
        'TOO_MANY_QUERIES',
        `This view already has ${QUERIES_PER_VIEW_MAX} searches or copies running; wait for one or stop it`,
      );
    }
    const controller = new AbortController();
    this.queries.set(query, controller);
    try {
      return await run(controller.signal);
    } finally {
      if (this.queries.get(query) === controller) this.queries.delete(query);
    }
  }

  cancelQuery(query: number): void {
    this.queries.get(query)?.abort();
  }

  /** The page went away: its feeds end and its queries stop. */
  close(): void {
    for (const controller of this.queries.values()) controller.abort();
    this.queries.clear();
    for (const feed of [...this.feeds.keys()]) this.closeFeed(feed);
    this.hub.unsubscribe(this);
  }

  /** @internal called by the hub for every captured chunk. */
  offer(id: string, chunk: CaptureChunk): void {
    const set = this.feedsByEndpoint.get(id);
    if (!set) return;
    for (const feed of set) {
      const bytesBefore = feed.pendingBytes;
      const chunksBefore = feed.pendingChunks;
      feed.offer(chunk);
      this.pendingBytes += feed.pendingBytes - bytesBefore;
      this.pendingChunks += feed.pendingChunks - chunksBefore;
    }
  }

  /** @internal */
  flush(): void {
    if (this.pendingChunks === 0) return;
    this.pendingBytes = 0;
    this.pendingChunks = 0;
    for (const feed of this.feeds.values()) {
      if (feed.pendingChunks === 0) continue;
      this.deliver({ event: 'feed.data', payload: { feed: feed.feed, chunks: feed.take() } });
    }
  }

  /** @internal */
  deliver(event: AnyEvent): void {
    try {
      this.listener(event);
    } catch {
      // A failing transport must not stop the others or the engine.
    }
  }

  /** @internal the endpoint is gone: its feeds end. */
  forget(id: string): void {
    for (const feed of this.feedsByEndpoint.get(id) ?? []) this.closeFeed(feed.feed);
  }
}

export class EventHub {
  private readonly views = new Set<View>();
  private readonly changed = new Set<string>();
  private dataTimer: NodeJS.Timeout | undefined;
  private updateTimer: NodeJS.Timeout | undefined;

  constructor(private readonly source: HubSource) {}

  /** A page starts showing the engine: it gets every event, and live data through its feeds. */
  openView(listener: (event: AnyEvent) => void): View {
    const view = new View(this, listener);
    this.views.add(view);
    return view;
  }

  /** @internal called by View.close. */
  unsubscribe(view: View): void {
    this.views.delete(view);
  }

  get viewCount(): number {
    return this.views.size;
  }

  capturedBytes(id: string): number {
    return this.source.capturedBytes(id);
  }

  /**
   * Whether any view shows this endpoint now. The engine never acts on its own (an idle close, a
   * forgotten closed connection) on an endpoint the user is looking at.
   */
  isWatched(id: string): boolean {
    for (const view of this.views) if (view.watches(id)) return true;
    return false;
  }

  /** An event that must not wait: added, removed, engine status. Queued data goes first. */
  emitNow(event: AnyEvent): void {
    this.flushData();
    for (const view of this.views) view.deliver(event);
  }

  /** Whether any view is attached: with none, data need not be offered (see Endpoint). */
  get hasViews(): boolean {
    return this.views.size > 0;
  }

  data(id: string, chunk: CaptureChunk): void {
    let pendingBytes = 0;
    let pendingChunks = 0;
    for (const view of this.views) {
      view.offer(id, chunk);
      pendingBytes = Math.max(pendingBytes, view.pendingBytes);
      pendingChunks = Math.max(pendingChunks, view.pendingChunks);
    }
    // With no view there is nobody to update: adding only for scheduleUpdates to clear() would
    // make a new table once per datagram of a flood.
    if (this.views.size === 0) return;
    this.changed.add(id);
    if (pendingBytes >= FLUSH_BYTES) this.flushData();
    // Empty datagrams are chunks too: they are shown, so they are sent.
    else if (pendingChunks > 0) {
      this.dataTimer ??= setTimeout(() => this.flushData(), FLUSH_INTERVAL_MS);
    }
    this.scheduleUpdates();
  }

  /** Counters or options changed: tell the views within UPDATE_INTERVAL_MS. */
  touch(id: string): void {
    this.changed.add(id);
    this.scheduleUpdates();
  }

  /** A lifecycle transition: tell the views now, after the data that came before it. */
  transition(id: string): void {
    this.flushData();
    this.changed.delete(id);
    this.deliverUpdate(id);
    this.source.transitioned?.(id);
  }

  forget(id: string): void {
    this.changed.delete(id);
    for (const view of this.views) view.forget(id);
  }

  flushData(): void {
    if (this.dataTimer) {
      clearTimeout(this.dataTimer);
      this.dataTimer = undefined;
    }
    for (const view of this.views) view.flush();
  }

  flushUpdates(): void {
    if (this.updateTimer) {
      clearTimeout(this.updateTimer);
      this.updateTimer = undefined;
    }
    this.flushData();
    const changed = [...this.changed];
    this.changed.clear();
    for (const id of changed) this.deliverUpdate(id);
  }

  dispose(): void {
    this.flushUpdates();
    this.views.clear();
  }

  private scheduleUpdates(): void {
    if (this.views.size === 0) {
      this.changed.clear();
      return;
    }
    this.updateTimer ??= setTimeout(() => this.flushUpdates(), UPDATE_INTERVAL_MS);
  }

  private deliverUpdate(id: string): void {
    if (this.views.size === 0) return;
    const info = this.source.describe(id);
    if (!info) return;
    for (const view of this.views) {
      view.deliver({ event: 'endpoint.updated', payload: info });
    }
  }
}
