/**
 * The transport-agnostic router: takes a command or notification name and an untrusted input,
 * validates the input against the contract, dispatches it to the engine and (for a command)
 * answers with a result or a typed error. Electron IPC (index.ts) and WebSocket
 * (serve/transport.ts) both carry exactly this.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { z } from 'zod';
import {
  commands,
  isCommandName,
  isNotificationName,
  notifications,
  type NotificationName,
  type ValidNotification,
  type CommandName,
  type CommandOutput,
  type CaptureChunk,
  type CommandResult,
  type ValidInput,
} from '../shared/contract';
import { isErrorCode, WorkbenchError, type UserError } from '../shared/errors';
import type { AnyEvent } from '../shared/api';
import type { Engine } from './engine/engine';
import type { View } from './engine/event-hub';

export type { View };

type Handler<C extends CommandName> = (
  engine: Engine,
  input: ValidInput<C>,
  view: View | undefined,
) => CommandOutput<C> | Promise<CommandOutput<C>>;

const handlers: { [C in CommandName]: Handler<C> } = {
  'session.snapshot': (engine, input) => engine.snapshot(input.cursor, input.limit),
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
  'capture.read': (engine, input) =>
    readCaptureInPieces(engine, input.id, input.offset, input.length),
  'payload.encode': (engine, input) => ({ bytes: engine.encodePayload(input.payload) }),
  'feed.open': (engine, input, view) => {
    // An unknown endpoint is refused here, not left as a feed that never gets data.
    engine.requireEndpoint(input.id);
    return { start: requireView(view).openFeed(input.feed, input.id, input.windowBytes) };
  },
  'capture.find': (engine, input, view) =>
    requireView(view).runQuery(input.query, (signal) => engine.findInCapture(input, signal)),
  'capture.copy': (engine, input, view) =>
    requireView(view).runQuery(input.query, (signal) => engine.copyCapture(input, signal)),
  'library.list': (engine) => engine.library.list(),
  'library.save': (engine, input) => engine.library.save(input.item),
  'library.delete': async (engine, input) => {
    await engine.library.delete(input.id);
    return { ok: true };
  },
  'library.import': (engine, input) => engine.library.import(input),
  'library.export': async (engine) => ({ json: await engine.library.export() }),
  'send.repeat': (engine, input) => engine.jobs.repeat(input),
  'send.sequence': (engine, input) => engine.jobs.sequence(input),
  'send.file': (engine, input) => engine.jobs.file(input),
  'job.list': (engine) => ({ jobs: engine.jobs.list() }),
  'job.pause': (engine, input) => engine.jobs.pause(input.job),
  'job.resume': (engine, input) => engine.jobs.resume(input.job),
  'job.stop': (engine, input) => engine.jobs.stop(input.job),
  'rules.get': (engine, input) => engine.rules.get(input.id),
  'rules.set': (engine, input) => engine.rules.set(input),
  'workspace.get': (engine) => engine.workspace.state(),
  'workspace.save': (engine, input) => engine.workspace.save(input),
  'workspace.open': (engine, input) => engine.workspace.open(input.path),
  'workspace.settings': (engine, input) => engine.workspace.setReopenOnStart(input.reopenOnStart),
  'capture.export': (engine, input) => engine.exportCapture(input),
  'capture.download': (engine, input) => engine.exportForDownload(input),
  'capture.open': (engine, input) => engine.openCapture(input.path),
  'kernel.sample': (engine, input) => engine.sampleKernel(input.ids),
  'traffic.history': (engine, input) => engine.trafficHistory(input.id),
  'engine.status': (engine) => engine.status(),
  'capture.configure': (engine, input) => engine.configureCapture(input),
};

/**
 * Bytes one piece of a capture read covers. A 4 MiB read in one go holds the event loop for the
 * whole read (file reads, and in browser mode base64 and JSON); in pieces, with a turn of the
 * event loop between them, other pages' small commands and live data get through in between.
 */
export const CAPTURE_READ_PIECE_BYTES = 256 * 1024;

/** engine.readCapture over [offset, offset + length), one piece at a time, the same answer. */
export async function readCaptureInPieces(
  engine: Engine,
  id: string,
  offset: number,
  length: number,
): Promise<CommandOutput<'capture.read'>> {
  const end = offset + length;
  const chunks: CaptureChunk[] = [];
  for (let from = offset; ; from += CAPTURE_READ_PIECE_BYTES) {
    const piece = engine.readCapture(id, from, Math.min(CAPTURE_READ_PIECE_BYTES, end - from));
    for (const chunk of piece.chunks) appendJoined(chunks, chunk);
    const next = from + CAPTURE_READ_PIECE_BYTES;
    // The last piece's totals: what one read at the end would have said.
    if (next >= end || next >= piece.totalBytes) return { ...piece, chunks };
    await yieldToEventLoop();
  }
}

/**
 * A chunk that straddles two pieces comes back as two parts; they are joined again, so the
 * answer is exactly what one read of the whole range gives.
 */
function appendJoined(chunks: CaptureChunk[], next: CaptureChunk): void {
  const last = chunks.at(-1);
  if (!last || last.seq !== next.seq || last.offset + last.bytes.byteLength !== next.offset) {
    chunks.push(next);
    return;
  }
  chunks[chunks.length - 1] = { ...last, bytes: concatBytes(last.bytes, next.bytes) };
}

/** Two parts of one buffer are one view of it again; anything else is copied. */
function concatBytes(first: Uint8Array, second: Uint8Array): Uint8Array {
  if (first.buffer === second.buffer && first.byteOffset + first.byteLength === second.byteOffset) {
    return new Uint8Array(first.buffer, first.byteOffset, first.byteLength + second.byteLength);
  }
  const joined = new Uint8Array(first.byteLength + second.byteLength);
  joined.set(first, 0);
  joined.set(second, first.byteLength);
  return joined;
}

function requireView(view: View | undefined): View {
  if (!view) throw new WorkbenchError('INVALID_INPUT', 'This command needs a view');
  return view;
}

type NotificationHandler<N extends NotificationName> = (
  input: ValidNotification<N>,
  view: View,
) => void;

const notificationHandlers: { [N in NotificationName]: NotificationHandler<N> } = {
  'feed.ack': (input, view) => view.ack(input.feed, input.bytes),
  'feed.close': (input, view) => view.closeFeed(input.feed),
  'capture.cancel': (input, view) => view.cancelQuery(input.query),
};

export interface Router {
  /** `view` is the caller's page, for the commands that act on it (feeds, capture queries). */
  invoke(command: unknown, input: unknown, view?: View): Promise<CommandResult<CommandName>>;
  /**
   * A one-way notification from a view. It has no reply, so an unknown name or invalid input is
   * dropped; the answer says why, for the transport to log or count.
   */
  notify(name: unknown, input: unknown, view: View): UserError | null;
  /** A page starts showing the engine: every event, and live data through its feeds. */
  openView(listener: (event: AnyEvent) => void): View;
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
    notify(name, input, view) {
      if (!isNotificationName(name)) {
        return { code: 'UNKNOWN_COMMAND', message: `Unknown notification: ${describe(name)}` };
      }
      const parsed = notifications[name].safeParse(input);
      if (!parsed.success) return describeIssue(name, parsed.error);
      try {
        const handler = notificationHandlers[name] as NotificationHandler<NotificationName>;
        handler(parsed.data as ValidNotification<NotificationName>, view);
        return null;
      } catch (error) {
        return toUserError(error);
      }
    },
    openView(listener) {
      return engine.openView(listener);
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
function describeIssue(command: CommandName | NotificationName, error: z.ZodError): UserError {
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
