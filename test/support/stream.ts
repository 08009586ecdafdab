/**
 * Deterministic byte streams that every peer can produce on its own (this process, a node child,
 * a python3 child), so a test can tell whether a capture is an exact prefix of what a peer sent
 * without shipping the bytes around or keeping them in memory.
 *
 * Byte i of stream `phase` is PATTERN[(phase + i) % PERIOD]. PERIOD is prime, so two streams
 * with different phases never line up by accident, and a dropped, repeated or reordered chunk
 * shows up at the first byte it moves.
 */
import { createHash } from 'node:crypto';

export const PERIOD = 1_048_573;

/** Knuth's multiplicative hash, high byte: the same integer arithmetic in TypeScript and python. */
function patternByte(j: number): number {
  return Math.floor((j * 2654435761) / 16777216) % 256;
}

/** Two periods back to back, so any slice of up to PERIOD bytes is one contiguous copy. */
const PATTERN = (() => {
  const bytes = new Uint8Array(PERIOD * 2);
  for (let j = 0; j < PERIOD; j++) bytes[j] = patternByte(j);
  bytes.copyWithin(PERIOD, 0, PERIOD);
  return bytes;
})();

/** Bytes [from, from + length) of stream `phase`. */
export function streamBytes(phase: number, from: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const start = (phase + from + done) % PERIOD;
    const n = Math.min(length - done, PERIOD);
    out.set(PATTERN.subarray(start, start + n), done);
    done += n;
  }
  return out;
}

/** sha256 of the first `length` bytes of stream `phase`, computed a period at a time. */
export function streamHash(phase: number, length: number): string {
  const hash = createHash('sha256');
  for (let from = 0; from < length; from += PERIOD) {
    const n = Math.min(PERIOD, length - from);
    const start = (phase + from) % PERIOD;
    hash.update(PATTERN.subarray(start, start + n));
  }
  return hash.digest('hex');
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Where `bytes`, claimed to start at offset `from` of stream `phase`, first differs from it; -1
 * when they match.
 */
export function firstMismatch(phase: number, from: number, bytes: Uint8Array): number {
  let done = 0;
  while (done < bytes.length) {
    const start = (phase + from + done) % PERIOD;
    const n = Math.min(bytes.length - done, PERIOD);
    const expected = PATTERN.subarray(start, start + n);
    const actual = bytes.subarray(done, done + n);
    if (!Buffer.from(expected.buffer, expected.byteOffset, n).equals(actual)) {
      for (let i = 0; i < n; i++) if (expected[i] !== actual[i]) return done + i;
    }
    done += n;
  }
  return -1;
}

/** The same stream in python3: `stream_slice(phase, offset, n)` gives bytes. */
export const PYTHON_STREAM = `
PERIOD = ${PERIOD}
_pattern = bytes(((j * 2654435761) >> 24) & 255 for j in range(PERIOD))
_pattern2 = _pattern + _pattern

def stream_slice(phase, offset, n):
    out = bytearray()
    while n > 0:
        start = (phase + offset) % PERIOD
        k = min(n, PERIOD)
        out += _pattern2[start:start + k]
        offset += k
        n -= k
    return bytes(out)
`;
