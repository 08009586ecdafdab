/**
 * Fault: a browser-mode page drops its WebSocket in the middle of traffic and comes back. The
 * engine keeps capturing (the socket does not care about views), keeps serving other endpoints,
 * and the returning page finds every byte the peer sent, checked by count and SHA-256.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Engine } from '../../src/main/engine/engine';
import { startServer } from '../../src/main/serve';
import type { CaptureChunk, CommandName, EndpointInfo } from '../../src/shared/contract';
import { decodeWire, encodeWire, type ServerMessage } from '../../src/shared/wire';
import { exited, startPython, tempDir } from '../support/peers';
import { waitUntil } from '../support/wait';

type Server = Awaited<ReturnType<typeof startServer>>;

let engine: Engine;
let server: Server;
let rendererDir: string;

beforeAll(async () => {
  rendererDir = tempDir();
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>t</title>');
  engine = new Engine();
  server = await startServer({ host: '127.0.0.1', port: 0, rendererDir, engine });
});
afterAll(async () => {
  await server.close();
  await engine.dispose();
  fs.rmSync(rendererDir, { recursive: true, force: true });
});

/** A page's end of the wire: numbered calls, events counted. */
async function openPage() {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`, {
    origin: `http://127.0.0.1:${server.port}`,
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const pending = new Map<number, (result: unknown) => void>();
  let dataEvents = 0;
  ws.on('message', (raw: Buffer) => {
    const message = decodeWire(raw.toString('utf8')) as ServerMessage;
    if (message.t === 'result') pending.get(message.id)?.(message.result);
    else if (message.event === 'feed.data') dataEvents += 1;
  });
  let nextId = 1;
  async function call<T>(command: CommandName, input: unknown): Promise<T> {
    const id = nextId++;
    const result = new Promise<unknown>((resolve) => pending.set(id, resolve));
    ws.send(encodeWire({ t: 'call', id, command, input }));
    const answer = (await result) as { ok: boolean; value?: T; error?: unknown };
    if (!answer.ok) throw new Error(`${command} failed: ${JSON.stringify(answer.error)}`);
    return answer.value as T;
  }
  return { ws, call, dataEvents: () => dataEvents };
}

describe('a browser page disconnects and reconnects during traffic', () => {
  it('loses no captured byte and the engine keeps serving', async () => {
    const first = await openPage();
    const listener = await first.call<EndpointInfo>('tcp.listen', { host: '127.0.0.1', port: 0 });
    const port = (listener.local as { port: number }).port;

    // A python3 peer streams 24 MiB in 64 KiB writes with short pauses, then prints its hash.
    const peer = startPython(
      [
        'import hashlib, socket, sys, time',
        "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))",
        'h = hashlib.sha256()',
        'for i in range(384):',
        '    block = bytes([(i * 7 + j) % 251 for j in range(256)]) * 256',
        '    s.sendall(block)',
        '    h.update(block)',
        '    if i % 32 == 0: time.sleep(0.02)',
        's.shutdown(socket.SHUT_WR)',
        "print('sent', 384 * 65536, h.hexdigest(), 'ready', flush=True)",
        's.recv(1)',
      ].join('\n'),
      [String(port)],
    );
    const accepted = await waitUntil('accepted', () =>
      engine.list().find((e) => e.parentId === listener.id),
    );
    await first.call('feed.open', { feed: 1, id: accepted.id });
    await waitUntil('live data on the first page', () => first.dataEvents() > 0);

    // The page vanishes without a close handshake (a crashed tab, a dropped SSH tunnel).
    first.ws.terminate();

    const second = await openPage();
    const snapshot = await second.call<{ endpoints: EndpointInfo[] }>('session.snapshot', {});
    expect(snapshot.endpoints.map((e) => e.id)).toContain(accepted.id);

    const [, count, digest] = /sent (\d+) ([0-9a-f]+)/.exec(await peer.ready) ?? [];
    await waitUntil('the peer FIN', () => engine.info(accepted.id).state === 'half-closed-remote');

    // Read the whole capture back through the new page, as its history view would.
    const hash = createHash('sha256');
    let total = 0;
    for (let offset = 0; offset < Number(count); offset += 4 * 1024 * 1024) {
      const { chunks } = await second.call<{ chunks: CaptureChunk[] }>('capture.read', {
        id: accepted.id,
        offset,
        length: 4 * 1024 * 1024,
      });
      for (const chunk of chunks) {
        hash.update(chunk.bytes);
        total += chunk.bytes.byteLength;
      }
    }
    expect(total).toBe(Number(count));
    expect(hash.digest('hex')).toBe(digest);

    // The engine still serves: the new page closes the connection, and the peer exits.
    await second.call('connection.close', { id: accepted.id });
    expect(await exited(peer.child)).toBe(0);
    second.ws.close();
  });
});
