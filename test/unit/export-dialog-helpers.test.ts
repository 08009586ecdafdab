import { describe, expect, it } from 'vitest';
import {
  defaultExportName,
  exportAllIds,
  exportInput,
  fileNamePart,
  fileStamp,
  folderOf,
  isAbsolutePath,
  swapExtension,
} from '../../src/renderer/src/lib/export';

describe('default export file names', () => {
  const at = new Date(2026, 0, 5, 7, 8, 9);

  it('stamps local time as yyyyMMdd-HHmmss', () => {
    expect(fileStamp(at)).toBe('20260105-070809');
  });

  it('turns an address into a safe part of a file name', () => {
    expect(fileNamePart('127.0.0.1:5000')).toBe('127.0.0.1_5000');
    expect(fileNamePart('[::1]:80')).toBe('1_80');
    expect(fileNamePart('/tmp/app.sock')).toBe('tmp_app.sock');
    expect(fileNamePart('—')).toBe('endpoint');
    expect(fileNamePart('a'.repeat(200))).toHaveLength(60);
  });

  it('names the endpoint, the time and the format', () => {
    expect(defaultExportName('127.0.0.1:5000', 'pcapng', at)).toBe(
      'socket-workbench-127.0.0.1_5000-20260105-070809.pcapng',
    );
    expect(defaultExportName('all', 'hex', at)).toBe(
      'socket-workbench-all-20260105-070809.hex.txt',
    );
  });

  it('swaps its own extension for the new format, and leaves a name the user chose', () => {
    expect(swapExtension('/tmp/x.pcapng', 'raw')).toBe('/tmp/x.bin');
    expect(swapExtension('/tmp/x.hex.txt', 'transcript')).toBe('/tmp/x.txt');
    expect(swapExtension('/tmp/x.txt', 'hex')).toBe('/tmp/x.hex.txt');
    expect(swapExtension('/tmp/capture.dat', 'pcapng')).toBe('/tmp/capture.dat');
  });
});

describe('export paths', () => {
  it('takes only a path that names one place whatever the engine’s working folder', () => {
    expect(isAbsolutePath('/tmp/x.pcapng')).toBe(true);
    expect(isAbsolutePath('C:\\Users\\me\\x.bin')).toBe(true);
    expect(isAbsolutePath('\\\\server\\share\\x.bin')).toBe(true);
    expect(isAbsolutePath('x.pcapng')).toBe(false);
    expect(isAbsolutePath('./out/x.pcapng')).toBe(false);
    expect(isAbsolutePath('~/x.pcapng')).toBe(false);
  });

  it('keeps the folder of a written file for the next export', () => {
    expect(folderOf('/tmp/out/x.pcapng')).toBe('/tmp/out/');
    expect(folderOf('C:\\out\\x.bin')).toBe('C:\\out\\');
    expect(folderOf('x.bin')).toBeNull();
  });
});

describe('which endpoints an export names', () => {
  it('leaves out connections their listener brings along, and keeps orphans', () => {
    const ids = exportAllIds([
      { id: 'L', role: 'listener', parentId: null },
      { id: 'A1', role: 'accepted', parentId: 'L' },
      { id: 'A2', role: 'accepted', parentId: 'gone' },
      { id: 'C', role: 'client', parentId: null },
      { id: 'U', role: 'udp', parentId: null },
    ]);
    expect(ids).toEqual(['L', 'A2', 'C', 'U']);
  });

  it('asks pcapng for both directions and sends a range only when there is one', () => {
    const base = {
      ids: ['a'],
      withConnections: true,
      path: '  out.pcapng ',
      overwrite: false,
    };
    expect(exportInput({ ...base, format: 'pcapng', direction: 'in', range: null })).toEqual({
      ...base,
      path: 'out.pcapng',
      format: 'pcapng',
      direction: 'both',
    });
    expect(
      exportInput({ ...base, format: 'raw', direction: 'out', range: { start: 3, end: 9 } }),
    ).toMatchObject({ direction: 'out', range: { start: 3, end: 9 } });
  });
});
