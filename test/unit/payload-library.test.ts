/**
 * The payload library on a real data folder: it survives a restart, writes atomically, imports
 * all or nothing, refuses files it cannot read without destroying them, and works the same
 * through the router.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { Engine } from '../../src/main/engine/engine';
import {
  LIBRARY_FILE_NAME,
  parseLibraryFile,
  PayloadLibrary,
  serializeLibrary,
} from '../../src/main/engine/payload-library';
import { createRouter } from '../../src/main/router';
import { defaultDataDir, parseCommandLine } from '../../src/main/serve/cli';
import type { AnyEvent } from '../../src/shared/api';
import { libraryItemSchema, type LibraryItem } from '../../src/shared/contract';
import { WorkbenchError } from '../../src/shared/errors';
import { tempDir } from '../support/peers';

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function item(id: string, extra: Partial<z.input<typeof libraryItemSchema>> = {}): LibraryItem {
  return libraryItemSchema.parse({
    id,
    name: `Item ${id}`,
    payload: { format: 'text', data: `hello ${id}\\r\\n` },
    ...extra,
  });
}

function fileText(items: unknown[], version: unknown = 1): string {
  return JSON.stringify({ format: 'socket-workbench-payloads', version, items });
}

/** A library on `dir` that records every change it announces. */
function open(): { library: PayloadLibrary; changes: LibraryItem[][] } {
  const changes: LibraryItem[][] = [];
  return { library: new PayloadLibrary(dir, (items) => changes.push(items)), changes };
}

async function failure(promise: Promise<unknown>): Promise<WorkbenchError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof WorkbenchError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

describe('payload library storage', () => {
  it('keeps saved payloads across a restart, in the documented file', async () => {
    const first = open();
    expect((await first.library.list()).items).toEqual([]);
    // Nothing is written until something is saved.
    expect(fs.readdirSync(dir)).toEqual([]);
    await first.library.save(item('a', { folder: 'modbus/read', tags: ['rtu'], hotkey: 1 }));
    await first.library.save(item('b', { payload: { format: 'hex', data: '01 03 00 00' } }));
    await first.library.save(item('a', { name: 'Renamed', hotkey: 1 }));
    await first.library.delete('b');
    expect(first.changes).toHaveLength(4);

    const second = open();
    const { items, problem } = await second.library.list();
    expect(problem).toBeNull();
    expect(items).toEqual([item('a', { name: 'Renamed', hotkey: 1 })]);
    const stored = JSON.parse(fs.readFileSync(path.join(dir, LIBRARY_FILE_NAME), 'utf8'));
    expect(stored).toMatchObject({ format: 'socket-workbench-payloads', version: 1 });
    expect(stored.items).toEqual(items);
  });

  it('creates a data folder that does not exist yet', async () => {
    const nested = path.join(dir, 'not', 'yet');
    const library = new PayloadLibrary(nested, () => undefined);
    await library.save(item('a'));
    expect(fs.readdirSync(nested)).toEqual([LIBRARY_FILE_NAME]);
  });

  it('leaves no temporary files behind', async () => {
    const { library } = open();
    await Promise.all(Array.from({ length: 20 }, (_, n) => library.save(item(`i${n}`))));
    expect(fs.readdirSync(dir)).toEqual([LIBRARY_FILE_NAME]);
    expect((await open().library.list()).items).toHaveLength(20);
  });

  it('gives one hotkey to the item saved last', async () => {
    const { library } = open();
    await library.save(item('a', { hotkey: 3 }));
    await library.save(item('b', { hotkey: 3 }));
    const { items } = await library.list();
    expect(items.map((i) => [i.id, i.hotkey])).toEqual([
      ['a', null],
      ['b', 3],
    ]);
  });

  it('says clearly that an unknown id cannot be deleted, and changes nothing', async () => {
    const { library, changes } = open();
    await library.save(item('a'));
    const error = await failure(library.delete('nope'));
    expect(error.code).toBe('UNKNOWN_ITEM');
    expect(error.message).toContain('"nope"');
    expect(changes).toHaveLength(1);
  });

  it('sees the file change under it (edited by hand, or by another process)', async () => {
    const { library } = open();
    await library.save(item('a'));
    const other = new PayloadLibrary(dir, () => undefined);
    await other.save(item('b'));
    expect((await library.list()).items.map((i) => i.id)).toEqual(['a', 'b']);
  });

  it('works in memory with no data folder', async () => {
    const library = new PayloadLibrary(null, () => undefined);
    await library.save(item('a'));
    expect((await library.list()).items).toHaveLength(1);
  });
});

describe('payload library import and export', () => {
  it('imports all or nothing: a bad item in the middle changes nothing', async () => {
    const { library, changes } = open();
    await library.save(item('keep'));
    const before = fs.readFileSync(path.join(dir, LIBRARY_FILE_NAME), 'utf8');
    const items = [item('x'), item('y'), item('z'), item('w')] as unknown[];
    items[3] = { ...item('w'), payload: { format: 'morse', data: '...' } };
    const error = await failure(library.import({ json: fileText(items), mode: 'merge' }));
    expect(error.code).toBe('BAD_LIBRARY_FILE');
    expect(error.message).toMatch(/^items\[3\]\.payload\.format: /);
    expect((await library.list()).items.map((i) => i.id)).toEqual(['keep']);
    expect(fs.readFileSync(path.join(dir, LIBRARY_FILE_NAME), 'utf8')).toBe(before);
    expect(changes).toHaveLength(1);
  });

  it('names the first bad field of any kind', async () => {
    const { library } = open();
    const cases: [string, RegExp][] = [
      ['not json', /^not JSON/],
      ['[]', /^not a payload library/],
      [JSON.stringify({ format: 'other', version: 1, items: [] }), /^format: /],
      [fileText([{ ...item('a'), name: '  ' }]), /^items\[0\]\.name: A saved payload needs a name/],
      [fileText([item('a'), item('a')]), /^items\[1\]\.id: "a" is already/],
      [fileText([item('a', { hotkey: 2 }), item('b', { hotkey: 2 })]), /^items\[1\]\.hotkey: /],
      [fileText([{ ...item('a'), extra: 1 }]), /^items\[0\]/],
    ];
    for (const [json, message] of cases) {
      const error = await failure(library.import({ json, mode: 'replace' }));
      expect({ code: error.code, message: error.message }).toEqual({
        code: 'BAD_LIBRARY_FILE',
        message: expect.stringMatching(message),
      });
    }
  });

  it('refuses a file from a newer version', async () => {
    const { library } = open();
    const error = await failure(library.import({ json: fileText([], 2), mode: 'merge' }));
    expect(error.code).toBe('BAD_LIBRARY_FILE');
    expect(error.message).toMatch(/^version: 2 was written by a newer Socket Workbench/);
  });

  it('exports a file that imports back to the same library', async () => {
    const first = open();
    await first.library.save(item('a', { folder: 'f', tags: ['t1', 't2'], note: 'n', hotkey: 9 }));
    await first.library.save(
      item('b', { payload: { format: 'text', data: '你好', encoding: 'gbk', lineEnding: 'crlf' } }),
    );
    const exported = await first.library.export();
    // Pretty-printed, in the stored format.
    expect(exported).toBe(serializeLibrary((await first.library.list()).items));
    expect(exported).toContain('\n  "items": [\n');

    const other = tempDir();
    try {
      const second = new PayloadLibrary(other, () => undefined);
      const result = await second.import({ json: exported, mode: 'merge' });
      expect(result).toMatchObject({ added: 2, replaced: 0 });
      expect(await second.export()).toBe(exported);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it('merges (replacing known ids in place) or replaces', async () => {
    const { library } = open();
    await library.save(item('a', { hotkey: 1 }));
    await library.save(item('b'));
    const merged = await library.import({
      json: fileText([item('b', { name: 'New b' }), item('c', { hotkey: 1 })]),
      mode: 'merge',
    });
    expect(merged).toMatchObject({ added: 1, replaced: 1 });
    expect(merged.items.map((i) => [i.id, i.name, i.hotkey])).toEqual([
      ['a', 'Item a', null],
      ['b', 'New b', null],
      ['c', 'Item c', 1],
    ]);
    const replaced = await library.import({
      json: fileText([item('c'), item('d')]),
      mode: 'replace',
    });
    expect(replaced).toMatchObject({ added: 1, replaced: 1 });
    expect((await open().library.list()).items.map((i) => i.id)).toEqual(['c', 'd']);
  });
});

describe('a library file that cannot be used', () => {
  for (const [what, text] of [
    ['corrupt', '{"format": "socket-workbench-payloads", "version": 1, "items": ['],
    ['from a newer version', fileText([{ anything: 'new' }], 7)],
  ] as const) {
    it(`starts empty when the file is ${what}, and keeps the file when saving`, async () => {
      const file = path.join(dir, LIBRARY_FILE_NAME);
      fs.writeFileSync(file, text);
      const { library } = open();
      const listed = await library.list();
      expect(listed.items).toEqual([]);
      expect(listed.problem?.code).toBe('BAD_LIBRARY_FILE');
      expect(listed.problem?.message).toContain(file);
      // Listing leaves the file alone: a newer app can still read it.
      expect(fs.readFileSync(file, 'utf8')).toBe(text);

      await library.save(item('a'));
      const names = fs.readdirSync(dir).sort();
      expect(names).toHaveLength(2);
      const aside = names.find((name) => name.startsWith(`${LIBRARY_FILE_NAME}.bad-`));
      expect(aside).toBeDefined();
      expect(fs.readFileSync(path.join(dir, aside ?? ''), 'utf8')).toBe(text);
      expect((await library.list()).problem?.message).toContain(
        `kept as ${path.join(dir, aside ?? '')}`,
      );
      expect(parseLibraryFile(fs.readFileSync(file, 'utf8'))).toEqual([item('a')]);
    });
  }
});

describe('payload library through the router', () => {
  it('saves, lists, imports and exports, telling every page what changed', async () => {
    const engine = new Engine({ dataDir: dir });
    const router = createRouter(engine);
    const events: AnyEvent[] = [];
    const view = router.openView((event) => events.push(event));
    try {
      const saved = await router.invoke('library.save', {
        item: { id: 'one', name: 'Hello', payload: { format: 'text', data: 'hi\\n' } },
      });
      expect(saved).toMatchObject({ ok: true, value: { id: 'one', folder: '', hotkey: null } });
      const bad = await router.invoke('library.import', {
        json: fileText([item('two'), { ...item('three'), hotkey: 10 }]),
      });
      expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_LIBRARY_FILE' } });
      if (!bad.ok) expect(bad.error.message).toMatch(/^items\[1\]\.hotkey: /);
      const missing = await router.invoke('library.delete', { id: 'two' });
      expect(missing).toMatchObject({ ok: false, error: { code: 'UNKNOWN_ITEM' } });
      const exported = await router.invoke('library.export', {});
      if (!exported.ok) throw new Error(exported.error.message);
      const { json } = exported.value as { json: string };
      const imported = await router.invoke('library.import', {
        json,
        mode: 'replace',
      });
      expect(imported).toMatchObject({ ok: true, value: { added: 0, replaced: 1 } });
      const changes = events.filter((event) => event.event === 'library.changed');
      expect(changes).toHaveLength(2);
    } finally {
      view.close();
      await engine.dispose();
    }

    // A new engine on the same folder: the app restarted.
    const restarted = new Engine({ dataDir: dir });
    try {
      const listed = await createRouter(restarted).invoke('library.list', {});
      expect(listed).toMatchObject({ ok: true, value: { items: [{ id: 'one' }], problem: null } });
    } finally {
      await restarted.dispose();
    }
  });
});

describe('the data folder of browser mode', () => {
  it('is --data-dir when given, else the OS per-user data folder', () => {
    expect(parseCommandLine(['--data-dir', 'data'])).toMatchObject({
      dataDir: path.resolve('data'),
    });
    expect(parseCommandLine(['--data-dir', ''])).toMatch(/^--data-dir is empty/);
    expect(parseCommandLine([])).not.toHaveProperty('dataDir');
    expect(defaultDataDir({}, 'linux', '/home/u')).toBe('/home/u/.local/share/socket-workbench');
    expect(defaultDataDir({ XDG_DATA_HOME: '/x' }, 'linux', '/home/u')).toBe('/x/socket-workbench');
    // A relative XDG_DATA_HOME is invalid per the XDG spec, and ignored.
    expect(defaultDataDir({ XDG_DATA_HOME: 'x' }, 'linux', '/home/u')).toBe(
      '/home/u/.local/share/socket-workbench',
    );
    expect(defaultDataDir({}, 'darwin', '/Users/u')).toBe(
      '/Users/u/Library/Application Support/Socket Workbench',
    );
    expect(defaultDataDir({ APPDATA: 'C:/Users/u/AppData/Roaming' }, 'win32', 'C:/Users/u')).toBe(
      path.join('C:/Users/u/AppData/Roaming', 'Socket Workbench'),
    );
  });
});
