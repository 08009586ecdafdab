import type { Engine } from '../../src/main/engine/engine';
import type { EndpointInfo } from '../../src/shared/contract';
import { WorkbenchError } from '../../src/shared/errors';

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function waitForEndpoint(
  engine: Engine,
  what: string,
  predicate: (info: EndpointInfo) => boolean,
  timeoutMs?: number,
): Promise<EndpointInfo> {
  return waitUntil(what, () => engine.list().find(predicate), timeoutMs);
}

export function waitForState(
  engine: Engine,
  id: string,
  state: EndpointInfo['state'],
  timeoutMs?: number,
): Promise<EndpointInfo> {
  return waitUntil(
    `${id} to be ${state}`,
    () => {
      const info = engine.info(id);
      return info.state === state ? info : undefined;
    },
    timeoutMs,
  );
}

/** All captured bytes of one direction, concatenated. */
export function capturedBytes(engine: Engine, id: string, dir: 'in' | 'out'): Buffer {
  const { totalBytes } = engine.readCapture(id, 0, 1);
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < totalBytes; offset += 4 * 1024 * 1024) {
    for (const chunk of engine.readCapture(id, offset, 4 * 1024 * 1024).chunks) {
      if (chunk.dir === dir) parts.push(chunk.bytes);
    }
  }
  return Buffer.concat(parts);
}

/** The WorkbenchError a promise rejects with (anything else fails the test). */
export async function rejection(promise: Promise<unknown>): Promise<WorkbenchError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof WorkbenchError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}
