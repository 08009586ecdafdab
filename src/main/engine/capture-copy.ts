/**
 * capture.copy in the engine: a range of one endpoint's capture, by capture offset, read block by
 * block (a turn of the event loop between blocks) and formatted as text in the view's encoding,
 * hex, a C array or base64. Offsets are as in capture-query.ts. Node only, never electron.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  COPY_MAX_BYTES,
  type CommandOutput,
  type TextEncoding,
  type ValidInput,
} from '../../shared/contract';
import { WorkbenchError } from '../../shared/errors';
import { toBase64, toCArray, toHex } from '../../shared/format';
import type { CaptureStore, Direction } from './capture';
import {
  DEFAULT_QUERY_LIMITS,
  newDecoders,
  readBlockSafely,
  type QueryLimits,
} from './capture-blocks';

type CopyInput = ValidInput<'capture.copy'>;
type CopyOutput = CommandOutput<'capture.copy'>;

/**
 * capture.copy: the bytes of [from, to) (within keptFrom and the capture's end), of one
 * direction if asked, at most `maxBytes` of them (`truncated` then), as text to copy.
 */
export async function copyFromCapture(
  store: CaptureStore,
  input: CopyInput,
  signal: AbortSignal,
  maxBytes = COPY_MAX_BYTES,
  limits: QueryLimits = DEFAULT_QUERY_LIMITS,
): Promise<CopyOutput> {
  if (input.to < input.from) {
    throw new WorkbenchError('INVALID_INPUT', 'The range to copy ends before it starts');
  }
  const dir = input.direction === 'both' ? undefined : input.direction;
  const end = Math.min(input.to, store.totalBytes);
  const { bytes, pieces, next } = await readRange(
    store,
    input.from,
    end,
    dir,
    maxBytes,
    limits,
    signal,
  );
  const truncated = next < end && hasBytes(store, next, end, dir);
  const text =
    input.format === 'text'
      ? decodePieces(bytes, pieces, input.encoding)
      : await formatInSlices(bytes, input.format, signal);
  return { text, bytes: bytes.byteLength, truncated, keptFrom: store.keptFrom };
}

interface CopiedPiece {
  dir: Direction;
  at: number;
  length: number;
}

/** Reads up to `maxBytes` of the range, a block per turn of the event loop. */
async function readRange(
  store: CaptureStore,
  from: number,
  end: number,
  dir: Direction | undefined,
  maxBytes: number,
  limits: QueryLimits,
  signal: AbortSignal,
): Promise<{ bytes: Uint8Array; pieces: CopiedPiece[]; next: number }> {
  for (;;) {
    const start = Math.max(from, store.keptFrom);
    const bytes = new Uint8Array(Math.max(0, Math.min(maxBytes, end - start)));
    const pieces: CopiedPiece[] = [];
    let filled = 0;
    let offset = start;
    let gone = false;
    while (offset < end && filled < bytes.byteLength) {
      const into = bytes.subarray(0, Math.min(bytes.byteLength, filled + limits.blockBytes));
      const block = readBlockSafely(store, offset, end, into, filled, dir);
      // The capture limit deleted part of what was read: a copy is one run, so begin again.
      if (block.start > offset) {
        gone = true;
        break;
      }
      for (const piece of block.pieces) pieces.push(piece);
      filled += block.bytes;
      offset = block.end;
      if (offset < end && filled < bytes.byteLength) {
        await yieldToEventLoop();
        throwIfCopyStopped(signal);
      }
    }
    if (!gone) return { bytes: bytes.subarray(0, filled), pieces, next: offset };
  }
}

/** Whether [from, to) holds any byte (of `dir`, when given). */
function hasBytes(store: CaptureStore, from: number, to: number, dir?: Direction): boolean {
  const probe = new Uint8Array(1);
  for (let offset = from; offset < to;) {
    const block = readBlockSafely(store, offset, to, probe, 0, dir);
    if (block.bytes > 0) return true;
    if (block.end <= offset) return false;
    offset = block.end;
  }
  return false;
}

/**
 * Text as the views decode it: one streaming decoder per direction, in capture order. Bytes of
 * a character the range cuts off at its end are left out, as a view leaves them out.
 */
function decodePieces(bytes: Uint8Array, pieces: CopiedPiece[], encoding: TextEncoding): string {
  const decoders = newDecoders(encoding);
  return pieces
    .map((piece) =>
      decoders[piece.dir].decode(bytes.subarray(piece.at, piece.at + piece.length), true),
    )
    .join('');
}

/**
 * Bytes per slice when formatting: a multiple of 3 (base64 groups) and of 12 (a C array's
 * line), so that the slices' texts joined are exactly the whole's. toHex and toCArray build an
 * array of one string per byte, which for 16 MiB at once would take hundreds of MB.
 */
const FORMAT_SLICE_BYTES = 12 * 64 * 1024;

function throwIfCopyStopped(signal: AbortSignal): void {
  if (signal.aborted) throw new WorkbenchError('CANCELLED', 'The copy was stopped');
}

async function formatInSlices(
  bytes: Uint8Array,
  format: 'hex' | 'c' | 'base64',
  signal: AbortSignal,
): Promise<string> {
  if (bytes.byteLength <= FORMAT_SLICE_BYTES) return formatWhole(bytes, format);
  const parts: string[] = [];
  for (let at = 0; at < bytes.byteLength; at += FORMAT_SLICE_BYTES) {
    const slice = bytes.subarray(at, at + FORMAT_SLICE_BYTES);
    parts.push(format === 'c' ? cArrayLines(slice) : formatWhole(slice, format));
    await yieldToEventLoop();
    throwIfCopyStopped(signal);
  }
  if (format === 'hex') return parts.join(' ');
  if (format === 'base64') return parts.join('');
  // toCArray's layout, with its lines made a slice at a time.
  const head = toCArray(new Uint8Array(0)).replace(/\[0\] = \{\};$/, `[${bytes.byteLength}] =`);
  return `${head} {\n${parts.join(',\n')}\n};`;
}

function formatWhole(bytes: Uint8Array, format: 'hex' | 'c' | 'base64'): string {
  if (format === 'hex') return toHex(bytes);
  if (format === 'c') return toCArray(bytes);
  return toBase64(bytes);
}

/** The lines of toCArray's answer for `bytes`, without its head and braces. */
function cArrayLines(bytes: Uint8Array): string {
  const whole = toCArray(bytes);
  // Up to 12 bytes, toCArray writes one line: `… = { 0x01, 0x02 };`
  const oneLine = bytes.byteLength <= 12;
  const from = oneLine ? whole.indexOf('{ ') + 2 : whole.indexOf('{\n') + 2;
  const to = oneLine ? whole.lastIndexOf(' }') : whole.lastIndexOf('\n};');
  return `${oneLine ? '  ' : ''}${whole.slice(from, to)}`;
}
