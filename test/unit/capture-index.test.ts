/**
 * The chunk index keeps recent rows in memory and writes older ones to a real index file in
 * blocks; every row must read back the same, from memory, from a block not yet on disk, or from
 * the file.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BLOCK_ROWS, ChunkIndex, type ChunkRow } from '../../src/main/engine/capture-index';
import { CaptureLog } from '../../src/main/engine/capture-log';
import { tempDir } from '../support/peers';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function openIndex() {
  const dir = tempDir();
  const log = new CaptureLog(dir, { name: 'index' });
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => log.close());
  return { log, index: new ChunkIndex(log) };
}

/** Rows as an endpoint makes them: sizes vary, empty datagrams included, file offsets grow. */
function makeRows(count: number): ChunkRow[] {
  const rows: ChunkRow[] = [];
  let streamOffset = 0;
  let fileOffset = 1000;
  for (let seq = 0; seq < count; seq++) {
    const size = seq % 17 === 0 ? 0 : 1 + ((seq * 7919) % 1500);
    rows.push({
      streamOffset,
      fileOffset,
      at: 1_700_000_000_000 + seq * 0.125,
      size,
      dir: seq % 3 === 0 ? 1 : 0,
      peer: seq % 5 === 0 ? -1 : seq % 4,
    });
    streamOffset += size;
    fileOffset += size + (seq % 2) * 64; // other endpoints' bytes in between
  }
  return rows;
}

function firstEndingAfterByScan(rows: ChunkRow[], offset: number): number {
  const found = rows.findIndex((row) => row.streamOffset + row.size > offset);
  return found < 0 ? rows.length : found;
}

describe('ChunkIndex', () => {
  it('reads back every row, from memory, from unwritten blocks and from the file', async () => {
    const { log, index } = openIndex();
    const rows = makeRows(BLOCK_ROWS * 40 + 13);
    const half = rows.length >> 1;
    for (const row of rows.slice(0, half)) index.push(row);
    // Some blocks are on disk now; the next ones are written while these are read.
    await log.flush();
    for (const row of rows.slice(half)) expect(index.push(row)).toBe(rows.indexOf(row));
    expect(index.length).toBe(rows.length);
    for (let seq = rows.length - 1; seq >= 0; seq -= 1) expect(index.row(seq)).toEqual(rows[seq]);
    await log.flush();
    // All but the last two blocks' worth of rows went to the file, 33 bytes each.
    const written = Math.floor(rows.length / BLOCK_ROWS - 1) * BLOCK_ROWS;
    expect(fs.statSync(log.file).size).toBe(written * 33);
    for (let seq = 0; seq < rows.length; seq += 1) expect(index.row(seq)).toEqual(rows[seq]);
  });

  it('finds the first chunk ending after any offset, across blocks and memory', () => {
    const { index } = openIndex();
    const rows = makeRows(BLOCK_ROWS * 9 + 5);
    for (const row of rows) index.push(row);
    const last = rows.at(-1) as ChunkRow;
    const end = last.streamOffset + last.size;
    const offsets = [0, 1, end - 1, end, end + 10];
    for (const row of rows.filter((_, i) => i % 7 === 0)) {
      offsets.push(row.streamOffset, row.streamOffset + row.size, row.streamOffset + 1);
    }
    for (const offset of offsets) {
      expect(index.firstEndingAfter(offset), `offset ${offset}`).toBe(
        firstEndingAfterByScan(rows, offset),
      );
    }
  });

  it('an empty index and one within memory answer like a scan', () => {
    const { index } = openIndex();
    expect(index.firstEndingAfter(0)).toBe(0);
    const rows = makeRows(BLOCK_ROWS);
    for (const row of rows) index.push(row);
    for (const offset of [0, 5, 100, 10_000]) {
      expect(index.firstEndingAfter(offset)).toBe(firstEndingAfterByScan(rows, offset));
    }
  });
});
