/**
 * The WebSocket framing of the contract (browser mode). Electron IPC needs none of this: it
 * carries Uint8Array natively. JSON cannot, so bytes travel as `{ "$bytes": "<base64>" }`.
 */
import { fromByteArray, toByteArray } from 'base64-js';
import type { AnyEvent } from './api';
import type { CommandName, CommandResult } from './contract';
import { WorkbenchError } from './errors';

export type ClientMessage =
  | { t: 'call'; id: number; command: string; input: unknown }
  | { t: 'notify'; name: string; input: unknown };
export type ServerMessage =
  { t: 'result'; id: number; result: CommandResult<CommandName> } | ({ t: 'event' } & AnyEvent);
/**
 * A page that connects with `?frames=batch` gets messages in batches, in order: list events
 * wait up to one frame (16 ms) for company, and any other message sends what waits, itself
 * last. An accept burst is thousands of messages, and each frame costs the browser far more
 * than its bytes. Other clients get one message per frame.
 */
export type ServerBatch = { t: 'batch'; messages: ServerMessage[] };
export const BATCH_FRAMES_PARAM = 'frames';
export const BATCH_FRAMES_VALUE = 'batch';

const BYTES_KEY = '$bytes';

/**
 * Deepest nesting of arrays and objects a frame may have. Every message of the contract nests
 * fewer than ten levels; JSON.parse needs time and memory for each level it opens (a deep 64 MiB
 * frame held the engine for tens of seconds: docs/security.md), so deeper frames are refused
 * unparsed.
 */
export const MAX_WIRE_DEPTH = 32;

/**
 * Most values (array elements and object members) a frame from a page may hold. The largest
 * call of the contract has a few dozen; a 64 MiB frame of `{},{},…` held JSON.parse for seconds
 * (docs/security.md). Only the server applies it: the snapshot it sends can hold far more.
 */
export const MAX_CLIENT_FRAME_VALUES = 10_000;

export interface WireLimits {
  maxDepth: number;
  /** Counted as the `[`, `{` and `,` outside strings; Infinity for no limit. */
  maxValues: number;
}

/** What every decode checks; a server decoding frames from pages adds a value limit. */
export const DEFAULT_WIRE_LIMITS: WireLimits = { maxDepth: MAX_WIRE_DEPTH, maxValues: Infinity };
export const CLIENT_FRAME_LIMITS: WireLimits = {
  maxDepth: MAX_WIRE_DEPTH,
  maxValues: MAX_CLIENT_FRAME_VALUES,
};

/** Bytes to base64 text. The Node side passes its native encoder, far faster than base64-js. */
export type Base64Encoder = (bytes: Uint8Array) => string;

/** Any value as wire JSON: the building block of encodeWire, for replies assembled in pieces. */
export function encodeWireValue(value: unknown, toBase64: Base64Encoder = fromByteArray): string {
  // Most messages hold no bytes (list and lifecycle events, thousands in an accept burst):
  // those are written as they are, without the copy.
  return JSON.stringify(needsWireCopy(value) ? withBytesAsBase64(value, toBase64) : value);
}

/**
 * Whether JSON.stringify alone would write `value` differently from its wire form: it holds
 * bytes, or an object with its own toJSON (which the copy below does not call).
 */
function needsWireCopy(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (value instanceof Uint8Array) return true;
  if (Array.isArray(value)) return value.some(needsWireCopy);
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return true;
  for (const key in value) {
    if (needsWireCopy((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/**
 * A copy of `value` with every Uint8Array as `{ "$bytes": "<base64>" }`. Done before
 * JSON.stringify rather than in a replacer: stringify calls a Node Buffer's toJSON first, which
 * builds an array of one number per byte (64 Ki numbers for a 64 KiB chunk) only to drop it.
 */
function withBytesAsBase64(value: unknown, toBase64: Base64Encoder): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return { [BYTES_KEY]: toBase64(value) };
  if (Array.isArray(value)) return value.map((item: unknown) => withBytesAsBase64(item, toBase64));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = withBytesAsBase64(item, toBase64);
  return copy;
}

export function encodeWire(
  message: ClientMessage | ServerMessage,
  toBase64: Base64Encoder = fromByteArray,
): string {
  return encodeWireValue(message, toBase64);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;

/**
 * Checks a frame's nesting depth and value count in one pass, before JSON.parse spends anything
 * on it. Strings are skipped with indexOf, so a frame that is one long payload string (the usual
 * large frame) costs almost nothing. Malformed text is left for JSON.parse to reject.
 */
export function checkWireShape(text: string, limits: WireLimits = DEFAULT_WIRE_LIMITS): void {
  let depth = 0;
  let values = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = endOfString(text, i);
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      depth += 1;
      values += 1;
      if (depth > limits.maxDepth) {
        throw new WorkbenchError(
          'FRAME_TOO_DEEP',
          `Frame nests arrays or objects more than ${limits.maxDepth} levels deep; it was not read`,
        );
      }
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth -= 1;
    } else if (c === COMMA) {
      values += 1;
    } else {
      continue;
    }
    if (values > limits.maxValues) {
      throw new WorkbenchError(
        'FRAME_TOO_MANY_VALUES',
        `Frame holds more than ${limits.maxValues} values; it was not read`,
      );
    }
  }
}

/** The index of the quote that closes the string opened at `open` (or the end of the text). */
function endOfString(text: string, open: number): number {
  let close = text.indexOf('"', open + 1);
  while (close !== -1) {
    // A quote is escaped when an odd number of backslashes stands right before it.
    let backslashes = 0;
    while (text.charCodeAt(close - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return close;
    close = text.indexOf('"', close + 1);
  }
  return text.length;
}

/**
 * Parses a frame. Throws WorkbenchError FRAME_TOO_DEEP / FRAME_TOO_MANY_VALUES when it is over
 * the limits (checked before parsing), a SyntaxError on malformed JSON; the caller answers
 * either with a typed error.
 */
export function decodeWire(text: string, limits: WireLimits = DEFAULT_WIRE_LIMITS): unknown {
  checkWireShape(text, limits);
  // Most frames hold no bytes (list and lifecycle events): without the key in the text, escaped
  // or not, there is nothing to revive, and JSON.parse is several times faster without a reviver.
  if (!text.includes(BYTES_KEY) && !text.includes('\\u')) return JSON.parse(text);
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
