/**
 * Reads the exported chunks' bytes from the capture's data files and hands them to the format's
 * writer, in the export's order: asynchronously, neighbouring chunks in one read of at most
 * READ_PIECE_BYTES, the next read under way while the last one's chunks are drawn.
 */
import type fs from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { CaptureFolderReader } from '../capture-reader';
import type { Item } from './timeline';
import type { Slot, Writer } from './writers';

/** The most bytes read at once (a multiple of 16, so hex dump lines never straddle two reads). */
export const READ_PIECE_BYTES = 1024 * 1024;
/** Items planned together (their reads coalesced); the event loop turns after each batch. */
const ITEMS_PER_TURN = 1024;
/** The longest the export draws without letting the event loop turn. */
const TURN_MS = 5;

interface Part {
  /** Stream offset of the first byte exported. */
  offset: number;
  fileOffset: number;
  length: number;
}

/** A stretch of one data file read at once: neighbouring chunks, at most READ_PIECE_BYTES. */
interface Run {
  file: string;
  position: number;
  length: number;
}

/**
 * Reads each item's bytes and hands them to the writer, in the items' order. A batch of items is
 * planned first: neighbouring chunks are read together, and the next read is under way while
 * the chunks of the last one are drawn (two buffers).
 */
export async function writeItems(
  reader: CaptureFolderReader,
  items: Generator<Item>,
  slots: Slot[],
  writer: Writer,
  range: { start: number; end: number } | undefined,
): Promise<number> {
  const files = new DataFiles();
  const buffers = [Buffer.allocUnsafe(READ_PIECE_BYTES), Buffer.allocUnsafe(READ_PIECE_BYTES)];
  const scratch = Buffer.allocUnsafe(READ_PIECE_BYTES);
  let missingChunks = 0;
  let lastTurn = performance.now();
  const nextTurn = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    lastTurn = performance.now();
  };
  const visible = (slot: Slot, row: number): Part => {
    const offset = slot.rows.streamOffset[row] as number;
    const size = slot.rows.size[row] as number;
    const start = range ? Math.max(0, range.start - offset) : 0;
    const end = range ? Math.min(size, range.end - offset) : size;
    return {
      offset: offset + start,
      fileOffset: (slot.rows.fileOffset[row] as number) + start,
      length: end - start,
    };
  };
  const gone = (slot: Slot, row: number, length: number) => {
    missingChunks += 1;
    writer.missing(slot, row, length);
  };
  /** A chunk too big for one read goes a piece at a time. */
  const writeBig = async (item: Item & { kind: 'row' }, part: Part, where: Run) => {
    const slot = slots[item.slot] as Slot;
    for (let done = 0; done < part.length; done += READ_PIECE_BYTES) {
      const size = Math.min(READ_PIECE_BYTES, part.length - done);
      const piece = { file: where.file, position: where.position + done, length: size };
      if (!(await files.read(piece, scratch))) {
        gone(slot, item.row, part.length - done);
        return;
      }
      await writer.data(slot, item.row, {
        bytes: scratch.subarray(0, size),
        offset: part.offset + done,
        first: done === 0,
        last: done + size >= part.length,
        at: item.at,
        chunkBytes: part.length,
      });
    }
  };

  const drain = async (batch: Item[]) => {
    // The plan: each row's part, where it is, and which run reads it.
    const parts: Array<{ part: Part; where: Run | undefined; run: number } | null> = [];
    const runs: Run[] = [];
    for (const item of batch) {
      if (item.kind !== 'row') {
        parts.push(null);
        continue;
      }
      const part = visible(slots[item.slot] as Slot, item.row);
      const located = reader.locate(part.fileOffset, part.length);
      const where = located && { ...located, length: part.length };
      let run = -1;
      if (where && part.length <= READ_PIECE_BYTES) {
        const last = runs.at(-1);
        if (
          last &&
          last.file === where.file &&
          last.position + last.length === where.position &&
          last.length + part.length <= READ_PIECE_BYTES
        ) {
          last.length += part.length;
        } else {
          runs.push({ ...where });
        }
        run = runs.length - 1;
      }
      parts.push({ part, where, run });
    }
    const reads = new Map<number, Promise<boolean | Error>>();
    const startRead = (run: number) => {
      const extent = runs[run];
      if (!extent || reads.has(run)) return;
      // Never rejects: a failure is handed to whoever waits for this run.
      reads.set(
        run,
        files.read(extent, buffers[run % 2] as Buffer).catch((error: unknown) => error as Error),
      );
    };
    let loaded = -1;
    let loadedOk = false;
    for (let i = 0; i < batch.length; i++) {
      // A read or write that has already completed resolves without a turn of the event loop:
      // give the engine's sockets one every few milliseconds of drawing.
      if (performance.now() - lastTurn > TURN_MS) await nextTurn();
      const item = batch[i] as Item;
      const slot = slots[item.slot] as Slot;
      if (item.kind === 'control') {
        await writer.control(slot, item.control, item.at);
        continue;
      }
      const { part, where, run } = parts[i] as { part: Part; where: Run | undefined; run: number };
      if (!where) {
        gone(slot, item.row, part.length);
        continue;
      }
      if (run < 0) {
        await writeBig(item, part, where);
        continue;
      }
      if (run !== loaded) {
        startRead(run);
        const result = await (reads.get(run) as Promise<boolean | Error>);
        reads.delete(run);
        if (result instanceof Error) throw result;
        loaded = run;
        loadedOk = result;
        // The next run goes into the other buffer while this one's chunks are drawn.
        startRead(run + 1);
      }
      let bytes: Buffer;
      if (loadedOk) {
        const at = where.position - (runs[run] as Run).position;
        bytes = (buffers[run % 2] as Buffer).subarray(at, at + part.length);
      } else if (await files.read(where, scratch)) {
        // Some of the run is gone (deleted during the export), perhaps not this chunk.
        bytes = scratch.subarray(0, part.length);
      } else {
        gone(slot, item.row, part.length);
        continue;
      }
      await writer.data(slot, item.row, {
        bytes,
        offset: part.offset,
        first: true,
        last: true,
        at: item.at,
        chunkBytes: part.length,
      });
    }
    // A read started for nothing still has to end before its buffer is used again.
    await Promise.all(reads.values());
    await nextTurn();
  };

  try {
    let batch: Item[] = [];
    for (const item of items) {
      batch.push(item);
      if (batch.length >= ITEMS_PER_TURN) {
        await drain(batch);
        batch = [];
      }
    }
    await drain(batch);
  } finally {
    await files.close();
  }
  return missingChunks;
}

/** The data segment files, opened once each, read with positions. */
class DataFiles {
  private readonly handles = new Map<string, Promise<fs.FileHandle>>();

  /** Reads an extent into `into`; false if its bytes are not all there (any more). */
  async read(extent: Run, into: Buffer): Promise<boolean> {
    try {
      let opening = this.handles.get(extent.file);
      if (!opening) {
        opening = open(extent.file, 'r');
        this.handles.set(extent.file, opening);
      }
      const handle = await opening;
      let done = 0;
      while (done < extent.length) {
        const { bytesRead } = await handle.read(
          into,
          done,
          extent.length - done,
          extent.position + done,
        );
        if (bytesRead === 0) return false;
        done += bytesRead;
      }
      return true;
    } catch (error) {
      // The capture limit may delete a segment while the export reads it.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.handles.delete(extent.file);
        return false;
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    const opened = await Promise.allSettled(this.handles.values());
    await Promise.all(
      opened.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)),
    );
  }
}
