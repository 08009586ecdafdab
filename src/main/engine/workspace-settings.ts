/**
 * Which workspace is in use, the recent ones and whether to open it again on start: one small
 * JSON file beside the default workspace. It is the app's own: a file it cannot read is replaced
 * by the defaults (and overwritten on the next change), never an error.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { RECENT_WORKSPACES_MAX } from '../../shared/contract';
import { writeFileAtomically } from './data-file';

export const WORKSPACE_FILE_NAME = 'workspace.json';
export const WORKSPACE_SETTINGS_FILE_NAME = 'workspaces.json';
const SETTINGS_FORMAT = 'socket-workbench-workspaces';
const SETTINGS_MAX_BYTES = 1024 * 1024;

const settingsSchema = z.object({
  format: z.literal(SETTINGS_FORMAT),
  version: z.literal(1),
  current: z.string().max(4096).nullable(),
  recent: z.array(z.string().max(4096)).max(RECENT_WORKSPACES_MAX),
  reopenOnStart: z.boolean(),
});

export interface WorkspaceSettings {
  /** The workspace in use when the app last ran; null: the default one. */
  current: string | null;
  /** Newest first. */
  recent: string[];
  reopenOnStart: boolean;
}

export const defaultWorkspaceSettings = (): WorkspaceSettings => ({
  current: null,
  recent: [],
  reopenOnStart: true,
});

export async function readWorkspaceSettings(dataDir: string | null): Promise<WorkspaceSettings> {
  if (dataDir === null) return defaultWorkspaceSettings();
  const file = join(dataDir, WORKSPACE_SETTINGS_FILE_NAME);
  try {
    if ((await stat(file)).size > SETTINGS_MAX_BYTES) return defaultWorkspaceSettings();
    const parsed = settingsSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (!parsed.success) return defaultWorkspaceSettings();
    const { current, recent, reopenOnStart } = parsed.data;
    return { current, recent: await existingOnly(recent), reopenOnStart };
  } catch {
    return defaultWorkspaceSettings();
  }
}

export async function writeWorkspaceSettings(
  dataDir: string | null,
  settings: WorkspaceSettings,
): Promise<void> {
  if (dataDir === null) return;
  const file = join(dataDir, WORKSPACE_SETTINGS_FILE_NAME);
  const text = `${JSON.stringify({ format: SETTINGS_FORMAT, version: 1, ...settings }, null, 2)}\n`;
  await writeFileAtomically(file, text, {
    makeFolder: true,
    what: `The workspace settings ${file}`,
  });
}

/** `file` first, then the others that still exist, at most RECENT_WORKSPACES_MAX. */
export async function withRecent(recent: readonly string[], file: string): Promise<string[]> {
  const others = recent.filter((other) => other !== file);
  return [file, ...(await existingOnly(others))].slice(0, RECENT_WORKSPACES_MAX);
}

async function existingOnly(files: readonly string[]): Promise<string[]> {
  const found = await Promise.all(
    files.map(async (file) => {
      try {
        return (await stat(file)).isFile();
      } catch {
        return false;
      }
    }),
  );
  return files.filter((_, index) => found[index]);
}
