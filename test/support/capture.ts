/** What a capture session's folder holds on disk (docs/capture-format.md). */
import fs from 'node:fs';
import path from 'node:path';

/** Bytes in the data log's segment files: every captured byte still kept. */
export function dataBytesIn(folder: string): number {
  return fs
    .readdirSync(folder)
    .filter((name) => name.startsWith('data-'))
    .reduce((sum, name) => sum + fs.statSync(path.join(folder, name)).size, 0);
}

/** Bytes in every file of the folder. */
export function folderBytes(folder: string): number {
  return fs
    .readdirSync(folder)
    .reduce((sum, name) => sum + fs.statSync(path.join(folder, name)).size, 0);
}
