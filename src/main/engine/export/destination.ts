/**
 * Where the engine may write an export: a browser-mode page (anyone holding the token) names the
 * path, and a raw export's bytes are whatever a peer sent. So an export must end with its format's
 * extension, and goes neither to a hidden file or folder (~/.bashrc, ~/.ssh/authorized_keys) nor
 * into the engine's own folders: a peer's bytes can then never become a shell's start-up file, a
 * key list, a crontab or an executable found on PATH.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { exportExtensions, type ExportFormat } from '../../../shared/contract';
import { WorkbenchError } from '../../../shared/errors';

/** INVALID_PATH unless `file` is a fit place for an export in `format`. */
export async function checkExportDestination(
  file: string,
  format: ExportFormat,
  ownFolders: readonly string[],
): Promise<void> {
  const hidden = path
    .resolve(file)
    .split(path.sep)
    .find((part) => part.startsWith('.'));
  if (hidden !== undefined) {
    throw new WorkbenchError(
      'INVALID_PATH',
      `${file} is in or is a hidden file or folder (${hidden}): exports do not go there`,
    );
  }
  const name = path.basename(file).toLowerCase();
  const extensions = exportExtensions[format];
  if (!extensions.some((extension) => name.endsWith(extension) && name !== extension)) {
    throw new WorkbenchError(
      'INVALID_PATH',
      `A ${format} export's file name ends with ${extensions.join(', ')}: ${path.basename(file)} does not`,
    );
  }
  for (const folder of ownFolders) {
    if (await isInside(folder, file)) {
      throw new WorkbenchError(
        'INVALID_PATH',
        `${file} is inside the app's data folder ${folder} (saved payloads, workspaces): export to another folder`,
      );
    }
  }
}

/** Whether `file` would go in `folder` or below it, symbolic links followed. */
async function isInside(folder: string, file: string): Promise<boolean> {
  const real = (where: string) => fs.realpath(where).catch(() => path.resolve(where));
  const [root, parent] = await Promise.all([real(folder), real(path.dirname(file))]);
  const relative = path.relative(root, parent);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}
