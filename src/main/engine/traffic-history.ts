/**
 * An endpoint's traffic over its whole life, summed from its capture's chunk index when a view
 * asks for it (the live graph zoomed out). Nothing is counted on the data path: a connection
 * nobody looks at pays nothing. The histograms of the few endpoints asked about last are kept,
 * so a view that asks every second reads only the chunks that came since.
 */
import { TRAFFIC_HISTORY_BUCKETS_MAX, type TrafficHistory } from '../../shared/contract';
import type { CaptureStore } from './capture';

/** The narrowest bucket: a young connection's history is drawn second by second. */
const FIRST_BUCKET_MS = 1000;
/** Chunks summed before the event loop gets a turn (a busy capture holds millions). */
const CHUNKS_PER_TURN = 4096;
/** Endpoints whose histograms are kept between asks: a view shows one graph at a time. */
const KEPT_HISTORIES = 8;

/** Bytes per bucket of equal width; the buckets double in width to stay under the maximum. */
export class RateHistogram {
  bucketMs = FIRST_BUCKET_MS;
  readonly bytesIn: number[] = [];
  readonly bytesOut: number[] = [];

  constructor(
    readonly startMs: number,
    private readonly maxBuckets = TRAFFIC_HISTORY_BUCKETS_MAX,
  ) {}

  /** `dir`: 0 in, 1 out. A time before the start (a clock stepped back) counts in the first bucket. */
  add(at: number, size: number, dir: number): void {
    const bucket = this.bucketFor(at);
    const column = dir === 0 ? this.bytesIn : this.bytesOut;
    column[bucket] = (column[bucket] as number) + size;
  }

  /** Makes the buckets reach `at`: a quiet stretch is drawn as zero, not left out. */
  extendTo(at: number): void {
    this.bucketFor(at);
  }

  private bucketFor(at: number): number {
    let bucket = Math.max(0, Math.floor((at - this.startMs) / this.bucketMs));
    while (bucket >= this.maxBuckets) {
      this.widen();
      bucket = Math.max(0, Math.floor((at - this.startMs) / this.bucketMs));
    }
    while (this.bytesIn.length <= bucket) {
      this.bytesIn.push(0);
      this.bytesOut.push(0);
    }
    return bucket;
  }

  /** Each pair of buckets becomes one twice as wide (the start stays where it was). */
  private widen(): void {
    for (const column of [this.bytesIn, this.bytesOut]) {
      const merged = Math.ceil(column.length / 2);
      for (let i = 0; i < merged; i++) {
        column[i] = (column[2 * i] as number) + ((column[2 * i + 1] as number | undefined) ?? 0);
      }
      column.length = merged;
    }
    this.bucketMs *= 2;
  }
}

/** What a traffic history reads from an endpoint. */
export interface HistorySource {
  id: string;
  capture: CaptureStore;
  /** When the endpoint was opened and when it finished (now, while it is open). */
  lifeSpan(): { startMs: number; endMs: number };
}

interface KeptHistory {
  capture: CaptureStore;
  histogram: RateHistogram;
  /** The next chunk (seq) to sum. */
  nextChunk: number;
  deletedBeforeMs: number | null;
  /** A read in progress: a second ask meanwhile waits for it instead of reading twice. */
  reading: Promise<void> | null;
}

export class TrafficHistories {
  /** Insertion order is recency: the first entry is the one asked about longest ago. */
  private readonly kept = new Map<string, KeptHistory>();

  async history(source: HistorySource): Promise<TrafficHistory> {
    const kept = this.keptFor(source);
    while (kept.reading) await kept.reading;
    kept.reading = this.readNewChunks(kept).finally(() => {
      kept.reading = null;
    });
    await kept.reading;
    const { histogram } = kept;
    histogram.extendTo(source.lifeSpan().endMs);
    return {
      id: source.id,
      startMs: histogram.startMs,
      bucketMs: histogram.bucketMs,
      bytesIn: [...histogram.bytesIn],
      bytesOut: [...histogram.bytesOut],
      deletedBeforeMs: kept.deletedBeforeMs,
    };
  }

  /** The endpoint was forgotten: so is its history. */
  forget(id: string): void {
    this.kept.delete(id);
  }

  private keptFor(source: HistorySource): KeptHistory {
    const existing = this.kept.get(source.id);
    this.kept.delete(source.id);
    // Another endpoint with the same id (a session restarted) starts over.
    const kept =
      existing && existing.capture === source.capture
        ? existing
        : {
            capture: source.capture,
            histogram: new RateHistogram(
              Math.floor(source.lifeSpan().startMs / FIRST_BUCKET_MS) * FIRST_BUCKET_MS,
            ),
            nextChunk: 0,
            deletedBeforeMs: null,
            reading: null,
          };
    this.kept.set(source.id, kept);
    while (this.kept.size > KEPT_HISTORIES) {
      const oldest = this.kept.keys().next().value as string;
      this.kept.delete(oldest);
    }
    return kept;
  }

  private async readNewChunks(kept: KeptHistory): Promise<void> {
    const { capture, histogram } = kept;
    const add = (at: number, size: number, dir: number) => histogram.add(at, size, dir);
    while (kept.nextChunk < capture.chunkCount) {
      const firstKept = capture.firstKeptChunk;
      if (kept.nextChunk < firstKept) {
        // Chunks the capture limit deleted before they were summed: say from when it is whole.
        kept.nextChunk = firstKept;
        capture.visitChunks(firstKept, firstKept + 1, (at) => {
          kept.deletedBeforeMs = at;
        });
        continue;
      }
      const end = Math.min(capture.chunkCount, kept.nextChunk + CHUNKS_PER_TURN);
      capture.visitChunks(kept.nextChunk, end, add);
      kept.nextChunk = end;
      if (end < capture.chunkCount) await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
