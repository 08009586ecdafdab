/**
 * Captures opened read-only (capture.open): a capture session folder or a pcap/pcapng file
 * becomes endpoints of the running engine, closed, whose bytes are replayed into the engine's own
 * capture with their original timestamps, so every view (terminal, history, search, copy,
 * checksums, export) works on them as on live ones. Nothing can be sent from them.
 * Opening them: open-capture.ts (capture folders) and pcap/ (pcap and pcapng files).
 *
 * The bytes are replayed asynchronously in bounded batches that wait while capture memory is
 * under pressure: a capture far bigger than memory streams through the engine's capture folder.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Address, EndpointInfo, EndpointState, Transition } from '../../shared/contract';
import { WorkbenchError, type UserError } from '../../shared/errors';
import type { CaptureMemory, Direction, Peer } from './capture';
import { Endpoint, type EndpointKind, type EndpointRole, type EngineContext } from './endpoint';

/** What opening a capture needs from the engine. */
export interface CaptureOpenHost {
  context: EngineContext;
  /** The engine's own session folder: opening it would replay it into itself. */
  ownFolder: string;
  newId(prefix: 'lst' | 'conn' | 'udp'): string;
  /** Registers the endpoint and tells the views (endpoint.added). */
  add(endpoint: OpenedEndpoint): void;
}

export interface OpenedCapture {
  ids: string[];
  warnings: string[];
}

/** Warnings listed at most; past this, how many more there were. */
const WARNINGS_MAX = 100;
/** Bytes replayed between two turns of the event loop. */
const BATCH_BYTES = 1024 * 1024;
/** What a chunk counts for in a batch beyond its bytes (tiny datagrams still take time). */
const CHUNK_WEIGHT = 512;
/** How often a replay waiting for capture memory to drain looks again. */
const DRAIN_POLL_MS = 20;

/** One capture.open: stops when the engine disposes of its endpoints. */
export class ImportRun {
  cancelled = false;
  private sinceTurn = 0;
  private readonly warningList: string[] = [];
  private warningsLeftOff = 0;

  constructor(
    readonly source: string,
    private readonly memory: CaptureMemory,
  ) {}

  warn(message: string): void {
    if (this.warningList.length < WARNINGS_MAX) this.warningList.push(message);
    else this.warningsLeftOff += 1;
  }

  get warnings(): string[] {
    return this.warningsLeftOff > 0
      ? [...this.warningList, `…and ${this.warningsLeftOff} more warnings`]
      : [...this.warningList];
  }

  /**
   * Called after each replayed chunk: once a batch is done, lets the event loop turn, and waits
   * while capture memory is over its budget (the capture file is behind).
   */
  async paced(bytes: number): Promise<void> {
    this.sinceTurn += bytes + CHUNK_WEIGHT;
    if (this.sinceTurn < BATCH_BYTES) return;
    this.sinceTurn = 0;
    await nextTurn();
    while (this.memory.underPressure && !this.cancelled) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
  }
}

export interface OpenedIdentity {
  kind: EndpointKind;
  role: EndpointRole;
  parentId: string | null;
  local: Address | null;
  remote: Address | null;
  createdAt: number;
  initialState: EndpointState;
}

/** An endpoint whose life is over and whose bytes come from a file: it only shows them. */
export class OpenedEndpoint extends Endpoint {
  declare readonly createdAt: number;
  /** Connections it accepted, opened with it: forgotten with it. */
  readonly children: OpenedEndpoint[] = [];

  constructor(
    id: string,
    context: EngineContext,
    identity: OpenedIdentity,
    private readonly run: ImportRun,
  ) {
    super(id, identity.kind, identity.role, identity.parentId, context, identity.initialState);
    this.createdAt = identity.createdAt;
    this.local = identity.local;
    this.remote = identity.remote;
  }

  get source(): string {
    return this.run.source;
  }

  /** Forgotten, or the engine is stopping: replay nothing more into it. */
  get abandoned(): boolean {
    return this.run.cancelled || this.capture.isReleased;
  }

  override info(): EndpointInfo {
    return { ...super.info(), openedFrom: this.source };
  }

  readOnlyError(): WorkbenchError {
    return new WorkbenchError(
      'READ_ONLY',
      `${this.id} was opened from ${this.source}: read-only, nothing can be sent or changed`,
    );
  }

  /** A transition as the capture saw it, at its own time. */
  happened(
    event: Transition['event'],
    state: EndpointState,
    at: number,
    facts: { by?: 'local' | 'remote'; detail?: string; error?: UserError } = {},
  ): void {
    this.record(event, state, facts, at);
  }

  /** A chunk as the capture saw it, at its own time. */
  replay(dir: Direction, bytes: Uint8Array, at: number, peer?: Peer): void {
    // The caller's buffer is reused: the capture keeps its own copy.
    // Not `captured`: replayed bytes are not news for the auto-reply rules.
    this.keepChunk(dir, new Uint8Array(bytes), peer, at);
  }

  dispose(): Promise<void> {
    this.run.cancelled = true;
    return Promise.resolve();
  }

  protected options(): EndpointInfo['options'] {
    return { noDelay: false, keepAlive: false, allowHalfOpen: false };
  }
}
