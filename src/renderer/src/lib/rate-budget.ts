/**
 * A token bucket for work a view allows itself: it refills at `rate` units a second, saves up
 * at most `burst`, and may go into debt when work is done that could not wait (the debt is paid
 * off before anything more is allowed).
 */
export class RateBudget {
  private tokens = 0;
  private refilledAt: number;

  constructor(
    private rate: number,
    private burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.refilledAt = now();
  }

  /** Starts over at a new rate, with nothing saved and no debt. */
  reset(rate: number, burst: number): void {
    this.rate = rate;
    this.burst = burst;
    this.tokens = 0;
    this.refilledAt = this.now();
  }

  /** Takes as much of `wanted` as the budget allows now (a whole number, 0 or more). */
  take(wanted: number): number {
    this.refill();
    const granted = Math.max(0, Math.min(wanted, Math.floor(this.tokens)));
    this.tokens -= granted;
    return granted;
  }

  /** Records work already done, whether or not the budget allowed it. */
  spend(amount: number): void {
    this.refill();
    this.tokens -= amount;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
  }
}
