/**
 * What the capture keeps in memory per chunk, measured: the figures behind CHUNK_OVERHEAD
 * (src/main/engine/capture.ts) and behind the index's per-block cost (capture-index.ts).
 *
 *   node --expose-gc --import tsx bench/chunk-cost.ts
 *
 * 1. 100,000 64-byte chunks, each its own allocation as a datagram is, held in capture memory
 *    (a budget large enough that none leaves): heap and external memory per chunk, beyond its
 *    64 bytes.
 * 2. 6,400,000 index rows pushed through one ChunkIndex whose old rows go to a real index file:
 *    memory per 64-row block once the file has them.
 */
import fs from 'node:fs';
import { BLOCK_ROWS, ChunkIndex } from '../src/main/engine/capture-index';
import { CaptureMemory, CaptureStore } from '../src/main/engine/capture';
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
  const log = new CaptureLog(dir);
  const indexLog = new CaptureLog(dir, { name: 'index' });
  const store = new CaptureStore(new CaptureMemory(1024 * 1024 * 1024, log, indexLog));
  const before = heapAndExternal();
  for (let i = 0; i < CHUNKS; i++) {
    store.append('in', Buffer.alloc(CHUNK_BYTES, i & 0xff), { host: '127.0.0.1', port: 40000 });
  }
  await Promise.all([log.flush(), indexLog.flush()]);
  const perChunk = (heapAndExternal() - before) / CHUNKS - CHUNK_BYTES;
  await indexLog.close();
  await log.close();
  return perChunk;
}

async function perWrittenBlock(dir: string): Promise<number> {
  const file = new CaptureLog(dir, { name: 'rows' });
  const index = new ChunkIndex(file);
  const before = heapAndExternal();
  let streamOffset = 0;
  for (let seq = 0; seq < BLOCKS * BLOCK_ROWS; seq++) {
    index.push({
      streamOffset,
      fileOffset: streamOffset,
      at: 1.7e12 + seq,
      size: 64,
      dir: 0,
      peer: 0,
    });
    streamOffset += 64;
    // Let writes complete as they would between socket reads, so written blocks are let go.
    if (seq % (1000 * BLOCK_ROWS) === 0) await file.flush();
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
      `written index block of ${BLOCK_ROWS} rows: ${block.toFixed(1)} B in memory ` +
      `(${BLOCKS} blocks, ${(block / BLOCK_ROWS).toFixed(2)} B per row)\n`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
