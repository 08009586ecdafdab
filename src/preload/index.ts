/**
 * The only door between the sandboxed page and the main process. It exposes `invoke`, `notify`
 * and `on` for contract names and nothing else: never ipcRenderer, never the IPC event object (its
 * `sender` would hand the page raw IPC).
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { AnyEvent, WorkbenchApi } from '../shared/api';
import {
  isCommandName,
  isEventName,
  isNotificationName,
  type CommandResult,
  type EventName,
} from '../shared/contract';
import type { ErrorCode, UserError } from '../shared/errors';

const INVOKE_CHANNEL = 'workbench:invoke';
const EVENT_CHANNEL = 'workbench:event';
const NOTIFY_CHANNEL = 'workbench:notify';

type Listener = (payload: unknown) => void;
const listeners = new Map<EventName, Set<Listener>>();

// One IPC listener for all subscriptions, so a page that subscribes often never piles up
// listeners on ipcRenderer (and never triggers its leak warning).
ipcRenderer.on(EVENT_CHANNEL, (_event, message: unknown) => {
  if (message === null || typeof message !== 'object') return;
  const { event, payload } = message as Partial<AnyEvent>;
  if (!isEventName(event)) return;
  for (const listener of listeners.get(event) ?? []) {
    try {
      listener(payload);
    } catch (error) {
      // One faulty listener must not starve the others of the event.
      console.error(`workbench: listener for ${event} threw`, error);
    }
  }
});

/** A failure is the same shape for every command, so it fits any command's result type. */
function failure(code: ErrorCode, message: string): { ok: false; error: UserError } {
  return { ok: false, error: { code, message } };
}

const api: WorkbenchApi = {
  async invoke(command, input) {
    if (!isCommandName(command)) {
      return failure('UNKNOWN_COMMAND', `Unknown command: ${String(command).slice(0, 80)}`);
    }
    try {
      return (await ipcRenderer.invoke(INVOKE_CHANNEL, command, input)) as CommandResult<
        typeof command
      >;
    } catch (error) {
      // Input that cannot be cloned (a function, a DOM node) fails here, before main sees it.
      return failure('INVALID_INPUT', `${command}: ${(error as Error).message}`);
    }
  },
  notify(name, input) {
    if (!isNotificationName(name)) return;
    try {
      ipcRenderer.send(NOTIFY_CHANNEL, name, input);
    } catch (error) {
      // Input that cannot be cloned; a notification has nobody to answer, so it is only logged.
      console.error(`workbench: ${name} was not sent`, error);
    }
  },
  on(event, listener) {
    if (!isEventName(event)) throw new TypeError(`Unknown event: ${String(event).slice(0, 80)}`);
    if (typeof listener !== 'function') throw new TypeError('Listener must be a function');
    const wrapped = listener as Listener;
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    set.add(wrapped);
    return () => {
      listeners.get(event)?.delete(wrapped);
    };
  },
};

contextBridge.exposeInMainWorld('workbench', api);
