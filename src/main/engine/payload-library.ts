/**
 * The payload library: saved payloads shared by every endpoint, kept as one JSON file in the
 * app's data folder (docs/payload-library.md).
 *
 * Every operation runs one at a time (a promise chain), so a save never reads the list while
 * another save is writing it. The file on disk always holds a whole library: each change is
 * written to a temporary file in the same folder, synced, and renamed over the old one. The
 * list in memory changes only once the file has, so a failed write (a full disk) changes
 * nothing anywhere.
 */
import { readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  LIBRARY_ITEMS_MAX,
  LIBRARY_JSON_MAX,
  libraryItemSchema,
  type CommandOutput,
  type LibraryItem,
  type ValidInput,
} from '../../shared/contract';
import { WorkbenchError, type UserError } from '../../shared/errors';
import {
  describeIssue,
  fileError,
  sameStamp,
  writeFileAtomically,
  type FileStamp,
} from './data-file';

export const LIBRARY_FILE_NAME = 'payloads.json';
export const LIBRARY_FORMAT = 'socket-workbench-payloads';
export const LIBRARY_VERSION = 1;

/** What a file or import says before its items are looked at. */
const headerSchema = z.object({
  format: z.literal(LIBRARY_FORMAT, { error: `must be "${LIBRARY_FORMAT}"` }),
  version: z.number({ error: 'must be a number' }),
});

const fileSchema = z.strictObject({
  format: z.literal(LIBRARY_FORMAT),
  version: z.literal(LIBRARY_VERSION),
  items: z.array(libraryItemSchema).max(LIBRARY_ITEMS_MAX, {
    error: `holds more than ${LIBRARY_ITEMS_MAX} saved payloads`,
  }),
});

export class PayloadLibrary {
  /** null until first used (the file is read lazily). */
  private items: LibraryItem[] | null = null;
  /** Why the file on disk could not be used; it is set aside before the next write. */
  private problem: UserError | null = null;
  private badFile = false;
  private stamp: FileStamp | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    /** The app's data folder; null keeps the library in memory only (tests, a read-only disk). */
    readonly dataDir: string | null,
    private readonly changed: (items: LibraryItem[]) => void,
  ) {}

  get file(): string | null {
    return this.dataDir === null ? null : join(this.dataDir, LIBRARY_FILE_NAME);
  }

  list(): Promise<CommandOutput<'library.list'>> {
    return this.exclusive(async () => ({ items: await this.current(), problem: this.problem }));
  }

  save(item: LibraryItem): Promise<LibraryItem> {
    return this.exclusive(async () => {
      const items = await this.current();
      const index = items.findIndex((other) => other.id === item.id);
      if (index < 0 && items.length >= LIBRARY_ITEMS_MAX) {
        throw new WorkbenchError(
          'INVALID_INPUT',
          `The library is full (${LIBRARY_ITEMS_MAX} saved payloads): delete some first`,
        );
      }
      // A hotkey belongs to one item: the one saved last takes it.
      const next = items.map((other) => withoutHotkey(other, item.hotkey));
      if (index < 0) next.push(item);
      else next[index] = item;
      await this.commit(next);
      return item;
    });
  }

  delete(id: string): Promise<void> {
    return this.exclusive(async () => {
      const items = await this.current();
      if (!items.some((item) => item.id === id)) {
        throw new WorkbenchError('UNKNOWN_ITEM', `No saved payload has the id "${id}"`);
      }
      await this.commit(items.filter((item) => item.id !== id));
    });
  }

  /** All or nothing: the whole file is checked before the library changes. */
  import(input: ValidInput<'library.import'>): Promise<CommandOutput<'library.import'>> {
    return this.exclusive(async () => {
      const incoming = parseLibraryFile(input.json);
      const items = await this.current();
      const known = new Set(items.map((item) => item.id));
      const replaced = incoming.filter((item) => known.has(item.id)).length;
      const added = incoming.length - replaced;
      let next: LibraryItem[];
      if (input.mode === 'replace') {
        next = incoming;
      } else {
        // Imported hotkeys win over the library's own; order stays: replaced in place, new last.
        const taken = new Set(incoming.map((item) => item.hotkey).filter((key) => key !== null));
        const byId = new Map(incoming.map((item) => [item.id, item]));
        next = items.map((item) => {
          const update = byId.get(item.id);
          if (update) return update;
          return item.hotkey !== null && taken.has(item.hotkey) ? { ...item, hotkey: null } : item;
        });
        next.push(...incoming.filter((item) => !known.has(item.id)));
      }
      if (next.length > LIBRARY_ITEMS_MAX) {
        throw new WorkbenchError(
          'INVALID_INPUT',
          `The library would hold ${next.length} saved payloads, over the limit of ` +
            `${LIBRARY_ITEMS_MAX}: nothing was imported`,
        );
      }
      await this.commit(next);
      return { added, replaced, items: next };
    });
  }

  /** The library as a file (the same format it is stored and imported in). */
  export(): Promise<string> {
    return this.exclusive(async () => serializeLibrary(await this.current()));
  }

  /** Resolves once every operation asked for so far has finished (the engine's dispose). */
  async settled(): Promise<void> {
    await this.queue.catch(() => undefined);
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * The list, read from the file the first time and again whenever the file changed under us
   * (edited by hand, or another process with the same data folder).
   */
  private async current(): Promise<LibraryItem[]> {
    const file = this.file;
    if (file === null) return (this.items ??= []);
    const found = await libraryStamp(file);
    if (this.items !== null && sameStamp(found, this.stamp)) return this.items;
    this.stamp = found;
    this.problem = null;
    this.badFile = false;
    if (found === null) return (this.items = []);
    // A file this large cannot be a library (LIBRARY_JSON_MAX characters, at most 3 bytes each).
    if (found.size > 3 * LIBRARY_JSON_MAX) {
      return this.unusable(`it is larger than a library can be (${found.size} bytes)`);
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      // Not cached: a read that failed (permissions, a disk error) is tried again next time.
      this.items = null;
      this.stamp = null;
      throw fileError(error, `The payload library ${file} cannot be read`);
    }
    try {
      return (this.items = parseLibraryFile(text));
    } catch (error) {
      return this.unusable(error instanceof Error ? error.message : String(error));
    }
  }

  /** A file that is not a library this version reads: start empty and keep the file as it is. */
  private unusable(reason: string): LibraryItem[] {
    this.badFile = true;
    this.problem = {
      code: 'BAD_LIBRARY_FILE',
      message:
        `The payload library ${this.file} could not be used (${reason}). The library starts ` +
        'empty; the file is kept, and set aside before anything is saved',
    };
    return (this.items = []);
  }

  /** Writes the new list, then makes it the current one and tells every page. */
  private async commit(next: LibraryItem[]): Promise<void> {
    const json = serializeLibrary(next);
    if (json.length > LIBRARY_JSON_MAX) {
      throw new WorkbenchError(
        'PAYLOAD_TOO_LARGE',
        `The library would be larger than ${LIBRARY_JSON_MAX / 1048576} MiB as a file: ` +
          'nothing was saved',
      );
    }
    const file = this.file;
    if (file !== null && this.dataDir !== null) {
      if (this.badFile) await this.setAside(file);
      this.stamp = await writeFileAtomically(file, json, {
        makeFolder: true,
        what: `The payload library ${file}`,
      });
    }
    this.items = next;
    this.changed(next);
  }

  /** Renames an unusable file out of the way, so the next write cannot destroy it. */
  private async setAside(file: string): Promise<void> {
    const stampText = new Date().toISOString().replace(/[:.]/g, '-');
    const aside = `${file}.bad-${stampText}`;
    try {
      await rename(file, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw fileError(error, `The unusable payload library ${file} cannot be set aside`);
      }
    }
    this.badFile = false;
    this.problem = {
      code: 'BAD_LIBRARY_FILE',
      message: `The payload library ${file} could not be used; it was kept as ${aside}`,
    };
  }
}

/** The library as a file: pretty-printed, so it reads well and diffs well. */
export function serializeLibrary(items: readonly LibraryItem[]): string {
  return `${JSON.stringify({ format: LIBRARY_FORMAT, version: LIBRARY_VERSION, items }, null, 2)}\n`;
}

/**
 * A library file's items, or a BAD_LIBRARY_FILE error naming the first bad field
 * ("items[3].payload.format: …"). Ids and hotkeys must each be used once.
 */
export function parseLibraryFile(text: string): LibraryItem[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badFile(`not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badFile('not a payload library: expected an object with format, version and items');
  }
  const header = headerSchema.safeParse(value);
  if (!header.success) throw badFile(describeIssue(header.error, 'not a payload library'));
  const { version } = header.data;
  if (version !== LIBRARY_VERSION) {
    throw badFile(
      version > LIBRARY_VERSION
        ? `version: ${version} was written by a newer Socket Workbench; this one reads version ` +
            `${LIBRARY_VERSION}`
        : `version: ${version} is not a library version (this one reads ${LIBRARY_VERSION})`,
    );
  }
  const parsed = fileSchema.safeParse(value);
  if (!parsed.success) throw badFile(describeIssue(parsed.error, 'not a payload library'));
  const items = parsed.data.items;
  const ids = new Map<string, number>();
  const hotkeys = new Map<number, number>();
  for (const [index, item] of items.entries()) {
    const sameId = ids.get(item.id);
    if (sameId !== undefined) {
      throw badFile(`items[${index}].id: "${item.id}" is already the id of items[${sameId}]`);
    }
    ids.set(item.id, index);
    if (item.hotkey === null) continue;
    const sameKey = hotkeys.get(item.hotkey);
    if (sameKey !== undefined) {
      throw badFile(`items[${index}].hotkey: Alt+${item.hotkey} is already items[${sameKey}]'s`);
    }
    hotkeys.set(item.hotkey, index);
  }
  return items;
}

function badFile(message: string): WorkbenchError {
  return new WorkbenchError('BAD_LIBRARY_FILE', message);
}

function withoutHotkey(item: LibraryItem, hotkey: number | null): LibraryItem {
  return hotkey !== null && item.hotkey === hotkey ? { ...item, hotkey: null } : item;
}

/** The library file's stamp; null when there is none yet, an error when it cannot be seen. */
async function libraryStamp(file: string): Promise<FileStamp | null> {
  try {
    const info = await stat(file);
    return { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fileError(error, `The payload library ${file} cannot be read`);
  }
}
