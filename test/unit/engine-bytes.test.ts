/**
 * Byte-exactness against peers not written here: 64 MiB of random bytes from socat into the
 * capture, and 64 MiB from the workbench into a python3 receiver, compared by SHA-256.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { MAX_PAYLOAD_BYTES } from '../../src/shared/contract';
import { connectLocalTcp } from '../support/engine';
import { exited, hasCommand, startProcess, startPython, tempDir } from '../support/peers';
import { capturedBytes, waitForEndpoint, waitForState, waitUntil } from '../support/wait';

const SIZE = 64 * 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let engine: Engine;
let dir: string;
let random: Buffer;
beforeAll(() => {
  engine = new Engine();
  dir = tempDir();
  random = randomBytes(SIZE);
});
afterAll(async () => {
  await engine.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('byte-exact capture', () => {
  it.skipIf(!hasCommand('socat'))(
    '64 MiB sent by socat arrive in the capture unchanged',
    async () => {
      const file = path.join(dir, 'random.bin');
      fs.writeFileSync(file, random);
      const listener = await engine.listenTcp({
        host: '127.0.0.1',
        port: 0,
        backlog: 16,
        allowHalfOpen: true,
      });
      const port = listener.local && 'port' in listener.local ? listener.local.port : 0;
      const socat = startProcess('socat', ['-u', `OPEN:${file}`, `TCP:127.0.0.1:${port}`]);
      const accepted = await waitForEndpoint(engine, 'accepted', (e) => e.parentId === listener.id);
      await waitForState(engine, accepted.id, 'half-closed-remote', 60_000);
      expect(await exited(socat)).toBe(0);
      const info = engine.info(accepted.id);
      expect(info.counters.bytesIn).toBe(SIZE);
      expect(sha256(capturedBytes(engine, accepted.id, 'in'))).toBe(sha256(random));
    },
  );

  it('64 MiB sent by the workbench arrive at a python3 peer unchanged', async () => {
    const python = startPython(
      [
        'import hashlib, socket',
        's = socket.socket()',
        "s.bind(('127.0.0.1', 0))",
        's.listen(1)',
        "print(s.getsockname()[1], 'ready', flush=True)",
        'c, _ = s.accept()',
        'h = hashlib.sha256()',
        'n = 0',
        'while True:',
        '    b = c.recv(1 << 20)',
        '    if not b: break',
        '    h.update(b)',
        '    n += len(b)',
        "print('result', n, h.hexdigest(), flush=True)",
      ].join('\n'),
    );
    const port = Number.parseInt(await python.ready, 10);
    let output = '';
    python.child.stdout?.on('data', (data: Buffer) => (output += data.toString()));
    const client = await connectLocalTcp(engine, port);
    for (let offset = 0; offset < SIZE; offset += MAX_PAYLOAD_BYTES) {
      const part = random.subarray(offset, offset + MAX_PAYLOAD_BYTES);
      engine.send(client.id, {
        format: 'base64',
        data: part.toString('base64'),
        encoding: 'utf-8',
      });
    }
    engine.halfClose(client.id);
    await exited(python.child);
    await waitUntil('python result', () => output.includes('result'));
    const [, count, digest] = /result (\d+) ([0-9a-f]+)/.exec(output) ?? [];
    expect(Number(count)).toBe(SIZE);
    expect(digest).toBe(sha256(random));
    expect(sha256(capturedBytes(engine, client.id, 'out'))).toBe(sha256(random));
  });
});
