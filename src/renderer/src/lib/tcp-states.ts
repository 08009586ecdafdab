/**
 * The TCP state machine of RFC 9293 (section 3.3.2, figure 5) as data: the eleven states, the
 * transitions between them, where each is drawn, and how a connection's path through them is
 * traced from what the engine recorded (its timeline) and what the kernel reported (polling).
 *
 * No text lives here: each state and edge has an id, and the views map ids to message keys.
 */
import type { EndpointInfo, TcpKernelState, Transition } from '../../../shared/contract';
import { tcpKernelStates } from '../../../shared/contract';

export interface Point {
  x: number;
  y: number;
}

/** The drawing's coordinate space (an SVG viewBox), and the size of a state's box in it. */
export const diagramSize = { width: 640, height: 548 } as const;
export const stateBox = { width: 118, height: 30 } as const;

/** The names RFC 9293 gives the states (Linux's, in the contract, differ in punctuation). */
export const rfcStateNames: Record<TcpKernelState, string> = {
  CLOSE: 'CLOSED',
  LISTEN: 'LISTEN',
  SYN_SENT: 'SYN-SENT',
  SYN_RECV: 'SYN-RECEIVED',
  ESTABLISHED: 'ESTABLISHED',
  FIN_WAIT1: 'FIN-WAIT-1',
  FIN_WAIT2: 'FIN-WAIT-2',
  CLOSE_WAIT: 'CLOSE-WAIT',
  CLOSING: 'CLOSING',
  LAST_ACK: 'LAST-ACK',
  TIME_WAIT: 'TIME-WAIT',
};

/** Where each state's box is centred: the RFC figure's layout, CLOSED drawn once at the top. */
export const statePositions: Record<TcpKernelState, Point> = {
  CLOSE: { x: 320, y: 28 },
  LISTEN: { x: 320, y: 108 },
  SYN_RECV: { x: 100, y: 188 },
  SYN_SENT: { x: 540, y: 188 },
  ESTABLISHED: { x: 320, y: 268 },
  FIN_WAIT1: { x: 100, y: 348 },
  CLOSE_WAIT: { x: 540, y: 348 },
  FIN_WAIT2: { x: 100, y: 428 },
  CLOSING: { x: 320, y: 428 },
  LAST_ACK: { x: 540, y: 428 },
  TIME_WAIT: { x: 320, y: 508 },
};

export const tcpEdgeIds = [
  'passiveOpen',
  'activeOpen',
  'listenClose',
  'synReceived',
  'listenSend',
  'synSentClose',
  'simultaneousOpen',
  'synAckReceived',
  'handshakeAcked',
  'synRecvReset',
  'synRecvClose',
  'activeClose',
  'passiveClose',
  'finAcked',
  'simultaneousClose',
  'finWait2Fin',
  'closingAcked',
  'closeWaitClose',
  'lastAcked',
  'timeWaitExpired',
] as const;
export type TcpEdgeId = (typeof tcpEdgeIds)[number];

export interface TcpEdge {
  id: TcpEdgeId;
  from: TcpKernelState;
  to: TcpKernelState;
  /** Corners the arrow passes on its way, so long edges go around the boxes, not through them. */
  via?: readonly Point[];
  /** Where its label sits, when the middle of the line is a crowded place. */
  labelAt?: Point;
}

/**
 * Every transition of the figure. Order matters where two paths are equally short: the usual one
 * comes first (an active close normally passes FIN_WAIT2, not CLOSING).
 */
export const tcpEdges: readonly TcpEdge[] = [
  { id: 'passiveOpen', from: 'CLOSE', to: 'LISTEN', labelAt: { x: 282, y: 70 } },
  { id: 'activeOpen', from: 'CLOSE', to: 'SYN_SENT', labelAt: { x: 470, y: 86 } },
  { id: 'listenClose', from: 'LISTEN', to: 'CLOSE', labelAt: { x: 356, y: 70 } },
  { id: 'synReceived', from: 'LISTEN', to: 'SYN_RECV', labelAt: { x: 186, y: 128 } },
  { id: 'listenSend', from: 'LISTEN', to: 'SYN_SENT', labelAt: { x: 446, y: 158 } },
  { id: 'synSentClose', from: 'SYN_SENT', to: 'CLOSE', labelAt: { x: 520, y: 58 } },
  { id: 'simultaneousOpen', from: 'SYN_SENT', to: 'SYN_RECV', labelAt: { x: 320, y: 182 } },
  { id: 'synAckReceived', from: 'SYN_SENT', to: 'ESTABLISHED', labelAt: { x: 472, y: 240 } },
  { id: 'handshakeAcked', from: 'SYN_RECV', to: 'ESTABLISHED', labelAt: { x: 186, y: 240 } },
  { id: 'synRecvReset', from: 'SYN_RECV', to: 'LISTEN', labelAt: { x: 232, y: 160 } },
  { id: 'synRecvClose', from: 'SYN_RECV', to: 'FIN_WAIT1', labelAt: { x: 56, y: 268 } },
  { id: 'activeClose', from: 'ESTABLISHED', to: 'FIN_WAIT1', labelAt: { x: 186, y: 298 } },
  { id: 'passiveClose', from: 'ESTABLISHED', to: 'CLOSE_WAIT', labelAt: { x: 456, y: 298 } },
  { id: 'finAcked', from: 'FIN_WAIT1', to: 'FIN_WAIT2', labelAt: { x: 56, y: 388 } },
  { id: 'simultaneousClose', from: 'FIN_WAIT1', to: 'CLOSING', labelAt: { x: 232, y: 376 } },
  { id: 'finWait2Fin', from: 'FIN_WAIT2', to: 'TIME_WAIT', labelAt: { x: 186, y: 484 } },
  { id: 'closingAcked', from: 'CLOSING', to: 'TIME_WAIT', labelAt: { x: 376, y: 468 } },
  { id: 'closeWaitClose', from: 'CLOSE_WAIT', to: 'LAST_ACK', labelAt: { x: 582, y: 388 } },
  {
    id: 'lastAcked',
    from: 'LAST_ACK',
    to: 'CLOSE',
    via: [
      { x: 624, y: 428 },
      { x: 624, y: 28 },
    ],
    labelAt: { x: 604, y: 300 },
  },
  {
    id: 'timeWaitExpired',
    from: 'TIME_WAIT',
    to: 'CLOSE',
    via: [
      { x: 16, y: 508 },
      { x: 16, y: 28 },
    ],
    labelAt: { x: 150, y: 524 },
  },
];

export function isTcpKernelState(value: string): value is TcpKernelState {
  return (tcpKernelStates as readonly string[]).includes(value);
}

export function edgeBetween(from: TcpKernelState, to: TcpKernelState): TcpEdge | undefined {
  return tcpEdges.find((edge) => edge.from === from && edge.to === to);
}

/**
 * The fewest transitions from one state to another (both included), or null if unreachable. A
 * connection's life ends at CLOSED: a route may start or end there but never pass through it.
 */
export function shortestPath(from: TcpKernelState, to: TcpKernelState): TcpKernelState[] | null {
  if (from === to) return [from];
  const cameFrom = new Map<TcpKernelState, TcpKernelState>();
  const queue: TcpKernelState[] = [from];
  for (let head = 0; head < queue.length; head += 1) {
    const state = queue[head] as TcpKernelState;
    if (state === 'CLOSE' && state !== from) continue;
    for (const edge of tcpEdges) {
      if (edge.from !== state || edge.to === from || cameFrom.has(edge.to)) continue;
      cameFrom.set(edge.to, state);
      if (edge.to === to) {
        const path: TcpKernelState[] = [to];
        let step: TcpKernelState | undefined = state;
        while (step !== undefined) {
          path.unshift(step);
          step = step === from ? undefined : cameFrom.get(step);
        }
        return path;
      }
      queue.push(edge.to);
    }
  }
  return null;
}

/** What happened, in time order: an engine transition, or a state the kernel reported. */
export type PathInput =
  | { at: number; transition: Pick<Transition, 'event' | 'by'> }
  | { at: number; observed: TcpKernelState | 'gone' };

export interface PathStep {
  state: TcpKernelState;
  /** The transition that led here; null for the first step and for a jump the figure lacks. */
  edge: TcpEdge | null;
  /** Not seen: a state the connection must have passed between two that were. */
  inferred: boolean;
}

type Role = EndpointInfo['role'];

/**
 * The kernel state an engine transition implies, given where the connection is. Null: the event
 * does not move the state machine (a pause, an option) or says nothing certain.
 */
export function impliedState(
  current: TcpKernelState | null,
  transition: Pick<Transition, 'event' | 'by'>,
  role: Role,
): { state: TcpKernelState; abrupt: boolean } | null {
  const to = (state: TcpKernelState, abrupt = false) => ({ state, abrupt });
  switch (transition.event) {
    case 'socket':
      return current === null ? to('CLOSE') : null;
    case 'listening':
      return to('LISTEN');
    case 'connect':
      return to('SYN_SENT');
    case 'established':
    case 'accepted':
      return to('ESTABLISHED');
    case 'fin-sent':
      if (current === 'CLOSE_WAIT') return to('LAST_ACK');
      return current === 'ESTABLISHED' || current === 'SYN_RECV' ? to('FIN_WAIT1') : null;
    case 'fin-received':
      if (current === 'ESTABLISHED') return to('CLOSE_WAIT');
      return current === 'FIN_WAIT1' || current === 'FIN_WAIT2' ? to('TIME_WAIT') : null;
    case 'closed':
      // close() on a connection sends our FIN unless an earlier shutdown() already did.
      if (current === 'ESTABLISHED') return to('FIN_WAIT1');
      if (current === 'CLOSE_WAIT') return to('LAST_ACK');
      if (current === 'LISTEN' || current === 'SYN_SENT') return to('CLOSE', true);
      return role === 'udp' ? to('CLOSE', true) : null;
    case 'stopped':
      return to('CLOSE', true);
    case 'rst-sent':
    case 'rst-received':
      return to('CLOSE', true);
    case 'error':
      return current === 'SYN_SENT' ? to('CLOSE', true) : null;
    default:
      return null;
  }
}

/**
 * The states a connection went through, from its engine timeline and the kernel's reports merged
 * in time order. A gap between two known states is filled with the shortest route through the
 * figure (marked inferred); a report the current state cannot lead to is a stale reading and
 * is skipped; a reset or the kernel letting go jumps straight to CLOSED.
 */
export function tracePath(inputs: readonly PathInput[], role: Role): PathStep[] {
  const steps: PathStep[] = [];
  const current = (): TcpKernelState | null => steps.at(-1)?.state ?? null;
  // An accepted connection is born from the listener's LISTEN, through SYN_RECV: certainly.
  if (role === 'accepted') {
    steps.push({ state: 'LISTEN', edge: null, inferred: false });
    steps.push({
      state: 'SYN_RECV',
      edge: edgeBetween('LISTEN', 'SYN_RECV') ?? null,
      inferred: false,
    });
  }

  const moveTo = (target: TcpKernelState, abrupt: boolean): void => {
    const from = current();
    if (from === null) {
      steps.push({ state: target, edge: null, inferred: false });
      return;
    }
    if (from === target) return;
    if (abrupt) {
      steps.push({ state: target, edge: edgeBetween(from, target) ?? null, inferred: false });
      return;
    }
    const route = shortestPath(from, target);
    if (route === null) return;
    for (let index = 1; index < route.length; index += 1) {
      const state = route[index] as TcpKernelState;
      const previous = route[index - 1] as TcpKernelState;
      steps.push({
        state,
        edge: edgeBetween(previous, state) ?? null,
        inferred: index < route.length - 1,
      });
    }
  };

  const ordered = [...inputs].sort((a, b) => a.at - b.at);
  for (const input of ordered) {
    if ('transition' in input) {
      const implied = impliedState(current(), input.transition, role);
      if (implied) moveTo(implied.state, implied.abrupt);
    } else if (input.observed === 'gone') {
      moveTo('CLOSE', true);
    } else {
      moveTo(input.observed, false);
    }
  }
  return steps;
}
