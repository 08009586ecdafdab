/**
 * What each lifecycle transition means, in socket calls and TCP segments: the link between what
 * the engine did and what a student reads in a textbook.
 */
import type { EndpointInfo, EndpointState, Transition } from '../../../shared/contract';
import { isStreamRole } from '../../../shared/domain';
import type { MessageKey } from '../i18n/en';

export interface TransitionText {
  call: MessageKey;
  explain: MessageKey;
}

/** Whether the teardown had begun before a transition: it makes a FIN the first or the second. */
export interface TeardownSoFar {
  finSent: boolean;
  finReceived: boolean;
}

/** For each transition of a timeline, the FINs before it (one pass, for a view of the whole). */
export function teardownBefore(timeline: readonly Transition[]): TeardownSoFar[] {
  const result: TeardownSoFar[] = [];
  let finSent = false;
  let finReceived = false;
  for (const transition of timeline) {
    result.push({ finSent, finReceived });
    if (transition.event === 'fin-sent') finSent = true;
    if (transition.event === 'fin-received') finReceived = true;
  }
  return result;
}

export function describeTransition(
  transition: Transition,
  endpoint: Pick<EndpointInfo, 'role' | 'kind'>,
  before: TeardownSoFar = { finSent: false, finReceived: false },
): TransitionText {
  const { role } = endpoint;
  const stream = isStreamRole(role);
  // Unix-domain sockets have no segments on a wire: the kernel joins the two ends directly.
  const unix = endpoint.kind === 'unix-connection';
  // The second FIN of a teardown ends both directions: its explanation says so.
  const second = transition.event === 'fin-sent' ? before.finReceived : before.finSent;
  const finText = (call: MessageKey, first: MessageKey, last: MessageKey): TransitionText => ({
    call,
    explain: second ? last : first,
  });
  switch (transition.event) {
    case 'socket':
      return role === 'client'
        ? { call: 'tl.call.socketClient', explain: 'tl.explain.socketClient' }
        : { call: 'tl.call.socket', explain: 'tl.explain.socket' };
    case 'listening':
      return { call: 'tl.call.listening', explain: 'tl.explain.listening' };
    case 'bound':
      return { call: 'tl.call.bound', explain: 'tl.explain.bound' };
    case 'connect':
      return unix
        ? { call: 'tl.call.connectUnix', explain: 'tl.explain.connectUnix' }
        : { call: 'tl.call.connect', explain: 'tl.explain.connect' };
    case 'established':
      if (unix) return { call: 'tl.call.establishedUnix', explain: 'tl.explain.establishedUnix' };
      return role === 'accepted'
        ? { call: 'tl.call.establishedAccepted', explain: 'tl.explain.establishedAccepted' }
        : { call: 'tl.call.established', explain: 'tl.explain.established' };
    case 'accepted':
      return { call: 'tl.call.accepted', explain: 'tl.explain.accepted' };
    case 'fin-sent':
      return unix
        ? finText('tl.call.finSentUnix', 'tl.explain.finSent', 'tl.explain.bothDoneUnix')
        : finText('tl.call.finSent', 'tl.explain.finSent', 'tl.explain.finSentSecond');
    case 'fin-received':
      return unix
        ? finText('tl.call.finReceivedUnix', 'tl.explain.finReceived', 'tl.explain.bothDoneUnix')
        : finText('tl.call.finReceived', 'tl.explain.finReceived', 'tl.explain.finReceivedSecond');
    case 'rst-sent':
      return { call: 'tl.call.rstSent', explain: 'tl.explain.rstSent' };
    case 'rst-received':
      return { call: 'tl.call.rstReceived', explain: 'tl.explain.rstReceived' };
    case 'closed':
      if (!stream) return { call: 'tl.call.closed', explain: 'tl.explain.closedSocket' };
      return transition.by === 'remote'
        ? { call: 'tl.call.closedRemote', explain: 'tl.explain.closedRemote' }
        : { call: 'tl.call.closed', explain: 'tl.explain.closed' };
    case 'stopped':
      return { call: 'tl.call.stopped', explain: 'tl.explain.stopped' };
    case 'paused':
      return { call: 'tl.call.paused', explain: 'tl.explain.paused' };
    case 'resumed':
      return { call: 'tl.call.resumed', explain: 'tl.explain.resumed' };
    case 'option':
      return { call: 'tl.call.option', explain: 'tl.explain.option' };
    case 'error':
      return { call: 'tl.call.error', explain: 'tl.explain.error' };
    case 'idle-close':
      return { call: 'tl.call.idleClose', explain: 'tl.explain.idleClose' };
    case 'job-started':
      return { call: 'tl.call.jobStarted', explain: 'tl.explain.jobStarted' };
    case 'job-done':
      return { call: 'tl.call.jobDone', explain: 'tl.explain.jobDone' };
    case 'job-stopped':
      return { call: 'tl.call.jobStopped', explain: 'tl.explain.jobStopped' };
    case 'job-failed':
      return { call: 'tl.call.jobFailed', explain: 'tl.explain.jobFailed' };
    case 'rule-off':
      return { call: 'tl.call.ruleOff', explain: 'tl.explain.ruleOff' };
  }
}

export const stateKeys: Record<EndpointState, MessageKey> = {
  opening: 'state.opening',
  listening: 'state.listening',
  bound: 'state.bound',
  connecting: 'state.connecting',
  open: 'state.open',
  'half-closed-local': 'state.halfClosedLocal',
  'half-closed-remote': 'state.halfClosedRemote',
  closed: 'state.closed',
  reset: 'state.reset',
  error: 'state.error',
};

/** The colour family of a state, used as a CSS class (never the only cue: the word is shown). */
export function stateTone(state: EndpointState): 'pending' | 'live' | 'half' | 'done' | 'bad' {
  switch (state) {
    case 'opening':
    case 'connecting':
      return 'pending';
    case 'listening':
    case 'bound':
    case 'open':
      return 'live';
    case 'half-closed-local':
    case 'half-closed-remote':
      return 'half';
    case 'closed':
      return 'done';
    case 'reset':
    case 'error':
      return 'bad';
  }
}

export const kindKeys: Record<EndpointInfo['kind'], MessageKey> = {
  'tcp-listener': 'kind.tcpListener',
  'unix-listener': 'kind.unixListener',
  'tcp-connection': 'kind.tcpConnection',
  'unix-connection': 'kind.unixConnection',
  'udp-socket': 'kind.udpSocket',
};
