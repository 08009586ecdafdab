/**
 * Batches what the engine tells the UI. Live data is flushed every ~16 ms or once ~256 KB are
 * pending; endpoint updates are coalesced into the same flush. A lifecycle transition flushes at
 * once, so for one endpoint the UI always sees its data before the state change that followed it.
 */
import type { AnyEvent } from '../../shared/api';
import type { CaptureChunk, EndpointInfo } from '../../shared/contract';

export const FLUSH_INTERVAL_MS = 16;
export const FLUSH_BYTES = 256 * 1024;

export class EventHub {
  private readonly listeners = new Set<(event: AnyEvent) => void>();
  private readonly pendingData = new Map<string, CaptureChunk[]>();
  private readonly changed = new Set<string>();
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly describe: (id: string) => EndpointInfo | undefined) {}

  subscribe(listener: (event: AnyEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** An event that must not wait: added/removed. Everything queued before it goes first. */
  emitNow(event: AnyEvent): void {
    this.flush();
    this.deliver(event);
  }

  data(id: string, chunk: CaptureChunk): void {
    if (this.listeners.size === 0) return;
    const queue = this.pendingData.get(id);
    if (queue) queue.push(chunk);
    else this.pendingData.set(id, [chunk]);
    this.changed.add(id);
    this.pendingBytes += chunk.bytes.byteLength;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else this.schedule();
  }

  /** Counters or options changed: tell the UI in the next flush. */
  touch(id: string): void {
    if (this.listeners.size === 0) return;
    this.changed.add(id);
    this.schedule();
  }

  /** A lifecycle transition: tell the UI now. */
  transition(id: string): void {
    if (this.listeners.size === 0) return;
    this.changed.add(id);
    this.flush();
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const data = [...this.pendingData];
    const changed = [...this.changed];
    this.pendingData.clear();
    this.changed.clear();
    this.pendingBytes = 0;
    for (const [id, chunks] of data)
      this.deliver({ event: 'endpoint.data', payload: { id, chunks } });
    for (const id of changed) {
      const info = this.describe(id);
      if (info) this.deliver({ event: 'endpoint.updated', payload: info });
    }
  }

  dispose(): void {
    this.flush();
    this.listeners.clear();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
  }

  private deliver(event: AnyEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A failing transport must not stop the others or the engine.
      }
    }
  }
}
