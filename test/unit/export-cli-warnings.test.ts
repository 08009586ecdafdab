/**
 * The command line's export of a capture folder whose bytes are partly gone (the capture limit
 * deleted a data segment; a crash cut the index short): the bytes that are there are written, and
 * what is missing is said on stderr instead of passing in silence. A folder written here, as the
 * engine writes one (docs/capture-format.md).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  jsonRecord,
  RECORD_PREFIX_BYTES,
  RecordKind,
  ROW_BYTES,
  ROWS_HEADER_BYTES,
} from '../../src/main/engine/capture-index';
import { segmentFileName } from '../../src/main/engine/capture-log';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'export-cli-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A row record of `count` ten-byte chunks received from stream offset `first * 10` on. */
function rowRecord(first: number, count: number): Uint8Array {
  const bytes = new Uint8Array(ROWS_HEADER_BYTES + count * ROW_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, RecordKind.rows);
  view.setUint32(4, bytes.byteLength - RECORD_PREFIX_BYTES, true);
  view.setUint32(8, 1, true);
  view.setFloat64(12, first, true);
  view.setUint32(20, count, true);
  for (let i = 0; i < count; i++) {
    const at = ROWS_HEADER_BYTES + i * ROW_BYTES;
    view.setFloat64(at, (first + i) * 10, true);
    view.setFloat64(at + 8, (first + i) * 10, true);
    view.setFloat64(at + 16, Date.UTC(2026, 0, 1) + first + i, true);
    view.setUint32(at + 24, 10, true);
    view.setUint8(at + 28, 0);
    view.setInt32(at + 29, -1, true);
  }
  return bytes;
}

it('says on stderr which chunks are gone, and writes the rest', () => {
  // Chunks 0-9 in the first data segment, 10-19 deleted with the second, 20-29 in the third.
  const index = Buffer.concat([
    jsonRecord(RecordKind.endpoint, { number: 1, id: 'conn-1', kind: 'tcp-connection' }),
    rowRecord(0, 30),
    Uint8Array.of(RecordKind.rows, 0, 0, 0, 0xff, 0xff), // cut short by a crash
  ]);
  fs.writeFileSync(path.join(dir, segmentFileName('index', 1, 0)), index);
  fs.writeFileSync(path.join(dir, segmentFileName('data', 1, 0)), Buffer.alloc(100, 0x61));
  fs.writeFileSync(path.join(dir, segmentFileName('data', 3, 200)), Buffer.alloc(100, 0x63));

  const cli = path.resolve('src/main/capture-cli.ts');
  const run = spawnSync(process.execPath, ['--import', 'tsx', cli, dir, '--endpoint', 'conn-1']);
  const stderr = run.stderr.toString();
  expect(run.status, stderr).toBe(0);
  expect(run.stdout.equals(Buffer.concat([Buffer.alloc(100, 0x61), Buffer.alloc(100, 0x63)]))).toBe(
    true,
  );
  expect(stderr).toContain('warning: conn-1: 10 chunks are indexed but their bytes are no longer');
  expect(stderr).toMatch(/warning: index-000001-\d+\.bin: a record is cut short at byte \d+/);
});
