/**
 * Capture queries in the engine (capture-query.ts): find (bytes and RE2 regex) and copy over an
 * endpoint's whole capture, by offset, with real loopback peers. Every find is checked against
 * a naive search over the whole capture read back with capture.read; block edges are put
 * everywhere by tiny query blocks as well as tested at their real size.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { utf8ByteLength, utf8HeldBytes } from '../../src/main/engine/decoded-text';
import { Engine } from '../../src/main/engine/engine';
import {
  commands,
  COPY_MAX_BYTES,
  type CommandInput,
  type CommandOutput,
  type FindQuery,
  type ValidInput,
} from '../../src/shared/contract';
import { decodeText, toBase64, toCArray, toHex } from '../../src/shared/format';
import { connectLocalTcp, cleanupsAfterEach, enginesDisposedWith } from '../support/engine';
import { portOf } from '../support/engine-helpers';
import { connectPeer, tempDir } from '../support/peers';
import { rejection, waitForEndpoint, waitUntil } from '../support/wait';

const MiB = 1024 * 1024;
type Match = CommandOutput<'capture.find'>['matches'][number];
type Direction = 'both' | 'in' | 'out';

const cleanups = cleanupsAfterEach();
const newEngine = enginesDisposedWith(cleanups);

/** Small blocks, so that block edges fall everywhere (between and inside chunks). */
const TINY_BLOCKS = { blockBytes: 7, regexBlockBytes: 5, pageScanBytes: 64 * MiB };

/**
 * An accepted TCP connection in the engine and the node:net peer on its other end. Each write
 * waits until the engine has captured it, so every write starts a new chunk.
 */
async function connection(engine: Engine) {
  const listener = await engine.listenTcp(
    commands['tcp.listen'].input.parse({ host: '127.0.0.1', port: 0 }),
  );
  const peer = await connectPeer({ host: '127.0.0.1', port: portOf(listener) });
  cleanups.push(() => peer.socket.destroy());
  const { id } = await waitForEndpoint(engine, 'accepted', (e) => e.parentId === listener.id);
  const captured = (dir: 'in' | 'out') =>
    dir === 'in' ? engine.info(id).counters.bytesIn : engine.info(id).counters.bytesOut;
  return {
    id,
    /** The peer sends `bytes` to the engine (direction 'in'). */
    async fromPeer(bytes: Uint8Array | string): Promise<void> {
      const data = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
      const want = captured('in') + data.byteLength;
      peer.socket.write(data);
      await waitUntil('the peer bytes captured', () => captured('in') >= want, 60_000);
    },
    /** The engine sends `bytes` to the peer (direction 'out'). */
    async toPeer(bytes: Uint8Array | string): Promise<void> {
      const data = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
      const want = captured('out') + data.byteLength;
      engine.send(id, { format: 'base64', data: data.toString('base64'), encoding: 'utf-8' });
      await waitUntil('the sent bytes captured', () => captured('out') >= want, 60_000);
    },
  };
}

/** One direction's bytes (or both, in capture order), with each byte's capture offset. */
function captureStream(engine: Engine, id: string, direction: Direction) {
  const { totalBytes, keptFrom } = engine.readCapture(id, 0, 1);
  const parts: Buffer[] = [];
  const starts: Array<{ at: number; offset: number }> = [];
  let length = 0;
  for (let offset = keptFrom; offset < totalBytes; offset += 4 * MiB) {
    for (const chunk of engine.readCapture(id, offset, 4 * MiB).chunks) {
      if (direction !== 'both' && chunk.dir !== direction) continue;
      starts.push({ at: length, offset: chunk.offset });
      parts.push(Buffer.from(chunk.bytes));
      length += chunk.bytes.byteLength;
    }
  }
  const offsets = new Float64Array(length);
  for (const [i, start] of starts.entries()) {
    const end = starts[i + 1]?.at ?? length;
    for (let at = start.at; at < end; at++) offsets[at] = start.offset + (at - start.at);
  }
  return { bytes: Buffer.concat(parts), offsets, keptFrom, totalBytes };
}

const lower = (bytes: Buffer) =>
  Buffer.from(bytes.map((b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b)));

/** Leftmost, non-overlapping matches of `needle`, the slow obvious way. */
function naiveFind(
  engine: Engine,
  id: string,
  needle: Buffer,
  options: { direction?: Direction; ignoreCase?: boolean } = {},
): Match[] {
  const stream = captureStream(engine, id, options.direction ?? 'both');
  const haystack = options.ignoreCase ? lower(stream.bytes) : stream.bytes;
  const wanted = options.ignoreCase ? lower(needle) : needle;
  const matches: Match[] = [];
  for (let i = 0; i + wanted.length <= haystack.length;) {
    if (haystack.subarray(i, i + wanted.length).equals(wanted)) {
      matches.push({
        offset: stream.offsets[i] as number,
        end: (stream.offsets[i + wanted.length - 1] as number) + 1,
      });
      i += wanted.length;
    } else {
      i += 1;
    }
  }
  return matches;
}

/** The contract's validated input, as the router hands it to the engine. */
function findInput(
  id: string,
  find: FindQuery,
  extra: Partial<CommandInput<'capture.find'>> = {},
): ValidInput<'capture.find'> {
  return commands['capture.find'].input.parse({ query: 1, id, find, maxMatches: 1000, ...extra });
}

function copyInput(id: string, extra: Partial<CommandInput<'capture.copy'>>) {
  return commands['capture.copy'].input.parse({
    query: 1,
    id,
    from: 0,
    to: 1e15,
    format: 'hex',
    ...extra,
  });
}

const never = new AbortController().signal;

/** Every match from `from` on, page after page, checking that pages go forward. */
async function findAll(
  engine: Engine,
  input: ValidInput<'capture.find'>,
): Promise<{ matches: Match[]; pages: CommandOutput<'capture.find'>[] }> {
  const pages: CommandOutput<'capture.find'>[] = [];
  let from = input.from;
  for (;;) {
    const page = await engine.findInCapture({ ...input, from }, never);
    pages.push(page);
    expect(page.matches.length).toBeLessThanOrEqual(input.maxMatches);
    if (page.next === null) break;
    expect(page.next).toBeGreaterThan(from);
    from = page.next;
  }
  return { matches: pages.flatMap((page) => page.matches), pages };
}

const text = (data: string, encoding: 'utf-8' | 'gbk' = 'utf-8') =>
  ({ kind: 'payload', payload: { format: 'text', data, encoding } }) as const;

const regex = (pattern: string, extra: Record<string, unknown> = {}) =>
  ({ kind: 'regex', pattern, ...extra }) as FindQuery;

describe('capture.find: bytes', () => {
  it('finds a needle the peer wrote in two writes, across the chunk boundary', async () => {
    for (const queryLimits of [undefined, TINY_BLOCKS]) {
      const engine = newEngine({ queryLimits });
      const conn = await connection(engine);
      await conn.fromPeer('xxxxNEE');
      await conn.fromPeer('DLEyyyyNEEDLE');
      await conn.toPeer('zzNEEDLEzz');
      await conn.fromPeer('NEEDL');
      await conn.fromPeer('E');
      const expected = naiveFind(engine, conn.id, Buffer.from('NEEDLE'));
      expect(expected).toEqual([
        { offset: 4, end: 10 },
        { offset: 14, end: 20 },
        { offset: 22, end: 28 },
        { offset: 30, end: 36 },
      ]);
      const page = await engine.findInCapture(findInput(conn.id, text('NEEDLE')), never);
      expect(page).toEqual({
        matches: expected,
        next: null,
        searchedTo: 36,
        totalBytes: 36,
        keptFrom: 0,
      });
    }
  });

  it('reports overlapping occurrences leftmost first, without overlap, like grep', async () => {
    const engine = newEngine({ queryLimits: TINY_BLOCKS });
    const conn = await connection(engine);
    await conn.fromPeer('aaa');
    await conn.fromPeer('aab');
    const { matches } = await findAll(engine, findInput(conn.id, text('aa')));
    expect(matches).toEqual([
      { offset: 0, end: 2 },
      { offset: 2, end: 4 },
    ]);
  });

  it('finds text in gbk, a character split across two chunks', async () => {
    for (const queryLimits of [undefined, TINY_BLOCKS]) {
      const engine = newEngine({ queryLimits });
      const conn = await connection(engine);
      const bytes = iconv.encode('你好，世界！hello 世界', 'gbk');
      const split = bytes.indexOf(iconv.encode('世', 'gbk')) + 1; // inside 世
      await conn.fromPeer(bytes.subarray(0, split));
      await conn.fromPeer(bytes.subarray(split));
      const needle = iconv.encode('世界', 'gbk');
      const expected = naiveFind(engine, conn.id, needle);
      expect(expected.length).toBe(2);
      const page = await engine.findInCapture(findInput(conn.id, text('世界', 'gbk')), never);
      expect(page.matches).toEqual(expected);
    }
  });

  it('ignores the case of ASCII letters only', async () => {
    for (const queryLimits of [undefined, TINY_BLOCKS]) {
      const engine = newEngine({ queryLimits });
      const conn = await connection(engine);
      await conn.fromPeer('Hello HELLO he');
      await conn.toPeer('llo hElLo ');
      await conn.fromPeer(Buffer.from([0xc8, 0x20, 0xe8, 0x20, 0x48, 0x45, 0x4c]));
      await conn.fromPeer('lo');
      const find = (data: string, ignoreCase: boolean, format: 'text' | 'hex' = 'text') =>
        engine.findInCapture(
          findInput(conn.id, { kind: 'payload', payload: { format, data }, ignoreCase }),
          never,
        );
      const insensitive = await find('hello', true);
      expect(insensitive.matches).toEqual(
        naiveFind(engine, conn.id, Buffer.from('hello'), { ignoreCase: true }),
      );
      expect(insensitive.matches.length).toBe(5);
      expect((await find('hello', false)).matches.length).toBe(1);
      // È (0xc8) and è (0xe8) differ only in bit 5, like A and a: not letters to ASCII.
      expect((await find('c8', true, 'hex')).matches).toEqual([{ offset: 24, end: 25 }]);
      expect((await find('e8', true, 'hex')).matches).toEqual([{ offset: 26, end: 27 }]);
      // Bytes that are not letters never fold: '@' (0x40) is not '`' (0x60).
      expect((await find('@', true)).matches).toEqual([]);
    }
  });

  it("searches one direction's stream alone, matches spanning the other's chunks", async () => {
    for (const queryLimits of [undefined, TINY_BLOCKS]) {
      const engine = newEngine({ queryLimits });
      const conn = await connection(engine);
      await conn.fromPeer('xa');
      await conn.toPeer('abc');
      await conn.fromPeer('bc');
      await conn.toPeer('a');
      await conn.fromPeer('abc');
      await conn.toPeer('bc');
      // in: "xabcabc"; out: "abcabc"; both: "xaabcbcaabcbc"
      const find = (direction: Direction) =>
        engine.findInCapture(findInput(conn.id, text('abc'), { direction }), never);
      const inOnly = await find('in');
      expect(inOnly.matches).toEqual([
        { offset: 1, end: 7 },
        { offset: 8, end: 11 },
      ]);
      expect(inOnly.matches).toEqual(
        naiveFind(engine, conn.id, Buffer.from('abc'), { direction: 'in' }),
      );
      const outOnly = await find('out');
      expect(outOnly.matches).toEqual([
        { offset: 2, end: 5 },
        { offset: 7, end: 13 },
      ]);
      expect(outOnly.matches).toEqual(
        naiveFind(engine, conn.id, Buffer.from('abc'), { direction: 'out' }),
      );
      expect((await find('both')).matches).toEqual(naiveFind(engine, conn.id, Buffer.from('abc')));
    }
  });

  it('pages: maxMatches 2 over 5 matches, together the full list, nothing twice', async () => {
    for (const queryLimits of [undefined, TINY_BLOCKS]) {
      const engine = newEngine({ queryLimits });
      const conn = await connection(engine);
      await conn.fromPeer('key=1;key');
      await conn.toPeer('=2;key=3');
      await conn.fromPeer(';ke');
      await conn.fromPeer('y=4;key=5;end');
      const whole = await engine.findInCapture(findInput(conn.id, text('key=')), never);
      expect(whole.matches).toEqual(naiveFind(engine, conn.id, Buffer.from('key=')));
      expect(whole.matches.length).toBe(5);

      const { matches, pages } = await findAll(
        engine,
        findInput(conn.id, text('key='), { maxMatches: 2 }),
      );
      expect(pages.map((page) => page.matches.length)).toEqual([2, 2, 1]);
      expect(pages[0]?.next).toBe(pages[0]?.matches[1]?.end);
      expect(matches).toEqual(whole.matches);
    }
  });

  it('ends a page after scanning its budget, and says where to go on', async () => {
    const engine = newEngine({
      queryLimits: {
        blockBytes: 1024,
        pageScanBytes: 4096,
        regexBlockBytes: 1024,
        regexPageScanBytes: 8192,
      },
    });
    const conn = await connection(engine);
    const filler = Buffer.alloc(40_000, 0x2e);
    filler.write('needle', 4093); // straddles the first page's end
    filler.write('needle', 15_000);
    filler.write('needle', 39_000);
    await conn.fromPeer(filler);
    const expected = naiveFind(engine, conn.id, Buffer.from('needle'));
    expect(expected.length).toBe(3);
    for (const find of [text('needle'), regex('ne+dle')]) {
      const { matches, pages } = await findAll(engine, findInput(conn.id, find));
      expect(matches).toEqual(expected);
      expect(pages.length).toBeGreaterThan(4);
      // A page that ends on its budget says how far it looked, and goes on a little before.
      expect(pages[0]?.searchedTo).toBeGreaterThanOrEqual(4096);
      expect(pages[0]?.next).toBeLessThanOrEqual(pages[0]?.searchedTo as number);
    }
  });

  it('searches a capture bigger than the memory budget, from disk', async () => {
    const engine = newEngine({ captureMemoryBytes: 1 * MiB });
    const conn = await connection(engine);
    const payload = randomBytes(8 * MiB);
    const needle = Buffer.from('<<needle-7a41f9>>');
    for (const at of [0, 65_530, 1 * MiB - 3, 3 * MiB + 17, 8 * MiB - needle.length]) {
      needle.copy(payload, at);
    }
    await conn.fromPeer(payload.subarray(0, 5 * MiB));
    await conn.toPeer(needle);
    await conn.fromPeer(payload.subarray(5 * MiB));
    await engine.flushCapture();
    expect(engine.status().capture.bytesInMemory).toBeLessThan(2 * MiB);

    const expected = naiveFind(engine, conn.id, needle);
    expect(expected.length).toBe(6);
    const { matches } = await findAll(engine, findInput(conn.id, text(needle.toString())));
    expect(matches).toEqual(expected);
    const inOnly = await findAll(
      engine,
      findInput(conn.id, text(needle.toString()), { direction: 'in' }),
    );
    expect(inOnly.matches).toEqual(naiveFind(engine, conn.id, needle, { direction: 'in' }));
    expect(inOnly.matches.length).toBe(5);
  });

  it('begins at keptFrom once the capture limit deleted the oldest part', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const engine = newEngine({
      captureDir: dir,
      captureMemoryBytes: 256 * 1024,
      capture: { limitBytes: 1 * MiB, floorBytes: 0 },
    });
    const conn = await connection(engine);
    const block = Buffer.alloc(64 * 1024, 0x2d);
    block.write('mark', 1000);
    block.write('ma', block.length - 2); // 'rk' opens the next block: across chunk edges too
    block.write('rk', 0);
    for (let i = 0; i < 48; i++) await conn.fromPeer(block);
    await engine.flushCapture();
    const { keptFrom } = engine.readCapture(conn.id, 0, 1);
    expect(keptFrom).toBeGreaterThan(0);

    const page = await engine.findInCapture(findInput(conn.id, text('mark')), never);
    expect(page.keptFrom).toBe(keptFrom);
    expect(page.matches[0]?.offset).toBeGreaterThanOrEqual(keptFrom);
    // The reference reads from keptFrom too: every kept match, and no gone one.
    expect(page.matches).toEqual(naiveFind(engine, conn.id, Buffer.from('mark')));
  });

  it('goes on at keptFrom when the limit deletes bytes while a search waits between blocks', async () => {
    for (const find of [text('mark'), regex('mar[k]')]) {
      const engine = newEngine({
        captureMemoryBytes: 256 * 1024,
        capture: { limitBytes: 64 * MiB, floorBytes: 0 },
        queryLimits: { blockBytes: 64 * 1024, regexBlockBytes: 64 * 1024 },
      });
      const conn = await connection(engine);
      const block = Buffer.alloc(64 * 1024, 0x2d);
      block.write('mark', 1000);
      for (let i = 0; i < 24; i++) await conn.fromPeer(block);
      await engine.flushCapture();
      const search = engine.findInCapture(findInput(conn.id, find), never);
      // The search has scanned its first block; lowered this far, the limit deletes everything.
      engine.configureCapture({ limitBytes: 1 * MiB });
      const page = await search;
      expect(page).toEqual({
        matches: [{ offset: 1000, end: 1004 }],
        next: null,
        searchedTo: 24 * block.length,
        totalBytes: 24 * block.length,
        keptFrom: 24 * block.length,
      });
    }
  });

  it('refuses an empty needle, and bad hex, plainly', async () => {
    const engine = newEngine();
    const conn = await connection(engine);
    await conn.fromPeer('abc');
    const empty = await rejection(engine.findInCapture(findInput(conn.id, text('')), never));
    expect(empty.code).toBe('INVALID_INPUT');
    expect(empty.message).toMatch(/nothing to find/i);
    const hex = await rejection(
      engine.findInCapture(
        findInput(conn.id, { kind: 'payload', payload: { format: 'hex', data: 'zz' } }),
        never,
      ),
    );
    expect(hex.code).toBe('BAD_HEX');
  });

  it('stops when cancelled, between blocks', async () => {
    const engine = newEngine({ queryLimits: { blockBytes: 64 * 1024 } });
    const conn = await connection(engine);
    await conn.fromPeer(Buffer.alloc(2 * MiB, 0x61));
    const stop = new AbortController();
    const search = engine.findInCapture(findInput(conn.id, text('not there')), stop.signal);
    // The search has read its first block and is waiting for its turn of the event loop.
    stop.abort();
    const error = await rejection(search);
    expect(error.code).toBe('CANCELLED');
    expect(error.message).toBe('The search was stopped');
    // Cancelled before it began: the same.
    const early = await rejection(
      engine.findInCapture(findInput(conn.id, text('not there')), stop.signal),
    );
    expect(early.code).toBe('CANCELLED');
  });
});

/** The capture decoded (as utf-8) with each character's capture offset, for regex references. */
function naiveRegex(engine: Engine, id: string, pattern: RegExp, direction: Direction = 'both') {
  const stream = captureStream(engine, id, direction);
  const decoded = stream.bytes.toString('utf8');
  const matches: Match[] = [];
  for (const m of decoded.matchAll(new RegExp(pattern.source, `${pattern.flags}g`))) {
    const start = Buffer.byteLength(decoded.slice(0, m.index));
    const length = Buffer.byteLength(m[0]);
    if (length === 0) continue;
    matches.push({
      offset: stream.offsets[start] as number,
      end: (stream.offsets[start + length - 1] as number) + 1,
    });
  }
  return matches;
}

describe('capture.find: regex (RE2)', () => {
  it('finds a match that spans two chunks', async () => {
    for (const queryLimits of [undefined, TINY_BLOCKS]) {
      const engine = newEngine({ queryLimits });
      const conn = await connection(engine);
      await conn.fromPeer('GET /ind');
      await conn.fromPeer('ex.html HTTP/1.1\r\nHost: a\r\n\r\n');
      await conn.toPeer('HTTP/1.1 200 OK\r\n\r\nhello');
      await conn.fromPeer('GET /b HTTP/1.0\r\n\r\n');
      const pattern = 'GET /\\S+ HTTP/1\\.[01]';
      const page = await engine.findInCapture(findInput(conn.id, regex(pattern)), never);
      expect(page.matches).toEqual([
        { offset: 0, end: 24 },
        { offset: 61, end: 76 },
      ]);
      expect(page.matches).toEqual(naiveRegex(engine, conn.id, new RegExp(pattern)));
      const status = await engine.findInCapture(
        findInput(conn.id, regex('http/\\d\\.\\d (\\d+)', { ignoreCase: true }), {
          direction: 'out',
        }),
        never,
      );
      expect(status.matches).toEqual([{ offset: 37, end: 49 }]);
    }
  });

  it('maps matches in utf-8 text, binary bytes and split characters to exact offsets', async () => {
    for (const queryLimits of [undefined, TINY_BLOCKS]) {
      const engine = newEngine({ queryLimits });
      const conn = await connection(engine);
      const bytes = Buffer.concat([
        Buffer.from('ünïcødé id=42 '),
        // Invalid UTF-8 of every kind: lone continuation, truncated sequences, overlong, F5+.
        Buffer.from([0x80, 0xe2, 0x82, 0x41, 0xc0, 0xaf, 0xf0, 0x9f, 0x98, 0xff, 0xed, 0xa0]),
        Buffer.from('id=7 😀 id=1234 '),
        Buffer.from([0xef, 0xbf, 0xbd]), // a real U+FFFD
        Buffer.from('id=99'),
      ]);
      // Written in pieces of 5 bytes: characters and invalid sequences split everywhere.
      for (let at = 0; at < bytes.length; at += 5) await conn.fromPeer(bytes.subarray(at, at + 5));
      const page = await engine.findInCapture(findInput(conn.id, regex('id=\\d+')), never);
      const expected = [42, 7, 1234, 99].map((n) => {
        const offset = bytes.indexOf(`id=${n}`);
        return { offset, end: offset + `id=${n}`.length };
      });
      expect(page.matches).toEqual(expected);
      // Each U+FFFD stands for the invalid bytes it replaced (WHATWG: a maximal subpart).
      const replaced = [
        [18, 19], // 80
        [19, 21], // e2 82, then 'A'
        [22, 23], // c0
        [23, 24], // af
        [24, 27], // f0 9f 98, then ff
        [27, 28], // ff
        [28, 29], // ed, then a0 (not a continuation of ed)
        [29, 30], // a0
      ].map(([offset, end]) => ({ offset, end }));
      const emoji = bytes.indexOf('😀');
      const real = bytes.indexOf(Buffer.from([0xef, 0xbf, 0xbd]));
      const found = await engine.findInCapture(findInput(conn.id, regex('😀|\\x{FFFD}')), never);
      expect(found.matches).toEqual([
        ...replaced,
        { offset: emoji, end: emoji + 4 },
        { offset: real, end: real + 3 },
      ]);
    }
  });

  it('decodes gbk per direction, a character split around the other direction', async () => {
    for (const queryLimits of [undefined, TINY_BLOCKS]) {
      const engine = newEngine({ queryLimits });
      const conn = await connection(engine);
      const bytes = iconv.encode('你好，世界！', 'gbk');
      const split = bytes.indexOf(iconv.encode('世', 'gbk')) + 1;
      await conn.fromPeer(bytes.subarray(0, split));
      await conn.toPeer('xyz');
      await conn.fromPeer(bytes.subarray(split));
      await conn.toPeer(iconv.encode('世界', 'gbk'));
      const page = await engine.findInCapture(
        findInput(conn.id, regex('世.', { encoding: 'gbk' })),
        never,
      );
      // In capture order: 你好，(世 from its first byte) xyz 界！ — the 'in' decoder makes 世界
      // once the second half came, after xyz in the text.
      const inStart = split - 1;
      expect(page.matches).toEqual([
        { offset: inStart, end: bytes.length + 3 - 2 },
        { offset: bytes.length + 3, end: bytes.length + 3 + 4 },
      ]);
      // The same bytes as a payload search of the 'in' stream finds.
      const payload = await engine.findInCapture(
        findInput(conn.id, text('世界', 'gbk'), { direction: 'in' }),
        never,
      );
      expect(payload.matches[0]).toEqual(page.matches[0]);
    }
  });

  it('pages through regex matches without losing or repeating any', async () => {
    const engine = newEngine({ queryLimits: TINY_BLOCKS });
    const conn = await connection(engine);
    for (let i = 0; i < 5; i++) await conn.fromPeer(`<msg id=${i}> `);
    const whole = await engine.findInCapture(findInput(conn.id, regex('<msg id=\\d+>')), never);
    expect(whole.matches.length).toBe(5);
    expect(whole.matches).toEqual(naiveRegex(engine, conn.id, /<msg id=\d+>/));
    const { matches, pages } = await findAll(
      engine,
      findInput(conn.id, regex('<msg id=\\d+>'), { maxMatches: 2 }),
    );
    expect(pages.map((page) => page.matches.length)).toEqual([2, 2, 1]);
    expect(matches).toEqual(whole.matches);
    // `^` is the capture's start, not a page's or a block's.
    const anchored = await findAll(engine, findInput(conn.id, regex('^<msg'), { maxMatches: 1 }));
    expect(anchored.matches).toEqual([{ offset: 0, end: 4 }]);
  });

  it('searches a capture bigger than the memory budget, from disk', async () => {
    const engine = newEngine({ captureMemoryBytes: 1 * MiB });
    const conn = await connection(engine);
    const lines: string[] = [];
    for (let i = 0, length = 0; length < 3 * MiB; i++) {
      lines.push(i % 997 === 0 ? `ERROR code=${i} at line ${i}\n` : `info line ${i} ok\n`);
      length += (lines.at(-1) as string).length;
    }
    const all = Buffer.from(lines.join(''));
    await conn.fromPeer(all);
    await engine.flushCapture();
    const { matches } = await findAll(engine, findInput(conn.id, regex('ERROR code=(\\d+)')));
    expect(matches).toEqual(naiveRegex(engine, conn.id, /ERROR code=(\d+)/));
    expect(matches.length).toBeGreaterThan(100);
  });

  it('refuses a pattern RE2 cannot take with BAD_PATTERN and its reason', async () => {
    const engine = newEngine();
    const conn = await connection(engine);
    await conn.fromPeer('abc');
    const missing = await rejection(engine.findInCapture(findInput(conn.id, regex('(a')), never));
    expect(missing.code).toBe('BAD_PATTERN');
    expect(missing.message).toBe('Not a pattern RE2 takes: missing closing ): `(a`');
    // Backreferences and lookahead need backtracking: RE2 has neither.
    for (const pattern of ['(a)\\1', 'a(?=b)']) {
      const error = await rejection(
        engine.findInCapture(findInput(conn.id, regex(pattern)), never),
      );
      expect(error.code).toBe('BAD_PATTERN');
    }
  });

  it('answers catastrophic patterns promptly, and the engine keeps serving meanwhile', async () => {
    const engine = newEngine();
    const conn = await connection(engine);
    await conn.fromPeer(`${'a'.repeat(100_000)}!`);
    // Each of these takes a backtracking engine longer than the universe has.
    const ddos = await engine.findInCapture(findInput(conn.id, regex('(a+)+$')), never);
    expect(ddos.matches).toEqual([]);
    const other = newEngine();
    const xs = await connection(other);
    await xs.fromPeer('x'.repeat(100_000));
    const nested = await other.findInCapture(findInput(xs.id, regex('(x+x+)+y')), never);
    expect(nested).toMatchObject({ matches: [], next: null });

    // Over 4 MiB, (a+)+$ takes many blocks: an echo on another connection is answered between
    // them, while the search still runs.
    await conn.fromPeer(`${'a'.repeat(4 * MiB)}!`);
    const sockets = new Set<net.Socket>();
    const echo = net.createServer((socket) => {
      sockets.add(socket);
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      echo.close();
    });
    const client = await connectLocalTcp(engine, (echo.address() as net.AddressInfo).port);
    const order: string[] = [];
    const search = engine.findInCapture(findInput(conn.id, regex('(a+)+$')), never).then((page) => {
      order.push('search');
      return page;
    });
    engine.send(client.id, { format: 'text', data: 'ping', encoding: 'utf-8' });
    await waitUntil('the echo', () => engine.info(client.id).counters.bytesIn === 4, 30_000);
    order.push('echo');
    expect((await search).matches).toEqual([]);
    expect(order).toEqual(['echo', 'search']);
  });
});

describe('capture.copy', () => {
  it('copies a range as text, hex, a C array and base64, both directions or one', async () => {
    for (const queryLimits of [undefined, TINY_BLOCKS]) {
      const engine = newEngine({ queryLimits });
      const conn = await connection(engine);
      const gbk = iconv.encode('你好世界', 'gbk');
      await conn.fromPeer(gbk.subarray(0, 3)); // 你 and half of 好
      await conn.toPeer('OK');
      await conn.fromPeer(gbk.subarray(3));
      await conn.toPeer(Buffer.from([0x00, 0x81, 0x10])); // 0x81 leads nothing valid here
      const all = captureStream(engine, conn.id, 'both').bytes;
      const inOnly = captureStream(engine, conn.id, 'in').bytes;

      const copy = (extra: Partial<CommandInput<'capture.copy'>>) =>
        engine.copyCapture(copyInput(conn.id, extra), never);
      expect(await copy({ format: 'hex' })).toEqual({
        text: toHex(all),
        bytes: all.length,
        truncated: false,
        keptFrom: 0,
      });
      expect((await copy({ format: 'c' })).text).toBe(toCArray(all));
      expect((await copy({ format: 'base64' })).text).toBe(toBase64(all));
      expect((await copy({ format: 'hex', direction: 'in' })).text).toBe(toHex(inOnly));
      expect((await copy({ format: 'hex', from: 2, to: 7 })).text).toBe(toHex(all.subarray(2, 7)));
      // Text: one decoder per direction, so 好 comes whole though OK lies between its halves.
      expect((await copy({ format: 'text', encoding: 'gbk' })).text).toBe(
        '你OK好世界\u0000\ufffd\u0010',
      );
      expect(await copy({ format: 'text', encoding: 'gbk', direction: 'in' })).toMatchObject({
        text: '你好世界',
        bytes: gbk.length,
      });
      // The engine's own latin1 and ascii decoders give what the views' shared ones give.
      for (const encoding of ['latin1', 'ascii'] as const) {
        expect((await copy({ format: 'text', encoding })).text).toBe(decodeText(all, encoding));
      }
      const backwards = await rejection(copy({ from: 5, to: 2 }));
      expect(backwards.code).toBe('INVALID_INPUT');
    }
  });

  it(`copies at most ${COPY_MAX_BYTES / MiB} MiB and says it was cut`, async () => {
    const engine = newEngine({ captureMemoryBytes: 4 * MiB });
    const conn = await connection(engine);
    const payload = randomBytes(COPY_MAX_BYTES + 1000);
    await conn.fromPeer(payload);
    const copied = await engine.copyCapture(copyInput(conn.id, { format: 'base64' }), never);
    expect(copied.bytes).toBe(COPY_MAX_BYTES);
    expect(copied.truncated).toBe(true);
    expect(copied.text).toBe(toBase64(payload.subarray(0, COPY_MAX_BYTES)));
    // Formatted a slice at a time, yet the same text as the whole at once.
    const range = { from: 1000, to: 1000 + 2 * MiB + 5 };
    const part = payload.subarray(range.from, range.to);
    const hex = await engine.copyCapture(copyInput(conn.id, { format: 'hex', ...range }), never);
    expect(hex).toMatchObject({ bytes: part.length, truncated: false });
    expect(hex.text).toBe(toHex(part));
    const c = await engine.copyCapture(copyInput(conn.id, { format: 'c', ...range }), never);
    expect(c.text).toBe(toCArray(part));
    // Only the 'out' direction, which has nothing: nothing, and nothing was cut.
    const none = await engine.copyCapture(copyInput(conn.id, { direction: 'out' }), never);
    expect(none).toMatchObject({ text: '', bytes: 0, truncated: false });
  });
});

describe('UTF-8 positions', () => {
  it("counts the bytes behind TextDecoder's text, U+FFFDs and held-back bytes included", () => {
    for (let round = 0; round < 500; round++) {
      // Mostly leads and continuations, so that every kind of sequence turns up, and some
      // real U+FFFDs (EF BF BD).
      const bytes = Buffer.from(
        Uint8Array.from(randomBytes(48), (b) => (b & 1 ? 0x80 | (b >> 1) : b & 0x7f)),
      );
      bytes.set([0xef, 0xbf, 0xbd], round % 45);
      const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
      let decoded = '';
      for (let at = 0, size = 1; at < bytes.length; at += size, size = (size % 4) + 1) {
        decoded += decoder.decode(bytes.subarray(at, at + size), { stream: true });
        const fed = bytes.subarray(0, Math.min(bytes.length, at + size));
        const held = utf8HeldBytes(fed.subarray(Math.max(0, fed.length - 3)));
        expect(utf8ByteLength(decoded, 0, decoded.length, fed, 0) + held).toBe(fed.length);
      }
      // Character by character too: each one's bytes decode to it.
      for (let char = 0, at = 0; char < decoded.length;) {
        const width = decoded.codePointAt(char)! > 0xffff ? 2 : 1;
        const length = utf8ByteLength(decoded, char, char + width, bytes, at);
        const back = new TextDecoder().decode(bytes.subarray(at, at + length));
        expect(back).toBe(decoded.slice(char, char + width));
        at += length;
        char += width;
      }
    }
  });
});
