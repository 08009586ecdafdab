/**
 * How the renderer reaches the engine. Inside Electron the preload exposes `window.workbench`;
 * in a browser (serve mode) the same contract travels over a WebSocket framed by wire.ts. Both
 * give the same typed `WorkbenchApi`, plus a status so the UI can show a lost connection and
 * rebuild itself from `session.snapshot` when it comes back.
 */
import type { AnyEvent, WorkbenchApi } from '../../../shared/api';
import type {
  CommandInput,
  CommandName,
  CommandResult,
  EventName,
  EventPayload,
} from '../../../shared/contract';
import { isEventName } from '../../../shared/contract';
import {
  BATCH_FRAMES_PARAM,
  BATCH_FRAMES_VALUE,
  decodeWire,
  encodeWire,
  type ServerMessage,
} from '../../../shared/wire';

export type TransportStatus =
  | { state: 'connecting' }
  | { state: 'open' }
  | { state: 'waiting'; retryAt: number; attempt: number };

export interface Transport extends WorkbenchApi {
  /** Called now with the current status and on every change. */
  onStatus(listener: (status: TransportStatus) => void): () => void;
}

type Listener = (payload: unknown) => void;

class Emitter {
  private readonly listeners = new Map<EventName, Set<Listener>>();

  on(event: EventName, listener: Listener): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  emit(event: AnyEvent): void {
    const set = this.listeners.get(event.event);
    if (!set) return;
    for (const listener of [...set]) {
      // One broken view must not starve the others of events.
      try {
        listener(event.payload);
      } catch (error) {
        console.error(`listener for ${event.event} failed`, error);
      }
    }
  }
}

function ipcTransport(api: WorkbenchApi): Transport {
  return {
    invoke: (command, input) => api.invoke(command, input),
    notify: (name, input) => api.notify(name, input),
    on: (event, listener) => api.on(event, listener),
    onStatus(listener) {
      listener({ state: 'open' });
      return () => {};
    },
  };
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

function lostResult<C extends CommandName>(message: string): CommandResult<C> {
  return { ok: false, error: { code: 'INTERNAL', message } };
}

function isServerMessage(value: unknown): value is ServerMessage {
  if (value === null || typeof value !== 'object') return false;
  const message = value as { t?: unknown; id?: unknown; event?: unknown };
  if (message.t === 'result') return typeof message.id === 'number';
  if (message.t === 'event') return isEventName(message.event);
  return false;
}

/** The messages of one frame: one, or the batch of one turn of the server (wire.ts). */
function framedMessages(decoded: unknown): unknown[] {
  if (decoded !== null && typeof decoded === 'object') {
    const frame = decoded as { t?: unknown; messages?: unknown };
    if (frame.t === 'batch' && Array.isArray(frame.messages)) return frame.messages;
  }
  return [decoded];
}

/** The token browser mode printed at start, from the page's own URL (empty inside Electron). */
export function pageToken(): string {
  return new URLSearchParams(window.location.search).get('token') ?? '';
}

function webSocketUrl(location: Location): string {
  const token = pageToken();
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return (
    `${scheme}//${location.host}/ws?token=${encodeURIComponent(token)}` +
    `&${BATCH_FRAMES_PARAM}=${BATCH_FRAMES_VALUE}`
  );
}

function webSocketTransport(url: string): Transport {
  const emitter = new Emitter();
  const statusListeners = new Set<(status: TransportStatus) => void>();
  const pending = new Map<number, (result: CommandResult<CommandName>) => void>();
  let status: TransportStatus = { state: 'connecting' };
  let socket: WebSocket | null = null;
  let nextId = 1;
  let attempt = 0;

  function setStatus(next: TransportStatus): void {
    status = next;
    for (const listener of [...statusListeners]) listener(next);
  }

  function failPending(message: string): void {
    const waiting = [...pending.values()];
    pending.clear();
    for (const resolve of waiting) resolve(lostResult(message));
  }

  function connect(): void {
    setStatus({ state: 'connecting' });
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      setStatus({ state: 'open' });
    };
    ws.onmessage = (message) => {
      if (typeof message.data !== 'string') return;
      let decoded: unknown;
      try {
        decoded = decodeWire(message.data);
      } catch {
        return;
      }
      for (const message of framedMessages(decoded)) {
        if (!isServerMessage(message)) continue;
        if (message.t === 'result') {
          const resolve = pending.get(message.id);
          pending.delete(message.id);
          resolve?.(message.result);
        } else {
          emitter.emit(message);
        }
      }
    };
    ws.onclose = () => {
      socket = null;
      failPending('The connection to the workbench server was lost');
      // Exponential backoff with jitter, so many tabs do not hammer a restarting server together.
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
      const delay = Math.round(base / 2 + (Math.random() * base) / 2);
      attempt += 1;
      setStatus({ state: 'waiting', retryAt: Date.now() + delay, attempt });
      setTimeout(connect, delay);
    };
  }

  connect();

  return {
    invoke<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandResult<C>> {
      const ws = socket;
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        return Promise.resolve(lostResult<C>('Not connected to the workbench server'));
      }
      const id = nextId++;
      return new Promise<CommandResult<C>>((resolve) => {
        pending.set(id, resolve as (result: CommandResult<CommandName>) => void);
        ws.send(encodeWire({ t: 'call', id, command, input }));
      });
    },
    notify(name, input) {
      // Lost with the connection, like the feed it belongs to: a reconnect starts new feeds.
      if (socket?.readyState === WebSocket.OPEN)
        socket.send(encodeWire({ t: 'notify', name, input }));
    },
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
      return emitter.on(event, listener as Listener);
    },
    onStatus(listener) {
      statusListeners.add(listener);
      listener(status);
      return () => statusListeners.delete(listener);
    },
  };
}

/** The preload's API when running in Electron, otherwise a WebSocket to the serving host. */
export function createTransport(): Transport {
  if (window.workbench) return ipcTransport(window.workbench);
  return webSocketTransport(webSocketUrl(window.location));
}
