import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { MAX_PAYLOAD_BYTES, type TextEncoding } from '../../src/shared/contract';
import { WorkbenchError, type ErrorCode } from '../../src/shared/errors';
import {
  encodePayload,
  encodeText,
  isLegacyEncoding,
  legacyEncodings,
  parseBase64,
  parseEscapes,
  parseHex,
  type LegacyEncoding,
  type ValidPayload,
} from '../../src/shared/payload';
import { toBase64, toHex } from '../../src/shared/format';
import { encodePayloadInNode, nodeLegacyEncoder } from '../../src/main/engine/encodings';

const FUZZ_RUNS = 10_000;

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** Runs `fn`, which must throw a WorkbenchError, and returns that error. */
function failure(fn: () => unknown): WorkbenchError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WorkbenchError);
    return error as WorkbenchError;
  }
  throw new Error('expected a WorkbenchError, nothing was thrown');
}

function expectFailure(
  fn: () => unknown,
  code: ErrorCode,
  position: number | undefined,
  message?: string | RegExp,
): WorkbenchError {
  const error = failure(fn);
  expect(error.code).toBe(code);
  expect(error.position).toBe(position);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else if (message) expect(error.message).toMatch(message);
  return error;
}

function text(data: string, encoding: TextEncoding = 'utf-8'): ValidPayload {
  return { format: 'text', data, encoding };
}

/** A string of `units` drawn from a small alphabet, so the fuzzer hits the grammar often. */
function stringOf(alphabet: string[], maxLength = 40) {
  return fc.string({ unit: fc.constantFrom(...alphabet), maxLength });
}

describe('parseHex', () => {
  it.each([
    ['de ad be ef', [0xde, 0xad, 0xbe, 0xef]],
    ['deadbeef', [0xde, 0xad, 0xbe, 0xef]],
    ['DEADBEEF', [0xde, 0xad, 0xbe, 0xef]],
    ['DeAdBeEf', [0xde, 0xad, 0xbe, 0xef]],
    ['0xDE,0xAD', [0xde, 0xad]],
    ['0xde, 0xad, ', [0xde, 0xad]],
    ['0XDE 0Xad', [0xde, 0xad]],
    ['0xdead 0xbe', [0xde, 0xad, 0xbe]],
    ['de:ad:be:ef', [0xde, 0xad, 0xbe, 0xef]],
    ['de-ad-be-ef', [0xde, 0xad, 0xbe, 0xef]],
    ['\tde\n ad\r\nbe  ef\n', [0xde, 0xad, 0xbe, 0xef]],
    ['00 ff 7f 80', [0x00, 0xff, 0x7f, 0x80]],
    ['0x00', [0x00]],
    ['00', [0x00]],
  ])('reads %j', (input, expected) => {
    expect(parseHex(input)).toEqual(Uint8Array.from(expected));
  });

  it('reads nothing from empty or separator-only text', () => {
    expect(parseHex('')).toEqual(new Uint8Array(0));
    expect(parseHex(' \t\r\n:,-')).toEqual(new Uint8Array(0));
  });

  it('names a bad digit and its position', () => {
    expectFailure(() => parseHex('deadbg'), 'BAD_HEX', 5, 'Invalid hex digit "g" at position 5');
    expectFailure(() => parseHex('de ad zz'), 'BAD_HEX', 6, 'Invalid hex digit "z" at position 6');
    expectFailure(() => parseHex('x1'), 'BAD_HEX', 0, 'Invalid hex digit "x" at position 0');
  });

  it('names the lone digit of an odd run', () => {
    expectFailure(
      () => parseHex('deadbeeff'),
      'BAD_HEX',
      8,
      'Incomplete byte: "f" at position 8 needs a second hex digit',
    );
    expectFailure(() => parseHex('de a be'), 'BAD_HEX', 3, /^Incomplete byte: "a" at position 3/);
    expectFailure(() => parseHex('0xf'), 'BAD_HEX', 2, /^Incomplete byte: "f" at position 2/);
    expectFailure(() => parseHex('de:a'), 'BAD_HEX', 3);
  });

  it('does not pair digits across separators', () => {
    expectFailure(() => parseHex('dea dbe'), 'BAD_HEX', 2);
  });

  it('accepts 0x only at the start of a run, and only with digits after it', () => {
    expectFailure(() => parseHex('de0xad'), 'BAD_HEX', 3, 'Invalid hex digit "x" at position 3');
    expectFailure(
      () => parseHex('0x'),
      'BAD_HEX',
      0,
      '"0x" at position 0 has no hex digits after it',
    );
    expectFailure(() => parseHex('de 0X ad'), 'BAD_HEX', 3, /^"0X" at position 3/);
    expectFailure(() => parseHex('0x0x12'), 'BAD_HEX', 3);
    expectFailure(() => parseHex('0xg1'), 'BAD_HEX', 2, 'Invalid hex digit "g" at position 2');
  });

  it('shows invisible and non-ASCII characters readably', () => {
    expectFailure(() => parseHex('de\0'), 'BAD_HEX', 2, 'Invalid hex digit U+0000 at position 2');
    expectFailure(() => parseHex('de 😀'), 'BAD_HEX', 3, 'Invalid hex digit "😀" at position 3');
    expectFailure(() => parseHex('de\u00a0ad'), 'BAD_HEX', 2);
  });

  it('reports the error as a contract UserError', () => {
    expect(failure(() => parseHex('zz')).toUserError()).toEqual({
      code: 'BAD_HEX',
      message: 'Invalid hex digit "z" at position 0',
      position: 0,
    });
  });

  it('reads back what toHex writes, with any separator it accepts', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom(' ', ':', ',', '-', '\n', ', ', ' 0x'),
        (data, separator) => {
          expect(parseHex(toHex(data, separator))).toEqual(data);
          expect(parseHex(toHex(data, ''))).toEqual(data);
          expect(parseHex(toHex(data, separator).toUpperCase())).toEqual(data);
        },
      ),
    );
  });

  it('fails on arbitrary text only with BAD_HEX at a position inside the text', () => {
    const check = (input: string) => {
      let result: Uint8Array;
      try {
        result = parseHex(input);
      } catch (error) {
        expect(error).toBeInstanceOf(WorkbenchError);
        const { code, position } = error as WorkbenchError;
        expect(code).toBe('BAD_HEX');
        expect(position).toBeGreaterThanOrEqual(0);
        expect(position).toBeLessThan(input.length);
        return;
      }
      expect(result.length).toBeLessThanOrEqual(input.length / 2);
    };
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), check), {
      numRuns: FUZZ_RUNS,
    });
    const grammar = ['0', 'x', 'X', 'a', 'F', '9', 'g', ' ', ':', ',', '-', '\n', '\t', '😀'];
    fc.assert(fc.property(stringOf(grammar), check), { numRuns: FUZZ_RUNS });
  });
});

describe('parseEscapes', () => {
  it('turns character escapes into characters', () => {
    expect(parseEscapes('hello\\r\\n')).toEqual(['hello\r\n']);
    expect(parseEscapes('\\t\\0\\\\\\a\\b\\f\\v\\e\\"\\\'')).toEqual([
      '\t\0\\\x07\x08\x0c\x0b\x1b"\'',
    ]);
  });

  it('turns \\xHH into raw bytes, kept apart from the text around them', () => {
    expect(parseEscapes('\\xff')).toEqual([bytes(0xff)]);
    expect(parseEscapes('a\\xffb')).toEqual(['a', bytes(0xff), 'b']);
    expect(parseEscapes('\\x00\\x41\\xFe')).toEqual([bytes(0x00, 0x41, 0xfe)]);
    expect(parseEscapes('\\x01\\n\\x02')).toEqual([bytes(0x01), '\n', bytes(0x02)]);
  });

  it('leaves plain text alone', () => {
    expect(parseEscapes('')).toEqual([]);
    expect(parseEscapes('plain 你好 😀')).toEqual(['plain 你好 😀']);
    expect(parseEscapes('\\\\x41')).toEqual(['\\x41']);
    expect(parseEscapes('\\0a')).toEqual(['\0a']);
  });

  it('rejects an unknown escape at its backslash', () => {
    const error = expectFailure(() => parseEscapes('ab\\q'), 'BAD_ESCAPE', 2);
    expect(error.message).toMatch(/^Unknown escape "\\q" at position 2/);
    expectFailure(() => parseEscapes('\\u0041'), 'BAD_ESCAPE', 0);
    expectFailure(() => parseEscapes('a\\\nb'), 'BAD_ESCAPE', 1, /"\\" followed by U\+000A/);
    expectFailure(() => parseEscapes('\\😀'), 'BAD_ESCAPE', 0, /"\\😀"/);
  });

  it('rejects a bad or short \\x at its backslash', () => {
    expectFailure(() => parseEscapes('\\x'), 'BAD_ESCAPE', 0, /needs two hex digits/);
    expectFailure(() => parseEscapes('ab\\x4'), 'BAD_ESCAPE', 2, /needs two hex digits/);
    expectFailure(() => parseEscapes('\\x4g'), 'BAD_ESCAPE', 0);
    expectFailure(() => parseEscapes('\\xg0'), 'BAD_ESCAPE', 0);
    expectFailure(() => parseEscapes('ok\\n\\x 1'), 'BAD_ESCAPE', 4);
  });

  it('rejects a trailing lone backslash', () => {
    expectFailure(() => parseEscapes('abc\\'), 'BAD_ESCAPE', 3, /^Lone "\\" at position 3/);
    expectFailure(() => parseEscapes('\\\\\\'), 'BAD_ESCAPE', 2);
  });

  it('rejects \\0 before a digit instead of guessing octal', () => {
    expectFailure(() => parseEscapes('a\\012'), 'BAD_ESCAPE', 1, /octal/);
  });

  it('gives back any bytes written as \\xHH', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (data, upper) => {
        const escaped = Array.from(data, (b) => {
          const digits = toHex(bytes(b));
          return `\\x${upper ? digits.toUpperCase() : digits}`;
        }).join('');
        const segments = parseEscapes(escaped);
        expect(segments).toEqual(data.length === 0 ? [] : [data]);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('gives back any text whose backslashes and controls are escaped', () => {
    const names: Record<string, string> = {
      '\\': '\\\\',
      '\r': '\\r',
      '\n': '\\n',
      '\t': '\\t',
      '\x07': '\\a',
      '\x1b': '\\e',
    };
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (original) => {
        // eslint-disable-next-line no-control-regex -- escaping controls is the point
        const escaped = original.replace(/[\\\r\n\t\x07\x1b]/g, (c) => names[c]);
        expect(parseEscapes(escaped).join('')).toBe(original);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('fails on arbitrary text only with BAD_ESCAPE at a backslash', () => {
    const check = (input: string) => {
      try {
        parseEscapes(input);
      } catch (error) {
        expect(error).toBeInstanceOf(WorkbenchError);
        const { code, position } = error as WorkbenchError;
        expect(code).toBe('BAD_ESCAPE');
        expect(input[position ?? -1]).toBe('\\');
      }
    };
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), check), {
      numRuns: FUZZ_RUNS,
    });
    const grammar = ['\\', 'x', 'n', '0', '1', 'f', 'g', 'q', 'a', ' ', '"', '😀'];
    fc.assert(fc.property(stringOf(grammar), check), { numRuns: FUZZ_RUNS });
  });
});

describe('encodeText', () => {
  it('encodes utf-8', () => {
    expect(encodeText('hello\r\n', 'utf-8')).toEqual(hex('68656c6c6f0d0a'));
    expect(encodeText('é你😀', 'utf-8')).toEqual(hex('c3a9e4bda0f09f9880'));
    expect(encodeText('', 'utf-8')).toEqual(new Uint8Array(0));
  });

  it('encodes utf-16 in both byte orders, surrogate pairs included', () => {
    expect(encodeText('A😀', 'utf-16le')).toEqual(hex('41003dd800de'));
    expect(encodeText('A😀', 'utf-16be')).toEqual(hex('0041d83dde00'));
    expect(encodeText('\ufeff', 'utf-16le')).toEqual(hex('fffe'));
  });

  it('encodes latin1 and ascii one byte a character', () => {
    expect(encodeText('é\u0080\u00ff', 'latin1')).toEqual(hex('e980ff'));
    expect(encodeText('abc\x7f', 'ascii')).toEqual(hex('6162637f'));
  });

  it('names a character the encoding cannot represent', () => {
    expectFailure(
      () => encodeText('hé', 'ascii'),
      'UNENCODABLE_TEXT',
      1,
      'Character "é" (U+00E9) at position 1 cannot be encoded in ascii',
    );
    expectFailure(
      () => encodeText('abĀ', 'latin1'),
      'UNENCODABLE_TEXT',
      2,
      'Character "Ā" (U+0100) at position 2 cannot be encoded in latin1',
    );
    expectFailure(() => encodeText('a😀', 'latin1'), 'UNENCODABLE_TEXT', 1, /"😀" \(U\+1F600\)/);
    expectFailure(() => encodeText('\u0085', 'ascii'), 'UNENCODABLE_TEXT', 0, /U\+0085/);
  });

  it('rejects lone surrogates instead of writing U+FFFD', () => {
    for (const encoding of ['utf-8', 'utf-16le', 'utf-16be'] as const) {
      expectFailure(
        () => encodeText('ab\ud800c', encoding),
        'UNENCODABLE_TEXT',
        2,
        /Lone surrogate U\+D800/,
      );
      expectFailure(() => encodeText('😀\ude00', encoding), 'UNENCODABLE_TEXT', 2);
    }
  });

  it('needs the engine for table encodings', () => {
    for (const encoding of legacyEncodings) {
      expect(isLegacyEncoding(encoding)).toBe(true);
      expectFailure(
        () => encodeText('你好', encoding),
        'UNENCODABLE_TEXT',
        undefined,
        `Encoding ${encoding} needs the engine to encode`,
      );
    }
    expect(isLegacyEncoding('utf-8')).toBe(false);
  });

  it('encodes table encodings with the node encoder', () => {
    expect(encodeText('你好', 'gbk', nodeLegacyEncoder)).toEqual(hex('c4e3bac3'));
    expect(encodeText('你好€', 'gb18030', nodeLegacyEncoder)).toEqual(hex('c4e3bac3a2e3'));
    expect(encodeText('😀', 'gb18030', nodeLegacyEncoder)).toEqual(hex('9439fc36'));
    expect(encodeText('中文', 'big5', nodeLegacyEncoder)).toEqual(hex('a4a4a4e5'));
    expect(encodeText('こんにちは', 'shift_jis', nodeLegacyEncoder)).toEqual(
      hex('82b182f182c982bf82cd'),
    );
    expect(encodeText('한국', 'euc-kr', nodeLegacyEncoder)).toEqual(hex('c7d1b1b9'));
    // A character that does not read back the same is still encodable.
    expect(encodeText('¥', 'shift_jis', nodeLegacyEncoder)).toEqual(hex('5c'));
    expect(encodeText('a?b', 'gbk', nodeLegacyEncoder)).toEqual(hex('613f62'));
  });

  it('keeps ASCII as is in every table encoding', () => {
    const ascii = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join('');
    for (const encoding of legacyEncodings) {
      expect(nodeLegacyEncoder(ascii, encoding)).toEqual(
        Uint8Array.from({ length: 128 }, (_, i) => i),
      );
    }
  });

  it('names the character a table encoding lacks, instead of sending "?"', () => {
    expectFailure(
      () => encodeText('你好😀', 'gbk', nodeLegacyEncoder),
      'UNENCODABLE_TEXT',
      2,
      'Character "😀" (U+1F600) at position 2 cannot be encoded in gbk',
    );
    expectFailure(() => encodeText('¥ab€', 'shift_jis', nodeLegacyEncoder), 'UNENCODABLE_TEXT', 3);
    expectFailure(() => encodeText('한😀', 'euc-kr', nodeLegacyEncoder), 'UNENCODABLE_TEXT', 1);
    expectFailure(() => encodeText('中ع', 'big5', nodeLegacyEncoder), 'UNENCODABLE_TEXT', 1);
    expectFailure(() => encodeText('a\ud800', 'gb18030', nodeLegacyEncoder), 'UNENCODABLE_TEXT', 1);
    expectFailure(() => encodeText('\udc00', 'gbk', nodeLegacyEncoder), 'UNENCODABLE_TEXT', 0);
  });

  it('finds the exact position in a large text', () => {
    const big = '你'.repeat(4_000_000);
    expect(nodeLegacyEncoder(big, 'gbk').length).toBe(8_000_000);
    expectFailure(() => nodeLegacyEncoder(`${big}😀`, 'gbk'), 'UNENCODABLE_TEXT', 4_000_000);
  });

  it('throws for a table encoding only on characters the table lacks', () => {
    // The oracle: iconv-lite writes a lone "?" for each character its table lacks.
    const iconvNames: Record<LegacyEncoding, iconv.Encoding> = {
      gbk: 'gbk',
      gb18030: 'gb18030',
      big5: 'big5',
      shift_jis: 'shiftjis',
      'euc-kr': 'euckr',
    };
    const lacks = (character: string, encoding: LegacyEncoding) => {
      const out = iconv.encode(character, iconvNames[encoding]);
      return character !== '?' && out.length === 1 && out[0] === 0x3f;
    };
    const character = fc.oneof(
      fc.constantFrom('a', '?', '你', '好', '¥', '€', 'こ', '한', '中', 'é', '😀'),
      fc
        .integer({ min: 0x80, max: 0xffff })
        .filter((c) => c < 0xd800 || c > 0xdfff)
        .map((c) => String.fromCharCode(c)),
    );
    fc.assert(
      fc.property(
        fc.array(character, { maxLength: 12 }),
        fc.constantFrom(...legacyEncodings),
        (characters, encoding) => {
          const input = characters.join('');
          let position = 0;
          const firstBad = characters.findIndex((c) => {
            const bad = lacks(c, encoding);
            if (!bad) position += c.length;
            return bad;
          });
          if (firstBad < 0) {
            expect(() => nodeLegacyEncoder(input, encoding)).not.toThrow();
          } else {
            expectFailure(() => nodeLegacyEncoder(input, encoding), 'UNENCODABLE_TEXT', position);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('round-trips through TextDecoder for utf-8 and utf-16', () => {
    const decoders = {
      'utf-8': new TextDecoder('utf-8', { ignoreBOM: true }),
      'utf-16le': new TextDecoder('utf-16le', { ignoreBOM: true }),
      'utf-16be': new TextDecoder('utf-16be', { ignoreBOM: true }),
    };
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 100 }),
        fc.constantFrom(...(['utf-8', 'utf-16le', 'utf-16be'] as const)),
        (original, encoding) => {
          expect(decoders[encoding].decode(encodeText(original, encoding))).toBe(original);
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('round-trips latin1 byte for code point', () => {
    // TextDecoder('latin1') is windows-1252 (0x80 reads as "€"), so compare code points directly.
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 100 }), (original) => {
        const encoded = encodeText(original, 'latin1');
        expect(String.fromCharCode(...encoded)).toBe(original);
        expect(iconv.decode(encoded, 'latin1')).toBe(original);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('fails on arbitrary text only with UNENCODABLE_TEXT inside the text', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.oneof(
            fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
            fc.constantFrom('\ud800', '\udfff'),
          ),
          maxLength: 30,
        }),
        fc.constantFrom(...(['utf-8', 'utf-16le', 'latin1', 'ascii', 'gbk', 'shift_jis'] as const)),
        (input, encoding) => {
          try {
            encodeText(input, encoding, nodeLegacyEncoder);
          } catch (error) {
            expect(error).toBeInstanceOf(WorkbenchError);
            const { code, position } = error as WorkbenchError;
            expect(code).toBe('UNENCODABLE_TEXT');
            expect(position).toBeGreaterThanOrEqual(0);
            expect(position).toBeLessThan(input.length);
          }
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });
});

describe('parseBase64', () => {
  it('decodes standard base64, whitespace anywhere', () => {
    expect(parseBase64('aGVsbG8=')).toEqual(hex('68656c6c6f'));
    expect(parseBase64(' aGVs\r\nbG8=\n')).toEqual(hex('68656c6c6f'));
    expect(parseBase64('aGVsbG8gd29ybGQ=')).toEqual(new TextEncoder().encode('hello world'));
    expect(parseBase64('QQ==')).toEqual(bytes(0x41));
    expect(parseBase64('QUI=')).toEqual(bytes(0x41, 0x42));
    expect(parseBase64('+/8=')).toEqual(bytes(0xfb, 0xff));
    expect(parseBase64('QQ= =')).toEqual(bytes(0x41));
    expect(parseBase64('')).toEqual(new Uint8Array(0));
    expect(parseBase64(' \n ')).toEqual(new Uint8Array(0));
  });

  it('names a character outside the alphabet', () => {
    expectFailure(
      () => parseBase64('aGV*'),
      'BAD_BASE64',
      3,
      'Invalid base64 character "*" at position 3',
    );
    expectFailure(() => parseBase64('aG-s'), 'BAD_BASE64', 2, /base64url/);
    expectFailure(() => parseBase64('aG_s'), 'BAD_BASE64', 2, /base64url/);
    expectFailure(() => parseBase64('aGVs\0'), 'BAD_BASE64', 4, /U\+0000/);
  });

  it('requires padding on the last group', () => {
    expectFailure(() => parseBase64('aGVsbG8'), 'BAD_BASE64', 4, /needs one "="/);
    expectFailure(() => parseBase64('aGVsbG'), 'BAD_BASE64', 4, /needs two "="/);
    expectFailure(() => parseBase64('QQ='), 'BAD_BASE64', 0, /needs two "="/);
    expectFailure(() => parseBase64('aGVsb'), 'BAD_BASE64', 4, /lone character "b"/);
  });

  it('accepts padding only where it belongs', () => {
    expectFailure(() => parseBase64('QQ=A'), 'BAD_BASE64', 3, /after "=" padding/);
    expectFailure(() => parseBase64('QQ==QQ=='), 'BAD_BASE64', 4);
    expectFailure(() => parseBase64('QQ==='), 'BAD_BASE64', 4, /Too much/);
    expectFailure(() => parseBase64('QUJD='), 'BAD_BASE64', 4, /complete group/);
    expectFailure(() => parseBase64('='), 'BAD_BASE64', 0, /no data/);
    expectFailure(() => parseBase64('Q==='), 'BAD_BASE64', 3);
  });

  it('rejects bits that padding would drop', () => {
    expectFailure(() => parseBase64('QR=='), 'BAD_BASE64', 1, /mistyped/);
    expectFailure(() => parseBase64('QUJ='), 'BAD_BASE64', 2, /mistyped/);
  });

  it('reads back what toBase64 writes, line-wrapped or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const encoded = toBase64(data);
        expect(parseBase64(encoded)).toEqual(data);
        expect(parseBase64(encoded.replace(/.{1,76}/g, '$&\r\n'))).toEqual(data);
      }),
    );
  });

  it('accepts exactly the canonical encodings', () => {
    const check = (input: string) => {
      let result: Uint8Array;
      try {
        result = parseBase64(input);
      } catch (error) {
        expect(error).toBeInstanceOf(WorkbenchError);
        const { code, position } = error as WorkbenchError;
        expect(code).toBe('BAD_BASE64');
        expect(position).toBeGreaterThanOrEqual(0);
        expect(position).toBeLessThan(input.length);
        return;
      }
      expect(toBase64(result)).toBe(input.replace(/\s/g, ''));
    };
    fc.assert(fc.property(stringOf(['A', 'Q', 'g', 'w', '/', '+', '=', ' ', '\n'], 16), check), {
      numRuns: FUZZ_RUNS,
    });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 20 }), check), {
      numRuns: FUZZ_RUNS,
    });
  });
});

describe('encodePayload', () => {
  it('encodes text with escapes', () => {
    expect(encodePayload(text('hello\\r\\n'))).toEqual(hex('68656c6c6f0d0a'));
    expect(encodePayload(text('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'))).toEqual(
      new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    );
  });

  it('sends \\xHH as one raw byte whatever the encoding', () => {
    expect(encodePayload(text('\\xff'))).toEqual(bytes(0xff));
    expect(encodePayload(text('é\\xff', 'utf-8'))).toEqual(hex('c3a9ff'));
    expect(encodePayload(text('é\\xff', 'latin1'))).toEqual(hex('e9ff'));
    expect(encodePayload(text('A\\x41', 'utf-16le'))).toEqual(hex('410041'));
    expect(encodePayload(text('\\n\\x00', 'utf-16be'))).toEqual(hex('000a00'));
  });

  it('encodes table encodings in the engine', () => {
    expect(encodePayloadInNode(text('你好\\r\\n', 'gbk'))).toEqual(hex('c4e3bac30d0a'));
    expect(encodePayloadInNode(text('\\x02你好\\x03', 'gb18030'))).toEqual(hex('02c4e3bac303'));
    expect(encodePayloadInNode(text('hi'))).toEqual(hex('6869'));
    expectFailure(() => encodePayload(text('你好', 'gbk')), 'UNENCODABLE_TEXT', undefined);
    expectFailure(() => encodePayload(text('plain ascii', 'gbk')), 'UNENCODABLE_TEXT', undefined);
    // Bytes alone need no table.
    expect(encodePayload(text('\\xc4\\xe3', 'gbk'))).toEqual(hex('c4e3'));
  });

  it('encodes many short runs between bytes the same as one by one', () => {
    const source = '你\\x00好\\r\\x01'.repeat(1000);
    const expected = hex('c4e300bac30d01'.repeat(1000));
    expect(encodePayloadInNode(text(source, 'gbk'))).toEqual(expected);
    expectFailure(
      () => encodePayloadInNode(text(`${source}😀`, 'gbk')),
      'UNENCODABLE_TEXT',
      source.length,
    );
  });

  it('reports escape mistakes before encoding mistakes', () => {
    expectFailure(() => encodePayload(text('é\\q', 'ascii')), 'BAD_ESCAPE', 1);
    expectFailure(() => encodePayloadInNode(text('😀\\q', 'gbk')), 'BAD_ESCAPE', 2);
  });

  it('places text errors in what the user typed, not in the decoded text', () => {
    expectFailure(
      () => encodePayload(text('ab\\r\\né', 'ascii')),
      'UNENCODABLE_TEXT',
      6,
      'Character "é" (U+00E9) at position 6 cannot be encoded in ascii',
    );
    expectFailure(() => encodePayload(text('x\\xffé', 'ascii')), 'UNENCODABLE_TEXT', 5);
    expectFailure(() => encodePayload(text('\\\\\\t\\ud800', 'utf-8')), 'BAD_ESCAPE', 4);
    expectFailure(() => encodePayload(text('\\t\ud800', 'utf-8')), 'UNENCODABLE_TEXT', 2);
    expectFailure(
      () => encodePayloadInNode(text('\\t😀', 'gbk')),
      'UNENCODABLE_TEXT',
      2,
      'Character "😀" (U+1F600) at position 2 cannot be encoded in gbk',
    );
    expectFailure(
      () => encodePayloadInNode(text('你\\x00\\r好€', 'shift_jis')),
      'UNENCODABLE_TEXT',
      0,
    );
    expectFailure(() => encodePayloadInNode(text('\\x00\\r\\nع', 'big5')), 'UNENCODABLE_TEXT', 8);
    expectFailure(() => encodePayload(text('ok\\q')), 'BAD_ESCAPE', 2);
  });

  it('maps every text error back to the character the user typed', () => {
    // Escape a random string (keeping one unencodable character) and check the reported
    // position points at that character in the escaped text.
    const piece = fc.oneof(
      fc.constantFrom('a', 'b', '\\r', '\\n', '\\\\', '\\t', '\\x00', '\\xff', '\\"'),
      fc
        .string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 3 })
        .map((s) => s.replace(/\\/g, '\\\\')),
    );
    fc.assert(
      fc.property(fc.array(piece), fc.array(piece), (before, after) => {
        const prefix = before.join('');
        const source = `${prefix}é${after.join('')}`;
        expectFailure(
          () => encodePayload(text(source, 'ascii')),
          'UNENCODABLE_TEXT',
          prefix.length,
        );
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('decodes hex and base64, ignoring the encoding', () => {
    expect(encodePayload({ format: 'hex', data: 'de ad be ef', encoding: 'utf-16le' })).toEqual(
      hex('deadbeef'),
    );
    expect(encodePayload({ format: 'base64', data: 'aGVsbG8=', encoding: 'gbk' })).toEqual(
      hex('68656c6c6f'),
    );
    expectFailure(
      () => encodePayload({ format: 'hex', data: 'de ad g', encoding: 'utf-8' }),
      'BAD_HEX',
      6,
    );
    expectFailure(
      () => encodePayload({ format: 'base64', data: 'aGV*', encoding: 'utf-8' }),
      'BAD_BASE64',
      3,
    );
  });

  it('allows exactly MAX_PAYLOAD_BYTES', () => {
    expect(
      encodePayload({ format: 'hex', data: '00'.repeat(MAX_PAYLOAD_BYTES), encoding: 'utf-8' })
        .length,
    ).toBe(MAX_PAYLOAD_BYTES);
    expect(encodePayload(text('a'.repeat(MAX_PAYLOAD_BYTES))).length).toBe(MAX_PAYLOAD_BYTES);
  });

  it('rejects anything larger with PAYLOAD_TOO_LARGE', () => {
    const over = MAX_PAYLOAD_BYTES + 1;
    for (const payload of [
      { format: 'hex', data: '00'.repeat(over), encoding: 'utf-8' },
      { format: 'base64', data: toBase64(new Uint8Array(over)), encoding: 'utf-8' },
      text('a'.repeat(over)),
      text(`${'a'.repeat(MAX_PAYLOAD_BYTES)}\\xff`),
      text('é'.repeat(MAX_PAYLOAD_BYTES / 2 + 1)),
    ] satisfies ValidPayload[]) {
      const error = expectFailure(() => encodePayload(payload), 'PAYLOAD_TOO_LARGE', undefined);
      expect(error.message).toMatch(/16 MiB/);
    }
  });
});
