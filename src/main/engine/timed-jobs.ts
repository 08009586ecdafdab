/**
 * Repeat and sequence sends on the engine's own timers. Due times come from a monotonic start
 * (performance.now()), never from chained timeouts, so lateness does not pile up: a repeat at
 * 1 ms sends 1,000 a second even though each setTimeout fires a little late.
 */
import { performance } from 'node:perf_hooks';
import { SendJob, isQueueFull, type JobSetup } from './send-job';

/**
 * How far a late repeat catches up: the sends due in the last CATCH_UP_MS (at least one) go out
 * in one burst; older ones are counted as skipped. The event loop of a busy engine stalls for
 * tens of milliseconds now and then (garbage collection, a flood on another connection): those
 * sends still go out, a little bunched, while a stall of seconds (a suspended laptop) costs the
 * sends it covered instead of a burst of thousands the peer did not ask for.
 */
export const CATCH_UP_MS = 100;
/**
 * A sequence with zero delays would send forever within one timer callback: at most this many
 * steps per callback, then the event loop gets its turn.
 */
export const SEQUENCE_STEPS_PER_TICK = 256;

/** What repeat and sequence share: the timer, sends in flight, skip and finish rules. */
abstract class TimedJob extends SendJob {
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private finishing = false;
  private haltedAt = 0;

  /** Moves the schedule later by `ms` (the time spent paused): no catch-up for a pause. */
  protected abstract shift(ms: number): void;
  /** Sends what is due now and schedules the next tick. */
  protected abstract tick(): void;

  protected schedule(delayMs: number): void {
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (this.state === 'running') this.tick();
      },
      Math.max(0, delayMs),
    );
  }

  /**
   * One send, or a skip when the target cannot take it now (its peer is not reading): a send
   * is never queued for later. Counted as done at once; a send that turns out refused is moved
   * to skipped, one that fails otherwise (NOT_WRITABLE, the endpoint gone) ends the job.
   */
  protected sendOrSkip(bytes: Uint8Array): void {
    if (!this.host.canTake(this.target, bytes.byteLength)) {
      this.skipped += 1;
      return;
    }
    this.done += 1;
    this.inFlight += 1;
    let sending: Promise<number>;
    try {
      sending = this.host.sendBytes(this.target, bytes);
    } catch (error) {
      sending = Promise.reject(error);
    }
    sending.then(
      (sent) => {
        this.bytesSent += sent;
        // A broadcast to a listener with no open connection reached nobody.
        if (sent === 0) this.unsent();
        this.settled();
      },
      (error: unknown) => {
        if (isQueueFull(error)) this.unsent();
        else this.fail(error);
        this.settled();
      },
    );
  }

  /** Ends as done once the sends in flight have settled (a datagram's send is asynchronous). */
  protected finishWhenSent(): void {
    this.finishing = true;
    if (this.inFlight === 0) this.end('done');
  }

  private unsent(): void {
    this.done -= 1;
    this.skipped += 1;
  }

  private settled(): void {
    this.inFlight -= 1;
    if (this.finishing && this.inFlight === 0) this.end('done');
  }

  protected halt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.haltedAt = performance.now();
  }

  protected carryOn(): void {
    this.shift(performance.now() - this.haltedAt);
    this.schedule(0);
  }
}

export class RepeatJob extends TimedJob {
  /** Monotonic time the first send was due (moved on by pauses): send k is due at base + k * interval. */
  private base = 0;
  /** Sends handled so far: sent or skipped. */
  private ticks = 0;

  constructor(
    setup: JobSetup,
    private readonly bytes: Uint8Array,
    private readonly intervalMs: number,
    private readonly count: number | null,
  ) {
    super(setup);
  }

  start(): void {
    this.base = performance.now();
    this.tick();
  }

  protected shift(ms: number): void {
    this.base += ms;
  }

  protected tick(): void {
    const now = performance.now();
    const elapsed = Math.max(0, now - this.base);
    let due = Math.floor(elapsed / this.intervalMs) + 1;
    if (this.count !== null) due = Math.min(due, this.count);
    const late = due - this.ticks;
    const burst = Math.max(1, Math.ceil(CATCH_UP_MS / this.intervalMs));
    if (late > burst) {
      this.skipped += late - burst;
      this.ticks += late - burst;
    }
    while (this.ticks < due && this.state === 'running') {
      this.ticks += 1;
      this.sendOrSkip(this.bytes);
    }
    if (this.state !== 'running') return;
    this.progressed();
    if (this.count !== null && this.ticks >= this.count) {
      this.finishWhenSent();
      return;
    }
    const next = this.base + this.ticks * this.intervalMs;
    this.schedule(next - performance.now());
  }
}

export interface SequenceStep {
  bytes: Uint8Array;
  delayMs: number;
}

/**
 * Steps in order, each after its delay. Unlike a repeat, a late step is not dropped (the order
 * and every step are the point of a sequence): it goes out as soon as the timer runs, and when
 * the schedule is more than CATCH_UP_MS behind it restarts from now. Only backpressure skips.
 */
export class SequenceJob extends TimedJob {
  /** Steps handled so far over all rounds: sent or skipped. */
  private position = 0;
  /** Monotonic time the step at `position` is due. */
  private nextDue = 0;

  constructor(
    setup: JobSetup,
    private readonly steps: readonly SequenceStep[],
    private readonly total: number | null,
  ) {
    super(setup);
  }

  start(): void {
    this.nextDue = performance.now() + this.stepAt(0).delayMs;
    this.schedule(this.nextDue - performance.now());
  }

  private stepAt(position: number): SequenceStep {
    const step = this.steps[position % this.steps.length];
    if (!step) throw new Error('A sequence has at least one step');
    return step;
  }

  protected shift(ms: number): void {
    this.nextDue += ms;
  }

  protected tick(): void {
    const now = performance.now();
    let handled = 0;
    while (
      this.state === 'running' &&
      this.nextDue <= now &&
      handled < SEQUENCE_STEPS_PER_TICK &&
      (this.total === null || this.position < this.total)
    ) {
      this.sendOrSkip(this.stepAt(this.position).bytes);
      this.position += 1;
      handled += 1;
      this.nextDue += this.stepAt(this.position).delayMs;
    }
    if (this.state !== 'running') return;
    this.progressed();
    if (this.total !== null && this.position >= this.total) {
      this.finishWhenSent();
      return;
    }
    if (now - this.nextDue > CATCH_UP_MS) this.nextDue = now;
    this.schedule(this.nextDue - performance.now());
  }
}
