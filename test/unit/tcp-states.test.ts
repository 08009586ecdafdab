import { describe, expect, it } from 'vitest';
import { tcpKernelStates } from '../../src/shared/contract';
import {
  diagramSize,
  edgeBetween,
  impliedState,
  isTcpKernelState,
  shortestPath,
  statePositions,
  tcpEdgeIds,
  tcpEdges,
  tracePath,
  type PathInput,
} from '../../src/renderer/src/lib/tcp-states';

const statesOf = (inputs: PathInput[], role: Parameters<typeof tracePath>[1]) =>
  tracePath(inputs, role).map((step) => step.state);

describe('the TCP state machine as data', () => {
  it('joins only real states, each edge once, every id used exactly once', () => {
    for (const edge of tcpEdges) {
      expect(isTcpKernelState(edge.from), edge.id).toBe(true);
      expect(isTcpKernelState(edge.to), edge.id).toBe(true);
      expect(edge.from, edge.id).not.toBe(edge.to);
    }
    const pairs = tcpEdges.map((edge) => `${edge.from}>${edge.to}`);
    expect(new Set(pairs).size).toBe(pairs.length);
    expect(tcpEdges.map((edge) => edge.id).sort()).toEqual([...tcpEdgeIds].sort());
  });

  it('places all eleven states inside the drawing, apart from each other', () => {
    expect(Object.keys(statePositions).sort()).toEqual([...tcpKernelStates].sort());
    const seen = new Set<string>();
    for (const point of Object.values(statePositions)) {
      expect(point.x).toBeGreaterThan(0);
      expect(point.x).toBeLessThan(diagramSize.width);
      expect(point.y).toBeGreaterThan(0);
      expect(point.y).toBeLessThan(diagramSize.height);
      seen.add(`${point.x},${point.y}`);
    }
    expect(seen.size).toBe(tcpKernelStates.length);
  });

  it('reaches every state from CLOSED and gets back to CLOSED from every state', () => {
    for (const state of tcpKernelStates) {
      expect(shortestPath('CLOSE', state), state).not.toBeNull();
      expect(shortestPath(state, 'CLOSE'), state).not.toBeNull();
    }
  });

  it('takes the usual road where two are equally short, never through CLOSED', () => {
    expect(shortestPath('FIN_WAIT1', 'TIME_WAIT')).toEqual(['FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT']);
    expect(shortestPath('LISTEN', 'ESTABLISHED')).toEqual(['LISTEN', 'SYN_RECV', 'ESTABLISHED']);
    // A closed connection does not open again: CLOSED ends a route, it is not a way through.
    expect(shortestPath('TIME_WAIT', 'ESTABLISHED')).toBeNull();
  });
});

describe('tracing a connection through it', () => {
  it('follows a normal active close to TIME_WAIT, then CLOSED', () => {
    const inputs: PathInput[] = [
      { at: 1, transition: { event: 'socket' } },
      { at: 2, transition: { event: 'connect' } },
      { at: 3, transition: { event: 'established' } },
      { at: 4, transition: { event: 'fin-sent', by: 'local' } },
      { at: 5, observed: 'FIN_WAIT2' },
      { at: 6, transition: { event: 'fin-received', by: 'remote' } },
      { at: 7, observed: 'TIME_WAIT' },
      { at: 8, observed: 'gone' },
    ];
    const path = tracePath(inputs, 'client');
    expect(path.map((step) => step.state)).toEqual([
      'CLOSE',
      'SYN_SENT',
      'ESTABLISHED',
      'FIN_WAIT1',
      'FIN_WAIT2',
      'TIME_WAIT',
      'CLOSE',
    ]);
    expect(path.slice(1).map((step) => step.edge?.id)).toEqual([
      'activeOpen',
      'synAckReceived',
      'activeClose',
      'finAcked',
      'finWait2Fin',
      'timeWaitExpired',
    ]);
    expect(path.every((step) => !step.inferred)).toBe(true);
  });

  it('fills a gap polling missed with the states between, marked inferred', () => {
    const path = tracePath(
      [
        { at: 1, observed: 'ESTABLISHED' },
        { at: 2, observed: 'TIME_WAIT' },
      ],
      'client',
    );
    expect(path.map((step) => [step.state, step.inferred])).toEqual([
      ['ESTABLISHED', false],
      ['FIN_WAIT1', true],
      ['FIN_WAIT2', true],
      ['TIME_WAIT', false],
    ]);
  });

  it('starts an accepted connection at the listener, through SYN_RECV, both certain', () => {
    expect(tracePath([], 'accepted')).toEqual([
      { state: 'LISTEN', edge: null, inferred: false },
      { state: 'SYN_RECV', edge: edgeBetween('LISTEN', 'SYN_RECV'), inferred: false },
    ]);
    const states = statesOf(
      [
        { at: 1, transition: { event: 'established' } },
        { at: 2, transition: { event: 'fin-received', by: 'remote' } },
        { at: 3, transition: { event: 'closed', by: 'remote' } },
        { at: 4, observed: 'LAST_ACK' },
      ],
      'accepted',
    );
    expect(states).toEqual(['LISTEN', 'SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK']);
  });

  it('merges by time, whatever order the inputs arrive in, and skips stale readings', () => {
    const states = statesOf(
      [
        { at: 5, observed: 'ESTABLISHED' }, // read after the FIN: a reading from before it
        { at: 4, transition: { event: 'fin-sent', by: 'local' } },
        { at: 3, transition: { event: 'established' } },
        { at: 1, transition: { event: 'socket' } },
        { at: 2, transition: { event: 'connect' } },
      ],
      'client',
    );
    expect(states).toEqual(['CLOSE', 'SYN_SENT', 'ESTABLISHED', 'FIN_WAIT1']);
  });

  it('jumps straight to CLOSED on a reset, with no transition of the figure', () => {
    const path = tracePath(
      [
        { at: 1, transition: { event: 'established' } },
        { at: 2, transition: { event: 'rst-received', by: 'remote' } },
      ],
      'client',
    );
    expect(path.at(-1)).toEqual({ state: 'CLOSE', edge: null, inferred: false });
  });

  it('shows a listener opening and stopping', () => {
    const states = statesOf(
      [
        { at: 1, transition: { event: 'socket' } },
        { at: 2, transition: { event: 'listening' } },
        { at: 3, transition: { event: 'stopped', by: 'local' } },
      ],
      'listener',
    );
    expect(states).toEqual(['CLOSE', 'LISTEN', 'CLOSE']);
    expect(edgeBetween('LISTEN', 'CLOSE')?.id).toBe('listenClose');
  });

  it('reads a passive close from the timeline: CLOSE_WAIT, then LAST_ACK', () => {
    expect(impliedState('ESTABLISHED', { event: 'fin-received' }, 'client')?.state).toBe(
      'CLOSE_WAIT',
    );
    expect(impliedState('CLOSE_WAIT', { event: 'fin-sent' }, 'client')?.state).toBe('LAST_ACK');
    expect(impliedState('ESTABLISHED', { event: 'paused' }, 'client')).toBeNull();
  });
});
