/**
 * Whole-capture work done in the renderer: searching for bytes and collecting bytes to copy. Both
 * page through `capture.read`, so they cover everything captured, not only what the terminal
 * still shows.
 */
import { MAX_CAPTURE_READ, type CaptureChunk } from '../../../shared/contract';
import type { UserError } from '../../../shared/errors';
import type { Session } from './session.svelte';

export interface Cancel {
  cancelled: boolean;
}

/** Calls `visit` with every chunk from `offset` up to the capture's size when reading started. */
async function eachChunk(
  session: Session,
  id: string,
  visit: (chunk: CaptureChunk) => boolean | void,
  cancel: Cancel,
): Promise<UserError | null> {
  let offset = 0;
  let goal = Number.POSITIVE_INFINITY;
  while (offset < goal) {
    const result = await session.invoke('capture.read', { id, offset, length: MAX_CAPTURE_READ });
    if (cancel.cancelled) return null;
    if (!result.ok) return result.error;
    goal = Math.min(goal, result.value.totalBytes);
    // The capture limit deleted what came before: go on from the oldest byte kept.
    if (offset < result.value.keptFrom) {
      offset = result.value.keptFrom;
      continue;
    }
    if (result.value.chunks.length === 0) break;
    for (const chunk of result.value.chunks) {
      offset = chunk.offset + chunk.bytes.length;
      if (visit(chunk) === false) return null;
    }
  }
  return null;
}

export interface SearchResult {
  matches: number[];
  /** True when the search stopped at the match limit. */
  truncated: boolean;
  error: UserError | null;
}

const MATCH_LIMIT = 10_000;

/**
 * Every offset where `needle` occurs in the capture (both directions in capture order, as a
 * Follow Stream view reads), including matches that straddle chunk boundaries.
 */
export async function searchCapture(
  session: Session,
  id: string,
  needle: Uint8Array,
  cancel: Cancel,
): Promise<SearchResult> {
  const matches: number[] = [];
  let truncated = false;
  // The tail of what came before, so a match split across chunks is still found.
  let carry = new Uint8Array(0);
  const error = await eachChunk(
    session,
    id,
    (chunk) => {
      const window = new Uint8Array(carry.length + chunk.bytes.length);
      window.set(carry);
      window.set(chunk.bytes, carry.length);
      const base = chunk.offset - carry.length;
      for (const at of findAll(window, needle)) {
        if (matches.length >= MATCH_LIMIT) {
          truncated = true;
          return false;
        }
        matches.push(base + at);
      }
      const keep = Math.min(needle.length - 1, window.length);
      carry = window.slice(window.length - keep);
      return true;
    },
    cancel,
  );
  return { matches, truncated, error };
}

function* findAll(haystack: Uint8Array, needle: Uint8Array): Generator<number> {
  const first = needle[0];
  if (first === undefined) return;
  let from = 0;
  for (;;) {
    const at = haystack.indexOf(first, from);
    if (at < 0 || at + needle.length > haystack.length) return;
    let same = true;
    for (let i = 1; i < needle.length; i++) {
      if (haystack[at + i] !== needle[i]) {
        same = false;
        break;
      }
    }
    if (same) yield at;
    from = at + 1;
  }
}

export interface CaptureBytes {
  chunks: CaptureChunk[];
  truncated: boolean;
  error: UserError | null;
}

/** The capture's chunks up to `limit` bytes (a clipboard has limits too). */
export async function readCapture(
  session: Session,
  id: string,
  limit: number,
): Promise<CaptureBytes> {
  const chunks: CaptureChunk[] = [];
  let total = 0;
  let truncated = false;
  const error = await eachChunk(
    session,
    id,
    (chunk) => {
      if (total + chunk.bytes.length > limit) {
        chunks.push({ ...chunk, bytes: chunk.bytes.subarray(0, limit - total) });
        truncated = true;
        return false;
      }
      chunks.push(chunk);
      total += chunk.bytes.length;
      return true;
    },
    { cancelled: false },
  );
  return { chunks, truncated, error };
}

export function concatBytes(chunks: readonly CaptureChunk[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.bytes.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk.bytes, at);
    at += chunk.bytes.length;
  }
  return out;
}
