/**
 * The transport-agnostic router: takes a command name and an untrusted input, validates the input
 * against the contract, dispatches it to the engine and answers with a result or a typed error.
 * Electron IPC (index.ts) and WebSocket (serve.ts) both carry exactly this.
 */
import type { z } from 'zod';
import {
  commands,
  isCommandName,
  type CommandName,
  type CommandOutput,
  type CommandResult,
  type ValidInput,
} from '../shared/contract';
import { isErrorCode, WorkbenchError, type UserError } from '../shared/errors';
import type { AnyEvent } from '../shared/api';
import type { Engine } from './engine/engine';
import type { Subscription } from './engine/event-hub';

type Handler<C extends CommandName> = (
  engine: Engine,
  input: ValidInput<C>,
  view: ViewSession | undefined,
) => CommandOutput<C> | Promise<CommandOutput<C>>;

/** One view's subscription (a window or a browser tab): its events, its watch list, its credit. */
export type ViewSession = Subscription;

const handlers: { [C in CommandName]: Handler<C> } = {
  'session.snapshot': (engine) => ({ endpoints: engine.list() }),
  'tcp.listen': (engine, input) => engine.listenTcp(input),
  'tcp.connect': (engine, input) => engine.connectTcp(input),
  'unix.listen': (engine, input) => engine.listenUnix(input),
  'unix.connect': (engine, input) => engine.connectUnix(input),
  'udp.bind': (engine, input) => engine.bindUdp(input),
  'udp.send': (engine, input) => engine.sendUdp(input),
  'connection.send': (engine, input) => engine.send(input.id, input.payload),
  'connection.halfClose': (engine, input) => engine.halfClose(input.id),
  'connection.close': (engine, input) => engine.close(input.id),
  'connection.reset': (engine, input) => engine.reset(input.id),
  'connection.pauseReading': (engine, input) => engine.setReadingPaused(input.id, true),
  'connection.resumeReading': (engine, input) => engine.setReadingPaused(input.id, false),
  'connection.setOptions': (engine, input) => engine.setOptions(input),
  'listener.broadcast': (engine, input) => engine.broadcast(input.id, input.payload),
  'listener.stop': (engine, input) => engine.stopListener(input.id, input.closeConnections),
  'udp.close': (engine, input) => engine.closeUdp(input.id),
  'endpoint.forget': (engine, input) => engine.forget(input.id),
  'capture.read': (engine, input) => engine.readCapture(input.id, input.offset, input.length),
  'payload.encode': (engine, input) => ({ bytes: engine.encodePayload(input.payload) }),
  'view.watch': (_engine, input, view) => ({
    positions: requireView(view).watch(input.ids, input.windowBytes),
  }),
  'view.ack': (_engine, input, view) => {
    requireView(view).ack(input.id, input.bytes);
    return { ok: true };
  },
  'engine.status': (engine) => engine.status(),
};

function requireView(view: ViewSession | undefined): ViewSession {
  if (!view) throw new WorkbenchError('INVALID_INPUT', 'This command needs a view session');
  return view;
}

export interface Router {
  /** `view` is the caller's subscription, for the commands that act on a view (view.*). */
  invoke(command: unknown, input: unknown, view?: ViewSession): Promise<CommandResult<CommandName>>;
  /**
   * Subscribe to engine events. A flow-controlled view (the UI) gets live data only for the
   * endpoints it watches and must acknowledge it (view.watch, view.ack); others get everything.
   */
  subscribe(listener: (event: AnyEvent) => void, options?: { flowControl?: boolean }): ViewSession;
}

export function createRouter(engine: Engine): Router {
  return {
    async invoke(command, input, view) {
      if (!isCommandName(command)) {
        return fail({ code: 'UNKNOWN_COMMAND', message: `Unknown command: ${describe(command)}` });
      }
      const parsed = commands[command].input.safeParse(input);
      if (!parsed.success) return fail(describeIssue(command, parsed.error));
      try {
        const handler = handlers[command] as Handler<CommandName>;
        const value = await handler(engine, parsed.data as ValidInput<CommandName>, view);
        return { ok: true, value };
      } catch (error) {
        return fail(toUserError(error));
      }
    },
    subscribe(listener, options) {
      return engine.subscribe(listener, options);
    },
  };
}

function fail(error: UserError): CommandResult<CommandName> {
  return { ok: false, error };
}

/** Turns anything thrown by the engine into a `UserError`, never leaking a stack. */
export function toUserError(error: unknown): UserError {
  if (error instanceof WorkbenchError) return error.toUserError();
  if (error instanceof Error) {
    const errno = (error as NodeJS.ErrnoException).code;
    return {
      code: isErrorCode(errno) ? errno : 'INTERNAL',
      message: error.message,
    };
  }
  return { code: 'INTERNAL', message: String(error) };
}

/** The first schema issue, with its contract code when the schema attached one. */
function describeIssue(command: CommandName, error: z.ZodError): UserError {
  const issue = error.issues[0];
  if (!issue) return { code: 'INVALID_INPUT', message: `Invalid input for ${command}` };
  const field = issue.path.length > 0 ? issue.path.join('.') : 'input';
  const params = (issue as { params?: { code?: unknown } }).params;
  if (issue.code === 'custom' && params && isErrorCode(params.code)) {
    return { code: params.code, message: `${field}: ${issue.message}` };
  }
  return { code: 'INVALID_INPUT', message: `${command}: ${field}: ${issue.message}` };
}

function describe(value: unknown): string {
  if (typeof value !== 'string') return typeof value;
  // Shorten first: an attacker's 50 MB name must not cost a 50 MB JSON.stringify per call.
  const text = JSON.stringify(value.length > 80 ? value.slice(0, 80) : value);
  return text.length > 80 || value.length > 80 ? `${text.slice(0, 77)}...` : text;
}
