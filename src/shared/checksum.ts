/**
 * Checksums a 网络调试助手 (serial/network debug assistant) user needs: the common CRC models,
 * byte sums, XOR (BCC) and the Modbus ASCII LRC, over a byte range of a payload, appended as bytes
 * in either byte order or as ASCII hex digits. Runs in the engine and in the renderer, so this file
 * stays pure: no node:*, no Buffer, no DOM; Uint8Array only.
 *
 * The CRCs come from `js-crc` (emn178/js-crc, MIT, no dependencies): the whole RevEng CRC
 * catalogue under its catalogue names (`crc_16_ibm_3740`, `crc_32_iscsi`, ...), each tested
 * upstream against its check value, computed in plain JavaScript over a Uint8Array. Its UMD files
 * load as CommonJS in Node and in the bundle, so the models module is taken as a default import.
 * (Its models.d.ts types each model as `any`: its `import { Model } from "."` resolves to the
 * untyped src/crc.js. Hence the explicit `Model` from the package root below.)
 *
 * Why not `crc` (alexgorbatchev/crc), the first choice: its `crc/calculators/*` functions are pure
 * and take a Uint8Array, but (1) it has no CRC-32C, and (2) their typings import `Buffer` from
 * 'buffer' under `/// <reference types="node" />`, which pulls @types/node into the renderer's
 * type-check (tsconfig.web.json, `types: []`, covers src/shared): `Buffer` and `process` would
 * then type-check in renderer and shared code, losing the guard that keeps them pure. Its
 * top-level modules (`crc/crc16modbus`, ...) call `Buffer.from` at run time as well. `crc-32`
 * (SheetJS) has CRC-32 and CRC-32C with clean typings but no CRC-8 or CRC-16, so `crc` plus
 * `crc-32` would be two packages and still the typings leak; `js-crc` is one package for all
 * eight models (about 2x slower than `crc`'s tables: a few ms per MiB, fine for a 16 MiB send).
 */
import type { Model as CrcModel } from 'js-crc';
import crcModels from 'js-crc/models';
import { z } from 'zod';

export const checksumModels = [
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
] as const;
export type ChecksumModel = (typeof checksumModels)[number];

function sum(bytes: Uint8Array, mask: number): number {
  let total = 0;
  for (let i = 0; i < bytes.length; i++) total = (total + bytes[i]!) & mask;
  return total;
}

function xor8(bytes: Uint8Array): number {
  let value = 0;
  for (let i = 0; i < bytes.length; i++) value ^= bytes[i]!;
  return value;
}

/** A catalogue CRC model from js-crc, as an unsigned number (js-crc gives its bytes, MSB first). */
function crcOf(model: CrcModel): (bytes: Uint8Array) => number {
  return (bytes) => model.array(bytes).reduce((value, byte) => value * 256 + byte, 0);
}

const models: Record<ChecksumModel, { width: 1 | 2 | 4; compute: (bytes: Uint8Array) => number }> =
  {
    /** CRC-8/SMBUS, the plain CRC-8: poly 0x07, init 0, not reflected, no final XOR. */
    crc8: { width: 1, compute: crcOf(crcModels.crc_8_smbus) },
    /** CRC-16/MODBUS: poly 0x8005 reflected, init 0xFFFF. */
    'crc16-modbus': { width: 2, compute: crcOf(crcModels.crc_16_modbus) },
    /** CRC-16/IBM-3740, a.k.a. CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected. */
    'crc16-ccitt-false': { width: 2, compute: crcOf(crcModels.crc_16_ibm_3740) },
    /** CRC-16/XMODEM: poly 0x1021, init 0, not reflected. */
    'crc16-xmodem': { width: 2, compute: crcOf(crcModels.crc_16_xmodem) },
    /** CRC-16/ARC (IBM): poly 0x8005 reflected, init 0. */
    'crc16-arc': { width: 2, compute: crcOf(crcModels.crc_16_arc) },
    /** CRC-16/KERMIT: poly 0x1021 reflected, init 0. */
    'crc16-kermit': { width: 2, compute: crcOf(crcModels.crc_16_kermit) },
    /** CRC-32/ISO-HDLC (zip, Ethernet): poly 0x04C11DB7 reflected, init and final XOR 0xFFFFFFFF. */
    crc32: { width: 4, compute: crcOf(crcModels.crc_32_iso_hdlc) },
    /** CRC-32C (Castagnoli, CRC-32/ISCSI): poly 0x1EDC6F41 reflected, init and final XOR all ones. */
    crc32c: { width: 4, compute: crcOf(crcModels.crc_32_iscsi) },
    /** Sum of the bytes, mod 256. */
    sum8: { width: 1, compute: (b) => sum(b, 0xff) },
    /** Sum of the bytes, mod 65536. */
    sum16: { width: 2, compute: (b) => sum(b, 0xffff) },
    /** XOR of the bytes (BCC, block check character). */
    xor8: { width: 1, compute: xor8 },
    /**
     * LRC as Modbus ASCII uses it: the two's complement of the sum-8, so that the bytes plus their
     * LRC sum to 0 mod 256. Modbus ASCII computes it over the binary bytes the hex characters
     * stand for (not over the characters) and sends it as two uppercase hex digits.
     */
    lrc: { width: 1, compute: (b) => -sum(b, 0xff) & 0xff },
  };

/** Width in bytes of each model's value. */
export function checksumWidth(model: ChecksumModel): 1 | 2 | 4 {
  return modelOf(model).width;
}

/** The checksum value as an unsigned number. */
export function checksum(model: ChecksumModel, bytes: Uint8Array): number {
  return modelOf(model).compute(bytes);
}

function modelOf(model: ChecksumModel) {
  if (!Object.hasOwn(models, model)) {
    throw new RangeError(`Unknown checksum model ${JSON.stringify(model)}`);
  }
  return models[model];
}

export interface ChecksumSpec {
  model: ChecksumModel;
  /**
   * Byte range of the payload it covers: start (inclusive, negative counts from the end) and end
   * (exclusive; negative from the end; undefined = to the end).
   */
  from?: number;
  to?: number;
  /**
   * Byte order of a value wider than one byte. The user chooses: MODBUS RTU sends its CRC
   * little-endian (low byte first), most other protocols big-endian.
   */
  endian: 'big' | 'little';
  /**
   * 'bytes': the value's bytes; 'hex': its ASCII hex digits (uppercase, 2 per byte, in the byte
   * order `endian` gives), as Modbus ASCII LRC is sent.
   */
  as: 'bytes' | 'hex';
}

/** Accepts a range bound: a whole number (zod 4's int() also keeps it a safe integer). */
const boundSchema = (what: string) =>
  z.number({ error: `${what} must be a number` }).int({ error: `${what} must be a whole number` });

/**
 * A ChecksumSpec as a command takes it. Defaults: from 0, to the end, endian 'big' (MODBUS RTU
 * wants 'little': the user chooses, see ChecksumSpec.endian), as 'bytes'.
 */
export const checksumSpecSchema = z.strictObject({
  model: z.enum(checksumModels, {
    error: `Checksum model must be one of: ${checksumModels.join(', ')}`,
  }),
  from: boundSchema('The checksum range start').default(0),
  to: boundSchema('The checksum range end').optional(),
  endian: z
    .enum(['big', 'little'], { error: "Byte order must be 'big' or 'little'" })
    .default('big'),
  as: z
    .enum(['bytes', 'hex'], { error: "Checksum output must be 'bytes' or 'hex'" })
    .default('bytes'),
}) satisfies z.ZodType<ChecksumSpec>;

/** [start, end) of `spec`'s range in a payload of `length` bytes, or a RangeError saying why not. */
function resolveRange(spec: ChecksumSpec, length: number): [number, number] {
  const from = spec.from ?? 0;
  const to = spec.to;
  const shown = `from ${from}${to === undefined ? '' : ` to ${to}`}`;
  const where = `in a ${length}-byte payload`;
  if (!Number.isSafeInteger(from) || (to !== undefined && !Number.isSafeInteger(to))) {
    throw new RangeError(`Checksum range (${shown}) must be whole numbers`);
  }
  if (from > length || from < -length) {
    throw new RangeError(
      `Checksum range start ${from} is outside the payload: ${where} it must be from ${-length} to ${length}`,
    );
  }
  if (to !== undefined && (to > length || to < -length)) {
    throw new RangeError(
      `Checksum range end ${to} is outside the payload: ${where} it must be from ${-length} to ${length}`,
    );
  }
  const start = from < 0 ? length + from : from;
  const end = to === undefined ? length : to < 0 ? length + to : to;
  if (start >= end) {
    throw new RangeError(
      length === 0
        ? 'The checksum has no bytes to cover: the payload is empty'
        : `Checksum range (${shown}) covers no bytes ${where} (bytes ${start} to ${end})`,
    );
  }
  return [start, end];
}

const HEX_DIGITS = '0123456789ABCDEF';

function valueBytes(value: number, width: 1 | 2 | 4, endian: 'big' | 'little'): Uint8Array {
  const out = new Uint8Array(width);
  for (let i = 0; i < width; i++) {
    const shift = 8 * (endian === 'big' ? width - 1 - i : i);
    out[i] = Math.floor(value / 2 ** shift) & 0xff;
  }
  return out;
}

function asciiHex(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) {
    out[2 * i] = HEX_DIGITS.charCodeAt(bytes[i]! >> 4);
    out[2 * i + 1] = HEX_DIGITS.charCodeAt(bytes[i]! & 0x0f);
  }
  return out;
}

/**
 * The bytes to append for `spec` over `payload`. Throws RangeError with a clear message for an
 * empty or out-of-range byte range.
 */
export function checksumBytes(spec: ChecksumSpec, payload: Uint8Array): Uint8Array {
  const { width } = modelOf(spec.model);
  const [start, end] = resolveRange(spec, payload.length);
  const value = checksum(spec.model, payload.subarray(start, end));
  const bytes = valueBytes(value, width, spec.endian);
  return spec.as === 'hex' ? asciiHex(bytes) : bytes;
}

/** payload followed by its checksum bytes. */
export function appendChecksum(spec: ChecksumSpec, payload: Uint8Array): Uint8Array {
  const tail = checksumBytes(spec, payload);
  const out = new Uint8Array(payload.length + tail.length);
  out.set(payload, 0);
  out.set(tail, payload.length);
  return out;
}

/**
 * Every model over `bytes`, for "checksums of the selection": [{ model, value, hex }] with hex
 * zero-padded to the width, uppercase.
 */
export function allChecksums(
  bytes: Uint8Array,
): { model: ChecksumModel; value: number; hex: string }[] {
  return checksumModels.map((model) => {
    const { width, compute } = models[model];
    const value = compute(bytes);
    return {
      model,
      value,
      hex: value
        .toString(16)
        .toUpperCase()
        .padStart(2 * width, '0'),
    };
  });
}
