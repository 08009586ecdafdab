/**
 * The live graph zoomed out: an endpoint's traffic over its whole life, asked of the engine
 * (traffic.history, summed from the capture) once a second while the zoomed-out graph is on
 * screen, one request at a time. The queues come from what the kernel poller saw: the kernel is
 * only asked while someone watches, so the queue lines have gaps where nobody did.
 */
import type { CommandInput, CommandResult, TrafficHistory } from '../../../shared/contract';
import type { UserError } from '../../../shared/errors';
import type { QueueSample } from './kernel-poller.svelte';
import { PacedRequests } from './paced-requests';

const LIFE_POLL_INTERVAL_MS = 1000;
const RETRY_AFTER_ERROR_MS = 3000;

export type AskHistory = (
  input: CommandInput<'traffic.history'>,
) => Promise<CommandResult<'traffic.history'>>;

/** uPlot's layout: bucket start times (s), rates in and out (B/s), the two queues (B). */
export type LifeColumns = [number[], ...(number | null)[][]];

export class LifeHistory {
  latest = $state.raw<TrafficHistory | null>(null);
  error = $state.raw<UserError | null>(null);

  private readonly requests = new PacedRequests(() => this.ask());

  constructor(
    private readonly id: string,
    private readonly askHistory: AskHistory,
  ) {}

  start(): void {
    this.requests.start();
  }

  stop(): void {
    this.requests.stop();
  }

  private async ask(): Promise<number> {
    const result = await this.askHistory({ id: this.id });
    if (!result.ok) {
      this.error = result.error;
      return RETRY_AFTER_ERROR_MS;
    }
    this.latest = result.value;
    this.error = null;
    return LIFE_POLL_INTERVAL_MS;
  }
}

/**
 * One row per bucket: its start, bytes per second in and out, and the largest queue the kernel
 * poller saw during it (null where it did not look).
 */
export function lifeColumns(history: TrafficHistory, queues: readonly QueueSample[]): LifeColumns {
  const bucketS = history.bucketMs / 1000;
  const startS = history.startMs / 1000;
  const count = history.bytesIn.length;
  const time: number[] = [];
  const rateIn: number[] = [];
  const rateOut: number[] = [];
  const recvQ: (number | null)[] = new Array<number | null>(count).fill(null);
  const sendQ: (number | null)[] = new Array<number | null>(count).fill(null);
  for (let i = 0; i < count; i++) {
    time.push(startS + i * bucketS);
    rateIn.push((history.bytesIn[i] as number) / bucketS);
    rateOut.push((history.bytesOut[i] as number) / bucketS);
  }
  for (const sample of queues) {
    const i = Math.floor((sample.atS - startS) / bucketS);
    if (i < 0 || i >= count) continue;
    if (sample.recvQ !== null) recvQ[i] = Math.max(recvQ[i] ?? 0, sample.recvQ);
    if (sample.sendQ !== null) sendQ[i] = Math.max(sendQ[i] ?? 0, sample.sendQ);
  }
  return [time, rateIn, rateOut, recvQ, sendQ];
}
