/**
 * A timeline goes out with every update of its endpoint, so it is bounded: it keeps how the
 * connection began and its latest transitions, and says how many it left out between.
 */
import { describe, expect, it } from 'vitest';
import { TIMELINE_HEAD, TIMELINE_MAX } from '../../src/shared/contract';
import { freshEngineAndDir, listenerWithPeer } from '../support/engine';

const fresh = freshEngineAndDir();

describe('a long timeline', () => {
  it('keeps its first transitions and its latest ones, and counts those between', async () => {
    const { engine } = fresh;
    const { peer, accepted } = await listenerWithPeer(engine);
    try {
      const begun = engine.info(accepted.id).timeline.length;
      const toggles = TIMELINE_MAX + 200;
      for (let i = 0; i < toggles; i++) engine.setReadingPaused(accepted.id, i % 2 === 0);
      const info = engine.info(accepted.id);
      expect(info.timeline).toHaveLength(TIMELINE_MAX);
      expect(info.timelineOmitted).toBe(begun + toggles - TIMELINE_MAX);
      // How it began is still there: accept().
      expect(info.timeline.slice(0, begun).map((t) => t.event)).toContain('accepted');
      expect(
        info.timeline
          .slice(0, TIMELINE_HEAD)
          .every((t, i) => i < begun || t.event === 'paused' || t.event === 'resumed'),
      ).toBe(true);
      // The latest is the last toggle (an odd count ends paused=false: resumed).
      expect(info.timeline.at(-1)?.event).toBe('resumed');
      const times = info.timeline.map((t) => t.at);
      expect([...times].sort((a, b) => a - b)).toEqual(times);
    } finally {
      peer.socket.destroy();
    }
  });
});
