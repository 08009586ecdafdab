/**
 * Payload text to bytes for previews and search. Most encodings are computed here with the shared
 * codec; table encodings (gbk, big5, …) need the engine's tables, so they go through
 * `payload.encode`, which gives exactly the bytes a send would carry.
 */
import { WorkbenchError, type UserError } from '../../../shared/errors';
import { encodePayload, isLegacyEncoding, type ValidPayload } from '../../../shared/payload';
import type { Session } from './session.svelte';

export type Encoded = { ok: true; bytes: Uint8Array } | { ok: false; error: UserError };

/** A payload with its encoding chosen (what the composer and search always have). */
export type FullSpec = ValidPayload;

export function needsEngine(spec: FullSpec): boolean {
  return spec.format === 'text' && isLegacyEncoding(spec.encoding);
}

export function encodeLocally(spec: FullSpec): Encoded {
  try {
    return { ok: true, bytes: encodePayload(spec) };
  } catch (error) {
    if (error instanceof WorkbenchError) return { ok: false, error: error.toUserError() };
    return { ok: false, error: { code: 'INTERNAL', message: String(error) } };
  }
}

export async function encodeSpec(session: Session, spec: FullSpec): Promise<Encoded> {
  if (!needsEngine(spec)) return encodeLocally(spec);
  const result = await session.invoke('payload.encode', { payload: spec });
  return result.ok ? { ok: true, bytes: result.value.bytes } : { ok: false, error: result.error };
}
