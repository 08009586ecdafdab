/**
 * Workspace files on disk (docs/workspaces.md): reading one with every check a file from
 * elsewhere needs, writing one so a crash leaves the old file or the new one, and refusing to
 * write over a file that is not a workspace (browser mode's token holder names the path).
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, isAbsolute, resolve } from 'node:path';
import {
  WORKSPACE_FORMAT,
  WORKSPACE_JSON_MAX,
  WORKSPACE_VERSION,
  workspaceSchema,
  type Workspace,
} from '../../shared/contract';
import { WorkbenchError } from '../../shared/errors';
import { describeIssue, fileError } from './data-file';

/**
 * The absolute path a user asked for, or INVALID_PATH: it must end in .json (so the workspace
 * commands cannot be pointed at just any file) and be absolute, or relative to `base`.
 */
export function workspacePath(path: string, base: string | null): string {
  if (!path.toLowerCase().endsWith('.json') || basename(path).length <= '.json'.length) {
    throw new WorkbenchError(
      'INVALID_PATH',
      `A workspace file's name ends in .json (e.g. my-workspace.json), not "${basename(path)}"`,
    );
  }
  if (isAbsolute(path)) return resolve(path);
  if (base === null) {
    throw new WorkbenchError(
      'INVALID_PATH',
      `Give the workspace file's full path (e.g. /home/me/${basename(path)}), not "${path}"`,
    );
  }
  return resolve(base, path);
}

/** Reads and checks a workspace file; BAD_WORKSPACE_FILE / WORKSPACE_TOO_NEW say why not. */
export async function readWorkspaceFile(file: string): Promise<Workspace> {
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw badFile(file, 'it is not a file');
    size = info.size;
  } catch (error) {
    throw fileError(error, `The workspace ${file} cannot be read`);
  }
  if (size > WORKSPACE_JSON_MAX) {
    throw badFile(
      file,
      `it is ${size.toLocaleString('en-US')} bytes, larger than a workspace can be ` +
        `(${WORKSPACE_JSON_MAX / 1024 / 1024} MiB)`,
    );
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw fileError(error, `The workspace ${file} cannot be read`);
  }
  return parseWorkspace(text, file);
}

/**
 * The workspace a text holds. Format and version are looked at before the rest, so a file from
 * a newer app is named as such instead of failing on a field this version does not know.
 */
export function parseWorkspace(text: string, file: string): Workspace {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badFile(
      file,
      `it is not JSON (${error instanceof Error ? error.message : 'unreadable'})`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badFile(file, 'it is not a workspace: expected an object with format and version');
  }
  const { format, version } = value as Record<string, unknown>;
  if (format !== WORKSPACE_FORMAT) {
    throw badFile(file, `format: must be "${WORKSPACE_FORMAT}"`);
  }
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw badFile(file, 'version: must be a whole number from 1');
  }
  if (version > WORKSPACE_VERSION) {
    throw new WorkbenchError(
      'WORKSPACE_TOO_NEW',
      `${file} is a version ${version} workspace, written by a newer Socket Workbench; this one ` +
        `reads version ${WORKSPACE_VERSION}. Nothing was opened and the file was left as it is`,
    );
  }
  const parsed = workspaceSchema.safeParse(value);
  if (!parsed.success) throw badFile(file, describeIssue(parsed.error, 'it is not a workspace'));
  return parsed.data;
}

/** The workspace as a file: pretty-printed, so it reads and diffs well. */
export function serializeWorkspace(workspace: Workspace): string {
  const json = `${JSON.stringify(workspace, null, 2)}\n`;
  if (json.length > WORKSPACE_JSON_MAX) {
    throw new WorkbenchError(
      'PAYLOAD_TOO_LARGE',
      `The workspace would be larger than ${WORKSPACE_JSON_MAX / 1024 / 1024} MiB: nothing was saved`,
    );
  }
  return json;
}

/**
 * WOULD_OVERWRITE unless writing `file` loses nothing of anyone's: it does not exist, is empty,
 * or is a workspace this version can open (a newer one, or one with a field this version refuses,
 * would lose what this one cannot read).
 */
export async function checkOverwritable(file: string): Promise<void> {
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw wouldOverwrite(file, 'it is not a regular file');
    size = info.size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fileError(error, `${file} cannot be checked before saving`);
  }
  if (size === 0) return;
  if (size > WORKSPACE_JSON_MAX) throw wouldOverwrite(file, 'it is not a workspace');
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    throw wouldOverwrite(file, 'it is not a workspace');
  }
  const header = (typeof value === 'object' && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  if (header['format'] !== WORKSPACE_FORMAT || typeof header['version'] !== 'number') {
    throw wouldOverwrite(file, 'it is not a workspace');
  }
  if (header['version'] > WORKSPACE_VERSION) {
    throw wouldOverwrite(file, 'it is a workspace from a newer Socket Workbench');
  }
  // One this version cannot open (a field it refuses) would lose what it holds just the same.
  if (!workspaceSchema.safeParse(value).success) {
    throw wouldOverwrite(
      file,
      'it is a workspace this app cannot open, and what it holds would be lost',
    );
  }
}

function badFile(file: string, reason: string): WorkbenchError {
  return new WorkbenchError(
    'BAD_WORKSPACE_FILE',
    `${file} is not a workspace this app can open: ${reason}. Nothing was opened and the file ` +
      'was left as it is',
  );
}

function wouldOverwrite(file: string, reason: string): WorkbenchError {
  return new WorkbenchError(
    'WOULD_OVERWRITE',
    `${file} was not overwritten: ${reason}. Save the workspace under another name`,
  );
}
