/**
 * The engine: owns every socket, keeps each endpoint's lifecycle and capture, and tells
 * subscribers what happened. Plain Node (never electron), driven through the router.
 */
import type net from 'node:net';
import path from 'node:path';
import type { AnyEvent } from '../../shared/api';
import {
  MAX_PAYLOAD_BYTES,
  type CaptureChunk,
  type CommandOutput,
  type EndpointInfo,
  type EngineStatus,
  type ValidInput,
} from '../../shared/contract';
import { WorkbenchError } from '../../shared/errors';
import type { ValidPayload } from '../../shared/payload';
import { Connection } from './connection';
import { encodePayloadInNode } from './encodings';
import type { Endpoint, EngineContext } from './endpoint';
import { CaptureMemory } from './capture';
import { CaptureLog } from './capture-log';
import { EventHub, type Subscription } from './event-hub';
import { Listener } from './listener';
import { UdpEndpoint } from './udp';

export interface EngineOptions {
  /** Where the capture file is written; a fresh temporary directory (removed on dispose) if unset. */
  captureDir?: string;
  /** Captured bytes kept in memory across all endpoints; older ones are read back from disk. */
  captureMemoryBytes?: number;
}

export const DEFAULT_CAPTURE_MEMORY_BYTES = 32 * 1024 * 1024;

type Ok = { ok: true };
const ok: Ok = { ok: true };

export class Engine {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly hub = new EventHub({
    describe: (id) => this.endpoints.get(id)?.info(),
    capturedBytes: (id) => this.endpoints.get(id)?.capture.totalBytes ?? 0,
  });
  private readonly log: CaptureLog;
  private readonly indexLog: CaptureLog;
  private readonly memory: CaptureMemory;
  private readonly context: EngineContext;
  private nextId = 1;

  constructor(readonly options: EngineOptions = {}) {
    const budget = options.captureMemoryBytes ?? DEFAULT_CAPTURE_MEMORY_BYTES;
    const onFailure = () => this.publishStatus();
    // A small budget must not wait for a large batch before bytes can leave memory.
    this.log = new CaptureLog(options.captureDir, { onFailure, batchBytes: budget / 4 });
    // Beside the capture file, and removed with it when the engine made the directory.
    this.indexLog = new CaptureLog(path.dirname(this.log.file), {
      onFailure,
      name: 'index',
      failureWords: {
        file: 'the capture index file',
        meanwhile: 'The index rows of older chunks stay in memory until it can be written again.',
      },
    });
    this.memory = new CaptureMemory(budget, this.log, this.indexLog);
    this.memory.onPressure((pressure) => this.onCapturePressure(pressure));
    this.context = { hub: this.hub, memory: this.memory };
  }

  subscribe(
    listener: (event: AnyEvent) => void,
    options: { flowControl?: boolean } = {},
  ): Subscription {
    return this.hub.subscribe(listener, options);
  }

  status(): EngineStatus {
    return {
      capture: {
        file: this.log.file,
        budgetBytes: this.memory.budgetBytes,
        bytesInMemory: this.memory.usedBytes,
        unpersistedBytes: this.log.unpersistedBytes,
        pressure: this.memory.underPressure,
        error: this.log.error ?? this.indexLog.error,
      },
    };
  }

  /** Resolves once every captured byte so far, and its index, is on disk. */
  flushCapture(): Promise<void> {
    return Promise.all([this.log.flush(), this.indexLog.flush()]).then(() => undefined);
  }

  list(): EndpointInfo[] {
    return [...this.endpoints.values()].map((endpoint) => endpoint.info());
  }

  info(id: string): EndpointInfo {
    return this.get(id).info();
  }

  async listenTcp(input: ValidInput<'tcp.listen'>): Promise<EndpointInfo> {
    const target = { kind: 'tcp', host: input.host, port: input.port } as const;
    return this.openListener(target, input);
  }

  async listenUnix(input: ValidInput<'unix.listen'>): Promise<EndpointInfo> {
    const target = { kind: 'unix', path: input.path, removeStale: input.removeStale } as const;
    return this.openListener(target, input);
  }

  async connectTcp(input: ValidInput<'tcp.connect'>): Promise<EndpointInfo> {
    const target = { kind: 'tcp', host: input.host, port: input.port } as const;
    return this.openConnection(target, input);
  }

  async connectUnix(input: ValidInput<'unix.connect'>): Promise<EndpointInfo> {
    const target = { kind: 'unix', path: input.path } as const;
    return this.openConnection(target, { ...input, noDelay: false, keepAlive: false });
  }

  async bindUdp(input: ValidInput<'udp.bind'>): Promise<EndpointInfo> {
    const udp = new UdpEndpoint(this.newId('udp'), this.context, input.host, input.port);
    this.add(udp);
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
    return { connections: listener.broadcast(bytes), bytes: bytes.byteLength };
  }

  async stopListener(id: string, closeConnections: boolean): Promise<Ok> {
    await this.get(id, Listener).stop(closeConnections);
    return ok;
  }

  closeUdp(id: string): Ok {
    this.get(id, UdpEndpoint).close();
    return ok;
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
    if (endpoint instanceof Listener) {
      for (const connection of endpoint.connections) {
        if (connection.isFinished) this.remove(connection);
      }
    }
    if (endpoint instanceof Connection && endpoint.parentId) {
      const parent = this.endpoints.get(endpoint.parentId);
      if (parent instanceof Listener) parent.forgetConnection(endpoint);
    }
    this.remove(endpoint);
    return ok;
  }

  readCapture(
    id: string,
    offset: number,
    length: number,
  ): { chunks: CaptureChunk[]; totalBytes: number } {
    const capture = this.get(id).capture;
    return { chunks: capture.read(offset, length), totalBytes: capture.totalBytes };
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

  /** Closes every socket; resolves when the OS has released them all. */
  async dispose(): Promise<void> {
    await Promise.all([...this.endpoints.values()].map((endpoint) => endpoint.dispose()));
    this.hub.dispose();
    await this.indexLog.close();
    await this.log.close();
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

  private publishStatus(): void {
    this.hub.emitNow({ event: 'engine.status', payload: this.status() });
  }

  private async openListener(
    target: ConstructorParameters<typeof Listener>[2],
    options: { backlog: number; allowHalfOpen: boolean },
  ): Promise<EndpointInfo> {
    const listener = new Listener(this.newId('lst'), this.context, target, options, {
      adopt: (socket: net.Socket, owner: Listener) => {
        const connection = Connection.accepted(
          this.newId('conn'),
          this.context,
          socket,
          owner.id,
          owner.unixPath,
        );
        this.add(connection);
        return connection;
      },
    });
    this.add(listener);
    await listener.open();
    return listener.info();
  }

  private async openConnection(
    target: Parameters<typeof Connection.connect>[2],
    options: Parameters<typeof Connection.connect>[3],
  ): Promise<EndpointInfo> {
    const { connection, established } = Connection.connect(
      this.newId('conn'),
      this.context,
      target,
      options,
    );
    this.add(connection);
    await established;
    return connection.info();
  }

  private add(endpoint: Endpoint): void {
    this.endpoints.set(endpoint.id, endpoint);
    if (this.memory.underPressure && endpoint instanceof Connection) {
      endpoint.setCapturePressure(true);
    }
    this.hub.emitNow({ event: 'endpoint.added', payload: endpoint.info() });
  }

  private remove(endpoint: Endpoint): void {
    this.endpoints.delete(endpoint.id);
    endpoint.capture.release();
    this.hub.forget(endpoint.id);
    this.hub.emitNow({ event: 'endpoint.removed', payload: { id: endpoint.id } });
  }

  private newId(prefix: 'lst' | 'conn' | 'udp'): string {
    return `${prefix}-${this.nextId++}`;
  }

  private get(id: string): Endpoint;
  private get<T extends Endpoint>(id: string, kind: EndpointClass<T>): T;
  private get(id: string, kind?: EndpointClass<Endpoint>): Endpoint {
    const endpoint = this.endpoints.get(id);
    if (!endpoint) throw new WorkbenchError('UNKNOWN_ENDPOINT', `No endpoint with id ${id}`);
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
