/**
 * Capture queries (../../../../shared/design.md: "capture query"): find over one endpoint's
 * whole capture, by capture offset, in the engine, so that no view ever pulls a whole capture to
 * search it (copy is capture-copy.ts). Node only, never electron.
 *
 * Both stream the capture block by block (CaptureStore.readBlock: from memory where the chunks
 * still are, else from the capture files), never holding more than a block and a small carry,
 * and turn the event loop between blocks, so that every other connection and page is served
 * while a long query runs. A find is cancelled between blocks (CANCELLED).
 *
 * Offsets: an endpoint's capture offsets count both directions in the order they happened
 * (CaptureChunk.offset). Direction 'both' searches that one stream; 'in' or 'out' searches the
 * stream of that direction's bytes alone, so a match may span chunks with the other direction's
 * chunks between them, and its `offset` and `end` are still capture offsets (its first byte's,
 * and just past its last byte's).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { RE2JS, RE2JSException } from 're2js';
import { type CommandOutput, type TextEncoding, type ValidInput } from '../../shared/contract';
import { WorkbenchError } from '../../shared/errors';
import type { ValidPayload } from '../../shared/payload';
import type { CaptureBlock, CaptureStore, Direction } from './capture';
import { DEFAULT_QUERY_LIMITS, readBlockSafely, type QueryLimits } from './capture-blocks';
import { decodedByteLength, DirectionDecoder, utf8ByteLength } from './decoded-text';

type FindInput = ValidInput<'capture.find'>;
type FindOutput = CommandOutput<'capture.find'>;
type Match = FindOutput['matches'][number];

/**
 * The longest regex match (in UTF-16 code units of decoded text) that is surely found whole
 * where it spans block edges: the text of a block's last this many characters is searched
 * again with the next block. A match that would be longer is cut where a block's text ends.
 */
/** The longest a regex scan runs before its page ends and the event loop gets a turn (ms). */
const REGEX_SLICE_MS = 20;

export const REGEX_MAX_MATCH_CHARS = 4096;
/** Characters kept before a regex search's first position, for `^`, `\b` and the like. */
const REGEX_CONTEXT_CHARS = 16;
/** Bytes read before a page's `from` for that context. */
const REGEX_CONTEXT_BYTES = 64;
/**
 * Stands after a block's text while more text follows, so that `$` and `\z` do not match at a
 * block's end. A noncharacter: only a long match, cut there anyway, can take it in.
 */
const NOT_THE_END = '\uffff';

// ---------------------------------------------------------------------------------------------
// Find
// ---------------------------------------------------------------------------------------------

/**
 * One page of capture.find: matches from `input.from` (or keptFrom, if later) on, up to the
 * capture's end as it was when the page began (its live tail is for the next search).
 */
export async function findInCapture(
  store: CaptureStore,
  input: FindInput,
  signal: AbortSignal,
  encodePayload: (payload: ValidPayload) => Uint8Array,
  limits: QueryLimits = DEFAULT_QUERY_LIMITS,
): Promise<FindOutput> {
  // Before reading anything: a bad pattern or payload is the answer at once.
  const searcher: Searcher =
    input.find.kind === 'payload'
      ? new BytesSearcher(
          needleOf(encodePayload(input.find.payload)),
          input.find.ignoreCase,
          limits.blockBytes,
          limits.pageScanBytes,
        )
      : new TextSearcher(
          compilePattern(input.find.pattern, input.find.ignoreCase),
          input.find.encoding,
          limits.regexBlockBytes,
          limits.regexPageScanBytes,
        );
  try {
    return await searchPage(store, input, signal, searcher);
  } finally {
    giveBackBuffer(searcher.buffer);
  }
}

async function searchPage(
  store: CaptureStore,
  input: FindInput,
  signal: AbortSignal,
  searcher: Searcher,
): Promise<FindOutput> {
  const dir = input.direction === 'both' ? undefined : input.direction;
  const limit = store.totalBytes;
  const page = new Page(input.maxMatches);
  const answer = (next: number | null, searchedTo: number): FindOutput => ({
    matches: page.matches,
    next,
    searchedTo,
    totalBytes: store.totalBytes,
    keptFrom: store.keptFrom,
  });

  const start = Math.max(input.from, store.keptFrom);
  let offset = start;
  if (offset >= limit) return answer(null, Math.max(offset, limit));
  if (offset > store.keptFrom && searcher.contextBytes > 0) {
    const from = Math.max(store.keptFrom, offset - searcher.contextBytes);
    searcher.takeContext(readBlockSafely(store, from, offset, searcher.buffer, 0, dir));
  }
  let scanned = 0;
  for (;;) {
    throwIfStopped(signal, store);
    let block = readBlockSafely(store, offset, limit, searcher.buffer, searcher.room, dir);
    if (block.start > offset) {
      // The capture limit deleted bytes while the search waited: no match spans the gap, and
      // the block is read again in front of no carry (rare: a block read twice).
      searcher.forgetCarry();
      block = readBlockSafely(store, block.start, limit, searcher.buffer, searcher.room, dir);
    }
    const final = block.end >= limit;
    searcher.scan(block, final, page);
    if (page.full) return answer(page.lastEnd, page.lastEnd);
    scanned += block.end - offset;
    offset = block.end;
    if (searcher.takeOutOfTime?.()) {
      // Where the scan stopped is past where this page began: the next page goes on from there.
      const next = searcher.resumeAt(offset);
      return answer(next, next);
    }
    if (final) return answer(null, limit);
    if (scanned >= searcher.pageScanBytes) {
      // The next page goes back over the carry; it must still begin later than this one did.
      const next = searcher.resumeAt(offset);
      if (next > start) return answer(next, offset);
    }
    await yieldToEventLoop();
  }
}

/**
 * The block buffer of the last search that ended, for the next one: a search of many pages (or
 * one search after another) then reuses one buffer instead of leaving a block-sized buffer
 * per page for the garbage collector. One is kept at most; concurrent searches get their own.
 */
let spareBuffer: Buffer | null = null;

function takeBuffer(size: number): Buffer {
  const spare = spareBuffer;
  if (spare && spare.byteLength === size) {
    spareBuffer = null;
    return spare;
  }
  return Buffer.allocUnsafe(size);
}

function giveBackBuffer(buffer: Buffer): void {
  spareBuffer = buffer;
}

/** The matches of one page, up to its size. */
class Page {
  readonly matches: Match[] = [];

  constructor(private readonly size: number) {}

  get full(): boolean {
    return this.matches.length >= this.size;
  }

  /** Just past the last match: where the next page goes on. */
  get lastEnd(): number {
    return (this.matches.at(-1) as Match).end;
  }

  add(offset: number, end: number): void {
    this.matches.push({ offset, end });
  }
}

/** One kind of search, fed block after block. */
interface Searcher {
  /** Where blocks are read to; the searcher keeps its carry in front of `room`. */
  readonly buffer: Buffer;
  /** Where in `buffer` the next block goes. */
  readonly room: number;
  /** Bytes before a page's start to read as context (never searched). */
  readonly contextBytes: number;
  /** A page ends after scanning this much. */
  readonly pageScanBytes: number;
  takeContext(block: CaptureBlock): void;
  /** Searches the block (with the carry from the blocks before); stops once the page is full. */
  scan(block: CaptureBlock, final: boolean, page: Page): void;
  /** The bytes before the next block are not what came before it. */
  forgetCarry(): void;
  /** Where a page that ends after the block ending at `end` must make the next one start. */
  resumeAt(end: number): number;
  /** True once after a scan that stopped early to give the event loop its turn. */
  takeOutOfTime?(): boolean;
}

function throwIfStopped(signal: AbortSignal, store: CaptureStore): void {
  if (signal.aborted) throw new WorkbenchError('CANCELLED', 'The search was stopped');
  if (store.isReleased) {
    throw new WorkbenchError('UNKNOWN_ENDPOINT', 'The endpoint was forgotten during the search');
  }
}

/**
 * Where each byte of a window (a buffer, or a direction's byte stream) is in the capture: one
 * entry per run of bytes that are contiguous in both.
 */
class OffsetMap {
  private positions: number[] = [];
  private offsets: number[] = [];

  /** Bytes at `position` on, `length` of them, are capture bytes from `offset` on. */
  add(position: number, offset: number, length: number): void {
    const last = this.positions.length - 1;
    if (length === 0) return;
    if (
      last >= 0 &&
      (this.offsets[last] as number) - (this.positions[last] as number) === offset - position
    ) {
      return; // continues the last run
    }
    this.positions.push(position);
    this.offsets.push(offset);
  }

  /** The capture offset of the byte at `position` (before the first run: the first run's start). */
  offsetAt(position: number): number {
    let low = 0;
    let high = this.positions.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if ((this.positions[mid] as number) <= position) low = mid;
      else high = mid - 1;
    }
    const runStart = this.positions[low] as number;
    return (this.offsets[low] as number) + Math.max(0, position - runStart);
  }

  /** Forgets the runs that end before `position`. */
  dropBefore(position: number): void {
    let keep = 0;
    while (keep + 1 < this.positions.length && (this.positions[keep + 1] as number) <= position) {
      keep += 1;
    }
    if (keep > 0) {
      this.positions = this.positions.slice(keep);
      this.offsets = this.offsets.slice(keep);
    }
  }

  /** Positions move down by `by` (the window's carry moved to its front). */
  shift(by: number): void {
    this.dropBefore(by);
    if (this.positions.length === 0) return;
    // The first run may begin before the new front: it then begins there.
    const first = this.positions[0] as number;
    if (first < by) {
      this.offsets[0] = (this.offsets[0] as number) + (by - first);
      this.positions[0] = by;
    }
    for (let i = 0; i < this.positions.length; i++) {
      this.positions[i] = (this.positions[i] as number) - by;
    }
  }

  clear(): void {
    this.positions = [];
    this.offsets = [];
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes (a payload)
// ---------------------------------------------------------------------------------------------

function needleOf(bytes: Uint8Array): Buffer {
  if (bytes.byteLength === 0) {
    throw new WorkbenchError('INVALID_INPUT', 'Nothing to find: the payload has no bytes');
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** ASCII lowercase of every byte: A-Z become a-z, every other byte stays itself. */
const ASCII_LOWER = Uint8Array.from({ length: 256 }, (_, byte) =>
  byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte,
);

/**
 * Lowercases the ASCII letters of bytes[from, to) in place, four bytes at a time where aligned
 * (SWAR: each byte's high bit says whether it is in A-Z, and becomes its 0x20 bit).
 */
function foldAsciiCase(bytes: Uint8Array, from: number, to: number): void {
  const fold = (i: number) => (bytes[i] = ASCII_LOWER[bytes[i] as number] as number);
  const absolute = bytes.byteOffset;
  let i = from;
  while (i < to && (absolute + i) % 4 !== 0) fold(i++);
  const words = Math.floor((to - i) / 4);
  const view = new Uint32Array(bytes.buffer, absolute + i, words);
  for (let w = 0; w < words; w++) {
    const x = view[w] as number;
    const low7 = x & 0x7f7f7f7f;
    const atLeastA = low7 + 0x3f3f3f3f; // high bit set where the byte is 0x41 or more
    const aboveZ = low7 + 0x25252525; // high bit set where the byte is above 0x5a
    const upper = (atLeastA ^ aboveZ) & ~x & 0x80808080;
    view[w] = x | (upper >>> 2);
  }
  for (i += words * 4; i < to; i++) fold(i);
}

/**
 * Finds a byte string with Buffer.indexOf over whole blocks (the fast path), the last
 * needle-length-minus-one bytes of each block carried in front of the next one so that a
 * match across chunk and block edges is found. Matches do not overlap: after one, the search
 * goes on past its end, leftmost first, as grep and a text editor's find do ("aa" in "aaaa" is
 * found at 0 and 2). With ignoreCase, ASCII letters match either case (both sides are folded to
 * lowercase); every other byte matches only itself.
 */
class BytesSearcher implements Searcher {
  readonly buffer: Buffer;
  readonly contextBytes = 0;
  private readonly needle: Buffer;
  private readonly fold: boolean;
  /** Bytes of the blocks before, carried at the front of the buffer. */
  private carried = 0;
  /** Where each byte in the buffer is in the capture. */
  private readonly map = new OffsetMap();

  constructor(
    needle: Buffer,
    ignoreCase: boolean,
    blockBytes: number,
    readonly pageScanBytes: number,
  ) {
    // Folding costs a pass over every byte: only when the needle has letters at all.
    this.fold = ignoreCase && needle.some((byte) => isAsciiLetter(byte));
    this.needle = this.fold
      ? Buffer.from(needle.map((byte) => ASCII_LOWER[byte] as number))
      : needle;
    this.buffer = takeBuffer(needle.byteLength - 1 + blockBytes);
  }

  get room(): number {
    return this.carried;
  }

  takeContext(): void {}

  scan(block: CaptureBlock, _final: boolean, page: Page): void {
    for (const piece of block.pieces) this.map.add(piece.at, piece.offset, piece.length);
    const windowEnd = this.carried + block.bytes;
    if (this.fold) foldAsciiCase(this.buffer, this.carried, windowEnd);
    const window = this.buffer.subarray(0, windowEnd);
    const length = this.needle.byteLength;
    let from = 0;
    for (
      let at = window.indexOf(this.needle, from);
      at >= 0;
      at = window.indexOf(this.needle, from)
    ) {
      page.add(this.map.offsetAt(at), this.map.offsetAt(at + length - 1) + 1);
      from = at + length;
      if (page.full) return;
    }
    // A match may still begin in the last length-1 bytes (not before the last match's end).
    const keepFrom = Math.max(from, windowEnd - (length - 1));
    this.buffer.copyWithin(0, keepFrom, windowEnd);
    this.map.shift(keepFrom);
    this.carried = windowEnd - keepFrom;
  }

  forgetCarry(): void {
    this.carried = 0;
    this.map.clear();
  }

  resumeAt(end: number): number {
    return this.carried > 0 ? this.map.offsetAt(0) : end;
  }
}

function isAsciiLetter(byte: number): boolean {
  return (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
}

// ---------------------------------------------------------------------------------------------
// Regex (RE2 over decoded text)
// ---------------------------------------------------------------------------------------------

/** RE2 (re2js): linear time, so no pattern can hold the engine, however the bytes look. */
function compilePattern(pattern: string, ignoreCase: boolean): RE2JS {
  try {
    return RE2JS.compile(pattern, ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (error) {
    if (!(error instanceof RE2JSException)) throw error;
    const message = error.message.replace(/^error parsing regexp: /, '');
    throw new WorkbenchError('BAD_PATTERN', `Not a pattern RE2 takes: ${message}`);
  }
}

/** A run of the window's text decoded from one chunk (or part of one). */
interface TextSegment {
  /** Where it starts in the window's text. */
  textStart: number;
  dir: Direction;
  /** Where its first character's first byte is in its direction's byte stream. */
  position: number;
  /** UTF-8: its bytes, from `position` on (see DecodedPiece). */
  bytes: Uint8Array | null;
}

/**
 * Finds an RE2 pattern in the capture decoded in an encoding: each direction through its own
 * streaming decoder (a character split across chunks is whole), the text searched in capture
 * order. A match's character positions map back to capture offsets through the bytes each
 * character took (decoded-text.ts). Each block's text is searched together with the last
 * REGEX_MAX_MATCH_CHARS characters of the text before it; a match must begin before the last
 * that many characters to be taken, else the next block looks again with more text after it.
 * Empty matches (`x*` where there is no x) mark no bytes and are not reported.
 */
class TextSearcher implements Searcher {
  readonly buffer: Buffer;
  readonly room = 0;
  readonly contextBytes = REGEX_CONTEXT_BYTES;
  private readonly decoders: Record<Direction, DirectionDecoder>;
  /** Per direction: where its byte stream's bytes are in the capture. */
  private readonly streams = { in: new OffsetMap(), out: new OffsetMap() };
  /** The window's text, where each part came from, and where a match may begin in it. */
  private text = '';
  private segments: TextSegment[] = [];
  private searchFrom = 0;
  private outOfTime = false;
  /** The last position mapped, to count on from there: matches come in order. */
  private cursor = { segment: -1, char: 0, position: 0 };

  constructor(
    private readonly pattern: RE2JS,
    private readonly encoding: TextEncoding,
    blockBytes: number,
    readonly pageScanBytes: number,
  ) {
    this.buffer = takeBuffer(blockBytes);
    this.decoders = { in: new DirectionDecoder(encoding), out: new DirectionDecoder(encoding) };
  }

  takeContext(block: CaptureBlock): void {
    this.decodeBlock(block);
    this.searchFrom = this.text.length;
  }

  scan(block: CaptureBlock, final: boolean, page: Page): void {
    this.decodeBlock(block);
    const text = this.text;
    // Matches beginning from here on are left for the next block, which has more text after them.
    const tail = final ? text.length : Math.max(0, text.length - REGEX_MAX_MATCH_CHARS);
    const matcher = this.pattern.matcher(final ? text : text + NOT_THE_END);
    const deadline = performance.now() + REGEX_SLICE_MS;
    let next = this.searchFrom;
    for (let found = matcher.find(next); found; found = matcher.find()) {
      const start = matcher.start();
      if (start >= tail && !final) break;
      const end = Math.min(matcher.end(), text.length);
      if (end > start) {
        page.add(this.captureOffsetOf(start), this.captureEndOf(end));
        next = end;
        if (page.full) return;
      }
      // RE2 is linear per find, but a page of finds over a block is not: past the slice, the
      // page ends here and the next one goes on (the event loop and a cancel get their turn).
      if (performance.now() > deadline) {
        this.keepFrom(Math.max(next, Math.min(start + 1, text.length)));
        this.outOfTime = true;
        return;
      }
    }
    this.keepFrom(Math.max(next, tail));
  }

  /** True once after a scan that ran out of its time slice. */
  takeOutOfTime(): boolean {
    const out = this.outOfTime;
    this.outOfTime = false;
    return out;
  }

  forgetCarry(): void {
    for (const dir of ['in', 'out'] as const) {
      // What the decoders hold back belongs to bytes that are gone.
      this.decoders[dir].restart();
      this.streams[dir].clear();
    }
    this.text = '';
    this.segments = [];
    this.searchFrom = 0;
    this.cursor = { segment: -1, char: 0, position: 0 };
  }

  resumeAt(end: number): number {
    return this.searchFrom < this.text.length ? this.captureOffsetOf(this.searchFrom) : end;
  }

  /** Appends the block's text, each piece through its direction's decoder. */
  private decodeBlock(block: CaptureBlock): void {
    const parts: string[] = [this.text];
    let length = this.text.length;
    for (const piece of block.pieces) {
      const decoder = this.decoders[piece.dir];
      this.streams[piece.dir].add(decoder.position, piece.offset, piece.length);
      const decoded = decoder.decode(this.buffer.subarray(piece.at, piece.at + piece.length));
      if (decoded.text.length === 0) continue;
      const { position, bytes } = decoded;
      this.segments.push({ textStart: length, dir: piece.dir, position, bytes });
      parts.push(decoded.text);
      length += decoded.text.length;
    }
    this.text = parts.join('');
  }

  /** Keeps the text from `char` on (and a little before it, as context) for the next block. */
  private keepFrom(char: number): void {
    let cut = Math.max(0, char - REGEX_CONTEXT_CHARS);
    if (cut > 0 && isLowSurrogate(this.text.charCodeAt(cut))) cut -= 1;
    this.searchFrom = char - cut;
    if (cut > 0) this.dropText(cut);
    for (const segment of this.segments) {
      // The block's buffer is read into again: bytes kept must be a copy (a Buffer's slice()
      // is a view; the Uint8Array constructor copies).
      if (segment.bytes?.buffer === this.buffer.buffer)
        segment.bytes = new Uint8Array(segment.bytes);
    }
  }

  /** Forgets the text before `cut`, and what it came from. */
  private dropText(cut: number): void {
    const position = this.positionOf(cut);
    const segments = this.segments.slice(this.segmentAt(cut));
    const head = segments[0] as TextSegment;
    const bytes = head.bytes?.subarray(position - head.position) ?? null;
    segments[0] = { ...head, textStart: cut, position, bytes };
    for (const segment of segments) segment.textStart -= cut;
    this.segments = segments;
    this.text = this.text.slice(cut);
    this.cursor = { segment: -1, char: 0, position: 0 };
    // Bytes before the kept text's (and before what a decoder may hold back) are not needed.
    for (const dir of ['in', 'out'] as const) {
      const kept = segments.find((segment) => segment.dir === dir);
      const held = this.decoders[dir].oldestHeld;
      this.streams[dir].dropBefore(Math.min(kept?.position ?? held, held));
    }
  }

  /** The segment holding character `char`. */
  private segmentAt(char: number): number {
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if ((this.segments[mid] as TextSegment).textStart <= char) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /** Where character `char` begins in its direction's byte stream. */
  private positionOf(char: number): number {
    const index = this.segmentAt(char);
    const segment = this.segments[index] as TextSegment;
    // Counting on from the last position mapped keeps a page of many matches linear.
    const from =
      this.cursor.segment === index && this.cursor.char <= char
        ? this.cursor
        : { char: segment.textStart, position: segment.position };
    const position = from.position + this.byteLength(segment, from, char);
    this.cursor = { segment: index, char, position };
    return position;
  }

  /** Bytes that the segment's text from `from` (at its position) to `to` was decoded from. */
  private byteLength(
    segment: TextSegment,
    from: { char: number; position: number },
    to: number,
  ): number {
    if (!segment.bytes) return decodedByteLength(this.text, from.char, to, this.encoding);
    const at = from.position - segment.position;
    return utf8ByteLength(this.text, from.char, to, segment.bytes, at);
  }

  private captureOffsetOf(char: number): number {
    const segment = this.segments[this.segmentAt(char)] as TextSegment;
    return this.streams[segment.dir].offsetAt(this.positionOf(char));
  }

  /** Just past the last byte of the character before `end`. */
  private captureEndOf(end: number): number {
    const last = end >= 2 && isLowSurrogate(this.text.charCodeAt(end - 1)) ? end - 2 : end - 1;
    const segment = this.segments[this.segmentAt(last)] as TextSegment;
    const position = this.positionOf(last);
    const lastByte = position + this.byteLength(segment, { char: last, position }, end) - 1;
    return this.streams[segment.dir].offsetAt(Math.max(0, lastByte)) + 1;
  }
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}
