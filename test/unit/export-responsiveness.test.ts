/**
 * An export must not hold a live engine's event loop: a big chunk is turned into hex dump or
 * transcript text a slice at a time, the loop turning between slices; the text is the same as
 * in one go. Written to real files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  RecordKind,
  RECORD_PREFIX_BYTES,
  ROW_BYTES,
  ROWS_HEADER_BYTES,
  jsonRecord,
} from '../../src/main/engine/capture-index';
import { segmentFileName } from '../../src/main/engine/capture-log';
import {
  CaptureFolderReader,
  RowColumns,
  SCAN_ROWS_PER_TURN,
  type CapturedEndpoint,
} from '../../src/main/engine/capture-reader';
import { openTarget } from '../../src/main/engine/export/output';
import { hexLines, transcriptText } from '../../src/main/engine/export/text-formats';
import { makeWriter, TEXT_SLICE_BYTES, type Slot } from '../../src/main/engine/export/writers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'export-turns-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function oneChunkSlot(size: number): Slot {
  const endpoint: CapturedEndpoint = {
    number: 1,
    description: {
      id: 'conn-1',
      kind: 'tcp-connection',
      remote: { host: '127.0.0.1', port: 9 },
    },
    peers: [],
    chunks: 1,
    bytesIn: size,
    bytesOut: 0,
    keptFrom: 0,
    missingChunks: 0,
  };
  const rows = new RowColumns();
  rows.push({ streamOffset: 0, fileOffset: 0, at: Date.UTC(2026, 0, 1), size, dir: 0, peer: -1 });
  return { endpoint, rows, stream: null, datagrams: null, pendingComment: undefined };
}

describe('text exports of a big chunk', () => {
  for (const format of ['hex', 'transcript'] as const) {
    it(`${format}: the event loop turns while a 1 MiB chunk is written, and the text is whole`, async () => {
      const size = 1024 * 1024;
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8)) & 0xff;
      const file = path.join(dir, `big.${format}`);
      const target = await openTarget({ path: file, overwrite: false });
      const writer = makeWriter(format, target.output);
      await writer.begin();

      let turns = 0;
      let counting = true;
      const tick = () => {
        turns += 1;
        if (counting) setImmediate(tick);
      };
      setImmediate(tick);
      const before = turns;
      await writer.data(oneChunkSlot(size), 0, {
        bytes,
        offset: 0,
        first: true,
        last: true,
        at: Date.UTC(2026, 0, 1),
        chunkBytes: size,
      });
      const during = turns - before;
      counting = false;
      await target.commit();

      // One turn at least between every two slices: never the whole chunk in one go.
      expect(during).toBeGreaterThanOrEqual(size / TEXT_SLICE_BYTES - 1);
      const text = fs.readFileSync(file, 'utf8');
      const body = text.slice(text.indexOf('\n') + 1);
      const whole = format === 'hex' ? hexLines(bytes, 0) : transcriptText(bytes);
      expect(body.startsWith(whole)).toBe(true);
      expect(body.length - whole.length).toBeLessThanOrEqual(2);
    });
  }
});

/** A row record of `count` one-byte chunks from `first` on, as the engine writes them. */
function rowRecord(endpoint: number, first: number, count: number): Uint8Array {
  const bytes = new Uint8Array(ROWS_HEADER_BYTES + count * ROW_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, RecordKind.rows);
  view.setUint32(4, bytes.byteLength - RECORD_PREFIX_BYTES, true);
  view.setUint32(8, endpoint, true);
  view.setFloat64(12, first, true);
  view.setUint32(20, count, true);
  for (let i = 0; i < count; i++) {
    const at = ROWS_HEADER_BYTES + i * ROW_BYTES;
    view.setFloat64(at, first + i, true); // stream offset
    view.setFloat64(at + 8, first + i, true); // file offset
    view.setFloat64(at + 16, Date.UTC(2026, 0, 1) + first + i, true);
    view.setUint32(at + 24, 1, true);
    view.setUint8(at + 28, i % 2);
    view.setInt32(at + 29, -1, true);
  }
  return bytes;
}

/** A capture folder of one connection with `records` full row records of one-byte chunks. */
function writeManySmallChunks(records: number, tail: Uint8Array = new Uint8Array(0)): number {
  const perRecord = 1024;
  const rows = records * perRecord;
  const parts: Uint8Array[] = [
    jsonRecord(RecordKind.endpoint, { number: 1, id: 'conn-1', kind: 'tcp-connection' }),
  ];
  for (let r = 0; r < records; r++) parts.push(rowRecord(1, r * perRecord, perRecord));
  parts.push(tail);
  fs.writeFileSync(path.join(dir, segmentFileName('index', 1, 0)), Buffer.concat(parts));
  fs.writeFileSync(path.join(dir, segmentFileName('data', 1, 0)), Buffer.alloc(rows, 0x61));
  return rows;
}

describe('reading an index of many small chunks', () => {
  it('reads a big index file a piece at a time: the same rows, and a damaged end is reported', async () => {
    // A last record that says it is far longer than the file: cut short by a crash, or damaged.
    const tail = new Uint8Array(100);
    new DataView(tail.buffer).setUint8(0, RecordKind.rows);
    new DataView(tail.buffer).setUint32(4, 512 * 1024 * 1024, true);
    const rows = writeManySmallChunks(200, tail);
    const reader = new CaptureFolderReader(dir);
    const { endpoints, rows: columns } = await reader.scanRows(() => true);
    expect(endpoints).toEqual(new CaptureFolderReader(dir).endpoints());
    expect(endpoints[0]?.chunks).toBe(rows);
    const read = columns.get(1);
    expect(read?.length).toBe(rows);
    for (const i of [0, 1023, 1024, 127_000, rows - 1]) {
      expect(read?.streamOffset[i]).toBe(i);
      expect(read?.dir[i]).toBe(i % 2);
    }
    const tailAt = fs.statSync(path.join(dir, segmentFileName('index', 1, 0))).size - tail.length;
    expect(reader.warnings.filter((w) => w.includes('cut short'))).toEqual([
      `${segmentFileName('index', 1, 0)}: a record is cut short at byte ${tailAt}`,
    ]);
  });

  it('turns the event loop every few thousand rows, not every few thousand records', async () => {
    const records = 200;
    const perRecord = 1024;
    const rows = records * perRecord;
    const parts: Uint8Array[] = [
      jsonRecord(RecordKind.endpoint, { number: 1, id: 'conn-1', kind: 'tcp-connection' }),
    ];
    for (let r = 0; r < records; r++) parts.push(rowRecord(1, r * perRecord, perRecord));
    fs.writeFileSync(path.join(dir, segmentFileName('index', 1, 0)), Buffer.concat(parts));
    fs.writeFileSync(path.join(dir, segmentFileName('data', 1, 0)), Buffer.alloc(rows, 0x61));

    const reader = new CaptureFolderReader(dir);
    let turns = 0;
    let counting = true;
    const tick = () => {
      turns += 1;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const { endpoints, rows: columns } = await reader.scanRows(() => true);
    counting = false;

    expect(endpoints[0]?.chunks).toBe(rows);
    expect(columns.get(1)?.length).toBe(rows);
    // Reading the file turns the loop too, but far less often than this.
    expect(turns).toBeGreaterThanOrEqual(Math.floor(rows / (SCAN_ROWS_PER_TURN + 1)));
  });
});
