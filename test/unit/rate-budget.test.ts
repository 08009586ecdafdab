import { describe, expect, it } from 'vitest';
import { RateBudget } from '../../src/renderer/src/lib/rate-budget';

function clockedBudget(rate: number, burst: number) {
  let now = 0;
  const budget = new RateBudget(rate, burst, () => now);
  return { budget, advance: (ms: number) => (now += ms) };
}

describe('RateBudget', () => {
  it('grants no more than the rate allows, in whole units', () => {
    const { budget, advance } = clockedBudget(1000, 1000);
    expect(budget.take(500)).toBe(0);
    advance(100);
    expect(budget.take(500)).toBe(100);
    advance(250);
    expect(budget.take(100)).toBe(100);
    expect(budget.take(500)).toBe(150);
  });

  it('grants whole units only, keeping the fraction for later', () => {
    const { budget, advance } = clockedBudget(1000, 1000);
    advance(2.5);
    expect(budget.take(100)).toBe(2);
    advance(0.5);
    expect(budget.take(100)).toBe(1);
  });

  it('saves up at most the burst while idle', () => {
    const { budget, advance } = clockedBudget(1000, 250);
    advance(10_000);
    expect(budget.take(10_000)).toBe(250);
  });

  it('work spent beyond the budget is paid off before anything more is granted', () => {
    const { budget, advance } = clockedBudget(1000, 1000);
    budget.spend(300);
    advance(200);
    expect(budget.take(1000)).toBe(0);
    advance(200);
    expect(budget.take(1000)).toBe(100);
  });

  it('reset forgets savings and debt and applies the new rate', () => {
    const { budget, advance } = clockedBudget(1000, 1000);
    budget.spend(5000);
    budget.reset(2000, 2000);
    advance(100);
    expect(budget.take(1000)).toBe(200);
  });
});
