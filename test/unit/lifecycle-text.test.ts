/**
 * The timeline's explanation of a FIN depends on whether it opens the teardown or completes it:
 * a student reading "we can still send" after both sides sent FIN would learn the wrong thing.
 */
import { describe, expect, it } from 'vitest';
import type { Transition } from '../../src/shared/contract';
import { describeTransition, teardownBefore } from '../../src/renderer/src/lib/lifecycle';

const at = (event: Transition['event'], state: Transition['state']): Transition => ({
  at: 0,
  event,
  state,
});
const tcp = { role: 'accepted', kind: 'tcp-connection' } as const;
const unix = { role: 'accepted', kind: 'unix-connection' } as const;
const opened = [at('accepted', 'open'), at('established', 'open')];
/** What the timeline `earlier` says of the teardown before the next transition. */
const after = (earlier: Transition[]) =>
  teardownBefore([...earlier, at('closed', 'closed')]).at(-1);

describe('the explanation of a FIN', () => {
  it('says the peer may still send after our first FIN, and who waits after our second', () => {
    const ours = at('fin-sent', 'half-closed-local');
    expect(describeTransition(ours, tcp, after(opened)).explain).toBe('tl.explain.finSent');
    const peersFirst = [...opened, at('fin-received', 'half-closed-remote')];
    expect(describeTransition(ours, tcp, after(peersFirst)).explain).toBe(
      'tl.explain.finSentSecond',
    );
  });

  it('says we may still send after the peer’s first FIN, and that we wait in TIME_WAIT after its second', () => {
    const theirs = at('fin-received', 'half-closed-remote');
    expect(describeTransition(theirs, tcp, after(opened)).explain).toBe('tl.explain.finReceived');
    const oursFirst = [...opened, at('fin-sent', 'half-closed-local')];
    expect(describeTransition(theirs, tcp, after(oursFirst)).explain).toBe(
      'tl.explain.finReceivedSecond',
    );
  });

  it('speaks of no TIME_WAIT on a Unix-domain stream', () => {
    const oursFirst = [...opened, at('fin-sent', 'half-closed-local')];
    const theirs = at('fin-received', 'half-closed-remote');
    expect(describeTransition(theirs, unix, after(oursFirst))).toEqual({
      call: 'tl.call.finReceivedUnix',
      explain: 'tl.explain.bothDoneUnix',
    });
  });
});
