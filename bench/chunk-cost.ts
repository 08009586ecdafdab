/**
 * What the capture keeps in memory per chunk, measured: the figures behind CHUNK_OVERHEAD
 * (src/main/engine/capture.ts) and behind the index's per-block cost (capture-index.ts).
 *
 *   node --expose-gc --import tsx bench/chunk-cost.ts
 *
 * 1. 100,000 64-byte chunks, each its own allocation as a datagram is, held in capture memory
 *    (a budget large enough that none leaves): heap and external memory per chunk, beyond its
 *    64 bytes.
 * 2. 6,400,000 index rows pushed through one ChunkIndex that journals them to a real index log
 *    in records of 64 rows (what a busy endpoint writes): memory per record once the log has it.
 */
import fs from 'node:fs';
import { ChunkIndex, HOT_ROWS } from '../src/main/engine/capture-index';
import { CaptureMemory, CaptureStore } from '../src/main/engine/capture';
import { CaptureFolder } from '../src/main/engine/capture-folder';
import { CaptureLog } from '../src/main/engine/capture-log';
import { collectGarbage, tempDir } from './lib/util';

const CHUNKS = 100_000;
const CHUNK_BYTES = 64;
const BLOCKS = 100_000;

function heapAndExternal(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

async function perHeldChunk(dir: string): Promise<number> {
  const folder = new CaptureFolder(dir, { settings: { limitBytes: null, floorBytes: 0 } });
  const memory = new CaptureMemory(1024 * 1024 * 1024, folder);
  const store = new CaptureStore(memory, 1, { captureDescription: () => ({ id: 'udp-1' }) });
  const before = heapAndExternal();
  for (let i = 0; i < CHUNKS; i++) {
    store.append('in', Buffer.alloc(CHUNK_BYTES, i & 0xff), { host: '127.0.0.1', port: 40000 });
  }
  await folder.flush();
  const perChunk = (heapAndExternal() - before) / CHUNKS - CHUNK_BYTES;
  await memory.flushAll();
  await folder.close();
  return perChunk;
}

async function perWrittenBlock(dir: string): Promise<number> {
  const file = new CaptureLog(dir, { name: 'rows' });
  const index = new ChunkIndex(file, 1);
  const before = heapAndExternal();
  let streamOffset = 0;
  for (let seq = 0; seq < BLOCKS * HOT_ROWS; seq++) {
    index.push(streamOffset, streamOffset, 1.7e12 + seq, 64, 0, 0);
    streamOffset += 64;
    if (seq % HOT_ROWS === HOT_ROWS - 1) index.journal(Infinity, () => undefined);
    // Let writes complete as they would between socket reads, so written records are let go.
    if (seq % (1000 * HOT_ROWS) === 0) await file.flush();
  }
  await file.flush();
  index.row(0); // a read lets go of blocks the file now has
  const perBlock = (heapAndExternal() - before) / BLOCKS;
  await file.close();
  return perBlock;
}

const dir = tempDir('chunk-cost');
try {
  // Blocks first: the held chunks' store would otherwise be collected during that count.
  const block = await perWrittenBlock(dir);
  const chunk = await perHeldChunk(dir);
  process.stdout.write(
    `held chunk of ${CHUNK_BYTES} B: ${chunk.toFixed(0)} B of heap + external beyond its bytes ` +
      `(${CHUNKS} chunks)\n` +
      `written index record of ${HOT_ROWS} rows: ${block.toFixed(1)} B in memory ` +
      `(${BLOCKS} records, ${(block / HOT_ROWS).toFixed(2)} B per row)\n`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
