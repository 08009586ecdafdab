/**
 * A request made again and again while started, one at a time: the next is scheduled only once
 * the answer is in, so a slow engine is never asked faster than it answers. Views use it to ask
 * for what they show (the kernel's view, a traffic history) only while they show it.
 */
export class PacedRequests {
  private running = false;
  private inFlight = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `request` answers how long after its start to make the next one, or null for never again. */
  constructor(private readonly request: () => Promise<number | null>) {}

  start(): void {
    this.running = true;
    // A request still out from before a stop: its answer schedules the next one.
    if (!this.inFlight && this.timer === undefined) void this.next();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async next(): Promise<void> {
    this.timer = undefined;
    if (!this.running || this.inFlight) return;
    this.inFlight = true;
    const startedAt = performance.now();
    let wait: number | null;
    try {
      wait = await this.request();
    } finally {
      this.inFlight = false;
    }
    if (!this.running || wait === null) return;
    const elapsed = performance.now() - startedAt;
    this.timer = setTimeout(() => void this.next(), Math.max(0, wait - elapsed));
  }
}
