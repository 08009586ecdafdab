/**
 * A short soak, as CI runs it (`npm run soak -- --seconds N` runs a long one): peers connect,
 * send, half-close, reset and vanish at random while the engine does the same through its
 * router; every byte and every count must agree at the end (see test/soak/soak.ts).
 */
import { describe, expect, it } from 'vitest';
import { runSoak } from '../soak/soak';

const SECONDS = 8;

describe('soak', () => {
  it(`survives ${SECONDS} s of peers that come, talk, half-close, reset and vanish`, async () => {
    const report = await runSoak({
      seconds: SECONDS,
      seed: Number(process.env.SOAK_SEED) || undefined,
    });
    // On failure the seed is in the message: SOAK_SEED=<seed> replays the same random choices
    // (their timing, and so some outcomes, still vary from run to run).
    expect(report.problems, `seed ${report.seed}`).toEqual([]);
    expect(report.connections).toBeGreaterThan(20);
    expect(report.bytesIn).toBeGreaterThan(1024 * 1024);
    expect(report.bytesOut).toBeGreaterThan(1024 * 1024);
    expect(report.datagramsIn + report.datagramsOut).toBeGreaterThan(100);
    for (const what of ['peer half-closed', 'peer reset', 'engine half-closed', 'engine reset']) {
      expect(report.happened[what] ?? 0, what).toBeGreaterThan(0);
    }
  }, 120_000);
});
