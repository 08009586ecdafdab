/**
 * The chunk index keeps recent rows in memory and journals them to a real index log in row
 * records once their bytes are on disk; every row must read back the same, from memory, from a
 * record not yet on disk, or from the file, and the file must hold each row exactly once.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ChunkIndex,
  decodeRow,
  HOT_ROWS,
  RECORD_PREFIX_BYTES,
  RecordKind,
  ROWS_HEADER_BYTES,
  type ChunkRow,
} from '../../src/main/engine/capture-index';
import { CaptureLog } from '../../src/main/engine/capture-log';
import { tempDir } from '../support/peers';
import { cleanupsAfterEach } from '../support/engine';

const cleanups = cleanupsAfterEach();

function openIndex() {
  const dir = tempDir();
  const log = new CaptureLog(dir, { name: 'index' });
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => log.close());
  return { log, index: new ChunkIndex(log, 7) };
}

/** The rows an index log holds, record by record, with the endpoint each record names. */
function rowsInFile(file: string): Array<ChunkRow & { endpoint: number; seq: number }> {
  const bytes = fs.readFileSync(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found: Array<ChunkRow & { endpoint: number; seq: number }> = [];
  for (let at = 0; at < bytes.byteLength;) {
    expect(view.getUint8(at)).toBe(RecordKind.rows);
    const end = at + RECORD_PREFIX_BYTES + view.getUint32(at + 4, true);
    const endpoint = view.getUint32(at + 8, true);
    const first = view.getFloat64(at + 12, true);
    const count = view.getUint32(at + 20, true);
    const rows = new DataView(bytes.buffer, bytes.byteOffset + at + ROWS_HEADER_BYTES);
    for (let i = 0; i < count; i++) found.push({ ...decodeRow(rows, i), endpoint, seq: first + i });
    at = end;
  }
  return found;
}

/** Rows as an endpoint makes them: sizes vary, empty datagrams included, file offsets grow. */
function pushRow(index: ChunkIndex, row: ChunkRow): number {
  return index.push(row.streamOffset, row.fileOffset, row.at, row.size, row.dir, row.peer);
}

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

const noDescription = () => undefined;

describe('ChunkIndex', () => {
  it('journals a row only once its bytes are on disk, and reads every row back', async () => {
    const { log, index } = openIndex();
    const rows = makeRows(HOT_ROWS * 40 + 13);
    const half = rows.length >> 1;
    for (const row of rows.slice(0, half)) pushRow(index, row);
    // The data log has written up to the end of row 99: rows 100 on must wait.
    const row99 = rows[99] as ChunkRow;
    expect(index.journal(row99.fileOffset + row99.size, noDescription)).toBe(half - 100);
    expect(index.unjournaledRows).toBe(half - 100);
    await log.flush();
    for (const row of rows.slice(half)) {
      expect(pushRow(index, row)).toBe(rows.indexOf(row));
      if (rows.indexOf(row) % 50 === 0) index.journal(Infinity, noDescription);
    }
    expect(index.length).toBe(rows.length);
    for (let seq = rows.length - 1; seq >= 0; seq -= 1) expect(index.row(seq)).toEqual(rows[seq]);
    expect(index.journal(Infinity, noDescription)).toBe(0);
    await log.flush();
    // Every row exactly once, in order, naming its endpoint; memory kept only the newest.
    const written = rowsInFile(log.file);
    expect(written.map(({ endpoint, seq, ...row }) => [endpoint, seq, row])).toEqual(
      rows.map((row, seq) => [7, seq, row]),
    );
    for (let seq = 0; seq < rows.length; seq += 1) expect(index.row(seq)).toEqual(rows[seq]);
  });

  it('finds the first chunk ending after any offset, across records and memory', () => {
    const { index } = openIndex();
    const rows = makeRows(HOT_ROWS * 9 + 5);
    rows.forEach((row, seq) => {
      pushRow(index, row);
      if (seq % 37 === 0) index.journal(Infinity, noDescription);
    });
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
    const rows = makeRows(HOT_ROWS);
    for (const row of rows) pushRow(index, row);
    for (const offset of [0, 5, 100, 10_000]) {
      expect(index.firstEndingAfter(offset)).toBe(firstEndingAfterByScan(rows, offset));
    }
  });

  it('names the first row whose bytes lie at or after a data floor', () => {
    const { index } = openIndex();
    const rows = makeRows(HOT_ROWS * 5);
    rows.forEach((row) => {
      pushRow(index, row);
      index.journal(Infinity, noDescription);
    });
    for (const seq of [0, 1, 63, 64, 200, rows.length - 1]) {
      const floor = (rows[seq] as ChunkRow).fileOffset + 1;
      const kept = rows.findIndex((row) => row.fileOffset >= floor);
      expect(index.firstKept(floor)).toBe(kept < 0 ? rows.length : kept);
    }
    expect(index.firstKept(Number.MAX_SAFE_INTEGER)).toBe(rows.length);
  });
});
