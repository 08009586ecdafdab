import { describe, it, expect, vi, afterEach } from 'vitest';
import fc from 'fast-check';
import {
  allChecksums,
  appendChecksum,
  checksum,
  checksumBytes,
  checksumModels,
  checksumSpecSchema,
  checksumWidth,
  type ChecksumModel,
  type ChecksumSpec,
} from '../../src/shared/checksum';

const FUZZ_RUNS = 2_000;

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.replace(/\s+/g, '').match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

const ascii = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

const CHECK_INPUT = ascii('123456789');

/** Published check values over ASCII "123456789" (the CRC RevEng catalogue for the CRCs). */
const checkValues: Record<ChecksumModel, number> = {
  crc8: 0xf4, // CRC-8/SMBUS
  'crc16-modbus': 0x4b37,
  'crc16-ccitt-false': 0x29b1, // CRC-16/IBM-3740
  'crc16-xmodem': 0x31c3,
  'crc16-arc': 0xbb3d,
  'crc16-kermit': 0x2189,
  crc32: 0xcbf43926, // CRC-32/ISO-HDLC
  crc32c: 0xe3069283, // CRC-32/ISCSI
  sum8: 0xdd,
  sum16: 0x01dd,
  xor8: 0x31,
  lrc: 0x23,
};

const widths: Record<ChecksumModel, 1 | 2 | 4> = {
  crc8: 1,
  'crc16-modbus': 2,
  'crc16-ccitt-false': 2,
  'crc16-xmodem': 2,
  'crc16-arc': 2,
  'crc16-kermit': 2,
  crc32: 4,
  crc32c: 4,
  sum8: 1,
  sum16: 2,
  xor8: 1,
  lrc: 1,
};

/**
 * An independent bit-at-a-time CRC from each model's catalogue parameters, to check the library's
 * tables on inputs other than the check string.
 */
const crcParams: Partial<
  Record<
    ChecksumModel,
    { width: number; poly: number; init: number; reflected: boolean; xorout: number }
  >
> = {
  crc8: { width: 8, poly: 0x07, init: 0, reflected: false, xorout: 0 },
  'crc16-modbus': { width: 16, poly: 0x8005, init: 0xffff, reflected: true, xorout: 0 },
  'crc16-ccitt-false': { width: 16, poly: 0x1021, init: 0xffff, reflected: false, xorout: 0 },
  'crc16-xmodem': { width: 16, poly: 0x1021, init: 0, reflected: false, xorout: 0 },
  'crc16-arc': { width: 16, poly: 0x8005, init: 0, reflected: true, xorout: 0 },
  'crc16-kermit': { width: 16, poly: 0x1021, init: 0, reflected: true, xorout: 0 },
  crc32: { width: 32, poly: 0x04c11db7, init: 0xffffffff, reflected: true, xorout: 0xffffffff },
  crc32c: { width: 32, poly: 0x1edc6f41, init: 0xffffffff, reflected: true, xorout: 0xffffffff },
};

function reflect(value: number, width: number): number {
  let out = 0;
  for (let i = 0; i < width; i++) if (value & (2 ** i)) out += 2 ** (width - 1 - i);
  return out;
}

function referenceCrc(model: ChecksumModel, data: Uint8Array): number {
  const p = crcParams[model]!;
  const mask = 2 ** p.width - 1;
  if (p.reflected) {
    // init values of these models are bit-symmetric, so they need no reflecting
    const poly = reflect(p.poly, p.width);
    let crc = p.init;
    for (const byte of data) {
      crc = (crc ^ byte) >>> 0;
      for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? ((crc >>> 1) ^ poly) >>> 0 : crc >>> 1;
    }
    return ((crc ^ p.xorout) >>> 0) % 2 ** p.width;
  }
  const top = 2 ** (p.width - 1);
  let crc = p.init;
  for (const byte of data) {
    crc ^= byte << (p.width - 8);
    for (let bit = 0; bit < 8; bit++)
      crc = crc & top ? ((crc << 1) ^ p.poly) & mask : (crc << 1) & mask;
  }
  return (crc ^ p.xorout) & mask;
}

function spec(overrides: Partial<ChecksumSpec> & Pick<ChecksumSpec, 'model'>): ChecksumSpec {
  return { endian: 'big', as: 'bytes', ...overrides };
}

/** Runs `fn`, which must throw a RangeError, and returns its message. */
function rangeErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RangeError);
    return (error as RangeError).message;
  }
  throw new Error('expected a RangeError');
}

describe('checksum models', () => {
  it('lists each model once, in the documented order', () => {
    expect(checksumModels).toEqual([
      'crc8',
      'crc16-modbus',
      'crc16-ccitt-false',
      'crc16-xmodem',
      'crc16-arc',
      'crc16-kermit',
      'crc32',
      'crc32c',
      'sum8',
      'sum16',
      'xor8',
      'lrc',
    ]);
  });

  it.each(checksumModels)('%s gives its published check value for "123456789"', (model) => {
    expect(checksum(model, CHECK_INPUT)).toBe(checkValues[model]);
  });

  it.each(checksumModels)('%s has its width', (model) => {
    expect(checksumWidth(model)).toBe(widths[model]);
  });

  it('the reference CRC agrees with the published check values', () => {
    for (const model of Object.keys(crcParams) as ChecksumModel[]) {
      expect(referenceCrc(model, CHECK_INPUT), model).toBe(checkValues[model]);
    }
  });

  it('every CRC model agrees with a bit-at-a-time reference on any bytes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(crcParams) as ChecksumModel[])),
        fc.uint8Array({ maxLength: 300 }),
        (model, data) => {
          expect(checksum(model, data)).toBe(referenceCrc(model, data));
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('sums, XOR and LRC follow their definitions on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2_000 }), (data) => {
        const total = data.reduce((acc, b) => acc + b, 0);
        expect(checksum('sum8', data)).toBe(total % 256);
        expect(checksum('sum16', data)).toBe(total % 65536);
        expect(checksum('xor8', data)).toBe(data.reduce((acc, b) => acc ^ b, 0));
        // The LRC is what makes the bytes sum to 0 mod 256.
        expect((total + checksum('lrc', data)) % 256).toBe(0);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('sum-16 wraps past 65535', () => {
    const data = new Uint8Array(300).fill(0xff); // 300 * 255 = 76500 = 0x12AD4
    expect(checksum('sum16', data)).toBe(76500 % 65536);
    expect(checksum('sum8', data)).toBe(76500 % 256);
  });

  it('reads a Uint8Array view at an offset as just its own bytes', () => {
    const backing = ascii('xx123456789yy');
    const view = backing.subarray(2, 11);
    for (const model of checksumModels) {
      expect(checksum(model, view), model).toBe(checkValues[model]);
    }
  });

  it('returns unsigned values, also for CRC-32 with its top bit set', () => {
    expect(checksum('crc32', CHECK_INPUT)).toBe(3421780262);
    expect(checksum('crc32c', CHECK_INPUT)).toBe(3808858755);
  });

  it('knows the values over no bytes', () => {
    const empty = new Uint8Array(0);
    expect(checksum('crc16-modbus', empty)).toBe(0xffff);
    expect(checksum('crc16-ccitt-false', empty)).toBe(0xffff);
    expect(checksum('crc32', empty)).toBe(0);
    expect(checksum('crc32c', empty)).toBe(0);
    expect(checksum('lrc', empty)).toBe(0);
  });

  it('refuses a model it does not know', () => {
    expect(() => checksum('crc64' as ChecksumModel, CHECK_INPUT)).toThrow(RangeError);
    expect(() => checksumWidth('toString' as ChecksumModel)).toThrow(/Unknown checksum model/);
  });
});

describe('works without Node', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('computes every model and appends with no Buffer global (the renderer has none)', () => {
    vi.stubGlobal('Buffer', undefined);
    expect(allChecksums(CHECK_INPUT).map((c) => c.value)).toEqual(
      checksumModels.map((m) => checkValues[m]),
    );
    expect(appendChecksum(spec({ model: 'crc32c' }), CHECK_INPUT)).toEqual(
      Uint8Array.from([...CHECK_INPUT, 0xe3, 0x06, 0x92, 0x83]),
    );
  });
});

describe('Modbus', () => {
  it('appends the RTU CRC low byte first: 01 03 00 00 00 0A -> C5 CD', () => {
    const request = hex('01 03 00 00 00 0A');
    expect(checksum('crc16-modbus', request)).toBe(0xcdc5);
    const rtu = spec({ model: 'crc16-modbus', endian: 'little' });
    expect(checksumBytes(rtu, request)).toEqual(hex('C5 CD'));
    expect(appendChecksum(rtu, request)).toEqual(hex('01 03 00 00 00 0A C5 CD'));
  });

  it('a full RTU frame with its CRC checks to a zero remainder', () => {
    // CRC-16/MODBUS over a frame that ends with its own CRC (low byte first) is 0.
    const frame = hex('01 03 00 00 00 0A C5 CD');
    expect(checksum('crc16-modbus', frame)).toBe(0);
  });

  it('sends the ASCII LRC as two uppercase hex digits: :010300000001 -> FB', () => {
    // Modbus ASCII computes the LRC over the bytes the hex characters stand for.
    const pdu = hex('01 03 00 00 00 01');
    expect(checksum('lrc', pdu)).toBe(0xfb);
    const lrc = checksumBytes(spec({ model: 'lrc', as: 'hex' }), pdu);
    expect(text(lrc)).toBe('FB');
    const frame = `:010300000001${text(lrc)}\r\n`;
    expect(frame).toBe(':010300000001FB\r\n');
  });
});

describe('checksumBytes: ranges', () => {
  // A header byte, the covered bytes, a trailer byte.
  const framed = Uint8Array.from([0xaa, ...CHECK_INPUT, 0x55]);

  it('covers the whole payload by default', () => {
    expect(checksumBytes(spec({ model: 'crc16-xmodem' }), CHECK_INPUT)).toEqual(hex('31 C3'));
  });

  it('skips a header and a trailer: from 1, to -1', () => {
    expect(checksumBytes(spec({ model: 'crc16-modbus', from: 1, to: -1 }), framed)).toEqual(
      hex('4B 37'),
    );
    expect(checksumBytes(spec({ model: 'crc16-modbus', from: 1, to: 10 }), framed)).toEqual(
      hex('4B 37'),
    );
  });

  it('counts a negative start from the end', () => {
    const payload = Uint8Array.from([0x01, 0x02, 0x03, ...CHECK_INPUT]);
    expect(checksumBytes(spec({ model: 'crc8', from: -9 }), payload)).toEqual(bytes(0xf4));
    expect(checksumBytes(spec({ model: 'sum8', from: -1 }), payload)).toEqual(bytes(0x39));
    expect(checksumBytes(spec({ model: 'sum8', from: -12 }), payload)).toEqual(
      bytes((0x01 + 0x02 + 0x03 + 0xdd) & 0xff),
    );
  });

  it('takes start and end at the payload edges', () => {
    expect(checksumBytes(spec({ model: 'xor8', from: 0, to: 11 }), framed)).toEqual(
      bytes(0xaa ^ 0x31 ^ 0x55),
    );
    expect(checksumBytes(spec({ model: 'xor8', from: 10 }), framed)).toEqual(bytes(0x55));
    expect(checksumBytes(spec({ model: 'xor8', from: -11, to: -10 }), framed)).toEqual(bytes(0xaa));
  });

  it('refuses an empty payload', () => {
    const message = rangeErrorOf(() => checksumBytes(spec({ model: 'crc8' }), new Uint8Array(0)));
    expect(message).toBe('The checksum has no bytes to cover: the payload is empty');
    expect(() => appendChecksum(spec({ model: 'lrc' }), new Uint8Array(0))).toThrow(RangeError);
  });

  it('refuses a range that covers no bytes', () => {
    expect(rangeErrorOf(() => checksumBytes(spec({ model: 'crc8', from: 3, to: 3 }), framed))).toBe(
      'Checksum range (from 3 to 3) covers no bytes in a 11-byte payload (bytes 3 to 3)',
    );
    expect(
      rangeErrorOf(() => checksumBytes(spec({ model: 'crc8', from: 5, to: 2 }), framed)),
    ).toMatch(/covers no bytes/);
    expect(
      rangeErrorOf(() => checksumBytes(spec({ model: 'crc8', from: -1, to: -1 }), framed)),
    ).toMatch(/covers no bytes in a 11-byte payload \(bytes 10 to 10\)/);
    expect(rangeErrorOf(() => checksumBytes(spec({ model: 'crc8', from: 11 }), framed))).toMatch(
      /covers no bytes/,
    );
  });

  it('refuses a range outside the payload', () => {
    expect(rangeErrorOf(() => checksumBytes(spec({ model: 'crc8', from: 12 }), framed))).toBe(
      'Checksum range start 12 is outside the payload: in a 11-byte payload it must be from -11 to 11',
    );
    expect(rangeErrorOf(() => checksumBytes(spec({ model: 'crc8', from: -12 }), framed))).toMatch(
      /start -12 is outside the payload/,
    );
    expect(rangeErrorOf(() => checksumBytes(spec({ model: 'crc8', to: 12 }), framed))).toMatch(
      /end 12 is outside the payload/,
    );
    expect(rangeErrorOf(() => checksumBytes(spec({ model: 'crc8', to: -12 }), framed))).toMatch(
      /end -12 is outside the payload/,
    );
  });

  it('refuses a bound that is not a whole number', () => {
    expect(rangeErrorOf(() => checksumBytes(spec({ model: 'crc8', from: 1.5 }), framed))).toMatch(
      /must be whole numbers/,
    );
    expect(rangeErrorOf(() => checksumBytes(spec({ model: 'crc8', to: NaN }), framed))).toMatch(
      /must be whole numbers/,
    );
  });
});

describe('checksumBytes: byte order and hex', () => {
  it('writes a value big-endian or little-endian', () => {
    expect(checksumBytes(spec({ model: 'crc32' }), CHECK_INPUT)).toEqual(hex('CB F4 39 26'));
    expect(checksumBytes(spec({ model: 'crc32', endian: 'little' }), CHECK_INPUT)).toEqual(
      hex('26 39 F4 CB'),
    );
    expect(checksumBytes(spec({ model: 'sum16' }), CHECK_INPUT)).toEqual(hex('01 DD'));
    expect(checksumBytes(spec({ model: 'sum16', endian: 'little' }), CHECK_INPUT)).toEqual(
      hex('DD 01'),
    );
  });

  it('ignores byte order for a one-byte value', () => {
    expect(checksumBytes(spec({ model: 'lrc', endian: 'little' }), CHECK_INPUT)).toEqual(
      bytes(0x23),
    );
    expect(checksumBytes(spec({ model: 'lrc', endian: 'big' }), CHECK_INPUT)).toEqual(bytes(0x23));
  });

  it("writes 'hex' as uppercase ASCII digits, two a byte, in the chosen byte order", () => {
    const asText = (s: Partial<ChecksumSpec> & Pick<ChecksumSpec, 'model'>) =>
      text(checksumBytes(spec({ ...s, as: 'hex' }), CHECK_INPUT));
    expect(asText({ model: 'crc32' })).toBe('CBF43926');
    expect(asText({ model: 'crc32', endian: 'little' })).toBe('2639F4CB');
    expect(asText({ model: 'crc16-modbus' })).toBe('4B37');
    expect(asText({ model: 'crc16-modbus', endian: 'little' })).toBe('374B');
    expect(asText({ model: 'sum16' })).toBe('01DD');
    expect(asText({ model: 'crc8', from: -1 })).toBe(
      checksum('crc8', ascii('9')).toString(16).toUpperCase().padStart(2, '0'),
    );
    expect(text(appendChecksum(spec({ model: 'xor8', as: 'hex' }), ascii('AB')))).toBe('AB03');
  });
});

describe('allChecksums', () => {
  it('gives every model over a selection, in order, hex zero-padded and uppercase', () => {
    const frame = hex('AA 31 32 33 34 35 36 37 38 39 55');
    const selection = frame.subarray(1, 10);
    const all = allChecksums(selection);
    expect(all.map((c) => c.model)).toEqual([...checksumModels]);
    expect(Object.fromEntries(all.map((c) => [c.model, c.hex]))).toEqual({
      crc8: 'F4',
      'crc16-modbus': '4B37',
      'crc16-ccitt-false': '29B1',
      'crc16-xmodem': '31C3',
      'crc16-arc': 'BB3D',
      'crc16-kermit': '2189',
      crc32: 'CBF43926',
      crc32c: 'E3069283',
      sum8: 'DD',
      sum16: '01DD',
      xor8: '31',
      lrc: '23',
    });
    for (const c of all) expect(c.value).toBe(checkValues[c.model]);
  });

  it('pads small values to the full width', () => {
    const all = Object.fromEntries(allChecksums(bytes(0x01)).map((c) => [c.model, c.hex]));
    expect(all.sum16).toBe('0001');
    expect(all.sum8).toBe('01');
    expect(all.lrc).toBe('FF');
    expect(all['crc16-xmodem']).toBe('1021');
    expect(all.crc8).toBe('07');
  });

  it('takes an empty selection', () => {
    const all = allChecksums(new Uint8Array(0));
    expect(all).toHaveLength(checksumModels.length);
    expect(all.find((c) => c.model === 'crc32')).toEqual({
      model: 'crc32',
      value: 0,
      hex: '00000000',
    });
  });

  it('hex always spells value in exactly two digits a byte of the width', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        for (const { model, value, hex: digits } of allChecksums(data)) {
          expect(digits).toMatch(new RegExp(`^[0-9A-F]{${2 * checksumWidth(model)}}$`));
          expect(parseInt(digits, 16)).toBe(value);
          expect(value).toBe(checksum(model, data));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('checksumSpecSchema', () => {
  it('fills the defaults: from 0, big-endian, bytes', () => {
    expect(checksumSpecSchema.parse({ model: 'crc16-modbus' })).toEqual({
      model: 'crc16-modbus',
      from: 0,
      endian: 'big',
      as: 'bytes',
    });
    expect(
      checksumSpecSchema.parse({ model: 'lrc', from: 1, to: -2, endian: 'little', as: 'hex' }),
    ).toEqual({ model: 'lrc', from: 1, to: -2, endian: 'little', as: 'hex' });
  });

  it('gives a spec checksumBytes takes', () => {
    const parsed = checksumSpecSchema.parse({ model: 'crc16-modbus', endian: 'little' });
    expect(checksumBytes(parsed, hex('01 03 00 00 00 0A'))).toEqual(hex('C5 CD'));
  });

  it('refuses what is not a spec, saying what is wrong', () => {
    const issue = (input: unknown) => {
      const result = checksumSpecSchema.safeParse(input);
      expect(result.success).toBe(false);
      return result.error!.issues[0]!.message;
    };
    expect(issue({ model: 'crc64' })).toMatch(/Checksum model must be one of: crc8, crc16-modbus/);
    expect(issue({})).toMatch(/Checksum model must be one of/);
    expect(issue({ model: 'crc8', from: 1.5 })).toBe(
      'The checksum range start must be a whole number',
    );
    expect(issue({ model: 'crc8', to: '3' })).toBe('The checksum range end must be a number');
    expect(issue({ model: 'crc8', endian: 'middle' })).toBe("Byte order must be 'big' or 'little'");
    expect(issue({ model: 'crc8', as: 'base64' })).toBe("Checksum output must be 'bytes' or 'hex'");
    expect(checksumSpecSchema.safeParse({ model: 'crc8', extra: true }).success).toBe(false);
  });
});

describe('properties', () => {
  /** A payload and a non-empty range in it, written with positive or negative bounds. */
  const arbitraryCase = fc
    .record({
      model: fc.constantFrom(...checksumModels),
      endian: fc.constantFrom('big' as const, 'little' as const),
      as: fc.constantFrom('bytes' as const, 'hex' as const),
      payload: fc.uint8Array({ minLength: 1, maxLength: 64 }),
      offset: fc.nat({ max: 7 }),
      picks: fc.tuple(fc.nat(), fc.nat(), fc.boolean(), fc.boolean(), fc.boolean()),
    })
    .map(({ model, endian, as, payload, offset, picks }) => {
      // The payload as a view at an offset into a larger buffer, as capture slices are.
      const backing = new Uint8Array(payload.length + offset + 3).fill(0xee);
      backing.set(payload, offset);
      const view = backing.subarray(offset, offset + payload.length);
      const n = payload.length;
      const [a, b, negativeFrom, negativeTo, openEnd] = picks;
      const start = a % n;
      const end = start + 1 + (b % (n - start));
      const from = negativeFrom ? start - n : start;
      const to = openEnd && end === n ? undefined : negativeTo ? end - n : end;
      // A negative end of 0 would mean "0 from the end" = nothing; write n - n as n instead.
      const spec: ChecksumSpec = { model, endian, as, from, to: to === 0 ? n : to };
      return { spec, payload: view, start, end };
    });

  it('appendChecksum(spec, p) is p followed by checksumBytes(spec, p), of the model width', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ spec, payload, start, end }) => {
        const tail = checksumBytes(spec, payload);
        const frame = appendChecksum(spec, payload);
        expect(tail).toHaveLength(checksumWidth(spec.model) * (spec.as === 'hex' ? 2 : 1));
        expect(frame).toHaveLength(payload.length + tail.length);
        expect(frame.subarray(0, payload.length)).toEqual(payload);
        expect(frame.subarray(payload.length)).toEqual(tail);
        // The tail is the model over exactly the chosen range.
        const value = checksum(spec.model, payload.slice(start, end));
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThan(2 ** (8 * checksumWidth(spec.model)));
        expect(Number.isInteger(value)).toBe(true);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('a receiver recomputes the same checksum over the appended frame', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ spec, payload, start, end }) => {
        const frame = appendChecksum(spec, payload);
        const tailLength = frame.length - payload.length;
        // The same bytes, addressed in the frame: from the front, and from the frame's end.
        const fromFront: ChecksumSpec = { ...spec, from: start, to: end };
        const fromEnd: ChecksumSpec = {
          ...spec,
          from: start - frame.length,
          to: end - frame.length,
        };
        const received = frame.subarray(payload.length);
        expect(checksumBytes(fromFront, frame)).toEqual(received);
        expect(checksumBytes(fromEnd, frame)).toEqual(received);
        expect(tailLength).toBe(received.length);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('bytes and hex spell the same value in the same byte order', () => {
    fc.assert(
      fc.property(arbitraryCase, ({ spec, payload }) => {
        const raw = checksumBytes({ ...spec, as: 'bytes' }, payload);
        const digits = text(checksumBytes({ ...spec, as: 'hex' }, payload));
        expect(digits).toBe(
          Array.from(raw, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(''),
        );
        const little = checksumBytes({ ...spec, as: 'bytes', endian: 'little' }, payload);
        const big = checksumBytes({ ...spec, as: 'bytes', endian: 'big' }, payload);
        expect(Array.from(little).reverse()).toEqual(Array.from(big));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});
