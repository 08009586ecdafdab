/**
 * A stand-in for the renderer's live view: a view that opens a feed on each connection a
 * listener accepts and acknowledges bytes slowly, as a terminal that parses 64 KiB per frame
 * would. It makes the engine do everything a real view makes it do (batch, count credit, skip
 * ahead, announce skips) without a browser in the measurement.
 */
import type { Engine } from '../../src/main/engine/engine';
import type { View } from '../../src/main/engine/event-hub';
import { FEEDS_PER_VIEW_MAX, type EndpointInfo } from '../../src/shared/contract';
import { KiB } from './util';

export const ACK_BYTES = 64 * KiB;
export const ACK_EVERY_MS = 16;

export class SlowView {
  readonly view: View;
  /** Live bytes the view was sent, and bytes the engine told it it skipped. */
  received = 0;
  skipped = 0;
  skipNotices = 0;
  /** Bytes received and not yet acknowledged, per open feed (in the order they were opened). */
  private readonly unacked = new Map<number, number>();
  private nextFeed = 1;
  private readonly timer: NodeJS.Timeout;
  private readonly updateListeners = new Set<(info: EndpointInfo) => void>();
  private readonly addedListeners = new Set<(info: EndpointInfo) => void>();

  constructor(private readonly engine: Engine) {
    this.view = engine.openView((event) => {
      switch (event.event) {
        case 'endpoint.added':
          for (const listener of this.addedListeners) listener(event.payload);
          break;
        case 'endpoint.updated':
          for (const listener of this.updateListeners) listener(event.payload);
          break;
        case 'feed.data': {
          let bytes = 0;
          for (const chunk of event.payload.chunks) bytes += chunk.bytes.byteLength;
          this.received += bytes;
          const feed = event.payload.feed;
          const unacked = this.unacked.get(feed);
          if (unacked !== undefined) this.unacked.set(feed, unacked + bytes);
          break;
        }
        case 'feed.skipped':
          this.skipped += event.payload.bytes;
          this.skipNotices += 1;
          break;
        default:
          break;
      }
    });
    this.timer = setInterval(() => this.tick(), ACK_EVERY_MS);
  }

  /** Opens a TCP listener on loopback with the UI's defaults and watches what it accepts. */
  async listenAndFollow(): Promise<EndpointInfo> {
    const listener = await this.engine.listenTcp({
      host: '127.0.0.1',
      port: 0,
      backlog: 511,
      allowHalfOpen: true,
    });
    this.followListener(listener.id);
    return listener;
  }

  /**
   * Opens a feed on every connection `listenerId` accepts from now on; past FEEDS_PER_VIEW_MAX
   * the oldest feed is closed first, as a UI showing the latest connections would.
   */
  followListener(listenerId: string): void {
    this.onAdded((info) => {
      if (info.parentId !== listenerId) return;
      if (this.unacked.size >= FEEDS_PER_VIEW_MAX) {
        const [oldest] = this.unacked.keys();
        if (oldest !== undefined) {
          this.view.closeFeed(oldest);
          this.unacked.delete(oldest);
        }
      }
      const feed = this.nextFeed++;
      this.view.openFeed(feed, info.id);
      this.unacked.set(feed, 0);
    });
  }

  /** Hears every endpoint added from now on; returns what stops it hearing. */
  onAdded(listener: (info: EndpointInfo) => void): () => void {
    this.addedListeners.add(listener);
    return () => void this.addedListeners.delete(listener);
  }

  onUpdated(listener: (info: EndpointInfo) => void): void {
    this.updateListeners.add(listener);
  }

  close(): void {
    clearInterval(this.timer);
    this.view.close();
  }

  private tick(): void {
    for (const [feed, pending] of this.unacked) {
      if (pending === 0) continue;
      const bytes = Math.min(pending, ACK_BYTES);
      this.unacked.set(feed, pending - bytes);
      this.view.ack(feed, bytes);
    }
  }

  /**
   * Resolves with the time at which `id`'s counters showed `bytesIn` bytes received. The engine
   * pushes counters with every lifecycle transition, so the peer's FIN after its last byte is
   * seen at once; the coalesced counter updates (every 250 ms) only matter if no FIN comes.
   */
  whenBytesIn(id: string, bytesIn: number): Promise<number> {
    return new Promise((resolve) => {
      const check = (info: EndpointInfo) => {
        if (info.id === id && info.counters.bytesIn >= bytesIn) {
          this.updateListeners.delete(check);
          resolve(performance.now());
        }
      };
      this.updateListeners.add(check);
      check(this.engine.info(id));
    });
  }
}
