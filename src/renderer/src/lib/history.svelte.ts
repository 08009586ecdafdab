/** Payloads sent before, newest first, kept across reloads so a test session can be repeated. */
import { checksumSpecSchema } from '../../../shared/checksum';
import {
  lineEndings,
  payloadFormats,
  textEncodings,
  type LineEnding,
  type PayloadFormat,
  type TextEncoding,
} from '../../../shared/contract';
import type { ValidPayload } from '../../../shared/payload';

export interface HistoryEntry {
  format: PayloadFormat;
  encoding: TextEncoding;
  data: string;
  /** What was appended: part of the payload, so the same frame can be sent again. */
  checksum?: ValidPayload['checksum'];
  lineEnding?: LineEnding;
}

/** A stored entry's checksum and line ending, dropped when they no longer read as valid. */
function suffixOf(entry: Record<string, unknown>): Pick<HistoryEntry, 'checksum' | 'lineEnding'> {
  const checksum = checksumSpecSchema.safeParse(entry.checksum);
  const lineEnding = lineEndings.find((ending) => ending === entry.lineEnding);
  return {
    ...(entry.checksum !== undefined && checksum.success ? { checksum: checksum.data } : {}),
    ...(lineEnding && lineEnding !== 'none' ? { lineEnding } : {}),
  };
}

/** Two entries are the same payload: same text, format, encoding, checksum and line ending. */
function sameEntry(a: HistoryEntry, b: HistoryEntry): boolean {
  return (
    a.data === b.data &&
    a.format === b.format &&
    a.encoding === b.encoding &&
    (a.lineEnding ?? 'none') === (b.lineEnding ?? 'none') &&
    JSON.stringify(a.checksum ?? null) === JSON.stringify(b.checksum ?? null)
  );
}

const STORAGE_KEY = 'socket-workbench.history';
const LIMIT = 50;
/** Larger payloads are sent but not remembered: localStorage holds a few MB at most. */
const MAX_REMEMBERED_CHARS = 64 * 1024;

function load(): HistoryEntry[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
    if (!Array.isArray(parsed)) return [];
    return parsed.flatMap((e: unknown): HistoryEntry[] => {
      if (typeof e !== 'object' || e === null) return [];
      const entry = e as Record<string, unknown>;
      const { data, format, encoding } = entry;
      const knownFormat = payloadFormats.find((f) => f === format);
      const knownEncoding = textEncodings.find((f) => f === encoding);
      if (typeof data !== 'string' || !knownFormat || !knownEncoding) return [];
      return [{ format: knownFormat, encoding: knownEncoding, data, ...suffixOf(entry) }];
    });
  } catch {
    return [];
  }
}

class SendHistory {
  entries = $state.raw<HistoryEntry[]>(load());

  add(entry: HistoryEntry): void {
    if (entry.data.length === 0 || entry.data.length > MAX_REMEMBERED_CHARS) return;
    const rest = this.entries.filter((e) => !sameEntry(e, entry));
    this.entries = [entry, ...rest].slice(0, LIMIT);
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.entries));
    } catch {
      // Full or disabled storage: history then lasts for this page only.
    }
  }
}

export const sendHistory = new SendHistory();
