/**
 * What every endpoint (listener, connection, UDP socket) shares: an id, a lifecycle whose every
 * transition is timestamped in a timeline, counters, and a capture of its traffic.
 */
import type {
  Address,
  AutomationTransition,
  CaptureChunk,
  Counters,
  EndpointInfo,
  EndpointState,
  Transition,
} from '../../shared/contract';
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
type TransitionFacts = Omit<Transition, 'at' | 'event' | 'state'>;

/** What every endpoint needs from the engine. */
export interface EngineContext {
  hub: EventHub;
  memory: CaptureMemory;
  /** Bytes a connection may queue for a peer that does not read before its sends are refused. */
  sendQueueLimitBytes: number;
  /** Every chunk received, after it is captured: auto-reply rules look at it here. */
  received?: (endpoint: Endpoint, chunk: CaptureChunk) => void;
  /** What is automated on an endpoint, for its info. */
  automationOf?: (id: string) => { rules: number; jobs: number };
}

export abstract class Endpoint {
  readonly createdAt = nowMs();
  readonly capture: CaptureStore;
  /** The digits of the id ("conn-12" is 12): ids are numbered in the order they were made. */
  readonly number: number;
  protected readonly hub: EventHub;
  private readonly context: EngineContext;
  protected state: EndpointState;
  protected local: Address | null = null;
  protected remote: Address | null = null;
  protected lastError: UserError | null = null;
  private readonly timeline: Transition[] = [];
  protected readonly counters: Counters = {
    bytesIn: 0,
    bytesOut: 0,
    chunksIn: 0,
    chunksOut: 0,
    bytesQueued: 0,
    datagramsDropped: 0,
    kernelDrops: null,
  };

  protected constructor(
    readonly id: string,
    readonly kind: EndpointKind,
    readonly role: EndpointRole,
    readonly parentId: string | null,
    context: EngineContext,
    initialState: EndpointState,
  ) {
    this.hub = context.hub;
    this.context = context;
    this.number = Number(id.slice(id.indexOf('-') + 1));
    this.capture = new CaptureStore(context.memory, this.number, () => this.description());
    this.state = initialState;
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
        ...this.counters,
        bytesQueued: this.queuedBytes(),
        kernelDrops: this.kernelDrops(),
      },
      readingPaused: this.readingPaused(),
      openConnections: this.openConnections(),
      timeline: [...this.timeline],
      error: this.lastError,
      captureKeptFrom: this.capture.keptFrom,
      automation: this.context.automationOf?.(this.id) ?? { rules: 0, jobs: 0 },
    };
  }

  /** Closes whatever the endpoint holds; resolves when the OS has released it. */
  abstract dispose(): Promise<void>;
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

  protected record(event: Transition['event'], state: EndpointState, facts: TransitionFacts = {}) {
    this.state = state;
    if (facts.error) this.lastError = facts.error;
    this.timeline.push({ at: nowMs(), event, state, ...facts });
    this.capture.describeAgain();
    this.hub.transition(this.id);
  }

  /**
   * Automation did something here (a send job began or ended, a rule turned itself off): the
   * timeline says so, the state stays, and a job's error is the job's, not the endpoint's.
   */
  noteAutomation(event: AutomationTransition, facts: Pick<TransitionFacts, 'detail' | 'error'>) {
    this.timeline.push({ at: nowMs(), event, state: this.state, ...facts });
    this.hub.transition(this.id);
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
      remote: this.remote,
      createdAt: this.createdAt,
    };
  }

  /** What the capture folder says of this endpoint, so that it can be read without the app. */
  private description(): EndpointDescription {
    const last = this.timeline.at(-1);
    return {
      ...this.identity(),
      ...(this.isFinished && last ? { endedAt: last.at } : {}),
      ...(this.lastError ? { error: this.lastError } : {}),
    };
  }

  protected captured(dir: Direction, bytes: Uint8Array, peer?: Peer): void {
    const chunk = this.capture.append(dir, bytes, peer);
    if (dir === 'in') {
      this.counters.bytesIn += bytes.byteLength;
      this.counters.chunksIn += 1;
    } else {
      this.counters.bytesOut += bytes.byteLength;
      this.counters.chunksOut += 1;
    }
    this.hub.data(this.id, chunk);
    if (dir === 'in') this.context.received?.(this, chunk);
  }
}
