/**
 * Batched frames (`/ws?…&frames=batch`, what the workbench's page asks for): the messages of a
 * burst arrive in fewer frames, but every one of them, in the same order as a client that gets
 * one message per frame sees them, and answers to calls are never held back behind the window.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { decodeWire, encodeWire, type ServerMessage } from '../../src/shared/wire';
import { startServer, type RunningServer } from '../../src/main/serve';

let dir: string;
let server: RunningServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swb-batch-'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>t</title>');
  server = await startServer({ host: '127.0.0.1', port: 0, rendererDir: dir });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A client that records every message, and how many frames carried them. */
class Recorder {
  readonly messages: ServerMessage[] = [];
  frames = 0;
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames += 1;
      const frame = decodeWire(data.toString('utf8')) as
        ServerMessage | { t: 'batch'; messages: ServerMessage[] };
      if (frame.t === 'batch') this.messages.push(...frame.messages);
      else this.messages.push(frame);
    });
  }

  static open(batch: boolean): Promise<Recorder> {
    const ws = new WebSocket(
      `ws://127.0.0.1:${server.port}/ws?token=${server.token}${batch ? '&frames=batch' : ''}`,
      { origin: `http://127.0.0.1:${server.port}` },
    );
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Recorder(ws)));
      ws.once('error', reject);
    });
  }

  async call(command: string, input: unknown): Promise<unknown> {
    const id = this.nextId++;
    this.ws.send(encodeWire({ t: 'call', id, command, input }));
    for (;;) {
      const answer = this.messages.find((m) => m.t === 'result' && m.id === id);
      if (answer?.t === 'result') return answer.result;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** The list events, as "event id", in arrival order. */
  listEvents(): string[] {
    return this.messages.flatMap((m) =>
      m.t === 'event' && m.event.startsWith('endpoint.')
        ? [`${m.event} ${(m.payload as { id: string }).id}`]
        : [],
    );
  }
}

async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('gave up waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('batched frames', () => {
  it('deliver every message of a burst, in order, in no more frames than messages', async () => {
    const batched = await Recorder.open(true);
    const plain = await Recorder.open(false);
    const opened = (await batched.call('tcp.listen', { host: '127.0.0.1', port: 0 })) as {
      ok: true;
      value: { id: string; local: { port: number } };
    };
    expect(opened.ok).toBe(true);
    const peers: Socket[] = [];
    for (let i = 0; i < 200; i++) {
      const socket = connect({ host: '127.0.0.1', port: opened.value.local.port });
      socket.on('error', () => undefined);
      peers.push(socket);
    }
    const added = () =>
      batched.listEvents().filter((e) => e.startsWith('endpoint.added conn-')).length;
    await until(() => added() >= 200);
    // The answer to a call after the burst comes after everything the burst sent.
    const status = await batched.call('engine.status', {});
    expect((status as { ok: boolean }).ok).toBe(true);
    await until(() => plain.listEvents().length >= batched.listEvents().length);

    expect(batched.listEvents()).toEqual(plain.listEvents().slice(0, batched.listEvents().length));
    expect(batched.frames).toBeLessThanOrEqual(batched.messages.length);
    // Some frame did carry several messages; a client that did not ask got one per frame.
    expect(batched.frames).toBeLessThan(batched.messages.length);
    expect(plain.frames).toBe(plain.messages.length);
    const last = batched.messages.at(-1);
    expect(last?.t === 'result' && last.id === 2).toBe(true);
    for (const socket of peers) socket.destroy();
    batched.ws.close();
    plain.ws.close();
  });
});
