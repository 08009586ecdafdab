import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { textEncodings } from '../../src/shared/contract';
import {
  createTextDecoder,
  decodeText,
  fromPrintableText,
  hexDumpLines,
  toBase64,
  toCArray,
  toHex,
  toPrintableText,
} from '../../src/shared/format';
import { encodeText, parseEscapes, parseHex } from '../../src/shared/payload';

const FUZZ_RUNS = 10_000;

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

const ascii = (text: string) => new TextEncoder().encode(text);

describe('toHex', () => {
  it('writes lowercase pairs', () => {
    expect(toHex(bytes(0xde, 0xad, 0xbe, 0xef))).toBe('de ad be ef');
    expect(toHex(bytes(0x00, 0x0a, 0xff))).toBe('00 0a ff');
    expect(toHex(bytes(0xde, 0xad), '')).toBe('dead');
    expect(toHex(bytes(0xde, 0xad), ':')).toBe('de:ad');
    expect(toHex(new Uint8Array(0))).toBe('');
  });

  it('writes every byte as two digits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const text = toHex(data);
        expect(text).toMatch(/^(?:[0-9a-f]{2}(?: [0-9a-f]{2})*)?$/);
        expect(parseHex(text)).toEqual(data);
      }),
    );
  });
});

describe('toCArray', () => {
  it('writes a short array on one line', () => {
    expect(toCArray(bytes(0xde, 0xad, 0xbe, 0xef))).toBe(
      'const unsigned char data[4] = { 0xde, 0xad, 0xbe, 0xef };',
    );
    expect(toCArray(bytes(0x01), 'frame')).toBe('const unsigned char frame[1] = { 0x01 };');
  });

  it('wraps at 12 bytes a line', () => {
    const data = Uint8Array.from({ length: 26 }, (_, i) => i);
    expect(toCArray(data, 'packet')).toBe(
      [
        'const unsigned char packet[26] = {',
        '  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,',
        '  0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,',
        '  0x18, 0x19',
        '};',
      ].join('\n'),
    );
    expect(toCArray(new Uint8Array(12)).split('\n')).toHaveLength(1);
    expect(toCArray(new Uint8Array(13)).split('\n')).toHaveLength(4);
  });

  it('writes an empty array and a valid identifier', () => {
    expect(toCArray(new Uint8Array(0))).toBe('const unsigned char data[0] = {};');
    expect(toCArray(bytes(0), '1 bad-name')).toBe('const unsigned char _1_bad_name[1] = { 0x00 };');
    expect(toCArray(bytes(0), '')).toBe('const unsigned char _[1] = { 0x00 };');
  });

  it('lists every byte in order', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (data) => {
        const listed = toCArray(data).match(/0x[0-9a-f]{2}/g) ?? [];
        expect(Uint8Array.from(listed, (item) => parseInt(item, 16))).toEqual(data);
      }),
    );
  });
});

describe('toBase64', () => {
  it('writes standard padded base64', () => {
    expect(toBase64(ascii('hello'))).toBe('aGVsbG8=');
    expect(toBase64(bytes(0xfb, 0xff))).toBe('+/8=');
    expect(toBase64(new Uint8Array(0))).toBe('');
  });
});

describe('hexDumpLines', () => {
  it('writes hexdump -C lines', () => {
    expect(hexDumpLines(ascii('hello\r\n'))).toEqual([
      '00000000  68 65 6c 6c 6f 0d 0a                              |hello..|',
    ]);
    // Byte for byte what `printf 'hello world, this is long!' | hexdump -C` prints.
    expect(hexDumpLines(ascii('hello world, this is long!'))).toEqual([
      '00000000  68 65 6c 6c 6f 20 77 6f  72 6c 64 2c 20 74 68 69  |hello world, thi|',
      '00000010  73 20 69 73 20 6c 6f 6e  67 21                    |s is long!|',
    ]);
  });

  it('writes nothing for no bytes', () => {
    expect(hexDumpLines(new Uint8Array(0))).toEqual([]);
  });

  it('shows bytes outside 0x20-0x7e as dots', () => {
    const lines = hexDumpLines(bytes(0x00, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xff, 0x41));
    expect(lines).toEqual([
      '00000000  00 1f 20 7e 7f 80 ff 41                           |.. ~...A|',
    ]);
  });

  it('counts from a start offset, past 32 bits too', () => {
    const data = new Uint8Array(20);
    expect(hexDumpLines(data, 0x1000).map((line) => line.slice(0, 8))).toEqual([
      '00001000',
      '00001010',
    ]);
    expect(hexDumpLines(bytes(1), 0x1_0000_0000)[0].startsWith('100000000  01 ')).toBe(true);
  });

  it('takes another width', () => {
    expect(hexDumpLines(ascii('abcdefghij'), 0, 8)).toEqual([
      '00000000  61 62 63 64 65 66 67 68  |abcdefgh|',
      '00000008  69 6a                    |ij|',
    ]);
    expect(() => hexDumpLines(bytes(1), 0, 0)).toThrow(RangeError);
  });

  it('lines up the text column and reads back as the same bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100 }),
        fc.integer({ min: 1, max: 40 }),
        (data, width) => {
          const lines = hexDumpLines(data, 0, width);
          expect(lines).toHaveLength(Math.ceil(data.length / width));
          const column = 8 + 2 + width * 3 + Math.ceil(width / 8);
          const hexParts = lines.map((line) => {
            expect(line.indexOf('|')).toBe(column);
            expect(line.endsWith('|')).toBe(true);
            return line.slice(10, column);
          });
          expect(parseHex(hexParts.join(' '))).toEqual(data);
        },
      ),
    );
  });
});

describe('toPrintableText', () => {
  it('shows line endings and other controls as ASCII marks, no special glyph needed', () => {
    expect(toPrintableText('a\r\nb')).toBe('a\\r\\nb');
    expect(toPrintableText('\0\t\x1b\x7f')).toBe('\\x00\\t\\e\\x7f');
    expect(toPrintableText('\x01\x1f\x07\x08\x0b\x0c')).toBe('\\x01\\x1f\\a\\b\\v\\f');
    // Printable ASCII only: no font needs a special glyph for a mark.
    expect(toPrintableText('\x00\x1f\x7f')).toMatch(/^[\x20-\x7e]+$/);
  });

  it('shows a backslash as \\\\, so text never reads as a mark', () => {
    expect(toPrintableText('C:\\new\r')).toBe('C:\\\\new\\r');
  });

  it('can keep line breaks after \\n', () => {
    expect(toPrintableText('a\r\nb\n', { keepLineBreaks: true })).toBe('a\\r\\n\nb\\n\n');
  });

  it('lets the caller draw marks apart, e.g. in a colour', () => {
    expect(toPrintableText('a\rb\\', { mark: (m) => `[${m}]` })).toBe('a[\\r]b[\\\\]');
    expect(toPrintableText('a\n', { keepLineBreaks: true, mark: (m) => `[${m}]` })).toBe(
      'a[\\n]\n',
    );
  });

  it('shows C1 controls as <U+XXXX>', () => {
    expect(toPrintableText('x\u0085\u009by')).toBe('x<U+0085><U+009B>y');
  });

  it('leaves everything else alone', () => {
    expect(toPrintableText('héllo 你好 😀 \u00a0~')).toBe('héllo 你好 😀 \u00a0~');
  });

  it('never lets a control character through', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.boolean(), (text, keep) => {
        const shown = toPrintableText(text, { keepLineBreaks: keep });
        // eslint-disable-next-line no-control-regex -- looking for controls is the point
        expect(/[\x00-\x1f\x7f-\x9f]/.test(keep ? shown.replace(/\\n\n/g, '\\n') : shown)).toBe(
          false,
        );
        // eslint-disable-next-line no-control-regex -- looking for controls is the point
        if (!/[\x00-\x1f\x5c\x7f-\x9f]/.test(text)) expect(shown).toBe(text);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('is read back exactly: copying a selection gives the bytes, not the marks', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.boolean(), (text, keep) => {
        const shown = toPrintableText(text, { keepLineBreaks: keep });
        expect(fromPrintableText(keep ? shown.replace(/\\n\n/g, '\\n') : shown)).toBe(text);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it("draws C0 marks in the composer's escape syntax: pasted there, they send the same bytes", () => {
    fc.assert(
      // eslint-disable-next-line no-control-regex -- controls are the point
      fc.property(fc.stringMatching(/^[\x00-\x7f]{0,40}$/), (text) => {
        const parsed = parseEscapes(toPrintableText(text));
        expect(
          parsed
            .map((part) => (typeof part === 'string' ? part : decodeText(part, 'latin1')))
            .join(''),
        ).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decodeText', () => {
  it('decodes utf-8, replacing invalid bytes with U+FFFD', () => {
    expect(decodeText(hex('68c3a96c6c6f'), 'utf-8')).toBe('héllo');
    expect(decodeText(hex('61ff62'), 'utf-8')).toBe('a\ufffdb');
    expect(decodeText(hex('f09f9880'), 'utf-8')).toBe('😀');
  });

  it('keeps a byte order mark, since a byte-exact view hides nothing', () => {
    expect(decodeText(hex('efbbbf41'), 'utf-8')).toBe('\ufeffA');
    expect(decodeText(hex('fffe4100'), 'utf-16le')).toBe('\ufeffA');
    expect(decodeText(hex('feff0041'), 'utf-16be')).toBe('\ufeffA');
  });

  it('decodes utf-16 in both byte orders', () => {
    expect(decodeText(hex('41003dd800de'), 'utf-16le')).toBe('A😀');
    expect(decodeText(hex('0041d83dde00'), 'utf-16be')).toBe('A😀');
    expect(decodeText(hex('4100ff'), 'utf-16le')).toBe('A\ufffd');
  });

  it('decodes latin1 as real ISO-8859-1, not windows-1252', () => {
    expect(decodeText(bytes(0x80, 0x9f, 0xe9, 0xff), 'latin1')).toBe('\u0080\u009fé\u00ff');
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(decodeText(all, 'latin1')).toBe(String.fromCharCode(...all));
  });

  it('decodes ascii, with U+FFFD for bytes above 0x7f', () => {
    expect(decodeText(hex('41807f'), 'ascii')).toBe('A\ufffd\x7f');
  });

  it('decodes the table encodings', () => {
    expect(decodeText(hex('c4e3bac3'), 'gbk')).toBe('你好');
    expect(decodeText(hex('c4e3bac3a2e39439fc36'), 'gb18030')).toBe('你好€😀');
    expect(decodeText(hex('a4a4a4e5'), 'big5')).toBe('中文');
    expect(decodeText(hex('82b182f182c982bf82cd'), 'shift_jis')).toBe('こんにちは');
    expect(decodeText(hex('c7d1b1b9'), 'euc-kr')).toBe('한국');
  });

  it('decodes large inputs', () => {
    const big = new Uint8Array(100_000).fill(0xe9);
    expect(decodeText(big, 'latin1')).toBe('é'.repeat(100_000));
    expect(decodeText(big, 'ascii')).toBe('\ufffd'.repeat(100_000));
  });

  it('has a decoder for every contract encoding', () => {
    for (const encoding of textEncodings) {
      expect(decodeText(ascii('hello'), encoding).length).toBeGreaterThan(0);
    }
  });

  it('gives back what encodeText wrote, for utf-8, utf-16 and latin1', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.constantFrom(...(['utf-8', 'utf-16le', 'utf-16be'] as const)),
        (text, encoding) => {
          expect(decodeText(encodeText(text, encoding), encoding)).toBe(text);
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 80 }), (text) => {
        expect(decodeText(encodeText(text, 'latin1'), 'latin1')).toBe(text);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('decodes a stream whose characters are split across chunks', () => {
    const decoder = createTextDecoder('utf-8');
    const encoded = ascii('a你😀b');
    let text = '';
    for (const byte of encoded) text += decoder.decode(bytes(byte), true);
    text += decoder.decode(new Uint8Array(0));
    expect(text).toBe('a你😀b');

    const gbk = createTextDecoder('gbk');
    expect(gbk.decode(hex('c4'), true) + gbk.decode(hex('e3'), true)).toBe('你');
    expect(createTextDecoder('latin1').decode(hex('e9'), true)).toBe('é');
  });
});
