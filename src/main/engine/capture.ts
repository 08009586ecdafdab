/**
 * One endpoint's capture: every chunk in both directions, byte-exact, in the order it happened.
 *
 * Offsets count bytes across both directions, so a range read returns exactly what a Follow
 * Stream view would show. This store keeps everything in memory; the performance work replaces
 * the storage behind `append`/`read` (memory budget + append-only file) without changing them.
 */
import type { CaptureChunk } from '../../shared/contract';
import { nowMs } from './clock';

export type Direction = CaptureChunk['dir'];
export type Peer = NonNullable<CaptureChunk['peer']>;

export class CaptureStore {
  private readonly chunks: CaptureChunk[] = [];
  private bytes = 0;

  get totalBytes(): number {
    return this.bytes;
  }

  get chunkCount(): number {
    return this.chunks.length;
  }

  append(dir: Direction, bytes: Uint8Array, peer?: Peer): CaptureChunk {
    const chunk: CaptureChunk = {
      seq: this.chunks.length,
      at: nowMs(),
      dir,
      offset: this.bytes,
      // A plain view, not a Buffer: Buffer.toJSON would defeat the wire encoding of bytes.
      bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      ...(peer ? { peer } : {}),
    };
    this.chunks.push(chunk);
    this.bytes += bytes.byteLength;
    return chunk;
  }

  /** The chunks overlapping [offset, offset + length), trimmed to that range. */
  read(offset: number, length: number): CaptureChunk[] {
    const end = Math.min(offset + length, this.bytes);
    const result: CaptureChunk[] = [];
    for (let i = this.firstChunkEndingAfter(offset); i < this.chunks.length; i++) {
      const chunk = this.chunks[i] as CaptureChunk;
      if (chunk.offset >= end) break;
      const from = Math.max(offset, chunk.offset) - chunk.offset;
      const to = Math.min(end, chunk.offset + chunk.bytes.byteLength) - chunk.offset;
      if (to <= from && chunk.bytes.byteLength > 0) continue;
      result.push(
        from === 0 && to === chunk.bytes.byteLength
          ? chunk
          : { ...chunk, offset: chunk.offset + from, bytes: chunk.bytes.subarray(from, to) },
      );
    }
    return result;
  }

  private firstChunkEndingAfter(offset: number): number {
    let low = 0;
    let high = this.chunks.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const chunk = this.chunks[mid] as CaptureChunk;
      if (chunk.offset + chunk.bytes.byteLength <= offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
