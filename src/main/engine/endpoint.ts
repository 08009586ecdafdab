/**
 * What every endpoint (listener, connection, UDP socket) shares: an id, a lifecycle whose every
 * transition is timestamped in a timeline, counters, and a capture of its traffic.
 */
import {
  type Address,
  type AutomationTransition,
  type CaptureChunk,
  type Counters,
  type EndpointInfo,
  type EndpointState,
  TIMELINE_HEAD,
  TIMELINE_MAX,
  type Transition,
} from '../../shared/contract';
import type net from 'node:net';
import { isTerminalState } from '../../shared/domain';
import type { UserError } from '../../shared/errors';
import {
  CaptureStore,
  type CaptureMemory,
  type Direction,
  type EndpointDescription,
  type Peer,
} from './capture';
import { nowMs } from './clock';
import type { EventHub } from './event-hub';

export type EndpointKind = EndpointInfo['kind'];
export type EndpointRole = EndpointInfo['role'];
/** The transitions a capture folder's description keeps: those that put segments on a wire. */
const SEGMENT_EVENTS: ReadonlySet<Transition['event']> = new Set([
  'connect',
  'established',
  'accepted',
  'fin-sent',
  'fin-received',
  'rst-sent',
  'rst-received',
  'closed',
] as const);

type TransitionFacts = Omit<Transition, 'at' | 'event' | 'state'>;

/** What every endpoint needs from the engine. */
export interface EngineContext {
  hub: EventHub;
  memory: CaptureMemory;
  /** Bytes a connection may queue for a peer that does not read before its sends are refused. */
  sendQueueLimitBytes: number;
  /** Every chunk received, after it is captured: auto-reply rules look at it here. */
  received?: (endpoint: Endpoint, chunk: CaptureChunk) => void;
  /** Whether `received` looks at an endpoint's chunks (it has rules). */
  watchesReceived?: (endpoint: Endpoint) => boolean;
  /** What is automated on an endpoint, for its info. */
  automationOf?: (id: string) => { rules: number; jobs: number };
}

export abstract class Endpoint {
  readonly createdAt = nowMs();
  readonly capture: CaptureStore;
  /** The digits of the id ("conn-12" is 12): ids are numbered in the order they were made. */
  get number(): number {
    return this.capture.endpointNumber;
  }
  protected readonly context: EngineContext;
  protected state: EndpointState;
  protected local: Address | null = null;
  protected remote: Address | null = null;
  protected lastError: UserError | null = null;
  private timeline: Transition[] = [];
  /** Transitions dropped from the middle of a long timeline (see TIMELINE_MAX). */
  private timelineOmitted = 0;
  /** What is counted as it happens (bytesQueued and kernelDrops are asked for by info()). */
  protected readonly counters: Omit<Counters, 'bytesQueued' | 'kernelDrops'> = {
    bytesIn: 0,
    bytesOut: 0,
    chunksIn: 0,
    chunksOut: 0,
    datagramsDropped: 0,
  };

  protected constructor(
    readonly id: string,
    readonly kind: EndpointKind,
    readonly role: EndpointRole,
    readonly parentId: string | null,
    context: EngineContext,
    initialState: EndpointState,
  ) {
    this.context = context;
    const number = Number(id.slice(id.indexOf('-') + 1));
    this.capture = new CaptureStore(context.memory, number, this);
    this.state = initialState;
  }

  protected get hub(): EventHub {
    return this.context.hub;
  }

  get currentState(): EndpointState {
    return this.state;
  }

  get isFinished(): boolean {
    return isTerminalState(this.state);
  }

  info(): EndpointInfo {
    return {
      ...this.identity(),
      options: this.options(),
      counters: {
        bytesIn: this.counters.bytesIn,
        bytesOut: this.counters.bytesOut,
        chunksIn: this.counters.chunksIn,
        chunksOut: this.counters.chunksOut,
        bytesQueued: this.queuedBytes(),
        datagramsDropped: this.counters.datagramsDropped,
        kernelDrops: this.kernelDrops(),
      },
      readingPaused: this.readingPaused(),
      openConnections: this.openConnections(),
      timeline: [...this.timeline],
      ...(this.timelineOmitted > 0 ? { timelineOmitted: this.timelineOmitted } : {}),
      error: this.lastError,
      captureKeptFrom: this.capture.keptFrom,
      automation: this.context.automationOf?.(this.id) ?? { rules: 0, jobs: 0 },
    };
  }

  /** From its first transition to its last once finished (now, while it is open). */
  lifeSpan(): { startMs: number; endMs: number } {
    const startMs = this.timeline[0]?.at ?? this.createdAt;
    const endMs = this.isFinished ? (this.timeline.at(-1)?.at ?? startMs) : nowMs();
    return { startMs, endMs: Math.max(startMs, endMs) };
  }

  /** Closes whatever the endpoint holds; resolves when the OS has released it. */
  abstract dispose(): Promise<void>;

  /** Captures what was read and is still waiting to be (a busy UDP socket's backlog). */
  captureBacklog(): void {}
  protected abstract options(): EndpointInfo['options'];

  protected queuedBytes(): number {
    return 0;
  }
  /** What the OS says it dropped before this endpoint could read it; null where it does not say. */
  protected kernelDrops(): number | null {
    return null;
  }
  protected readingPaused(): boolean {
    return false;
  }
  protected openConnections(): number {
    return 0;
  }
  /** Where the peer is: a subclass may read it from its socket rather than keep a copy. */
  protected remoteAddress(): Address | null {
    return this.remote;
  }
  /**
   * The Node object behind it (a connection's net.Socket, a listener's net.Server), for what only
   * the OS can say about it (kernel/targets.ts); null for the others.
   */
  nodeHandle(): net.Socket | net.Server | null {
    return null;
  }

  /** `at`: when it happened; now, unless it is rebuilt from a capture opened read-only. */
  protected record(
    event: Transition['event'],
    state: EndpointState,
    facts: TransitionFacts = {},
    at = nowMs(),
  ) {
    this.state = state;
    if (facts.error) this.lastError = facts.error;
    // Without a spread when there are no facts: such a transition takes 8 bytes less.
    this.keep(
      Object.keys(facts).length > 0 ? { at, event, state, ...facts } : { at, event, state },
    );
    this.capture.describeAgain();
    this.hub.transition(this.id);
  }

  /**
   * Automation did something here (a send job began or ended, a rule turned itself off): the
   * timeline says so, the state stays, and a job's error is the job's, not the endpoint's.
   */
  noteAutomation(event: AutomationTransition, facts: Pick<TransitionFacts, 'detail' | 'error'>) {
    this.keep({ at: nowMs(), event, state: this.state, ...facts });
    this.hub.transition(this.id);
  }

  /**
   * Keeps a transition. A timeline is sent with every update of the endpoint, so a long one
   * (pausing and resuming all day, thousands of send jobs) keeps its first TIMELINE_HEAD
   * transitions, how it began, and its latest ones, and counts those dropped between.
   */
  private keep(transition: Transition): void {
    // A literal holds exactly the first transition (often the only one of an idle connection);
    // a first push() would make room for 17.
    if (this.timeline.length === 0) this.timeline = [transition];
    else this.timeline.push(transition);
    if (this.timeline.length > TIMELINE_MAX) {
      this.timeline.splice(TIMELINE_HEAD, 1);
      this.timelineOmitted += 1;
    }
  }

  /** What it is and where: the part of its info that the capture folder keeps too. */
  private identity() {
    return {
      id: this.id,
      kind: this.kind,
      role: this.role,
      parentId: this.parentId,
      state: this.state,
      local: this.local,
      remote: this.remoteAddress(),
      createdAt: this.createdAt,
    };
  }

  /** What the capture folder says of this endpoint, so that it can be read without the app. */
  captureDescription(): EndpointDescription {
    const last = this.timeline.at(-1);
    return {
      ...this.identity(),
      // What an export needs to draw the handshake and teardown (SYN, FIN, RST) at their times.
      transitions: this.timeline
        .filter((entry) => SEGMENT_EVENTS.has(entry.event))
        .map(({ at, event, by }) => (by ? { at, event, by } : { at, event })),
      ...(this.isFinished && last ? { endedAt: last.at } : {}),
      ...(this.lastError ? { error: this.lastError } : {}),
    };
  }

  /**
   * Bytes received from or sent to a peer: kept, counted, shown, and seen by the rules. `at`:
   * when they came, for a caller that has just read the clock anyway.
   */
  protected captured(dir: Direction, bytes: Uint8Array, peer?: Peer, at?: number): void {
    const chunk = this.keepChunk(dir, bytes, peer, at);
    if (dir === 'in') this.context.received?.(this, chunk);
  }

  /**
   * Whether anyone is told of each chunk this endpoint receives (a view, or auto-reply rules):
   * when nobody is, a flood of datagrams is captured without making an object per datagram.
   */
  protected get chunksWatched(): boolean {
    return this.hub.hasViews || this.repliesWatch;
  }

  /** Whether auto-reply rules see what this endpoint receives (so it must not wait to be seen). */
  protected get repliesWatch(): boolean {
    return this.context.watchesReceived?.(this) ?? false;
  }

  /** Received chunks a subclass captured (and counted) itself: shown, and seen by the rules. */
  protected showReceived(chunks: readonly CaptureChunk[]): void {
    for (const chunk of chunks) {
      this.hub.data(this.id, chunk);
      this.context.received?.(this, chunk);
    }
  }

  /** Captures and counts a chunk and tells the views; `at`: its time, when it is not now. */
  protected keepChunk(dir: Direction, bytes: Uint8Array, peer?: Peer, at?: number): CaptureChunk {
    const chunk = this.capture.append(dir, bytes, peer, at);
    if (dir === 'in') {
      this.counters.bytesIn += bytes.byteLength;
      this.counters.chunksIn += 1;
    } else {
      this.counters.bytesOut += bytes.byteLength;
      this.counters.chunksOut += 1;
    }
    this.hub.data(this.id, chunk);
    return chunk;
  }
}
