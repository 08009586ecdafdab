/**
 * What both capture queries (capture-query.ts: find; capture-copy.ts: copy) share: how much they
 * read at a time, a block read that survives the capture limit deleting the oldest part, and one
 * text decoder per direction. Node only, never electron.
 */
import type { TextEncoding } from '../../shared/contract';
import { WorkbenchError } from '../../shared/errors';
import type { StreamTextDecoder } from '../../shared/format';
import type { CaptureBlock, CaptureStore, Direction } from './capture';
import { createEngineTextDecoder } from './encodings';

/** How much a query reads at a time; tests make them small to put block edges everywhere. */
export interface QueryLimits {
  /** Bytes per block of a byte search and of a copy: one read, one indexOf, one turn. */
  blockBytes: number;
  /** Bytes per block of a regex search: decoding and RE2 cost far more per byte. */
  regexBlockBytes: number;
  /** A find page ends after scanning this much, matches or not, so that progress shows. */
  pageScanBytes: number;
  /** The same for a regex search, which goes 10-500 times slower. */
  regexPageScanBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  // Large blocks make few system calls; 4 MiB is read and searched in about 1.5 ms here
  // (bench/search: 2.4-3 GB/s), short enough a turn of the event loop.
  blockBytes: 4 * MiB,
  // Decoding and RE2 in JavaScript run at 5-250 MB/s (the pattern, the encoding, how many
  // matches): 256 KiB keeps each turn under about 50 ms even at the slow end.
  regexBlockBytes: 256 * 1024,
  // A page of a few seconds at most: 0.1-1 s for bytes, 0.1-3 s for most patterns.
  pageScanBytes: 256 * MiB,
  regexPageScanBytes: 16 * MiB,
};

/**
 * store.readBlock, going on at keptFrom should the bytes asked for be gone by now (the capture
 * limit deleted the oldest part while a query was between blocks).
 */
export function readBlockSafely(
  store: CaptureStore,
  from: number,
  to: number,
  buffer: Uint8Array,
  at: number,
  dir: Direction | undefined,
): CaptureBlock {
  for (;;) {
    try {
      return store.readBlock(from, to, buffer, at, dir);
    } catch (error) {
      const keptFrom = store.keptFrom;
      if (!(error instanceof WorkbenchError && error.code === 'CAPTURE_GONE') || keptFrom <= from) {
        throw error;
      }
      from = keptFrom;
    }
  }
}

export function newDecoders(encoding: TextEncoding): Record<Direction, StreamTextDecoder> {
  return { in: createEngineTextDecoder(encoding), out: createEngineTextDecoder(encoding) };
}
