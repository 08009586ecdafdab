/**
 * The payload codecs under 10,000 generated inputs a property, through the engine's own entry
 * (encodePayloadInNode, what connection.send uses): every round trip holds, and every error names
 * the exact position of the character that caused it, which is where the composer puts the caret.
 * (test/unit/payload.test.ts covers each codec's grammar; this file plants faults at known places.)
 */
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { encodePayloadInNode } from '../../src/main/engine/encodings';
import { textEncodings, type TextEncoding } from '../../src/shared/contract';
import { WorkbenchError, type ErrorCode } from '../../src/shared/errors';
import { legacyEncodings, type ValidPayload } from '../../src/shared/payload';

const RUNS = 10_000;

function encode(payload: ValidPayload): Uint8Array {
  return encodePayloadInNode(payload);
}

/** The error `run` throws, which must be a WorkbenchError. */
function errorOf(run: () => unknown): WorkbenchError {
  try {
    run();
  } catch (error) {
    if (error instanceof WorkbenchError) return error;
    throw error;
  }
  throw new Error('expected an error, got a result');
}

/** Asserts the error is `code`, at `position`, and that its sentence says so. */
function expectAt(error: WorkbenchError, code: ErrorCode, position: number) {
  expect(error.code).toBe(code);
  expect(error.position).toBe(position);
  expect(error.message).toContain(`position ${position}`);
}

const hexDigits = '0123456789abcdefABCDEF';
const separators = [' ', ':', ',', '-', '\n', '\t', ', ', '  '];
/** Characters that are not hex digits, separators, or the x of a 0x prefix. */
const notHex = fc.constantFrom(
  'g',
  'G',
  'z',
  '#',
  '.',
  '\0',
  '\u00e9',
  '\u4f60',
  '😀',
  '\ud800',
  'é',
);

/** Bytes written as hex the ways people paste them: runs of pairs, mixed case, 0x, separators. */
const hexText = fc
  .array(
    fc.record({
      bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }),
      prefix: fc.boolean(),
      upper: fc.boolean(),
      separator: fc.constantFrom(...separators),
    }),
    { maxLength: 12 },
  )
  .map((runs) => ({
    bytes: Uint8Array.from(runs.flatMap((r) => [...r.bytes])),
    text: runs
      .map((r) => {
        const digits = Buffer.from(r.bytes).toString('hex');
        return `${r.prefix ? '0x' : ''}${r.upper ? digits.toUpperCase() : digits}${r.separator}`;
      })
      .join(''),
  }));

describe('hex', () => {
  it('reads back any bytes, however they are separated, cased and prefixed', () => {
    fc.assert(
      fc.property(hexText, ({ bytes, text }) => {
        expect(encode({ format: 'hex', data: text, encoding: 'utf-8' })).toEqual(bytes);
      }),
      { numRuns: RUNS },
    );
  });

  it('names the exact position of a character planted anywhere', () => {
    fc.assert(
      fc.property(hexText, fc.nat(), notHex, ({ text }, at, bad) => {
        const k = at % (text.length + 1);
        const data = text.slice(0, k) + bad + text.slice(k);
        expectAt(
          errorOf(() => encode({ format: 'hex', data, encoding: 'utf-8' })),
          'BAD_HEX',
          k,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('names the lone digit of a run left with an odd number of digits', () => {
    fc.assert(
      fc.property(hexText, fc.nat(), ({ text }, at) => {
        const digits = [...text.matchAll(/[0-9a-f]/gi)].filter(
          (m) => !(m[0] === '0' && /[xX]/.test(text[(m.index ?? 0) + 1] ?? '')),
        );
        fc.pre(digits.length > 0);
        const removed = (digits[at % digits.length] as RegExpMatchArray).index ?? 0;
        const data = text.slice(0, removed) + text.slice(removed + 1);
        const error = errorOf(() => encode({ format: 'hex', data, encoding: 'utf-8' }));
        // "0x" with nothing after it is the other way to leave a run short.
        if (/has no hex digits/.test(error.message)) {
          expect(data.slice(error.position, (error.position ?? 0) + 2).toLowerCase()).toBe('0x');
          return;
        }
        expect(error.message).toMatch(/needs a second hex digit/);
        const p = error.position as number;
        expect(hexDigits).toContain(data[p]);
        expect(p + 1 === data.length || separators.some((s) => s[0] === data[p + 1])).toBe(true);
        expect(error.message).toContain(`position ${p}`);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('base64', () => {
  const whitespace = fc.constantFrom(' ', '\n', '\r\n', '\t', '\f', '\v');

  it('reads back any bytes, with whitespace anywhere', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100 }),
        fc.array(fc.tuple(fc.nat(), whitespace), { maxLength: 8 }),
        (bytes, gaps) => {
          let data = Buffer.from(bytes).toString('base64');
          for (const [at, space] of gaps) {
            const k = at % (data.length + 1);
            data = data.slice(0, k) + space + data.slice(k);
          }
          expect(encode({ format: 'base64', data, encoding: 'utf-8' })).toEqual(bytes);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('names the exact position of a character planted anywhere', () => {
    const bad = fc.constantFrom('-', '_', '.', '!', '\0', 'é', '😀', '\ud800', '*', '~');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(), bad, (bytes, at, character) => {
        const text = Buffer.from(bytes).toString('base64');
        const k = at % (text.length + 1);
        const data = text.slice(0, k) + character + text.slice(k);
        const error = errorOf(() => encode({ format: 'base64', data, encoding: 'utf-8' }));
        expectAt(error, 'BAD_BASE64', k);
      }),
      { numRuns: RUNS },
    );
  });
});

/** Bytes as composer text: literal printable ASCII, \xHH, and the named escapes, mixed. */
const escapedBytes = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.nat(3)), { maxLength: 40 })
  .map((pairs) => {
    const named = new Map([
      [0x0d, '\\r'],
      [0x0a, '\\n'],
      [0x09, '\\t'],
      [0x5c, '\\\\'],
      [0x07, '\\a'],
      [0x1b, '\\e'],
      [0x22, '\\"'],
    ]);
    const tokens = pairs.map(([byte, how]) => {
      if (how === 0 && byte >= 0x20 && byte < 0x7f && byte !== 0x5c)
        return String.fromCharCode(byte);
      if (how === 1 && named.has(byte)) return named.get(byte) as string;
      const digits = byte.toString(16).padStart(2, '0');
      return `\\x${how === 2 ? digits : digits.toUpperCase()}`;
    });
    return { bytes: Uint8Array.from(pairs.map(([byte]) => byte)), tokens };
  });

describe('escapes', () => {
  it('give back any bytes written with them', () => {
    fc.assert(
      fc.property(escapedBytes, ({ bytes, tokens }) => {
        const data = tokens.join('');
        expect(encode({ format: 'text', data, encoding: 'latin1' })).toEqual(bytes);
      }),
      { numRuns: RUNS },
    );
  });

  it('name the exact position of a bad escape planted between any two', () => {
    const badEscapes = fc.constantFrom(
      '\\q',
      '\\xg0',
      '\\x',
      '\\x1',
      '\\07',
      '\\😀',
      '\\ ',
      '\\X41',
    );
    fc.assert(
      fc.property(escapedBytes, fc.nat(), badEscapes, ({ tokens }, at, bad) => {
        const k = at % (tokens.length + 1);
        const before = tokens.slice(0, k).join('');
        // "\x" and "\x1" are only short when nothing with hex digits follows them.
        const after = /^\\x1?$/.test(bad) ? '' : tokens.slice(k).join('');
        const data = before + bad + after;
        const error = errorOf(() => encode({ format: 'text', data, encoding: 'utf-8' }));
        expectAt(error, 'BAD_ESCAPE', before.length);
      }),
      { numRuns: RUNS },
    );
  });

  it('name the lone backslash that ends the text', () => {
    fc.assert(
      fc.property(escapedBytes, ({ tokens }) => {
        const data = `${tokens.join('')}\\`;
        const error = errorOf(() => encode({ format: 'text', data, encoding: 'ascii' }));
        expectAt(error, 'BAD_ESCAPE', data.length - 1);
      }),
      { numRuns: RUNS },
    );
  });
});

const unescaped = new Map([
  ['\\r', '\r'],
  ['\\n', '\n'],
  ['\\t', '\t'],
  ['\\\\', '\\'],
]);

/** Bytes back to text with iconv-lite, an implementation other than the one that encoded. */
function decode(bytes: Uint8Array, encoding: TextEncoding): string {
  const name = encoding === 'shift_jis' ? 'shiftjis' : encoding === 'euc-kr' ? 'euckr' : encoding;
  return iconv.decode(Buffer.from(bytes), name, { stripBOM: false });
}

/** Characters each encoding cannot represent (checked below, not assumed). */
const unencodable: Record<TextEncoding, string[]> = {
  'utf-8': ['\ud800', '\udfff'],
  'utf-16le': ['\ud800', '\udc00'],
  'utf-16be': ['\udbff', '\udfff'],
  latin1: ['Ā', '€', '你', '😀'],
  ascii: ['é', '\u0080', '你', '😀'],
  gbk: ['😀', 'ع', '\ud800'],
  gb18030: ['\ud800', '\udfff'],
  big5: ['ع', '😀', '\ud800'],
  shift_jis: ['ع', '€', '😀'],
  'euc-kr': ['ع', '😀', '\ud800'],
};

/** For each encoding, characters that survive a round trip through it, found by trying. */
const encodable = Object.fromEntries(
  textEncodings.map((encoding) => {
    const candidates = [
      ...'abcXYZ019 ~!@#',
      ...'éüßñçÀ',
      ...'你好中文字漢語',
      ...'こんにちはカタカナ',
      ...'한국어',
      ...'€Āαβγδ',
      '😀',
      '𠀀',
    ];
    const ok = candidates.filter((character) => {
      try {
        return (
          decode(encode({ format: 'text', data: character, encoding }), encoding) === character
        );
      } catch {
        return false;
      }
    });
    return [encoding, ok];
  }),
) as Record<TextEncoding, string[]>;

describe('text encodings', () => {
  it('really cannot encode the characters these properties plant', () => {
    for (const encoding of textEncodings) {
      expect(encodable[encoding].length).toBeGreaterThan(10);
      for (const character of unencodable[encoding]) {
        expect(errorOf(() => encode({ format: 'text', data: character, encoding })).code).toBe(
          'UNENCODABLE_TEXT',
        );
      }
    }
  });

  it('round-trip text in every encoding, escapes included', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...textEncodings),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.array(fc.constantFrom('\\r', '\\n', '\\t', '\\\\'), { maxLength: 4 }),
        (encoding, picks, escapes) => {
          const pool = encodable[encoding];
          const characters = picks.map((p) => pool[p % pool.length] as string);
          const text = characters.join('') + escapes.map((e) => unescaped.get(e)).join('');
          const data = characters.join('') + escapes.join('');
          const bytes = encode({ format: 'text', data, encoding });
          expect(decode(bytes, encoding)).toBe(text);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('name the position, in what the user typed, of a character an encoding lacks', () => {
    // Escapes before the character shift it in the decoded text but not in what was typed.
    const token = fc.constantFrom(
      'a',
      'Z',
      '0',
      ' ',
      '\\r',
      '\\n',
      '\\t',
      '\\\\',
      '\\x00',
      '\\xff',
      '\\"',
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...textEncodings),
        fc.array(token, { maxLength: 20 }),
        fc.array(token, { maxLength: 20 }),
        fc.nat(),
        (encoding, before, after, pick) => {
          const bad = unencodable[encoding][pick % unencodable[encoding].length] as string;
          const prefix = before.join('');
          // A lone high surrogate must not meet a low one after it: 'a' keeps them apart.
          const data = `${prefix}${bad}a${after.join('')}`;
          const error = errorOf(() => encode({ format: 'text', data, encoding }));
          expectAt(error, 'UNENCODABLE_TEXT', prefix.length);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('answer any text in any format and encoding with bytes or an error at a real position', () => {
    const expected: Record<string, ErrorCode[]> = {
      hex: ['BAD_HEX'],
      base64: ['BAD_BASE64'],
      text: ['BAD_ESCAPE', 'UNENCODABLE_TEXT'],
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 60 }),
          fc.string({
            unit: fc.constantFrom('\\', 'x', '0', 'a', 'f', '=', ' ', 'é', '\ud800', '😀'),
            maxLength: 30,
          }),
        ),
        fc.constantFrom('text' as const, 'hex' as const, 'base64' as const),
        fc.constantFrom(...textEncodings, ...legacyEncodings),
        (data, format, encoding) => {
          let bytes: Uint8Array;
          try {
            bytes = encode({ format, data, encoding });
          } catch (error) {
            expect(error).toBeInstanceOf(WorkbenchError);
            const { code, position, message } = error as WorkbenchError;
            expect(expected[format]).toContain(code);
            expect(position).toBeGreaterThanOrEqual(0);
            expect(position).toBeLessThan(data.length);
            expect(message).toContain(`position ${position}`);
            return;
          }
          expect(bytes).toBeInstanceOf(Uint8Array);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
