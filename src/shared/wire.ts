/**
 * The WebSocket framing of the contract (browser mode). Electron IPC needs none of this: it
 * carries Uint8Array natively. JSON cannot, so bytes travel as `{ "$bytes": "<base64>" }`.
 */
import { fromByteArray, toByteArray } from 'base64-js';
import type { AnyEvent } from './api';
import type { CommandName, CommandResult } from './contract';

export type ClientMessage = { t: 'call'; id: number; command: string; input: unknown };
export type ServerMessage =
  { t: 'result'; id: number; result: CommandResult<CommandName> } | ({ t: 'event' } & AnyEvent);

const BYTES_KEY = '$bytes';

export function encodeWire(message: ClientMessage | ServerMessage): string {
  return JSON.stringify(message, (_key, value: unknown) =>
    value instanceof Uint8Array ? { [BYTES_KEY]: fromByteArray(value) } : value,
  );
}

/** Parses a frame; throws on malformed JSON (the caller answers with a typed error). */
export function decodeWire(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => {
    if (
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      Object.keys(value).length === 1 &&
      typeof (value as Record<string, unknown>)[BYTES_KEY] === 'string'
    ) {
      return toByteArray((value as Record<string, string>)[BYTES_KEY] as string);
    }
    return value;
  });
}
