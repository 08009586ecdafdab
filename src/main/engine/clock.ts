import { performance } from 'node:perf_hooks';

/** Wall-clock milliseconds since the epoch with sub-millisecond precision (monotonic within a run). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
