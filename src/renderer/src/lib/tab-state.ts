/**
 * What one browser tab (or the app's window) remembers across a reload: which endpoint was
 * selected and how its traffic was shown. sessionStorage is per tab, so two tabs on the same
 * engine keep their own; nothing here outlives the tab. Unreadable or stale values are ignored.
 */
import { textEncodings, type TextEncoding } from '../../../shared/contract';
import { viewModes, type ViewMode } from './render';

const SELECTED_KEY = 'socket-workbench.selected';
const VIEW_KEY = 'socket-workbench.view';

export interface ViewPrefs {
  mode: ViewMode;
  decoding: TextEncoding;
  timestamps: boolean;
}

export const defaultViewPrefs: ViewPrefs = { mode: 'text', decoding: 'utf-8', timestamps: false };

function storage(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    // Storage can be denied (privacy settings, sandboxed frames): then nothing is remembered.
    return null;
  }
}

function read(key: string): string | null {
  try {
    return storage()?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

function write(key: string, value: string | null): void {
  try {
    if (value === null) storage()?.removeItem(key);
    else storage()?.setItem(key, value);
  } catch {
    // Full or denied: the tab simply forgets.
  }
}

export function readSelected(): string | null {
  return read(SELECTED_KEY);
}

export function writeSelected(id: string | null): void {
  write(SELECTED_KEY, id);
}

/** The tab's view settings; `fallback` (the workspace's) when the tab has none yet. */
export function readViewPrefs(fallback: ViewPrefs = defaultViewPrefs): ViewPrefs {
  let stored: unknown;
  try {
    stored = JSON.parse(read(VIEW_KEY) ?? 'null');
  } catch {
    return { ...fallback };
  }
  const prefs = { ...fallback };
  if (typeof stored !== 'object' || stored === null) return prefs;
  const { mode, decoding, timestamps } = stored as Record<string, unknown>;
  if (viewModes.includes(mode as ViewMode)) prefs.mode = mode as ViewMode;
  if (textEncodings.includes(decoding as TextEncoding)) prefs.decoding = decoding as TextEncoding;
  if (typeof timestamps === 'boolean') prefs.timestamps = timestamps;
  return prefs;
}

export function writeViewPrefs(prefs: ViewPrefs): void {
  write(VIEW_KEY, JSON.stringify(prefs));
}

const COMPOSER_KEY = 'socket-workbench.composer-suffix';

/**
 * The composer's checksum and line ending, as last chosen in this tab. Returned unchecked (or
 * null): the composer validates it with the payload schema's own parts.
 */
export function readComposerSuffix(): unknown {
  try {
    return JSON.parse(read(COMPOSER_KEY) ?? 'null');
  } catch {
    return null;
  }
}

export function writeComposerSuffix(suffix: unknown): void {
  write(COMPOSER_KEY, JSON.stringify(suffix));
}
