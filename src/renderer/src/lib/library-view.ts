/**
 * How the payload library is shown: search, grouping by folder, and the small conversions the
 * save form needs. Pure functions, no reactive state.
 */
import type { LibraryItem } from '../../../shared/contract';

/** Whether an item matches every word of the search, in its name, folder, tags or data. */
export function matchesSearch(item: LibraryItem, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const haystack = [item.name, item.folder, ...item.tags, item.payload.data, item.note]
    .join('\n')
    .toLowerCase();
  return words.every((word) => haystack.includes(word));
}

export interface FolderGroup {
  /** "" is the top level. */
  folder: string;
  items: LibraryItem[];
}

/** Items by folder (top level first, then folders by name), each folder's items by name. */
export function groupByFolder(items: readonly LibraryItem[]): FolderGroup[] {
  const groups = new Map<string, LibraryItem[]>();
  for (const item of items) {
    const list = groups.get(item.folder);
    if (list) list.push(item);
    else groups.set(item.folder, [item]);
  }
  const byName = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });
  return [...groups.entries()]
    .sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : byName(a, b)))
    .map(([folder, list]) => ({ folder, items: list.sort((a, b) => byName(a.name, b.name)) }));
}

/** "a, b ,, c" -> ["a", "b", "c"]: what a user types in the tags field. */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(',').map((tag) => tag.trim()))].filter(Boolean);
}

/** A folder as typed: slashes tidied, no empty parts ("/modbus//read/" -> "modbus/read"). */
export function normalizeFolder(text: string): string {
  return text
    .split('/')
    .map((part) => part.trim())
    .filter(Boolean)
    .join('/');
}

/**
 * A new item's id. From getRandomValues, which (unlike randomUUID) also works on a page that is
 * not a secure context (browser mode reached over a LAN address).
 */
export function newItemId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The start of a payload's data on one line, for the list. */
export function dataPreview(item: LibraryItem, max = 48): string {
  const flat = item.payload.data.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The hotkey digit of a keydown, when it is Alt+1 … Alt+9 (by key position: macOS Alt types ¡). */
export function hotkeyOf(
  event: Pick<KeyboardEvent, 'altKey' | 'ctrlKey' | 'metaKey' | 'shiftKey' | 'code'>,
): number | null {
  if (!event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return null;
  const match = /^Digit([1-9])$/.exec(event.code);
  return match ? Number(match[1]) : null;
}
