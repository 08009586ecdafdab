import type {
  CommandInput,
  CommandName,
  CommandResult,
  EventName,
  EventPayload,
  NotificationInput,
  NotificationName,
} from './contract';

/**
 * What the renderer talks to, whatever carries it (Electron IPC or WebSocket): a call for every
 * contract command, a one-way send for every notification, a subscription for every event.
 * Nothing else crosses the boundary.
 */
export interface WorkbenchApi {
  invoke<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandResult<C>>;
  notify<N extends NotificationName>(name: N, input: NotificationInput<N>): void;
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
}

/** Any event, as a transport carries it. */
export type AnyEvent = { [E in EventName]: { event: E; payload: EventPayload<E> } }[EventName];
