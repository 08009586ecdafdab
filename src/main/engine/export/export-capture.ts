/**
 * Exports endpoints' captures from a capture session folder as pcapng, raw bytes, a hex dump or a
 * transcript (docs/export.md). The engine (`capture.export`) and the CLI (`socket-workbench
 * capture FOLDER --format …`) both come here.
 *
 * Memory stays flat: the index is read a file at a time and only the chosen endpoints' rows are
 * kept (as columns of numbers); the data is read asynchronously in pieces of at most 1 MiB,
 * neighbouring chunks in one read (read-items.ts); output leaves in 4 MiB writes, with
 * backpressure (output.ts). The event loop turns at least every few milliseconds, so a live
 * engine keeps serving its sockets during a long export.
 */
import type { CaptureDirection, ExportFormat } from '../../../shared/contract';
import { WorkbenchError } from '../../../shared/errors';
import { CaptureFolderReader, type CapturedEndpoint, type RowColumns } from '../capture-reader';
import {
  DatagramDrawer,
  isDatagramSocket,
  isStreamConnection,
  StreamDrawer,
  streamControls,
} from './drawers';
import { openTarget, refuseInside, type ExportTarget } from './output';
import { writeItems } from './read-items';
import { mergedByTime, oneAfterAnother, SlotSequence, type Control } from './timeline';
import { makeWriter, type Slot } from './writers';

export interface ExportOptions {
  /** The capture session folder. */
  folder: string;
  /** Endpoint ids, or every endpoint of the folder. */
  ids: string[] | 'all';
  /** A listener brings the connections it accepted. */
  withConnections: boolean;
  format: ExportFormat;
  /** raw, hex and transcript; pcapng always holds both directions. */
  direction: CaptureDirection;
  /** Stream offsets [start, end) of a single endpoint. */
  range?: { start: number; end: number } | undefined;
  target: ExportTarget;
}

export interface ExportSummary {
  /** The file written, or null for a stream. */
  path: string | null;
  bytes: number;
  endpoints: number;
  /** pcapng: packets; the other formats: chunks. */
  packets: number;
  /** Chunks whose bytes could not be read (deleted by the capture limit during the export). */
  missingChunks: number;
  /** What the export lacks or could not read (the command line prints them). */
  warnings: string[];
}

export async function exportCapture(options: ExportOptions): Promise<ExportSummary> {
  const { range, format } = options;
  // Checked first, so that a bad path fails before any reading.
  if ('path' in options.target) await refuseInside(options.folder, options.target.path);
  const target = await openTarget(options.target);
  try {
    const reader = openReader(options.folder);
    const wanted = new Set(options.ids === 'all' ? [] : options.ids);
    const everything = options.ids === 'all';
    const { endpoints, rows } = await reader.scanRows(
      (d) =>
        everything ||
        wanted.has(d.id) ||
        (options.withConnections && typeof d['parentId'] === 'string' && wanted.has(d['parentId'])),
    );
    const known = new Set(endpoints.map((e) => e.description.id));
    const unknown = [...wanted].filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw new WorkbenchError(
        'UNKNOWN_ENDPOINT',
        `No endpoint ${unknown.join(', ')} in the capture folder ${options.folder}`,
      );
    }
    const chosen = endpoints.filter((e) => rows.has(e.number));
    if (range && chosen.length !== 1) {
      throw new WorkbenchError(
        'INVALID_INPUT',
        `A range is for one endpoint; this export has ${chosen.length} (a listener brings its connections)`,
      );
    }
    const slots = chosen.map((endpoint) =>
      makeSlot(endpoint, rows.get(endpoint.number) as RowColumns, options),
    );
    const sequences = slots.map((slot, index) => sequenceOf(index, slot, options));
    const items = format === 'pcapng' ? mergedByTime(sequences) : oneAfterAnother(sequences);
    const writer = makeWriter(format, target.output);
    await writer.begin();
    const missingChunks = await writeItems(reader, items, slots, writer, range);
    await target.commit();
    const warnings = [...reader.warnings];
    for (const { description, missingChunks: gone } of chosen) {
      if (gone === 0) continue;
      warnings.push(
        `${description.id}: ${gone.toLocaleString('en-US')} chunks are indexed but their bytes ` +
          'are no longer in the folder (the capture limit deleted them); they are not in the export',
      );
    }
    if (missingChunks > 0) {
      warnings.push(
        `${missingChunks.toLocaleString('en-US')} chunks were deleted by the capture limit while ` +
          'the export read them; they are not in the export',
      );
    }
    return {
      path: target.path,
      bytes: target.output.written,
      endpoints: chosen.length,
      packets: writer.packets,
      missingChunks,
      warnings,
    };
  } catch (error) {
    await target.abort();
    throw error;
  }
}

function openReader(folder: string): CaptureFolderReader {
  try {
    return new CaptureFolderReader(folder);
  } catch (error) {
    throw new WorkbenchError('BAD_CAPTURE_FILE', (error as Error).message);
  }
}

function makeSlot(endpoint: CapturedEndpoint, rows: RowColumns, options: ExportOptions): Slot {
  const slot: Slot = { endpoint, rows, stream: null, datagrams: null, pendingComment: undefined };
  if (options.format !== 'pcapng') return slot;
  if (isStreamConnection(endpoint)) {
    const notes: string[] = [];
    const { alreadySent, startKept } = sentBefore(endpoint, rows, options.range?.start ?? 0);
    if (!startKept) {
      notes.push(
        `${endpoint.description.id}: the first ${endpoint.keptFrom ?? 0} bytes of this connection ` +
          `(both directions) are gone from the capture (its size limit deleted them), so its ` +
          `handshake is not here and its sequence numbers start past them.`,
      );
    }
    slot.stream = new StreamDrawer(
      endpoint,
      startKept && !options.range?.start ? null : alreadySent,
      notes,
    );
  } else if (isDatagramSocket(endpoint)) {
    slot.datagrams = new DatagramDrawer(endpoint);
  }
  slot.pendingComment = slot.stream?.comment;
  return slot;
}

/**
 * The data bytes each side sent before stream offset `start`, as far as the kept rows say. Bytes
 * the capture limit deleted are counted on both sides (their split is not known): each side's
 * numbers then start past anything it can have sent.
 */
function sentBefore(endpoint: CapturedEndpoint, rows: RowColumns, start: number) {
  const gone = endpoint.keptFrom ?? (endpoint.missingChunks > 0 ? 1 : 0);
  const alreadySent = { local: gone, remote: gone };
  for (let i = 0; i < rows.length; i++) {
    const offset = rows.streamOffset[i] as number;
    if (offset >= start) break;
    const before = Math.min(rows.size[i] as number, start - offset);
    if (rows.dir[i] === 1) alreadySent.local += before;
    else alreadySent.remote += before;
  }
  return { alreadySent, startKept: gone === 0 };
}

function sequenceOf(index: number, slot: Slot, options: ExportOptions): SlotSequence {
  const { rows } = slot;
  const range = options.range;
  let first = 0;
  let end = rows.length;
  if (range) {
    while (
      first < end &&
      (rows.streamOffset[first] as number) + (rows.size[first] as number) <= range.start
    )
      first++;
    let last = first;
    while (last < end && (rows.streamOffset[last] as number) < range.end) last++;
    end = last;
  }
  const direction = options.format === 'pcapng' ? 'both' : options.direction;
  const wantedDir = direction === 'in' ? 0 : direction === 'out' ? 1 : -1;
  const wanted = wantedDir < 0 ? () => true : (row: number) => rows.dir[row] === wantedDir;
  let leading: Control[] = [];
  let controls: Control[] = [];
  if (slot.stream) {
    const lastEnd =
      rows.length > 0
        ? (rows.streamOffset[rows.length - 1] as number) + (rows.size[rows.length - 1] as number)
        : 0;
    // As sentBefore says: the start is kept unless the limit deleted it (or every row is gone).
    const gone = slot.endpoint.keptFrom ?? (slot.endpoint.missingChunks > 0 ? 1 : 0);
    const drawStart = gone === 0 && !range?.start;
    const drawEnd = !range || range.end >= lastEnd;
    ({ leading, controls } = streamControls(
      slot.endpoint,
      first < end ? (rows.at[first] as number) : null,
      drawStart,
      drawEnd,
    ));
  }
  return new SlotSequence(index, rows, first, end, wanted, leading, controls);
}
