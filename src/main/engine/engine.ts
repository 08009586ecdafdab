/**
 * The engine: owns every socket, keeps each endpoint's lifecycle and capture, and tells
 * subscribers what happened. Plain Node (never electron), driven through the router.
 */
import type net from 'node:net';
import type { AnyEvent } from '../../shared/api';
import {
  HALF_CLOSED_IDLE_MS_DEFAULT,
  KEEP_CLOSED_DEFAULT,
  MAX_CONNECTIONS_DEFAULT,
  MAX_PAYLOAD_BYTES,
  exportExtensions,
  type CommandOutput,
  type EndpointInfo,
  type EngineStatus,
  type ExportRequest,
  type ValidInput,
} from '../../shared/contract';
import { WorkbenchError } from '../../shared/errors';
import type { ValidPayload } from '../../shared/payload';
import { Connection, DEFAULT_SEND_QUEUE_LIMIT_BYTES } from './connection';
import { encodePayloadInNode } from './encodings';
import type { Endpoint, EngineContext } from './endpoint';
import { CaptureMemory } from './capture';
import { CaptureFolder, type CaptureSettings } from './capture-folder';
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from './capture-blocks';
import { copyFromCapture } from './capture-copy';
import { findInCapture } from './capture-query';
import { EventHub, type View } from './event-hub';
import { checkExportDestination } from './export/destination';
import { exportCapture } from './export/export-capture';
import { DescriptorBudget } from './descriptors';
import { Listener, type ListenerLimits } from './listener';
import { UdpEndpoint } from './udp';
import { openCapture } from './open-capture';
import { OpenedEndpoint } from './opened-capture';
import { AutoReply } from './auto-reply';
import type { AutomationHost, ValidSendTarget } from './automation-host';
import { PayloadLibrary } from './payload-library';
import { SendJobs } from './send-jobs';
import { checkUnixSocketPath } from './unix-path';
import { WorkspaceManager, type EndpointOrigin } from './workspace';
import { KernelView, type KernelSources } from './kernel/sampler';
import { TrafficHistories } from './traffic-history';
import { Downloads } from './downloads';

export interface EngineOptions {
  /**
   * Where the capture session's folder is made; a fresh private temporary directory (removed on
   * dispose) if unset.
   */
  captureDir?: string;
  /** The capture limit and free-space floor; defaults in capture-folder.ts. */
  capture?: Partial<CaptureSettings>;
  /** Captured bytes kept in memory across all endpoints; older ones are read back from disk. */
  captureMemoryBytes?: number;
  /** Bytes a connection may queue for a peer that does not read before sends are refused. */
  sendQueueLimitBytes?: number;
  /**
   * The descriptor limit (read from the OS if unset) and the reserve kept for everything but
   * the engine's sockets (max(64, 10% of the limit) if unset); see descriptors.ts.
   */
  descriptors?: { limit?: number; reserve?: number };
  /** Finished clients, listeners and UDP sockets kept listed; older ones are forgotten. */
  keepFinished?: number;
  /** How much capture queries read at a time (capture-query.ts; tests make blocks small). */
  queryLimits?: Partial<QueryLimits>;
  /**
   * The app's data folder, where the payload library and the default workspace are kept; null
   * or unset keeps the library in memory only and saves no workspace until Save as (tests).
   * Electron passes userData; serve passes --data-dir.
   */
  dataDir?: string | null;
  /** Replies one auto-reply rule may send in a second before it turns itself off (a loop). */
  ruleRepliesPerSecond?: number;
  /** Where kernel.sample reads from (kernel/sampler.ts); tests count the ss runs and /proc reads. */
  kernelSources?: Partial<KernelSources>;
}

/**
 * A send job skips a send while the target has this much waiting for its peer already: the
 * kernel's buffers are full and the peer is not keeping up.
 */
export const AUTOMATION_QUEUE_BYTES = 64 * 1024;

/** Whether two hosts name the same machine as far as a loop between endpoints goes. */
function sameMachine(a: string, b: string): boolean {
  const here = (host: string) =>
    host === 'localhost' ||
    host === '0.0.0.0' ||
    host === '::' ||
    host.startsWith('127.') ||
    host === '::1';
  return a === b || (here(a) && here(b));
}

/** Finished top-level endpoints kept listed unless EngineOptions.keepFinished says otherwise. */
export const DEFAULT_KEEP_FINISHED = 1_000;

/**
 * Listener input as the router validates it; callers inside the process (tests, benches) may
 * leave the limits to the contract's defaults.
 */
type ListenInput<C extends 'tcp.listen' | 'unix.listen'> = Omit<
  ValidInput<C>,
  keyof ListenerLimits
> &
  Partial<ListenerLimits>;

export const DEFAULT_CAPTURE_MEMORY_BYTES = 32 * 1024 * 1024;
/** How often the engine's status (the capture folder's size) is published while it changes. */
const STATUS_INTERVAL_MS = 1000;

type Ok = { ok: true };
const ok: Ok = { ok: true };

export class Engine {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly hub = new EventHub({
    describe: (id) => this.endpoints.get(id)?.info(),
    capturedBytes: (id) => this.endpoints.get(id)?.capture.totalBytes ?? 0,
    transitioned: (id) => this.onTransition(id),
  });
  private readonly descriptors: DescriptorBudget;
  /** Endpoints the user opened (everything but accepted connections), oldest first. */
  private readonly topLevel = new Set<Endpoint>();
  /** Finished top-level endpoints still listed, in the order they finished. */
  private readonly finishedTopLevel = new Set<Endpoint>();
  /** Accepted sockets not yet closed, across every listener (forgotten listeners included). */
  private acceptedSocketsOpen = 0;
  private forgetFinishedScheduled = false;
  private readonly folder: CaptureFolder;
  private readonly statusTimer: NodeJS.Timeout;
  private readonly memory: CaptureMemory;
  private readonly context: EngineContext;
  private nextId = 1;
  /** Saved payloads, shared by every endpoint. */
  readonly library: PayloadLibrary;
  /** Repeat, sequence and file sends, on the engine's timers. */
  readonly jobs: SendJobs;
  /** Auto-reply rules per endpoint. */
  readonly rules: AutoReply;
  /** The workspace file: what is open, saved and opened again (workspace.ts). */
  readonly workspace: WorkspaceManager;
  /** The command and input each top-level endpoint was opened with, to open it again. */
  private readonly origins = new Map<string, EndpointOrigin>();
  /** kernel.sample: the kernel's view of the endpoints' sockets, read only when asked. */
  private readonly kernel: KernelView;
  private readonly trafficHistories = new TrafficHistories();
  /** Exports waiting for the browser to fetch them (browser mode). */
  readonly downloads = new Downloads();
  private disposing: Promise<void> | undefined;

  constructor(readonly options: EngineOptions = {}) {
    this.descriptors = new DescriptorBudget(options.descriptors);
    const budget = options.captureMemoryBytes ?? DEFAULT_CAPTURE_MEMORY_BYTES;
    // A small budget must not wait for a large batch before bytes can leave memory.
    this.folder = new CaptureFolder(options.captureDir, {
      settings: options.capture,
      onFailure: () => this.publishStatus(),
      onDeleted: () => this.onCaptureDeleted(),
      batchBytes: budget / 4,
    });
    this.memory = new CaptureMemory(budget, this.folder);
    this.kernel = new KernelView(options.kernelSources);
    this.memory.onPressure((pressure) => this.onCapturePressure(pressure));
    // What the folder holds changes with every write: say so about once a second, when it did.
    let lastSize = -1;
    this.statusTimer = setInterval(() => {
      const size = this.folder.storedBytes + this.folder.deletedBytes;
      if (size !== lastSize) this.publishStatus();
      lastSize = size;
    }, STATUS_INTERVAL_MS).unref();
    const host = this.automationHost();
    this.library = new PayloadLibrary(options.dataDir ?? null, (items) => {
      this.hub.emitNow({ event: 'library.changed', payload: { items } });
      this.workspace.changed();
    });
    this.jobs = new SendJobs(host);
    this.rules = new AutoReply(host, options.ruleRepliesPerSecond);
    this.workspace = new WorkspaceManager(this, options.dataDir ?? null, (state) =>
      this.hub.emitNow({ event: 'workspace.updated', payload: state }),
    );
    this.context = {
      hub: this.hub,
      memory: this.memory,
      sendQueueLimitBytes: options.sendQueueLimitBytes ?? DEFAULT_SEND_QUEUE_LIMIT_BYTES,
      received: (endpoint, chunk) => this.rules.received(endpoint, chunk),
      watchesReceived: (endpoint) => this.rules.watches(endpoint),
      automationOf: (id) => ({ rules: this.rules.enabledOn(id), jobs: this.jobs.activeOn(id) }),
    };
  }

  private automationHost(): AutomationHost {
    return {
      sendBytes: (target, bytes) => this.sendBytes(target, bytes),
      canTake: (target, bytes) => this.canTake(target, bytes),
      encodePayload: (payload) => this.encodePayload(payload),
      describe: (id) => this.endpoints.get(id)?.info(),
      touch: (id) => this.hub.touch(id),
      note: (id, event, facts) => this.endpoints.get(id)?.noteAutomation(event, facts),
      emit: (event) => {
        this.hub.emitNow(event);
        if (event.event === 'rules.updated') this.workspace.changed();
      },
      isOwnPeer: (target) => this.isOwnPeer(target),
    };
  }

  private isOwnPeer(target: ValidSendTarget): boolean {
    const other =
      target.kind === 'datagram'
        ? { host: target.host, port: target.port }
        : this.endpoints.get(target.id)?.info().remote;
    if (!other) return false;
    for (const endpoint of this.endpoints.values()) {
      // An endpoint opened from a file holds no socket: its addresses are another machine's past.
      if (endpoint.id === target.id || endpoint instanceof OpenedEndpoint) continue;
      const local = endpoint.info().local;
      if (!local) continue;
      if ('path' in other || 'path' in local) {
        if ('path' in other && 'path' in local && other.path === local.path) return true;
      } else if (local.port === other.port && sameMachine(local.host, other.host)) {
        return true;
      }
    }
    return false;
  }

  /** What a user's send does, for automation: the same paths, captures and errors. */
  private async sendBytes(target: ValidSendTarget, bytes: Uint8Array): Promise<number> {
    switch (target.kind) {
      case 'connection':
        return this.get(target.id, Connection).send(bytes);
      case 'broadcast': {
        const listener = this.get(target.id, Listener);
        // A stopped listener has no one to send to, now or later: the job ends, it does not skip.
        if (listener.isFinished && !listener.hasOpenConnections) {
          throw new WorkbenchError(
            'NOT_OPEN',
            `${target.id} has stopped and has no open connection`,
          );
        }
        const { connections } = listener.broadcast(bytes);
        return connections > 0 ? bytes.byteLength : 0;
      }
      case 'datagram':
        return this.get(target.id, UdpEndpoint).send(bytes, target.host, target.port);
    }
  }

  private canTake(target: ValidSendTarget, bytes: number): boolean {
    const room = Math.max(AUTOMATION_QUEUE_BYTES, bytes);
    const endpoint = this.endpoints.get(target.id);
    if (endpoint instanceof Connection) return endpoint.bytesQueued < room;
    if (endpoint instanceof Listener) return endpoint.connectionsBelowQueue(room);
    return endpoint instanceof UdpEndpoint;
  }

  /** A page starts showing the engine (see View): close it when the page goes. */
  openView(listener: (event: AnyEvent) => void): View {
    return this.hub.openView(listener);
  }

  status(): EngineStatus {
    return {
      capture: {
        folder: this.folder.folder,
        budgetBytes: this.memory.budgetBytes,
        bytesInMemory: this.memory.usedBytes,
        unpersistedBytes: this.folder.data.unpersistedBytes,
        pressure: this.memory.underPressure,
        error: this.folder.error,
        ...this.folder.settings,
        storedBytes: this.folder.storedBytes,
        deletedBytes: this.folder.deletedBytes,
        freeBytes: Number.isFinite(this.folder.freeBytes) ? this.folder.freeBytes : null,
      },
    };
  }

  /** Resolves once every captured byte so far, and its index, is on disk. */
  flushCapture(): Promise<void> {
    for (const endpoint of this.endpoints.values()) endpoint.captureBacklog();
    return this.memory.flushAll();
  }

  /** Changes the capture limit or the free-space floor; the limit acts at once. */
  configureCapture(settings: Partial<CaptureSettings>): EngineStatus {
    this.folder.configure(settings);
    this.publishStatus();
    return this.status();
  }

  list(): EndpointInfo[] {
    return [...this.endpoints.values()].map((endpoint) => endpoint.info());
  }

  /**
   * One page of the session, in the order the endpoints were made. The cursor is the number in
   * the last id of the previous page, so endpoints forgotten between pages shift nothing.
   */
  snapshot(cursor: number | undefined, limit: number): CommandOutput<'session.snapshot'> {
    const endpoints: EndpointInfo[] = [];
    let last = 0;
    // Ids are numbered in the order endpoints are added to the map, so it is sorted by number.
    for (const endpoint of this.endpoints.values()) {
      if (cursor !== undefined && endpoint.number <= cursor) continue;
      if (endpoints.length === limit) return { endpoints, nextCursor: last };
      endpoints.push(endpoint.info());
      last = endpoint.number;
    }
    return { endpoints };
  }

  info(id: string): EndpointInfo {
    return this.get(id).info();
  }

  async listenTcp(input: ListenInput<'tcp.listen'>): Promise<EndpointInfo> {
    const target = { kind: 'tcp', host: input.host, port: input.port } as const;
    return this.openListener(target, input, { open: 'tcp.listen', input });
  }

  async listenUnix(input: ListenInput<'unix.listen'>): Promise<EndpointInfo> {
    checkUnixSocketPath(input.path, 'listen');
    const target = { kind: 'unix', path: input.path, removeStale: input.removeStale } as const;
    return this.openListener(target, input, { open: 'unix.listen', input });
  }

  async connectTcp(input: ValidInput<'tcp.connect'>): Promise<EndpointInfo> {
    const target = { kind: 'tcp', host: input.host, port: input.port } as const;
    return this.openConnection(target, input, { open: 'tcp.connect', input });
  }

  async connectUnix(input: ValidInput<'unix.connect'>): Promise<EndpointInfo> {
    checkUnixSocketPath(input.path, 'connect');
    const target = { kind: 'unix', path: input.path } as const;
    const options = { ...input, noDelay: false, keepAlive: false };
    return this.openConnection(target, options, { open: 'unix.connect', input });
  }

  async bindUdp(input: ValidInput<'udp.bind'>): Promise<EndpointInfo> {
    const udp = new UdpEndpoint(
      this.newId('udp'),
      this.context,
      input.host,
      input.port,
      input.receiveBufferSize,
    );
    this.add(udp, { open: 'udp.bind', input });
    await udp.bind();
    return udp.info();
  }

  async sendUdp(input: ValidInput<'udp.send'>): Promise<CommandOutput<'udp.send'>> {
    const udp = this.get(input.id, UdpEndpoint);
    const bytes = this.encodePayload(input.payload);
    return { bytes: await udp.send(bytes, input.host, input.port) };
  }

  send(id: string, payload: ValidPayload): CommandOutput<'connection.send'> {
    const connection = this.get(id, Connection);
    return { bytes: connection.send(this.encodePayload(payload)) };
  }

  halfClose(id: string): Ok {
    this.get(id, Connection).halfClose();
    return ok;
  }

  close(id: string): Ok {
    this.get(id, Connection).close();
    return ok;
  }

  reset(id: string): Ok {
    this.get(id, Connection).reset();
    return ok;
  }

  setReadingPaused(id: string, paused: boolean): Ok {
    this.get(id, Connection).setReadingPaused(paused);
    return ok;
  }

  setOptions(input: ValidInput<'connection.setOptions'>): EndpointInfo {
    const connection = this.get(input.id, Connection);
    connection.setOptions(input);
    return connection.info();
  }

  broadcast(id: string, payload: ValidPayload): CommandOutput<'listener.broadcast'> {
    const listener = this.get(id, Listener);
    const bytes = this.encodePayload(payload);
    const { connections, refused } = listener.broadcast(bytes);
    if (connections === 0 && refused.length > 0) {
      const queued = refused.map(
        (r) => `${r.bytesQueued.toLocaleString('en-US')} bytes already queued for ${r.id}`,
      );
      throw new WorkbenchError(
        'SEND_QUEUE_FULL',
        `The peer is not reading: ${queued.join(', ')}. No connection took the broadcast; send again once the peers read.`,
      );
    }
    return { connections, bytes: bytes.byteLength, refused };
  }

  async stopListener(id: string, closeConnections: boolean): Promise<Ok> {
    await this.get(id, Listener).stop(closeConnections);
    return ok;
  }

  closeUdp(id: string): Ok {
    this.get(id, UdpEndpoint).close();
    return ok;
  }

  /** capture.open: a capture folder or pcap/pcapng file's endpoints, read-only (open-capture.ts). */
  openCapture(path: string): Promise<CommandOutput<'capture.open'>> {
    return openCapture(
      {
        context: this.context,
        ownFolder: this.folder.folder,
        newId: (prefix) => this.newId(prefix),
        add: (endpoint) => this.add(endpoint),
      },
      path,
    );
  }

  /** kernel.sample: what the kernel holds for these endpoints' sockets (kernel/sampler.ts). */
  async sampleKernel(ids: string[]): Promise<CommandOutput<'kernel.sample'>> {
    return this.kernel.sample(ids.map((id) => this.get(id)));
  }

  /** traffic.history: an endpoint's bytes in and out over its whole life (traffic-history.ts). */
  trafficHistory(id: string): Promise<CommandOutput<'traffic.history'>> {
    return this.trafficHistories.history(this.withBacklogCaptured(id));
  }

  /** Drops a finished endpoint and its capture. */
  forget(id: string): Ok {
    const endpoint = this.get(id);
    if (!endpoint.isFinished) {
      throw new WorkbenchError(
        'NOT_OPEN',
        `${id} is still ${endpoint.currentState}; close it first`,
      );
    }
    this.drop(endpoint);
    return ok;
  }

  /** Removes a finished endpoint (a listener with its finished connections) from the session. */
  private drop(endpoint: Endpoint): void {
    if (endpoint instanceof Listener) {
      for (const connection of endpoint.connections) {
        if (!connection.isFinished) continue;
        endpoint.forgetConnection(connection);
        this.remove(connection);
      }
    }
    if (endpoint instanceof Connection && endpoint.parentId) {
      const parent = this.endpoints.get(endpoint.parentId);
      if (parent instanceof Listener) parent.forgetConnection(endpoint);
    }
    if (endpoint instanceof OpenedEndpoint) {
      for (const child of endpoint.children) if (this.endpoints.has(child.id)) this.remove(child);
    }
    this.remove(endpoint);
  }

  /** Throws UNKNOWN_ENDPOINT unless the session has this endpoint. */
  requireEndpoint(id: string): void {
    this.get(id);
  }

  readCapture(id: string, offset: number, length: number): CommandOutput<'capture.read'> {
    const capture = this.withBacklogCaptured(id).capture;
    return {
      chunks: capture.read(offset, length),
      totalBytes: capture.totalBytes,
      keptFrom: capture.keptFrom,
    };
  }

  /** One page of capture.find over the endpoint's capture (capture-query.ts). */
  async findInCapture(
    input: ValidInput<'capture.find'>,
    signal: AbortSignal,
  ): Promise<CommandOutput<'capture.find'>> {
    const capture = this.withBacklogCaptured(input.id).capture;
    const encode = (payload: ValidPayload) => this.encodePayload(payload);
    return findInCapture(capture, input, signal, encode, this.queryLimits());
  }

  /**
   * capture.export: endpoints' captures to a file, read back from the capture folder once
   * everything captured so far is on disk (export/export-capture.ts, docs/export.md).
   */
  async exportCapture(
    input: ValidInput<'capture.export'>,
  ): Promise<CommandOutput<'capture.export'>> {
    this.checkExportRequest(input);
    // The capture folder itself is refused by exportCapture; the data folder (library,
    // workspace) and the rest of the naming rules here.
    const ownFolders = this.options.dataDir ? [this.options.dataDir] : [];
    await checkExportDestination(input.path, input.format, ownFolders);
    const written = await this.writeExport(input, input.path, input.overwrite);
    return { ...written, path: written.path ?? input.path };
  }

  /** capture.download: the same export, kept for one fetch by the browser (downloads.ts). */
  async exportForDownload(
    input: ValidInput<'capture.download'>,
  ): Promise<CommandOutput<'capture.download'>> {
    this.checkExportRequest(input);
    const extensions = exportExtensions[input.format];
    const name = extensions.some((extension) => input.name.toLowerCase().endsWith(extension))
      ? input.name
      : `${input.name}${extensions[0]}`;
    let written = { bytes: 0, packets: 0 };
    const id = await this.downloads.prepare(name, async (path) => {
      written = await this.writeExport(input, path, false);
    });
    return { id, name, bytes: written.bytes, packets: written.packets };
  }

  private checkExportRequest(input: ExportRequest): void {
    for (const id of input.ids) this.get(id);
    if (input.range && input.ids.length !== 1) {
      throw new WorkbenchError('INVALID_INPUT', 'A range is for one endpoint; name only one');
    }
  }

  private async writeExport(input: ExportRequest, path: string, overwrite: boolean) {
    await this.flushCapture();
    return exportCapture({
      folder: this.folder.folder,
      ids: input.ids,
      withConnections: input.withConnections,
      format: input.format,
      direction: input.direction,
      range: input.range,
      target: { path, overwrite },
    });
  }

  /** capture.copy: a range of the endpoint's capture as text to copy (capture-query.ts). */
  async copyCapture(
    input: ValidInput<'capture.copy'>,
    signal: AbortSignal,
  ): Promise<CommandOutput<'capture.copy'>> {
    const capture = this.withBacklogCaptured(input.id).capture;
    return copyFromCapture(capture, input, signal, undefined, this.queryLimits());
  }

  /**
   * The endpoint, with what it has counted all in its capture: a UDP socket's waiting datagrams
   * are captured first, so that whoever reads the capture finds what the counters say.
   */
  private withBacklogCaptured(id: string): Endpoint {
    const endpoint = this.get(id);
    endpoint.captureBacklog();
    return endpoint;
  }

  private queryLimits(): QueryLimits {
    return { ...DEFAULT_QUERY_LIMITS, ...this.options.queryLimits };
  }

  encodePayload(payload: ValidPayload): Uint8Array {
    const bytes = encodePayloadInNode(payload);
    if (bytes.byteLength > MAX_PAYLOAD_BYTES) {
      throw new WorkbenchError(
        'PAYLOAD_TOO_LARGE',
        `Payload is ${bytes.byteLength} bytes; the limit is ${MAX_PAYLOAD_BYTES}`,
      );
    }
    return bytes;
  }

  /** Top-level endpoints still listed that a command opened, oldest first (the workspace). */
  endpointOrigins(): Array<{ id: string; origin: EndpointOrigin }> {
    return [...this.origins].map(([id, origin]) => ({ id, origin }));
  }

  /**
   * Stops every send job and listener (with its connections) and closes every client,
   * connection and UDP socket: another workspace is being opened. They stay listed, finished.
   */
  async closeEverything(): Promise<void> {
    for (const job of this.jobs.list()) {
      if (job.state === 'running' || job.state === 'paused') this.jobs.stop(job.id);
    }
    const stopping: Array<Promise<void>> = [];
    for (const endpoint of [...this.endpoints.values()]) {
      if (endpoint.isFinished && !(endpoint instanceof Listener)) continue;
      try {
        if (endpoint instanceof Listener) {
          if (!endpoint.isFinished || endpoint.hasOpenConnections) {
            stopping.push(endpoint.stop(true).catch(() => undefined));
          }
        } else if (endpoint instanceof Connection) endpoint.close();
        else if (endpoint instanceof UdpEndpoint) endpoint.close();
      } catch {
        // One that cannot be closed (read-only, already going) does not stop the others.
      }
    }
    await Promise.all(stopping);
  }

  /** Closes every socket; resolves when the OS has released them all. */
  /** Stops everything; a second call waits for the first. */
  dispose(): Promise<void> {
    this.disposing ??= this.stopEverything();
    return this.disposing;
  }

  private async stopEverything(): Promise<void> {
    // Saved first, while what is open is still open.
    await this.workspace.dispose();
    this.jobs.dispose();
    this.rules.dispose();
    await Promise.all([...this.endpoints.values()].map((endpoint) => endpoint.dispose()));
    // A library write in progress finishes: the file is never left to a half-done rename.
    await this.library.settled();
    clearInterval(this.statusTimer);
    this.kernel.dispose();
    await this.downloads.dispose();
    this.hub.dispose();
    // Every row written on a clean stop, after the bytes it points at.
    await this.memory.stop();
    await this.folder.close();
  }

  /**
   * The capture file cannot keep up (or cannot be written): stop reading from every connection so
   * no byte is dropped; the kernel's flow control then slows the peers. Resumes when it drains.
   */
  private onCapturePressure(pressure: boolean): void {
    for (const endpoint of this.endpoints.values()) {
      if (endpoint instanceof Connection) endpoint.setCapturePressure(pressure);
    }
    this.publishStatus();
  }

  /** The limit deleted the oldest segments: endpoints that lost bytes must say so. */
  private onCaptureDeleted(): void {
    for (const endpoint of this.endpoints.values()) {
      if (endpoint.capture.keptFromMoved()) this.hub.touch(endpoint.id);
    }
  }

  private publishStatus(): void {
    this.hub.emitNow({ event: 'engine.status', payload: this.status() });
  }

  private async openListener(
    target: ConstructorParameters<typeof Listener>[2],
    input: { backlog: number; allowHalfOpen: boolean } & Partial<ListenerLimits>,
    origin: EndpointOrigin,
  ): Promise<EndpointInfo> {
    const options = {
      backlog: input.backlog,
      allowHalfOpen: input.allowHalfOpen,
      maxConnections: input.maxConnections ?? MAX_CONNECTIONS_DEFAULT,
      halfClosedIdleMs: input.halfClosedIdleMs ?? HALF_CLOSED_IDLE_MS_DEFAULT,
      keepClosed: input.keepClosed ?? KEEP_CLOSED_DEFAULT,
    };
    const listener = new Listener(this.newId('lst'), this.context, target, options, {
      adopt: (socket: net.Socket, owner: Listener) => {
        const connection = Connection.accepted(
          this.newId('conn'),
          this.context,
          socket,
          owner.id,
          owner.unixPath,
          owner.localAddress,
        );
        this.acceptedSocketsOpen += 1;
        this.add(connection);
        return connection;
      },
      admits: () => this.descriptors.allowsOneMore(this.socketsHeld()),
      released: () => (this.acceptedSocketsOpen -= 1),
      forget: (connection) => {
        // A listener forgotten earlier may still report its connections: drop each only once.
        if (this.endpoints.get(connection.id) === connection) this.drop(connection);
      },
    });
    this.add(listener, origin);
    await listener.open();
    return listener.info();
  }

  private async openConnection(
    target: Parameters<typeof Connection.connect>[2],
    options: Parameters<typeof Connection.connect>[3],
    origin: EndpointOrigin,
  ): Promise<EndpointInfo> {
    const { connection, established } = Connection.connect(
      this.newId('conn'),
      this.context,
      target,
      options,
    );
    this.add(connection, origin);
    await established;
    return connection.info();
  }

  private add(endpoint: Endpoint, origin?: EndpointOrigin): void {
    this.endpoints.set(endpoint.id, endpoint);
    if (origin) {
      this.origins.set(endpoint.id, origin);
      this.workspace.changed();
    }
    if (endpoint.role !== 'accepted') this.topLevel.add(endpoint);
    if (this.memory.underPressure && endpoint instanceof Connection) {
      endpoint.setCapturePressure(true);
    }
    this.hub.emitNow({ event: 'endpoint.added', payload: endpoint.info() });
  }

  private remove(endpoint: Endpoint): void {
    this.endpoints.delete(endpoint.id);
    this.topLevel.delete(endpoint);
    this.finishedTopLevel.delete(endpoint);
    if (this.origins.delete(endpoint.id)) this.workspace.changed();
    endpoint.capture.release();
    this.jobs.forget(endpoint.id);
    this.trafficHistories.forget(endpoint.id);
    this.rules.forget(endpoint.id);
    this.hub.forget(endpoint.id);
    this.hub.emitNow({ event: 'endpoint.removed', payload: { id: endpoint.id } });
  }

  /**
   * Sockets the engine holds now: every accepted one not yet closed, and every endpoint the user
   * opened that is not finished. Counting beats reading /proc/self/fd on each accept().
   */
  private socketsHeld(): number {
    let held = this.acceptedSocketsOpen;
    for (const endpoint of this.topLevel) if (!endpoint.isFinished) held += 1;
    return held;
  }

  /** A finished client, listener or UDP socket joins the ones kept listed, oldest forgotten. */
  private onTransition(id: string): void {
    const endpoint = this.endpoints.get(id);
    if (!endpoint || !endpoint.isFinished || !this.topLevel.has(endpoint)) return;
    if (this.finishedTopLevel.has(endpoint)) return;
    if (this.origins.has(id)) this.workspace.changed();
    this.finishedTopLevel.add(endpoint);
    const keep = this.options.keepFinished ?? DEFAULT_KEEP_FINISHED;
    if (this.finishedTopLevel.size <= keep || this.forgetFinishedScheduled) return;
    // Not inside the transition itself: whoever recorded it (a failing open()) is still running.
    this.forgetFinishedScheduled = true;
    queueMicrotask(() => {
      this.forgetFinishedScheduled = false;
      this.forgetFinishedBeyond(keep);
    });
  }

  /**
   * Failed listens and closed clients would stay in the session forever: past `keep`, the oldest
   * go, except one the user is looking at and a stopped listener whose connections are open.
   */
  private forgetFinishedBeyond(keep: number): void {
    for (const endpoint of this.finishedTopLevel) {
      if (this.finishedTopLevel.size <= keep) return;
      if (this.hub.isWatched(endpoint.id)) continue;
      if (endpoint instanceof Listener && endpoint.hasOpenConnections) continue;
      this.drop(endpoint);
    }
  }

  private newId(prefix: 'lst' | 'conn' | 'udp'): string {
    return `${prefix}-${this.nextId++}`;
  }

  private get(id: string): Endpoint;
  private get<T extends Endpoint>(id: string, kind: EndpointClass<T>): T;
  private get(id: string, kind?: EndpointClass<Endpoint>): Endpoint {
    const endpoint = this.endpoints.get(id);
    if (!endpoint) throw new WorkbenchError('UNKNOWN_ENDPOINT', `No endpoint with id ${id}`);
    // Every action that needs a kind of socket acts on it: one opened from a file has none.
    if (kind && endpoint instanceof OpenedEndpoint) throw endpoint.readOnlyError();
    if (kind && !Object.prototype.isPrototypeOf.call(kind.prototype, endpoint)) {
      throw new WorkbenchError(
        'WRONG_ENDPOINT_KIND',
        `${id} is a ${endpoint.kind}; this action needs a ${describeKind(kind)}`,
      );
    }
    return endpoint;
  }
}

/** A class, even one with a private constructor: only its prototype is needed. */
type EndpointClass<T extends Endpoint> = { prototype: T };

function describeKind(kind: EndpointClass<Endpoint>): string {
  if (kind.prototype === Connection.prototype) return 'connection';
  if (kind.prototype === Listener.prototype) return 'listener';
  if (kind.prototype === UdpEndpoint.prototype) return 'UDP socket';
  return 'different endpoint';
}
