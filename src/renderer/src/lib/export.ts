/**
 * Pure helpers for the export dialog: what a file is called by default, which endpoint ids a
 * request names, and what a request asks for. The engine writes the file (capture.export).
 */
import {
  EXPORT_ENDPOINTS_MAX,
  exportExtensions,
  type CaptureDirection,
  type CommandInput,
  type EndpointInfo,
  type ExportFormat,
} from '../../../shared/contract';

/** The extension suggested for each format (the engine takes a few others: exportExtensions). */
export const suggestedExtension = (format: ExportFormat): string => exportExtensions[format][0];

const pad = (n: number): string => String(n).padStart(2, '0');

/** Local time as yyyyMMdd-HHmmss: sorts by name, and is safe in a file name everywhere. */
export function fileStamp(at: Date): string {
  const day = `${at.getFullYear()}${pad(at.getMonth() + 1)}${pad(at.getDate())}`;
  return `${day}-${pad(at.getHours())}${pad(at.getMinutes())}${pad(at.getSeconds())}`;
}

/** The longest piece of an address kept in a default file name. */
const NAME_PART_MAX = 60;

/**
 * An address (127.0.0.1:5000, [::1]:80, /tmp/app.sock) as part of a file name: anything a file
 * system or shell could trip on becomes '_', runs of it collapse, and the edges are trimmed.
 */
export function fileNamePart(text: string): string {
  const safe = text
    .replace(/[^A-Za-z0-9.-]+/g, '_')
    .replace(/^[_.]+|[_.]+$/g, '')
    .slice(0, NAME_PART_MAX)
    .replace(/[_.]+$/, '');
  return safe === '' ? 'endpoint' : safe;
}

/** socket-workbench-<what>-<yyyyMMdd-HHmmss><ext>: a file name, without a folder. */
export function defaultExportName(what: string, format: ExportFormat, at: Date): string {
  return `socket-workbench-${fileNamePart(what)}-${fileStamp(at)}${suggestedExtension(format)}`;
}

/**
 * Whether a path names one place whatever the engine's working folder is: /… on POSIX, C:\… or
 * \\server\… on Windows. The engine refuses any other, since the user cannot know that folder.
 */
export function isAbsolutePath(path: string): boolean {
  return /^(\/|[A-Za-z]:[\\/]|\\\\)/.test(path.trim());
}

/** The folder part of an absolute path, with its separator; null when there is none. */
export function folderOf(path: string): string | null {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return cut < 0 ? null : path.slice(0, cut + 1);
}

/**
 * The path with its format's extension swapped for another's, when it still ends with one of
 * ours (a name the user typed from scratch is theirs to keep).
 */
export function swapExtension(path: string, to: ExportFormat): string {
  // Longest first: '.hex.txt' must win over '.txt'.
  const known = Object.values(exportExtensions)
    .map((extensions) => extensions[0])
    .sort((a, b) => b.length - a.length);
  const current = known.find((ext) => path.endsWith(ext));
  if (current === undefined) return path;
  return path.slice(0, path.length - current.length) + suggestedExtension(to);
}

/**
 * The ids that export every endpoint once: a connection whose listener is exported with its
 * connections comes along with it, so naming it again would be redundant.
 */
export function exportAllIds(
  endpoints: readonly Pick<EndpointInfo, 'id' | 'role' | 'parentId'>[],
): string[] {
  const listeners = new Set(endpoints.filter((e) => e.role === 'listener').map((e) => e.id));
  return endpoints
    .filter((e) => e.role !== 'accepted' || e.parentId === null || !listeners.has(e.parentId))
    .map((e) => e.id);
}

/** Whether an export this large can be asked for in one request. */
export function withinExportLimit(ids: readonly string[]): boolean {
  return ids.length > 0 && ids.length <= EXPORT_ENDPOINTS_MAX;
}

/** pcapng holds both directions of a connection as its packets; the other formats can pick. */
export function formatHasDirection(format: ExportFormat): boolean {
  return format !== 'pcapng';
}

/** What is exported, whether to a path on the engine's machine or as a download. */
export interface ExportRequestChoices {
  ids: string[];
  format: ExportFormat;
  direction: CaptureDirection;
  withConnections: boolean;
  /** The selection's capture offsets [start, end), when only it is exported. */
  range: { start: number; end: number } | null;
}

export interface ExportChoices extends ExportRequestChoices {
  path: string;
  overwrite: boolean;
}

function exportRequest(choices: ExportRequestChoices) {
  return {
    ids: choices.ids,
    format: choices.format,
    direction: formatHasDirection(choices.format) ? choices.direction : 'both',
    withConnections: choices.withConnections,
    ...(choices.range ? { range: choices.range } : {}),
  };
}

/** The capture.export input for what the dialog shows. */
export function exportInput(choices: ExportChoices): CommandInput<'capture.export'> {
  return { ...exportRequest(choices), path: choices.path.trim(), overwrite: choices.overwrite };
}

/** The capture.download input: the file name the browser will suggest is the path's last part. */
export function downloadInput(choices: ExportChoices): CommandInput<'capture.download'> {
  const trimmed = choices.path.trim();
  const name = trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
  return { ...exportRequest(choices), name: name.replace(/^\.+/, '') || 'socket-workbench-export' };
}
