/**
 * Another user of the same machine must not read what the workbench captured: the capture file
 * lives in a directory only its owner can enter, removed when the capture log closes.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureLog } from '../../src/main/engine/capture-log';

describe.skipIf(process.platform === 'win32')('the capture directory', () => {
  it('is private to the user (0700) and removed on close', async () => {
    const log = new CaptureLog(undefined);
    const directory = dirname(log.file);
    try {
      expect(statSync(directory).mode & 0o777).toBe(0o700);
      log.append(new TextEncoder().encode('secret bytes from a peer'));
      await log.flush();
      expect(existsSync(log.file)).toBe(true);
    } finally {
      await log.close();
    }
    expect(existsSync(directory)).toBe(false);
  });
});
