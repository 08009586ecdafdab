/**
 * An auto-reply's payload as a template. Placeholders are expanded in the payload's `data`, in
 * its own format, before it is encoded (so its checksum and line ending cover the result):
 *
 *   {{$0}}          the matched bytes, as received
 *   {{$1}}…{{$9}}   a regex's groups, as received (empty when the group took no part)
 *   {{counter}}     the rule's hit number (1, 2, …)
 *   {{time}}        the time of the hit, ISO 8601
 *   {{unix}}        the time of the hit, milliseconds since 1970
 *
 * Text: received bytes go in as printable ASCII where that encodes to the same byte, else as
 * \xHH escapes (which insert one byte whatever the encoding), so every byte round-trips; the
 * counter and times go in as text. Hex: every placeholder goes in as hex pairs of its bytes (the
 * counter and times as their ASCII). Base64 cannot be spliced, so a base64 reply holds none.
 */
import { MAX_PAYLOAD_BYTES, MAX_PAYLOAD_TEXT, type TextEncoding } from '../../shared/contract';
import { WorkbenchError } from '../../shared/errors';
import type { ValidPayload } from '../../shared/payload';

const PLACEHOLDER = /\{\{(\$[0-9]|counter|time|unix)\}\}/g;

/** What one hit gives the template. */
export interface TemplateValues {
  group(n: number): Uint8Array;
  counter: number;
  /** Milliseconds since 1970. */
  now: number;
}

export interface ReplyTemplate {
  /** The reply's bytes for a hit (throws as encoding a payload does). */
  bytes(values: TemplateValues): Uint8Array;
}

/**
 * Checks a reply payload against what its rule's match can give (`groups`: the regex's group
 * count, 0 for byte modes) and encodes it once with sample values, so a rule that could never
 * reply is refused when it is set, not at its first hit.
 */
export function compileReplyTemplate(
  payload: ValidPayload,
  groups: number,
  encode: (payload: ValidPayload) => Uint8Array,
): ReplyTemplate {
  const used = [...payload.data.matchAll(PLACEHOLDER)].map((m) => m[1] as string);
  if (used.length === 0) {
    // No placeholders: the same bytes every time, encoded once.
    const fixed = encode(payload);
    return { bytes: () => fixed };
  }
  if (payload.format === 'base64') {
    throw new WorkbenchError(
      'INVALID_INPUT',
      `a base64 reply cannot hold {{${used[0]}}}: write the reply as text or hex`,
    );
  }
  for (const name of used) {
    const n = name.startsWith('$') ? Number(name.slice(1)) : 0;
    if (n > groups) {
      throw new WorkbenchError(
        'INVALID_INPUT',
        groups === 0
          ? `the reply uses {{${name}}}, but only a regex has groups`
          : `the reply uses {{${name}}}, but the pattern has ${groups} group${groups === 1 ? '' : 's'}`,
      );
    }
  }
  const literalLength = payload.data.replace(PLACEHOLDER, '').length;
  const expand = (values: TemplateValues): ValidPayload => {
    // The size is known before the text is built: a reply of many {{$0}} of a large read must
    // be refused, not built (hundreds of MB of text) and then refused.
    let length = literalLength;
    for (const name of used) {
      length += name.startsWith('$') ? values.group(Number(name.slice(1))).byteLength * 4 : 32;
    }
    if (length > MAX_PAYLOAD_TEXT) {
      throw new WorkbenchError(
        'PAYLOAD_TOO_LARGE',
        `The reply would be over the ${MAX_PAYLOAD_BYTES / 1048576} MiB payload limit`,
      );
    }
    return {
      ...payload,
      data: payload.data.replace(PLACEHOLDER, (_all, name: string) =>
        insertion(name, values, payload.format, payload.encoding),
      ),
    };
  };
  encode(expand({ group: () => new Uint8Array([0x41]), counter: 1, now: Date.now() }));
  return { bytes: (values) => encode(expand(values)) };
}

function insertion(
  name: string,
  values: TemplateValues,
  format: ValidPayload['format'],
  encoding: TextEncoding,
): string {
  if (name.startsWith('$')) {
    const bytes = values.group(Number(name.slice(1)));
    return format === 'hex' ? toHex(bytes) : bytesAsText(bytes, encoding);
  }
  const text =
    name === 'counter'
      ? String(values.counter)
      : name === 'unix'
        ? String(values.now)
        : new Date(values.now).toISOString();
  return format === 'hex' ? toHex(Buffer.from(text, 'latin1')) : text;
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * Bytes as composer text that encodes back to exactly them. Printable ASCII is written as is
 * only where the encoding keeps ASCII as one byte each (not UTF-16); '\' starts an escape, and
 * shift_jis reads 0x5c and 0x7e as other characters, so both are always escaped.
 */
function bytesAsText(bytes: Uint8Array, encoding: TextEncoding): string {
  const literal = encoding !== 'utf-16le' && encoding !== 'utf-16be';
  const parts: string[] = [];
  for (const byte of bytes) {
    if (literal && byte >= 0x20 && byte < 0x7e && byte !== 0x5c) {
      parts.push(String.fromCharCode(byte));
    } else {
      parts.push(`\\x${byte.toString(16).padStart(2, '0')}`);
    }
  }
  return parts.join('');
}
