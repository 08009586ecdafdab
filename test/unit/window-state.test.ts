/**
 * Where the main window opens on the next run (src/main/window-state.ts): what a user who moved,
 * resized or maximised it gets back, and what happens when the file or the displays changed
 * under it. Pure functions and a temporary folder: no Electron binary.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createStateSaver,
  DEFAULT_WINDOW_SIZE,
  MAX_WINDOW_SIDE,
  MIN_WINDOW_SIZE,
  parseWindowState,
  readWindowStateFile,
  restoreWindowState,
  serializeWindowState,
  writeWindowStateFile,
  type WindowState,
} from '../../src/main/window-state';

type Rect = { x: number; y: number; width: number; height: number };

/** A 1920×1080 primary display with a 40 px task bar at the bottom. */
const PRIMARY: Rect = { x: 0, y: 0, width: 1920, height: 1040 };
/** A second display to the right of it, 2560 wide, with a top panel. */
const RIGHT: Rect = { x: 1920, y: 28, width: 2560, height: 1412 };
/** A display left of the primary: negative coordinates are normal there. */
const LEFT: Rect = { x: -1680, y: 0, width: 1680, height: 1050 };

const CENTRED_DEFAULT = { x: 320, y: 120, width: 1280, height: 800 };

function saved(state: Partial<WindowState> & Rect): string {
  return serializeWindowState({ maximized: false, ...state });
}

function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

describe('parseWindowState', () => {
  it('reads back what serializeWindowState wrote', () => {
    const state: WindowState = { x: -1600, y: 40, width: 1000, height: 700, maximized: true };
    expect(parseWindowState(serializeWindowState(state))).toEqual(state);
  });

  it('rounds to whole pixels and treats a missing maximized flag as false', () => {
    expect(parseWindowState('{"x":10.4,"y":20.6,"width":900.5,"height":600}')).toEqual({
      x: 10,
      y: 21,
      width: 901,
      height: 600,
      maximized: false,
    });
  });

  it.each([
    ['no file', null],
    ['an empty file', ''],
    ['whitespace', '  \n'],
    ['broken JSON (a crash mid-write by an older version)', '{"x": 10, "y": '],
    ['JSON null', 'null'],
    ['an array', '[1,2,3,4]'],
    ['a number', '42'],
    ['a missing field', '{"x":0,"y":0,"width":900}'],
    ['a string for a number', '{"x":"0","y":0,"width":900,"height":600}'],
    ['an infinite number', '{"x":1e999,"y":0,"width":900,"height":600}'],
    ['a coordinate far outside any desktop', '{"x":5000000,"y":0,"width":900,"height":600}'],
    ['a width below the window minimum', '{"x":0,"y":0,"width":10,"height":600}'],
    ['a zero height', '{"x":0,"y":0,"width":900,"height":0}'],
    ['a negative size', '{"x":0,"y":0,"width":-900,"height":-600}'],
    ['a size no display has', `{"x":0,"y":0,"width":${MAX_WINDOW_SIDE + 1},"height":600}`],
    [
      'a maximized flag that is not a boolean',
      '{"x":0,"y":0,"width":900,"height":600,"maximized":"yes"}',
    ],
    ['binary garbage', '\u0000\u0001\u00ff\u00fe'],
  ])('returns null for %s', (_what, text) => {
    expect(parseWindowState(text)).toBeNull();
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        const state = parseWindowState(text);
        if (state === null) return;
        expect(state.width).toBeGreaterThanOrEqual(MIN_WINDOW_SIZE.width);
        expect(state.height).toBeGreaterThanOrEqual(MIN_WINDOW_SIZE.height);
        expect(state.width).toBeLessThanOrEqual(MAX_WINDOW_SIDE);
      }),
    );
  });
});

describe('restoreWindowState', () => {
  it('opens a first run at the default size, centred on the primary display', () => {
    expect(restoreWindowState(null, [PRIMARY], PRIMARY)).toEqual({
      ...CENTRED_DEFAULT,
      maximized: false,
    });
  });

  it('centres the default in the work area, below a top panel and beside a dock', () => {
    const area = { x: 70, y: 32, width: 1850, height: 1048 };
    expect(restoreWindowState(null, [area], area)).toEqual({
      x: 70 + 285,
      y: 32 + 124,
      width: 1280,
      height: 800,
      maximized: false,
    });
  });

  it('shrinks the default to fit a small screen (a 1366×768 laptop)', () => {
    const laptop = { x: 0, y: 0, width: 1366, height: 728 };
    expect(restoreWindowState(null, [laptop], laptop)).toEqual({
      x: 43,
      y: 0,
      width: 1280,
      height: 728,
      maximized: false,
    });
  });

  it('opens the window exactly where it was when it is all on screen', () => {
    const where = { x: 200, y: 100, width: 1000, height: 700 };
    expect(restoreWindowState(saved(where), [PRIMARY, RIGHT], PRIMARY)).toEqual({
      ...where,
      maximized: false,
    });
  });

  it('keeps a window on a display left of (or above) the primary, at negative coordinates', () => {
    const where = { x: -1500, y: 50, width: 1200, height: 800 };
    expect(restoreWindowState(saved(where), [PRIMARY, LEFT], PRIMARY)).toEqual({
      ...where,
      maximized: false,
    });
  });

  it('keeps a window that spans two displays where it was', () => {
    const where = { x: 1500, y: 100, width: 1000, height: 700 };
    expect(restoreWindowState(saved(where), [PRIMARY, RIGHT], PRIMARY)).toEqual({
      ...where,
      maximized: false,
    });
  });

  it('brings a maximised window back maximised, over its own normal bounds', () => {
    const where = { x: 2000, y: 100, width: 1400, height: 900 };
    expect(
      restoreWindowState(saved({ ...where, maximized: true }), [PRIMARY, RIGHT], PRIMARY),
    ).toEqual({ ...where, maximized: true });
  });

  it('opens centred on the primary when the display it was on is gone', () => {
    const onRight = { x: 2500, y: 200, width: 1200, height: 800, maximized: true };
    // Unplugged: only the laptop's own display is left. The maximised flag still holds.
    expect(restoreWindowState(saved(onRight), [PRIMARY], PRIMARY)).toEqual({
      ...CENTRED_DEFAULT,
      maximized: true,
    });
  });

  it('opens centred on the primary when most of the window would be off-screen', () => {
    // 200 of 1000 pixels of width on screen: a sliver at the right edge.
    const sliver = { x: 1720, y: 100, width: 1000, height: 700 };
    expect(restoreWindowState(saved(sliver), [PRIMARY], PRIMARY)).toEqual({
      ...CENTRED_DEFAULT,
      maximized: false,
    });
    // Above the top of every display.
    const above = { x: 100, y: -650, width: 1000, height: 700 };
    expect(restoreWindowState(saved(above), [PRIMARY], PRIMARY)).toEqual({
      ...CENTRED_DEFAULT,
      maximized: false,
    });
  });

  it('pulls a window that is mostly on a display fully onto it, keeping its size', () => {
    // 800 of 1000 pixels visible: moved left by the 200 that stuck out.
    const mostly = { x: 1120, y: 100, width: 1000, height: 700 };
    expect(restoreWindowState(saved(mostly), [PRIMARY], PRIMARY)).toEqual({
      x: 920,
      y: 100,
      width: 1000,
      height: 700,
      maximized: false,
    });
    // Under the task bar: moved up so its bottom edge is on screen.
    const low = { x: 100, y: 500, width: 1000, height: 700 };
    expect(restoreWindowState(saved(low), [PRIMARY], PRIMARY)).toMatchObject({ x: 100, y: 340 });
  });

  it('counts mirrored displays once: a window half off a cloned screen is still pulled on', () => {
    const mostly = { x: 1120, y: 100, width: 1000, height: 700 };
    expect(restoreWindowState(saved(mostly), [PRIMARY, { ...PRIMARY }], PRIMARY)).toEqual({
      x: 920,
      y: 100,
      width: 1000,
      height: 700,
      maximized: false,
    });
  });

  it('shrinks a window saved on a larger display to the one it is now mostly on', () => {
    // Saved at 2400×1400 on a 4K display; now the same place is a 2200×1300 work area.
    const big = { x: 0, y: 0, width: 2400, height: 1400 };
    const laptop = { x: 0, y: 0, width: 2200, height: 1300 };
    expect(restoreWindowState(saved(big), [laptop], laptop)).toEqual({
      x: 0,
      y: 0,
      width: 2200,
      height: 1300,
      maximized: false,
    });
  });

  it.each([
    ['a corrupt file', '{"x": 1'],
    ['absurd sizes', '{"x":0,"y":0,"width":99999,"height":99999}'],
    ['a window smaller than the minimum', '{"x":0,"y":0,"width":50,"height":30}'],
  ])('opens centred on the primary for %s', (_what, text) => {
    expect(restoreWindowState(text, [PRIMARY, RIGHT], PRIMARY)).toEqual({
      ...CENTRED_DEFAULT,
      maximized: false,
    });
  });

  it('uses the primary display it is given, wherever it is in the list', () => {
    const where = { x: 99999, y: 0, width: 900, height: 600 };
    expect(restoreWindowState(saved(where), [PRIMARY, RIGHT], RIGHT)).toEqual({
      x: 1920 + 640,
      y: 28 + 306,
      width: DEFAULT_WINDOW_SIZE.width,
      height: DEFAULT_WINDOW_SIZE.height,
      maximized: false,
    });
  });

  it('falls back to the default when there are no usable displays at all', () => {
    const where = { x: 100, y: 100, width: 900, height: 600 };
    expect(restoreWindowState(saved(where), [], PRIMARY)).toEqual({
      ...CENTRED_DEFAULT,
      maximized: false,
    });
    const empty = { x: 0, y: 0, width: 0, height: 0 };
    expect(restoreWindowState(saved(where), [empty], empty)).toEqual({
      x: 0,
      y: 0,
      ...DEFAULT_WINDOW_SIZE,
      maximized: false,
    });
  });

  it('always opens the window wholly on the displays, whatever was saved', () => {
    // Displays side by side (as most desks have them), each at least 800×600.
    const layout = fc
      .array(
        fc.record({
          width: fc.integer({ min: 800, max: 7680 }),
          height: fc.integer({ min: 600, max: 4320 }),
          y: fc.integer({ min: -500, max: 500 }),
        }),
        { minLength: 1, maxLength: 4 },
      )
      .map((sizes) => {
        let x = -2000;
        return sizes.map(({ width, height, y }) => {
          const area = { x, y, width, height };
          x += width;
          return area;
        });
      });
    const text = fc.oneof(
      fc
        .record({
          x: fc.integer({ min: -20000, max: 20000 }),
          y: fc.integer({ min: -20000, max: 20000 }),
          width: fc.integer({ min: 0, max: 20000 }),
          height: fc.integer({ min: 0, max: 20000 }),
          maximized: fc.boolean(),
        })
        .map((state) => JSON.stringify(state)),
      fc.string(),
    );
    fc.assert(
      fc.property(layout, text, fc.nat(), (areas, savedText, pick) => {
        const primary = areas[pick % areas.length]!;
        const result = restoreWindowState(savedText, areas, primary);
        const visible = areas.reduce((sum, area) => sum + overlap(result, area), 0);
        expect(visible).toBe(result.width * result.height);
        expect(Number.isInteger(result.x) && Number.isInteger(result.y)).toBe(true);
        expect(result.width).toBeGreaterThan(0);
        expect(result.height).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the state file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'swb-window-state-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is written whole, owner-only, and read back', () => {
    const file = join(dir, 'window-state.json');
    const state: WindowState = { x: 10, y: 20, width: 900, height: 600, maximized: true };
    expect(writeWindowStateFile(file, state)).toBeNull();
    expect(parseWindowState(readWindowStateFile(file))).toEqual(state);
    expect(readdirSync(dir)).toEqual(['window-state.json']);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('replaces the previous state rather than appending to it', () => {
    const file = join(dir, 'window-state.json');
    writeWindowStateFile(file, { x: 1, y: 2, width: 900, height: 600, maximized: false });
    writeWindowStateFile(file, { x: 3, y: 4, width: 1000, height: 700, maximized: true });
    expect(parseWindowState(readWindowStateFile(file))).toEqual({
      x: 3,
      y: 4,
      width: 1000,
      height: 700,
      maximized: true,
    });
  });

  it('reads a missing file as nothing saved', () => {
    expect(readWindowStateFile(join(dir, 'nope.json'))).toBeNull();
    expect(readWindowStateFile(dir)).toBeNull();
  });

  it('reads a corrupt file as nothing saved, and the window opens at the default', () => {
    const file = join(dir, 'window-state.json');
    writeFileSync(file, '{"x": 12, "y": 3');
    expect(restoreWindowState(readWindowStateFile(file), [PRIMARY], PRIMARY)).toEqual({
      ...CENTRED_DEFAULT,
      maximized: false,
    });
  });

  it('returns the error when the folder cannot be written, leaving no temporary file', () => {
    const file = join(dir, 'missing-folder', 'window-state.json');
    const error = writeWindowStateFile(file, {
      x: 0,
      y: 0,
      width: 900,
      height: 600,
      maximized: false,
    });
    expect(error).toBeInstanceOf(Error);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('createStateSaver', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('saves once, after the window stops moving', () => {
    const save = vi.fn();
    const saver = createStateSaver(save, 500);
    for (let i = 0; i < 50; i++) {
      saver.schedule();
      vi.advanceTimersByTime(20);
    }
    expect(save).not.toHaveBeenCalled();
    vi.advanceTimersByTime(500);
    expect(save).toHaveBeenCalledTimes(1);
  });

  it('saves a pending change at once on close, and not again later', () => {
    const save = vi.fn();
    const saver = createStateSaver(save, 500);
    saver.schedule();
    saver.flush();
    expect(save).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1000);
    expect(save).toHaveBeenCalledTimes(1);
  });

  it('saves on close even with nothing pending when forced, and only then', () => {
    const save = vi.fn();
    const saver = createStateSaver(save, 500);
    saver.flush();
    expect(save).not.toHaveBeenCalled();
    saver.flush(true);
    expect(save).toHaveBeenCalledTimes(1);
  });

  it('forgets a pending save once the window is gone', () => {
    const save = vi.fn();
    const saver = createStateSaver(save, 500);
    saver.schedule();
    saver.cancel();
    vi.advanceTimersByTime(1000);
    expect(save).not.toHaveBeenCalled();
  });
});
