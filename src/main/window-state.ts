/**
 * The main window's size, position and maximised state, remembered across runs in a small JSON
 * file in the app's data folder. Deciding where the window opens is a pure function of the saved
 * text and the current displays, so every odd case (a corrupt file, a display that is gone, a
 * size no screen has) is unit-tested without Electron; index.ts only reads the displays and calls
 * these. Only Electron *types* are imported.
 */
import type { Rectangle } from 'electron';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

export const WINDOW_STATE_FILE = 'window-state.json';

/** What a fresh install opens with, shrunk to fit a smaller screen. */
export const DEFAULT_WINDOW_SIZE = { width: 1280, height: 800 } as const;
/** Below this the UI does not lay out (window-options.ts sets the same minimum). */
export const MIN_WINDOW_SIZE = { width: 720, height: 480 } as const;
/**
 * Larger than any display a desktop drives today (8K is 7680 wide; a wall of them rarely goes
 * past this): a bigger saved size is a corrupt file, not a preference.
 */
export const MAX_WINDOW_SIDE = 16_384;
/**
 * How much of a saved window must be on one display for it to open where it was (pulled fully
 * onto that display). Less than that, and the user would be hunting for a sliver of a window at
 * a screen edge: it opens centred on the primary display instead.
 */
export const MIN_VISIBLE_FRACTION = 0.5;

/** The saved state: the window's normal (not maximised) bounds, and whether it was maximised. */
export interface WindowState {
  x: number;
  y: number;
  width: number;
  height: number;
  maximized: boolean;
}

/** The file's text for a state; `version` lets a later format be told apart. */
export function serializeWindowState(state: WindowState): string {
  const { x, y, width, height, maximized } = state;
  return `${JSON.stringify({ version: 1, x, y, width, height, maximized }, null, 2)}\n`;
}

function isCoordinate(value: unknown): value is number {
  // Far outside any desktop: the file is damaged, not describing a real place.
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= 1_000_000;
}

function isSide(value: unknown, min: number): value is number {
  return (
    typeof value === 'number' && Number.isFinite(value) && value >= min && value <= MAX_WINDOW_SIDE
  );
}

/**
 * The state in a file's text, or null for anything that is not a whole, plausible state: missing
 * or empty text, broken JSON, another shape, a side below the window's minimum or above any
 * display. Never throws.
 */
export function parseWindowState(text: string | null | undefined): WindowState | null {
  if (typeof text !== 'string' || text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const { x, y, width, height, maximized } = value as Record<string, unknown>;
  if (!isCoordinate(x) || !isCoordinate(y)) return null;
  if (!isSide(width, MIN_WINDOW_SIZE.width) || !isSide(height, MIN_WINDOW_SIZE.height)) return null;
  if (maximized !== undefined && typeof maximized !== 'boolean') return null;
  return {
    // Electron takes whole device-independent pixels.
    x: Math.round(x),
    y: Math.round(y),
    width: Math.round(width),
    height: Math.round(height),
    maximized: maximized === true,
  };
}

function overlap(a: Rectangle, b: Rectangle): number {
  const width = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const height = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return width > 0 && height > 0 ? width * height : 0;
}

function usable(area: Rectangle): boolean {
  return area.width > 0 && area.height > 0;
}

/** The default window: DEFAULT_WINDOW_SIZE (or the work area, if smaller), centred on it. */
export function defaultBounds(primaryWorkArea: Rectangle): Rectangle {
  if (!usable(primaryWorkArea)) {
    // No sensible screen information at all: the default size, where the display starts.
    return { x: primaryWorkArea.x, y: primaryWorkArea.y, ...DEFAULT_WINDOW_SIZE };
  }
  const width = Math.min(DEFAULT_WINDOW_SIZE.width, primaryWorkArea.width);
  const height = Math.min(DEFAULT_WINDOW_SIZE.height, primaryWorkArea.height);
  return {
    x: primaryWorkArea.x + Math.round((primaryWorkArea.width - width) / 2),
    y: primaryWorkArea.y + Math.round((primaryWorkArea.height - height) / 2),
    width,
    height,
  };
}

/** `bounds` moved (and, if larger, shrunk) so that all of it is inside `area`. */
function fitInto(bounds: Rectangle, area: Rectangle): Rectangle {
  const width = Math.min(bounds.width, area.width);
  const height = Math.min(bounds.height, area.height);
  return {
    x: Math.min(Math.max(bounds.x, area.x), area.x + area.width - width),
    y: Math.min(Math.max(bounds.y, area.y), area.y + area.height - height),
    width,
    height,
  };
}

/** Where the window opens: its bounds (the normal ones), and whether to maximise it. */
export interface WindowPlacement extends Rectangle {
  maximized: boolean;
}

/**
 * Where the main window opens, from the saved file's text and the displays as they are now
 * (their work areas: the screen minus task bars, docks and panels, as Electron's `screen` gives
 * them).
 *
 * - Nothing usable saved (missing, corrupt, absurd sizes): the default, centred on the primary.
 * - All of it on the displays (possibly spanning two): exactly where it was.
 * - At least MIN_VISIBLE_FRACTION of it on one display: pulled (and shrunk if need be) fully onto
 *   that display, the one Electron's `screen.getDisplayMatching` would pick.
 * - Less than that visible, or its display is gone: the default, centred on the primary display.
 *
 * A maximised window keeps its flag wherever its normal bounds end up, so it maximises on the
 * display it opens on.
 */
export function restoreWindowState(
  savedText: string | null | undefined,
  workAreas: readonly Rectangle[],
  primaryWorkArea: Rectangle,
): WindowPlacement {
  const saved = parseWindowState(savedText);
  if (!saved) return { ...defaultBounds(primaryWorkArea), maximized: false };
  const bounds: Rectangle = { x: saved.x, y: saved.y, width: saved.width, height: saved.height };
  const fallback: WindowPlacement = {
    ...defaultBounds(primaryWorkArea),
    maximized: saved.maximized,
  };
  // Mirrored (cloned) displays report the same area twice: count each part of the screen once.
  const areas: Rectangle[] = [];
  for (const workArea of workAreas.filter(usable)) {
    if (!areas.some((kept) => overlap(kept, workArea) > 0)) areas.push(workArea);
  }
  if (areas.length === 0) return fallback;

  const area = bounds.width * bounds.height;
  // The areas kept do not overlap, so the sum is the visible area.
  const visible = areas.reduce((sum, workArea) => sum + overlap(bounds, workArea), 0);
  if (visible >= area) return { ...bounds, maximized: saved.maximized };

  let best = areas[0]!;
  let bestOverlap = overlap(bounds, best);
  for (const workArea of areas.slice(1)) {
    const candidate = overlap(bounds, workArea);
    if (candidate > bestOverlap) {
      best = workArea;
      bestOverlap = candidate;
    }
  }
  if (bestOverlap < area * MIN_VISIBLE_FRACTION) return fallback;
  return { ...fitInto(bounds, best), maximized: saved.maximized };
}

/** The state file's text, or null when there is none or it cannot be read. Never throws. */
export function readWindowStateFile(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Writes the state file whole or not at all: a temporary file renamed over the old one, so a
 * crash or a full disk mid-write leaves the previous state rather than half a JSON document.
 * Synchronous on purpose: it runs on 'close', right before the process may exit, and the file is
 * a few dozen bytes. Returns the error instead of throwing; a window must never fail to close
 * because its position could not be remembered.
 */
export function writeWindowStateFile(file: string, state: WindowState): Error | null {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, serializeWindowState(state), { mode: 0o600 });
    renameSync(temporary, file);
    return null;
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // Never created, or already gone: nothing to clean up.
    }
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** A save that waits for the window to stop moving; `flush` saves now (on close). */
export interface StateSaver {
  /** Save `delayMs` after the last call (a drag fires 'move' many times a second). */
  schedule(): void;
  /** Save now if anything is pending or `force` is set, and cancel the timer. */
  flush(force?: boolean): void;
  /** Forget a pending save (the window is gone). */
  cancel(): void;
}

export function createStateSaver(save: () => void, delayMs = 500): StateSaver {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const clear = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  return {
    schedule() {
      clear();
      timer = setTimeout(() => {
        timer = null;
        save();
      }, delayMs);
    },
    flush(force = false) {
      const pending = timer !== null;
      clear();
      if (pending || force) save();
    },
    cancel: clear,
  };
}
