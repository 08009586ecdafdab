/**
 * The app icon (resources/icon.png, drawn by scripts/make-icon.mjs): a real 512×512 RGBA PNG
 * that every platform's packaging accepts (macOS needs at least 512×512), with a transparent
 * margin around a rounded square, and the one the window is given.
 */
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);

/** The PNG's size, colour type and RGBA pixels (8-bit RGBA, non-interlaced, as written). */
function decodePng(png: Buffer): {
  width: number;
  height: number;
  colourType: number;
  pixels: Buffer;
} {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let offset = 8;
  let header: Buffer | undefined;
  const data: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('ascii', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') header = body;
    if (type === 'IDAT') data.push(body);
    offset += 12 + length;
    if (type === 'IEND') break;
  }
  expect(header).toBeDefined();
  const width = header!.readUInt32BE(0);
  const height = header!.readUInt32BE(4);
  expect([header![8], header![10], header![11], header![12]]).toEqual([8, 0, 0, 0]);
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * 4;
  expect(raw.length).toBe((stride + 1) * height);
  const pixels = Buffer.alloc(stride * height);
  for (let row = 0; row < height; row++) {
    const filter = raw[row * (stride + 1)]!;
    expect(filter, `row ${row}: a standard PNG filter`).toBeLessThanOrEqual(4);
    for (let i = 0; i < stride; i++) {
      const x = raw[row * (stride + 1) + 1 + i]!;
      const left = i >= 4 ? pixels[row * stride + i - 4]! : 0;
      const up = row > 0 ? pixels[(row - 1) * stride + i]! : 0;
      const upLeft = row > 0 && i >= 4 ? pixels[(row - 1) * stride + i - 4]! : 0;
      const paeth = (): number => {
        const p = left + up - upLeft;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        return pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      };
      const predictor =
        filter === 0
          ? 0
          : filter === 1
            ? left
            : filter === 2
              ? up
              : filter === 3
                ? (left + up) >> 1
                : paeth();
      pixels[row * stride + i] = (x + predictor) & 0xff;
    }
  }
  return { width, height, colourType: header![9]!, pixels };
}

describe('resources/icon.png', () => {
  const icon = decodePng(readFileSync(new URL('resources/icon.png', root)));
  const alphaAt = (x: number, y: number): number => icon.pixels[(y * icon.width + x) * 4 + 3]!;

  it('is a 512×512 RGBA PNG', () => {
    expect([icon.width, icon.height, icon.colourType]).toEqual([512, 512, 6]);
  });

  it('has transparent corners around an opaque rounded square', () => {
    for (const [x, y] of [
      [0, 0],
      [511, 0],
      [0, 511],
      [511, 511],
      [40, 40],
    ] as const) {
      expect(alphaAt(x, y), `(${x}, ${y})`).toBe(0);
    }
    for (const [x, y] of [
      [256, 256],
      [256, 60],
      [60, 256],
      [452, 256],
    ] as const) {
      expect(alphaAt(x, y), `(${x}, ${y})`).toBe(255);
    }
  });

  it('is what the window uses, compiled into the main bundle', () => {
    const main = readFileSync(new URL('src/main/index.ts', root), 'utf8');
    expect(main).toMatch(/from '\.\.\/\.\.\/resources\/icon\.png\?inline'/);
    expect(main).toMatch(/icon: nativeImage\.createFromDataURL\(appIconDataUrl\)/);
  });

  it('has its SVG source beside it, drawn from the same script', () => {
    const svg = readFileSync(new URL('resources/icon.svg', root), 'utf8');
    expect(svg).toMatch(/^<svg [^>]*viewBox="0 0 512 512"/);
    expect(svg).toContain('scripts/make-icon.mjs');
  });
});
