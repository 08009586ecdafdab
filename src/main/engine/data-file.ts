/**
 * Files the engine keeps for the user (the payload library, workspaces and their settings):
 * written whole through a temporary file and a rename, mode 0600, so that a crash leaves the old
 * file or the new one; stamped, so that a change by anyone else shows; and errors that name the
 * file and keep the errno.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { isErrorCode, WorkbenchError } from '../../shared/errors';

/** A file's identity as last read or written: a change by anyone else shows as a difference. */
export interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
}

/** The file's stamp, or null when it cannot be seen (missing, or not ours to look at). */
export async function stampOf(file: string): Promise<FileStamp | null> {
  try {
    const info = await stat(file);
    return { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs };
  } catch {
    return null;
  }
}

/** Two stamps of the same, unchanged file (two nulls: it was missing and still is). */
export function sameStamp(a: FileStamp | null, b: FileStamp | null): boolean {
  if (a === null || b === null) return a === b;
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/**
 * Writes `text` to `file` through a temporary file in the same folder (a rename across file
 * systems is not atomic), synced before the rename, and the folder synced after it. `makeFolder`
 * makes the folder first (0700: the app's data folder). `what` names the file in errors.
 */
export async function writeFileAtomically(
  file: string,
  text: string,
  options: { makeFolder?: boolean; what: string },
): Promise<FileStamp> {
  const folder = dirname(file);
  if (options.makeFolder) {
    try {
      await mkdir(folder, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw fileError(error, `The data folder ${folder} cannot be made`);
    }
  }
  const temp = `${file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw fileError(error, `${options.what} cannot be written; nothing was saved`);
  }
  await syncFolder(folder);
  const stamp = await stampOf(file);
  if (stamp === null) throw new WorkbenchError('INTERNAL', `${file} vanished after writing`);
  return stamp;
}

/** Makes the rename itself durable; folders cannot be opened for this on Windows: skipped. */
async function syncFolder(folder: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    const handle = await open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some file systems refuse fsync on a folder; the file itself is already synced.
  }
}

/** A system error with the file named, keeping its errno as the code when the contract has it. */
export function fileError(error: unknown, what: string): WorkbenchError {
  if (error instanceof WorkbenchError) return error;
  const errno = (error as NodeJS.ErrnoException).code;
  const reason = error instanceof Error ? error.message : String(error);
  return new WorkbenchError(isErrorCode(errno) ? errno : 'INTERNAL', `${what}: ${reason}`);
}

/** A schema's first complaint as "items[3].payload.format: message". */
export function describeIssue(error: z.ZodError, fallback: string): string {
  const issue = error.issues[0];
  if (!issue) return fallback;
  let field = '';
  for (const key of issue.path) {
    if (typeof key === 'number') field += `[${key}]`;
    else field += field.length === 0 ? String(key) : `.${String(key)}`;
  }
  return `${field.length > 0 ? field : 'file'}: ${issue.message}`;
}
