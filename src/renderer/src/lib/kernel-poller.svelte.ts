/**
 * Asks the engine what the kernel holds for one endpoint's socket, a few times a second, while a
 * view shows it: one request at a time, nothing at all while stopped. It keeps what the graph
 * and the state diagram need: the latest sample, the states seen in order, and the last minute
 * of queues and traffic rates.
 */
import type {
  CommandInput,
  CommandResult,
  Counters,
  KernelSample,
  TcpKernelState,
} from '../../../shared/contract';
import type { UserError } from '../../../shared/errors';
import { PacedRequests } from './paced-requests';

/** The ceiling: at most four samples a second. */
export const KERNEL_POLL_INTERVAL_MS = 250;
/** After a failed request: try again, but gently. */
const RETRY_AFTER_ERROR_MS = 2000;
/** What the graph shows. */
export const GRAPH_WINDOW_S = 60;

export type SampleKernel = (
  input: CommandInput<'kernel.sample'>,
) => Promise<CommandResult<'kernel.sample'>>;

/** Queue samples kept for the whole-life graph: past this, every other one is let go. */
const LIFE_QUEUE_SAMPLES_MAX = 2400;

/** What the kernel's queues held at one moment (seconds, engine clock). */
export interface QueueSample {
  atS: number;
  recvQ: number | null;
  sendQ: number | null;
}

/** A state the kernel reported, when it was read (engine clock, ms); 'gone': it let go. */
export interface ObservedState {
  at: number;
  observed: TcpKernelState | 'gone';
}

/**
 * The last minute, column by column, in the layout uPlot draws from: times in seconds, then one
 * array per series. Plain arrays on purpose (hundreds of numbers, replaced four times a second):
 * `version` is what views react to.
 */
export class KernelHistory {
  readonly time: number[] = [];
  readonly bytesInPerS: (number | null)[] = [];
  readonly bytesOutPerS: (number | null)[] = [];
  readonly recvQ: (number | null)[] = [];
  readonly sendQ: (number | null)[] = [];
  version = $state(0);

  private previous: { atS: number; bytesIn: number; bytesOut: number } | null = null;
  /**
   * Every queue sample since the panel first watched, thinned (every other one dropped) whenever
   * it fills, so a long watch keeps an even, bounded record for the zoomed-out graph.
   */
  readonly lifeQueues: QueueSample[] = [];

  add(atS: number, counters: Counters, sample: KernelSample): void {
    const previous = this.previous;
    const elapsed = previous ? atS - previous.atS : 0;
    const rate = (now: number, before: number | undefined) =>
      before === undefined || elapsed <= 0 ? null : Math.max(0, (now - before) / elapsed);
    this.time.push(atS);
    this.bytesInPerS.push(rate(counters.bytesIn, previous?.bytesIn));
    this.bytesOutPerS.push(rate(counters.bytesOut, previous?.bytesOut));
    this.recvQ.push(sample.found ? sample.recvQ : null);
    this.sendQ.push(sample.found ? sample.sendQ : null);
    this.previous = { atS, bytesIn: counters.bytesIn, bytesOut: counters.bytesOut };
    // The engine's clock, as the traffic history is: the two line up on one axis.
    if (sample.found) {
      this.keepForLife({ atS: sample.at / 1000, recvQ: sample.recvQ, sendQ: sample.sendQ });
    }
    const oldest = atS - GRAPH_WINDOW_S;
    let drop = 0;
    while (drop < this.time.length && (this.time[drop] as number) < oldest) drop += 1;
    if (drop > 0) {
      for (const column of this.columns()) column.splice(0, drop);
    }
    this.version += 1;
  }

  private keepForLife(sample: QueueSample): void {
    if (this.lifeQueues.length >= LIFE_QUEUE_SAMPLES_MAX) {
      let kept = 0;
      for (let i = 0; i < this.lifeQueues.length; i += 2) {
        this.lifeQueues[kept++] = this.lifeQueues[i] as QueueSample;
      }
      this.lifeQueues.length = kept;
    }
    this.lifeQueues.push(sample);
  }

  columns(): [number[], ...(number | null)[][]] {
    return [this.time, this.bytesInPerS, this.bytesOutPerS, this.recvQ, this.sendQ];
  }
}

export interface KernelPollerSource {
  id: string;
  sample: SampleKernel;
  /** The endpoint's counters as the UI knows them now. */
  counters: () => Counters;
  /** True once the engine is done with the endpoint: polling ends when the kernel is too. */
  finished: () => boolean;
}

export class KernelPoller {
  latest = $state.raw<KernelSample | null>(null);
  missing = $state.raw<string[]>([]);
  error = $state.raw<UserError | null>(null);
  /** Each change of state the kernel reported, in order. */
  observed = $state.raw<ObservedState[]>([]);
  /** The kernel let go of a closed endpoint's socket: nothing more to ask. */
  done = $state(false);
  readonly history = new KernelHistory();

  private readonly requests = new PacedRequests(() => this.poll());

  constructor(private readonly source: KernelPollerSource) {}

  start(): void {
    if (!this.done) this.requests.start();
  }

  stop(): void {
    this.requests.stop();
  }

  /** One sample; answers when to ask again (null once the kernel has let go for good). */
  private async poll(): Promise<number | null> {
    const result = await this.source.sample({ ids: [this.source.id] });
    if (!result.ok) {
      this.error = result.error;
      return RETRY_AFTER_ERROR_MS;
    }
    this.accept(result.value.samples, result.value.missing);
    return this.done ? null : KERNEL_POLL_INTERVAL_MS;
  }

  private accept(samples: readonly KernelSample[], missing: string[]): void {
    const sample = samples.find((candidate) => candidate.id === this.source.id);
    this.error = null;
    if (missing.join('\n') !== this.missing.join('\n')) this.missing = missing;
    if (!sample) return;
    this.latest = sample;
    this.history.add(Date.now() / 1000, this.source.counters(), sample);
    const observed: ObservedState['observed'] | null = !sample.found ? 'gone' : sample.tcpState;
    if (observed !== null && this.observed.at(-1)?.observed !== observed) {
      this.observed = [...this.observed, { at: sample.at, observed }];
    }
    if (!sample.found && this.source.finished()) {
      this.done = true;
      this.stop();
    }
  }
}

/** Whether the page is on screen: a hidden tab asks the kernel nothing. */
class PageVisibility {
  visible = $state(typeof document === 'undefined' || document.visibilityState === 'visible');

  constructor() {
    if (typeof document === 'undefined') return;
    // The page's own lifetime: never removed.
    document.addEventListener('visibilitychange', () => {
      this.visible = document.visibilityState === 'visible';
    });
  }
}

export const pageVisibility = new PageVisibility();

const PANEL_STORAGE_KEY = 'socket-workbench.kernel-panel';

/**
 * Whether the kernel panel is open. Until the user chooses, it opens for TCP, where the state
 * machine is what students come to watch, and stays closed elsewhere; the choice then persists.
 */
class KernelPanelPreference {
  chosen = $state<boolean | null>(readPanelChoice());

  openFor(kind: string): boolean {
    return this.chosen ?? (kind === 'tcp-connection' || kind === 'tcp-listener');
  }

  choose(open: boolean): void {
    this.chosen = open;
    try {
      localStorage.setItem(PANEL_STORAGE_KEY, open ? 'open' : 'closed');
    } catch {
      // Storage may be disabled: the choice lasts for this page.
    }
  }
}

function readPanelChoice(): boolean | null {
  try {
    const stored = localStorage.getItem(PANEL_STORAGE_KEY);
    return stored === 'open' ? true : stored === 'closed' ? false : null;
  } catch {
    return null;
  }
}

export const kernelPanelPreference = new KernelPanelPreference();
