/**
 * Batches what the engine tells its views, and keeps a slow view from slowing a socket.
 *
 * - Live data is flushed every ~16 ms or once ~256 KB are pending (Hyper's DataBatcher).
 * - Counter updates are coalesced to a few per second per endpoint, so 10,000 busy endpoints do
 *   not flood the view; a lifecycle transition is sent at once, after the data that preceded it.
 * - A flow-controlled view (the UI) gets data only for the endpoints it watches, under a credit
 *   window: it acknowledges bytes once its terminal has parsed them. When it falls behind, the hub
 *   stops sending that endpoint's data and, once the view has caught up, says how many bytes it
 *   skipped (they stay in the capture). Nothing here ever pauses a socket.
 */
import type { AnyEvent } from '../../shared/api';
import { VIEW_WINDOW_DEFAULT, type CaptureChunk, type EndpointInfo } from '../../shared/contract';

export const FLUSH_INTERVAL_MS = 16;
export const FLUSH_BYTES = 256 * 1024;
export const UPDATE_INTERVAL_MS = 250;
/** Once a skipping view has worked its backlog down to this part of its window, live data resumes. */
const RESUME_FRACTION = 1 / 4;

export interface HubSource {
  describe(id: string): EndpointInfo | undefined;
  capturedBytes(id: string): number;
  /** Called after each lifecycle transition has been told to the views. */
  transitioned?(id: string): void;
}

interface WatchState {
  inFlight: number;
  skippingFrom: number | null;
}

/** One view's connection to the engine: Electron's window, or one browser tab. */
export class Subscription {
  private readonly watched = new Map<string, WatchState>();
  private readonly pending = new Map<string, CaptureChunk[]>();
  pendingBytes = 0;
  /** Unacknowledged bytes this view may have per endpoint before the hub skips ahead. */
  private window = VIEW_WINDOW_DEFAULT;

  constructor(
    private readonly hub: EventHub,
    private readonly listener: (event: AnyEvent) => void,
    readonly flowControl: boolean,
  ) {}

  /**
   * Sets the endpoints whose live data this view wants, and optionally its window; returns
   * where each one's data starts.
   */
  watch(ids: readonly string[], windowBytes?: number): Record<string, number> {
    if (windowBytes !== undefined) this.window = windowBytes;
    const positions: Record<string, number> = {};
    const keep = new Set(ids);
    for (const id of [...this.watched.keys()]) {
      if (!keep.has(id)) {
        this.watched.delete(id);
        this.dropPending(id);
      }
    }
    for (const id of keep) {
      let state = this.watched.get(id);
      if (!state) {
        state = { inFlight: 0, skippingFrom: null };
        this.watched.set(id, state);
      }
      positions[id] = this.hub.capturedBytes(id) - this.pendingBytesOf(id);
      // A larger window may already cover what the view still has to parse.
      this.resumeIfCaughtUp(id, state);
    }
    return positions;
  }

  /** Whether this view shows `id` now: the engine treats it as what the user has selected. */
  watches(id: string): boolean {
    return this.watched.has(id);
  }

  /** The view has parsed `bytes` more of `id`'s data. */
  ack(id: string, bytes: number): void {
    const state = this.watched.get(id);
    if (!state) return;
    state.inFlight = Math.max(0, state.inFlight - bytes);
    this.resumeIfCaughtUp(id, state);
  }

  unsubscribe(): void {
    this.hub.unsubscribe(this);
  }

  /** @internal called by the hub for every captured chunk. */
  offer(id: string, chunk: CaptureChunk): void {
    if (this.flowControl) {
      const state = this.watched.get(id);
      if (!state || state.skippingFrom !== null) return;
      const room = this.window - state.inFlight;
      if (chunk.bytes.byteLength > room) {
        // A stream chunk is cut to the window, so the view is never more than a window behind.
        // A datagram is never cut: it is skipped whole, unless nothing is in flight (a window
        // smaller than one datagram must still show something).
        const datagram = chunk.peer !== undefined;
        if (datagram ? state.inFlight > 0 : room <= 0) {
          state.skippingFrom = chunk.offset;
          return;
        }
        if (!datagram) {
          state.skippingFrom = chunk.offset + room;
          chunk = { ...chunk, bytes: chunk.bytes.subarray(0, room) };
        }
      }
      state.inFlight += chunk.bytes.byteLength;
    }
    const queue = this.pending.get(id);
    if (queue) queue.push(chunk);
    else this.pending.set(id, [chunk]);
    this.pendingBytes += chunk.bytes.byteLength;
  }

  /**
   * Once a skipping view has worked its backlog down to a part of its window, live data resumes:
   * what is queued goes first, then the notice of what was skipped since.
   */
  private resumeIfCaughtUp(id: string, state: WatchState): void {
    if (state.skippingFrom === null || state.inFlight > this.window * RESUME_FRACTION) return;
    this.flush();
    const from = state.skippingFrom;
    const skipped = this.hub.capturedBytes(id) - from;
    state.skippingFrom = null;
    if (skipped > 0) {
      this.deliver({ event: 'endpoint.skipped', payload: { id, offset: from, bytes: skipped } });
    }
  }

  /** @internal */
  flush(): void {
    if (this.pending.size === 0) return;
    const batches = [...this.pending];
    this.pending.clear();
    this.pendingBytes = 0;
    for (const [id, chunks] of batches) {
      this.deliver({ event: 'endpoint.data', payload: { id, chunks } });
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

  /** @internal */
  forget(id: string): void {
    this.watched.delete(id);
    this.dropPending(id);
  }

  /** Bytes queued for this view but not yet delivered: the view's stream resumes before them. */
  private pendingBytesOf(id: string): number {
    let bytes = 0;
    for (const chunk of this.pending.get(id) ?? []) bytes += chunk.bytes.byteLength;
    return bytes;
  }

  private dropPending(id: string): void {
    for (const chunk of this.pending.get(id) ?? []) this.pendingBytes -= chunk.bytes.byteLength;
    this.pending.delete(id);
  }
}

export class EventHub {
  private readonly subscriptions = new Set<Subscription>();
  private readonly changed = new Set<string>();
  private dataTimer: NodeJS.Timeout | undefined;
  private updateTimer: NodeJS.Timeout | undefined;

  constructor(private readonly source: HubSource) {}

  subscribe(
    listener: (event: AnyEvent) => void,
    options: { flowControl?: boolean } = {},
  ): Subscription {
    const subscription = new Subscription(this, listener, options.flowControl ?? false);
    this.subscriptions.add(subscription);
    return subscription;
  }

  unsubscribe(subscription: Subscription): void {
    this.subscriptions.delete(subscription);
  }

  get subscriberCount(): number {
    return this.subscriptions.size;
  }

  capturedBytes(id: string): number {
    return this.source.capturedBytes(id);
  }

  /**
   * Whether any view shows this endpoint now. The engine never acts on its own (an idle close, a
   * forgotten closed connection) on an endpoint the user is looking at.
   */
  isWatched(id: string): boolean {
    for (const subscription of this.subscriptions) if (subscription.watches(id)) return true;
    return false;
  }

  /** An event that must not wait: added, removed, engine status. Queued data goes first. */
  emitNow(event: AnyEvent): void {
    this.flushData();
    for (const subscription of this.subscriptions) subscription.deliver(event);
  }

  data(id: string, chunk: CaptureChunk): void {
    let pending = 0;
    for (const subscription of this.subscriptions) {
      subscription.offer(id, chunk);
      pending = Math.max(pending, subscription.pendingBytes);
    }
    this.changed.add(id);
    if (pending >= FLUSH_BYTES) this.flushData();
    else if (pending > 0) this.dataTimer ??= setTimeout(() => this.flushData(), FLUSH_INTERVAL_MS);
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
    for (const subscription of this.subscriptions) subscription.forget(id);
  }

  flushData(): void {
    if (this.dataTimer) {
      clearTimeout(this.dataTimer);
      this.dataTimer = undefined;
    }
    for (const subscription of this.subscriptions) subscription.flush();
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
    this.subscriptions.clear();
  }

  private scheduleUpdates(): void {
    if (this.subscriptions.size === 0) {
      this.changed.clear();
      return;
    }
    this.updateTimer ??= setTimeout(() => this.flushUpdates(), UPDATE_INTERVAL_MS);
  }

  private deliverUpdate(id: string): void {
    if (this.subscriptions.size === 0) return;
    const info = this.source.describe(id);
    if (!info) return;
    for (const subscription of this.subscriptions) {
      subscription.deliver({ event: 'endpoint.updated', payload: info });
    }
  }
}
