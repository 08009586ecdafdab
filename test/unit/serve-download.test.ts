/**
 * capture.download and GET /download/<id> (browser mode): an export handed to the browser once,
 * behind the page's token and Host check, and deleted once sent. A node:net peer's bytes go
 * through a real engine listener; the file comes back over real HTTP.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  DOWNLOAD_KEEP_MS,
  Downloads,
  PENDING_DOWNLOADS_MAX,
} from '../../src/main/engine/downloads';
import { startServer } from '../../src/main/serve';
import { acceptedFrom, portOf } from '../support/engine-helpers';
import { cleanupsAfterEach, enginesDisposedWith } from '../support/engine';
import { waitUntil } from '../support/wait';

const cleanups = cleanupsAfterEach();
const newEngine = enginesDisposedWith(cleanups);

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** An engine behind a serve server, with one accepted connection that received `payload`. */
async function servedCapture(payload: Buffer) {
  const engine = newEngine();
  const rendererDir = await mkdtemp(join(tmpdir(), 'sw-renderer-'));
  cleanups.push(() => rm(rendererDir, { recursive: true, force: true }));
  await writeFile(join(rendererDir, 'index.html'), '<!doctype html><title>t</title>');
  const server = await startServer({ rendererDir, port: 0, engine, host: '127.0.0.1' });
  cleanups.push(() => server.close());
  const listener = await engine.listenTcp({
    host: '127.0.0.1',
    port: 0,
    backlog: 16,
    allowHalfOpen: true,
  });
  const peer = net.connect({ host: '127.0.0.1', port: portOf(listener) });
  cleanups.push(() => peer.destroy());
  await new Promise((resolve) => peer.once('connect', resolve));
  const accepted = await acceptedFrom(engine, listener.id, peer.localPort as number);
  peer.write(payload);
  await waitUntil(
    'every byte in',
    () => engine.info(accepted.id).counters.bytesIn === payload.length,
  );
  return { engine, server, accepted };
}

describe('capture.download', () => {
  it('hands the export to the browser once, with the token, and deletes it', async () => {
    const payload = randomBytes(300_000);
    const { engine, server, accepted } = await servedCapture(payload);
    const ready = await engine.exportForDownload({
      ids: [accepted.id],
      withConnections: true,
      format: 'raw',
      direction: 'in',
      name: 'from the peer',
    });
    expect(ready.name).toBe('from the peer.bin');
    expect(ready.bytes).toBe(payload.length);
    expect(ready.id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const path = `/download/${ready.id}?token=${encodeURIComponent(server.token)}`;
    const waiting = (await readdir(tmpdir()))
      .filter((name) => name.startsWith('socket-workbench-downloads-'))
      .map((folder) => join(tmpdir(), folder, ready.id))
      .find((file) => existsSync(file));
    expect(waiting).toBeDefined();

    // Without the token, or naming another host: refused, and the file stays for its owner.
    expect((await get(server.port, `/download/${ready.id}`)).status).toBe(401);
    expect((await get(server.port, `${path}x`)).status).toBe(401);
    expect((await get(server.port, path, `evil.example:${server.port}`)).status).toBe(421);
    expect(
      (await get(server.port, `/download/${'A'.repeat(32)}?token=${server.token}`)).status,
    ).toBe(404);

    const response = await get(server.port, path);
    expect(response.status).toBe(200);
    expect(response.body.equals(payload)).toBe(true);
    expect(response.headers['content-type']).toBe('application/octet-stream');
    expect(response.headers['content-disposition']).toBe(
      `attachment; filename="from the peer.bin"; filename*=UTF-8''from%20the%20peer.bin`,
    );
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toContain('sandbox');

    // Once only, and the file is gone from the engine's disk.
    const again = await get(server.port, path);
    expect(again.status).toBe(404);
    expect(again.body.toString()).toContain('Export it again');
    const folders = (await readdir(tmpdir())).filter((name) =>
      name.startsWith('socket-workbench-downloads-'),
    );
    // Deleted right after the last byte went out (which the client may see first).
    await waitUntil('the sent file deleted', () =>
      folders.every((folder) => !existsSync(join(tmpdir(), folder, ready.id))),
    );
    await waitUntil('the sent file deleted', () => !existsSync(waiting as string));
  });

  it('refuses a name with a folder in it, and unknown endpoints by name', async () => {
    const { engine, accepted } = await servedCapture(Buffer.from('hello'));
    const { createRouter } = await import('../../src/main/router');
    const router = createRouter(engine);
    const base = { ids: [accepted.id], format: 'pcapng', withConnections: true };
    const slash = await router.invoke('capture.download', { ...base, name: '../../.bashrc' });
    expect(slash.ok ? null : slash.error.code).toBe('INVALID_PATH');
    const dot = await router.invoke('capture.download', { ...base, name: '.profile' });
    expect(dot.ok ? null : dot.error.code).toBe('INVALID_PATH');
    const unknown = await router.invoke('capture.download', {
      ...base,
      ids: ['conn-999'],
      name: 'x.pcapng',
    });
    expect(unknown.ok ? null : unknown.error.message).toContain('conn-999');
  });

  it('deletes what nobody fetched when the engine stops', async () => {
    const { engine, accepted } = await servedCapture(Buffer.from('bytes nobody fetched'));
    const ready = await engine.exportForDownload({
      ids: [accepted.id],
      withConnections: true,
      format: 'transcript',
      direction: 'both',
      name: 'later.txt',
    });
    const taken = engine.downloads.take(ready.id);
    expect(taken && existsSync(taken.path)).toBe(true);
    await engine.dispose();
    expect(existsSync(dirname(taken?.path as string))).toBe(false);
  });

  it('keeps at most four waiting, and deletes what nobody fetched in time', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    cleanups.push(() => vi.useRealTimers());
    const downloads = new Downloads();
    cleanups.push(() => downloads.dispose());
    const write = (path: string) => writeFile(path, 'bytes');
    const ids: string[] = [];
    for (let i = 0; i <= PENDING_DOWNLOADS_MAX; i++)
      ids.push(await downloads.prepare(`${i}.bin`, write));
    // The fifth pushed out the first.
    expect(downloads.take(ids[0] as string)).toBeUndefined();
    const second = downloads.take(ids[1] as string);
    expect(second && existsSync(second.path)).toBe(true);
    await downloads.sent(second as { path: string; name: string });
    const third = ids[2] as string;
    vi.advanceTimersByTime(DOWNLOAD_KEEP_MS);
    expect(downloads.take(third)).toBeUndefined();
  });
});
