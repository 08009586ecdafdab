/** Payloads sent before, newest first, kept across reloads so a test session can be repeated. */
import {
  payloadFormats,
  textEncodings,
  type PayloadFormat,
  type TextEncoding,
} from '../../../shared/contract';

export interface HistoryEntry {
  format: PayloadFormat;
  encoding: TextEncoding;
  data: string;
}

const STORAGE_KEY = 'socket-workbench.history';
const LIMIT = 50;
/** Larger payloads are sent but not remembered: localStorage holds a few MB at most. */
const MAX_REMEMBERED_CHARS = 64 * 1024;

function load(): HistoryEntry[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((e): e is HistoryEntry => {
      if (typeof e !== 'object' || e === null) return false;
      const { data, format, encoding } = e as Record<string, unknown>;
      return (
        typeof data === 'string' &&
        (payloadFormats as readonly unknown[]).includes(format) &&
        (textEncodings as readonly unknown[]).includes(encoding)
      );
    });
  } catch {
    return [];
  }
}

class SendHistory {
  entries = $state.raw<HistoryEntry[]>(load());

  add(entry: HistoryEntry): void {
    if (entry.data.length === 0 || entry.data.length > MAX_REMEMBERED_CHARS) return;
    const rest = this.entries.filter(
      (e) => !(e.data === entry.data && e.format === entry.format && e.encoding === entry.encoding),
    );
    this.entries = [entry, ...rest].slice(0, LIMIT);
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.entries));
    } catch {
      // Full or disabled storage: history then lasts for this page only.
    }
  }
}

export const sendHistory = new SendHistory();
