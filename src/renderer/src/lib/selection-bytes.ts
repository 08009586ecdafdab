/**
 * The bytes behind what the user selected in the terminal, for "copy selection as hex / C array
 * / base64". In the dump modes the selected hex cells are the bytes; in text mode the selection
 * is turned back from its printable form (its marks) and encoded in the view's encoding.
 */
import type { TextEncoding } from '../../../shared/contract';
import { fromPrintableText } from '../../../shared/format';
import { encodeText, isLegacyEncoding, parseHex } from '../../../shared/payload';
import type { ViewMode } from './render';

const DUMP_LINE = /^[0-9a-f]{8,} {2}([0-9a-f ]*?) *\|.*\|$/;
const HEX_ONLY = /^[0-9a-f]{2}( {1,2}[0-9a-f]{2})*$/;

export function hexFromDumpSelection(selection: string): Uint8Array {
  const parts: string[] = [];
  for (const raw of selection.split(/\r?\n/)) {
    const line = raw.trimEnd();
    const dump = DUMP_LINE.exec(line);
    if (dump) {
      parts.push(dump[1] ?? '');
      continue;
    }
    // A selection that starts or ends inside the hex columns of a line.
    const beforeText = (line.includes('|') ? line.slice(0, line.indexOf('|')) : line).trim();
    if (HEX_ONLY.test(beforeText)) parts.push(beforeText);
  }
  return parseHex(parts.join(' '));
}

/**
 * Undoes toPrintableText for a selection copied from the terminal, whose real line breaks are
 * layout (the data's own breaks are the `\n` marks).
 */
export function unprintable(selection: string): string {
  return fromPrintableText(selection.replace(/\r?\n/g, ''));
}

/**
 * Null for a legacy encoding: only the engine has its tables (the caller asks `payload.encode`).
 */
export function textSelectionBytes(text: string, encoding: TextEncoding): Uint8Array | null {
  if (isLegacyEncoding(encoding)) return null;
  try {
    return encodeText(text, encoding);
  } catch {
    return new TextEncoder().encode(text);
  }
}

export function isDumpMode(mode: ViewMode): boolean {
  return mode !== 'text';
}
