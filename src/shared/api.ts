import type { CommandInput, CommandName, CommandResult, EventName, EventPayload } from './contract';

/**
 * What the renderer talks to, whatever carries it (Electron IPC or WebSocket): a call for every
 * contract command, a subscription for every contract event. Nothing else crosses the boundary.
 */
export interface WorkbenchApi {
  invoke<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandResult<C>>;
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
}

/** Any event, as a transport carries it. */
export type AnyEvent = { [E in EventName]: { event: E; payload: EventPayload<E> } }[EventName];
