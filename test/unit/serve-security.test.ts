/**
 * Browser mode's defences, checked with real loopback sockets: a web page the user happens to
 * visit must not be able to read the workbench or drive its engine.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { decodeWire, encodeWire, type ServerMessage } from '../../src/shared/wire';
import {
  DEFAULT_HOST,
  isLoopbackHost,
  MAX_FRAME_BYTES,
  startServer,
  type RunningServer,
} from '../../src/main/serve';

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A raw request: node:http sends the path exactly as given, `..` and all. */
function get(
  server: RunningServer,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: server.port, path, method, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the HTTP status when the upgrade is refused, or 101 when it is accepted. */
function upgradeStatus(
  url: string,
  origin?: string,
  headers: Record<string, string> = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? { headers } : { headers, origin });
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      req.destroy();
    });
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.once('error', reject);
  });
}

/** A page's side of the wire protocol: calls by id, events in arrival order. */
class Client {
  readonly events: ServerMessage[] = [];
  private readonly waiting = new Map<number, (message: ServerMessage) => void>();
  private readonly results: ServerMessage[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const message = decodeWire(data.toString('utf8')) as ServerMessage;
      if (message.t === 'event') {
        this.events.push(message);
        return;
      }
      const waiter = this.waiting.get(message.id);
      if (waiter) {
        this.waiting.delete(message.id);
        waiter(message);
      } else {
        this.results.push(message);
      }
    });
  }

  static open(server: RunningServer): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`, {
      origin: `http://127.0.0.1:${server.port}`,
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('error', reject);
    });
  }

  /** The next result with this id (already received or still to come). */
  result(id: number): Promise<ServerMessage> {
    const index = this.results.findIndex((m) => m.t === 'result' && m.id === id);
    if (index >= 0) return Promise.resolve(this.results.splice(index, 1)[0] as ServerMessage);
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }

  async call(id: number, command: string, input: unknown): Promise<unknown> {
    this.ws.send(encodeWire({ t: 'call', id, command, input }));
    const message = await this.result(id);
    return message.t === 'result' ? message.result : undefined;
  }

  /** A one-way notification: the server sends nothing back for it. */
  notify(name: string, input: unknown): void {
    this.ws.send(encodeWire({ t: 'notify', name, input }));
  }

  async nextEvent(predicate: (message: ServerMessage) => boolean): Promise<ServerMessage> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const found = this.events.find(predicate);
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the expected event never arrived');
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

let dir: string;
let rendererDir: string;
let server: RunningServer;
let origin: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swb-serve-'));
  rendererDir = join(dir, 'renderer');
  await mkdir(join(rendererDir, 'assets'), { recursive: true });
  await writeFile(join(dir, 'secret.txt'), 'TOP SECRET outside the renderer');
  await writeFile(
    join(rendererDir, 'index.html'),
    '<!doctype html><title>Socket Workbench</title><script type="module" src="/assets/app.js"></script>',
  );
  await writeFile(join(rendererDir, 'assets', 'app.js'), 'console.log("app");');
  await writeFile(join(rendererDir, 'notes.txt'), 'beside the page, outside the assets');
  await symlink(join(dir, 'secret.txt'), join(rendererDir, 'assets', 'leak.txt'));
  server = await startServer({ host: '127.0.0.1', port: 0, rendererDir });
  origin = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('HTTP', () => {
  it('prints a URL with a long random token', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
    expect(server.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(server.port).toBeGreaterThan(0);
  });

  it('refuses a request without a token with a plain explanation', async () => {
    const res = await get(server, '/');
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/token/);
    expect(res.body).not.toContain('<title>');
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('refuses a wrong or empty token, however the page is named', async () => {
    // `/Index.html` is the page itself on a case-insensitive disk (macOS, Windows).
    for (const page of ['/', '/index.html', '/%69ndex.html', '/Index.html', '/notes.txt']) {
      expect((await get(server, `${page}?token=wrong`)).status).toBe(401);
      expect((await get(server, `${page}?token=${server.token}x`)).status).toBe(401);
      expect((await get(server, `${page}?token=`)).status).toBe(401);
      expect((await get(server, page)).status).toBe(401);
    }
  });

  it('serves the page with the token; its public assets without one, and never a cookie', async () => {
    const page = await get(server, `/?token=${server.token}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>Socket Workbench</title>');
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    // A cookie would reach every other service on this host: cookies ignore the port.
    expect(page.headers['set-cookie']).toBeUndefined();

    const asset = await get(server, '/assets/app.js');
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.body).toBe('console.log("app");');
    expect(asset.headers['set-cookie']).toBeUndefined();
    // Still only under this server's own name.
    expect((await get(server, '/assets/app.js', { Host: 'evil.example' })).status).toBe(421);
    // Public means the build's assets folder, not whatever a link in it points to.
    const leak = await get(server, '/assets/leak.txt');
    expect(leak.status).toBe(404);
    expect(leak.body).not.toContain('TOP SECRET');
  });

  it('sends the CSP and hardening headers with the page', async () => {
    const page = await get(server, `/?token=${server.token}`);
    expect(page.headers['content-security-policy']).toBe(
      `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; ` +
        `connect-src 'self' ws://127.0.0.1:${server.port}; img-src 'self' data:; ` +
        `object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
    );
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const head = await get(server, `/?token=${server.token}`, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    const post = await get(server, `/?token=${server.token}`, {}, 'POST');
    expect(post.status).toBe(405);
  });

  it('refuses a Host header that is not this server (DNS rebinding)', async () => {
    const res = await get(server, `/?token=${server.token}`, {
      Host: `evil.example:${server.port}`,
    });
    expect(res.status).toBe(421);
    expect(res.body).not.toContain('<title>');
    // The loopback names of this server are fine.
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`]) {
      expect((await get(server, `/?token=${server.token}`, { Host: host })).status).toBe(200);
    }
    // The right name on the wrong port is not this server either.
    const port = await get(server, `/?token=${server.token}`, { Host: '127.0.0.1:1' });
    expect(port.status).toBe(421);
  });

  it.each([
    '/../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E%2Fsecret.txt',
    '/..%2fsecret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/..%5csecret.txt',
    '/assets%2f..%2f..%2fsecret.txt',
    '/%00index.html',
    '/%zz',
  ])('refuses path traversal %s, with or without the token', async (path) => {
    const separator = path.includes('?') ? '&' : '?';
    for (const url of [`${path}${separator}token=${server.token}`, path]) {
      const res = await get(server, url);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.body).not.toContain('TOP SECRET');
    }
  });

  it('answers 404 for a file that is not there', async () => {
    expect((await get(server, `/nope.js?token=${server.token}`)).status).toBe(404);
    expect((await get(server, `/assets?token=${server.token}`)).status).toBe(404);
  });
});

describe('WebSocket', () => {
  it('refuses a missing or wrong token before the handshake', async () => {
    const base = `ws://127.0.0.1:${server.port}/ws`;
    expect(await upgradeStatus(base, origin)).toBe(401);
    expect(await upgradeStatus(`${base}?token=wrong`, origin)).toBe(401);
  });

  it('takes the token from the URL only: a cookie, even the right one, is not a token', async () => {
    const url = `ws://127.0.0.1:${server.port}/ws?token=`;
    expect(await upgradeStatus(url, origin, { Cookie: `swb_token=${server.token}` })).toBe(401);
  });

  it('refuses a foreign or missing Origin even with the right token', async () => {
    const url = `ws://127.0.0.1:${server.port}/ws?token=${server.token}`;
    expect(await upgradeStatus(url, 'http://evil.example')).toBe(403);
    expect(await upgradeStatus(url, `http://evil.example:${server.port}`)).toBe(403);
    expect(await upgradeStatus(url, `https://127.0.0.1:${server.port}`)).toBe(403);
    expect(await upgradeStatus(url)).toBe(403);
    expect(await upgradeStatus(url, origin)).toBe(101);
  });

  it('refuses another path', async () => {
    expect(
      await upgradeStatus(`ws://127.0.0.1:${server.port}/x?token=${server.token}`, origin),
    ).toBe(404);
  });

  it('answers session.snapshot with the (empty) engine state', async () => {
    const client = await Client.open(server);
    expect(await client.call(1, 'session.snapshot', {})).toEqual({
      ok: true,
      value: { endpoints: [] },
    });
    await client.close();
  });

  it('answers a malformed frame with a typed error and keeps the socket working', async () => {
    const client = await Client.open(server);

    client.ws.send('{ not json');
    expect(await client.result(-1)).toEqual({
      t: 'result',
      id: -1,
      result: { ok: false, error: { code: 'INVALID_INPUT', message: expect.any(String) } },
    });

    client.ws.send(JSON.stringify({ t: 'nope', id: 7 }));
    const wrongKind = await client.result(7);
    expect(wrongKind.t === 'result' && wrongKind.result).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT' },
    });

    client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await client.result(-1)).toMatchObject({ result: { error: { code: 'INVALID_INPUT' } } });

    client.ws.send('[]');
    expect(await client.result(-1)).toMatchObject({ result: { error: { code: 'INVALID_INPUT' } } });

    expect(await client.call(8, 'session.snapshot', {})).toEqual({
      ok: true,
      value: { endpoints: [] },
    });
    await client.close();
  });

  it('answers an unknown command with UNKNOWN_COMMAND and bad input with a typed error', async () => {
    const client = await Client.open(server);
    expect(await client.call(1, 'shell.exec', { cmd: 'id' })).toMatchObject({
      ok: false,
      error: { code: 'UNKNOWN_COMMAND' },
    });
    expect(await client.call(2, 'tcp.listen', { host: '127.0.0.1', port: 70000 })).toMatchObject({
      ok: false,
      error: { code: 'PORT_OUT_OF_RANGE' },
    });
    expect(await client.call(3, 'session.snapshot', {})).toMatchObject({ ok: true });
    await client.close();
  });
});

describe('shared engine', () => {
  let own: RunningServer;
  beforeAll(async () => {
    own = await startServer({ port: 0, rendererDir });
  });
  afterAll(async () => {
    await own?.close();
  });

  it('pushes engine events to every page and shows a reloaded page the same state', async () => {
    const first = await Client.open(own);
    const second = await Client.open(own);
    const listened = (await first.call(1, 'tcp.listen', { host: '127.0.0.1', port: 0 })) as {
      ok: boolean;
      value: { id: string };
    };
    expect(listened.ok).toBe(true);
    const { id } = listened.value;
    for (const client of [first, second]) {
      const added = await client.nextEvent((m) => m.t === 'event' && m.event === 'endpoint.added');
      expect(added).toMatchObject({ t: 'event', event: 'endpoint.added', payload: { id } });
    }
    await first.close();

    // A reload is a new socket: it starts from the snapshot of the one engine.
    const reloaded = await Client.open(own);
    expect(await reloaded.call(1, 'session.snapshot', {})).toMatchObject({
      ok: true,
      value: { endpoints: [{ id, state: 'listening' }] },
    });
    await reloaded.close();
    await second.close();
  });

  it('gives each page its own view: live data only through the feeds it opens', async () => {
    const watching = await Client.open(own);
    const idle = await Client.open(own);
    const listened = (await watching.call(1, 'tcp.listen', { host: '127.0.0.1', port: 0 })) as {
      value: { id: string; local: { port: number } };
    };
    const peer = connect(listened.value.local.port, '127.0.0.1');
    await once(peer, 'connect');
    const accepted = (await watching.nextEvent(
      (m) =>
        m.t === 'event' &&
        m.event === 'endpoint.added' &&
        m.payload.id !== listened.value.id &&
        'parentId' in m.payload &&
        m.payload.parentId === listened.value.id,
    )) as { payload: { id: string } };
    const id = accepted.payload.id;
    expect(await watching.call(2, 'feed.open', { feed: 1, id })).toEqual({
      ok: true,
      value: { start: 0 },
    });

    peer.write('hello workbench');
    const data = await watching.nextEvent((m) => m.t === 'event' && m.event === 'feed.data');
    expect(data).toMatchObject({ payload: { feed: 1 } });
    const bytes = data.t === 'event' && data.event === 'feed.data' ? data.payload.chunks : [];
    expect(Buffer.from(bytes[0]?.bytes ?? []).toString()).toBe('hello workbench');
    watching.notify('feed.ack', { feed: 1, bytes: 15 });
    // The page's socket still answers after the notification (which has no answer of its own).
    expect(await watching.call(3, 'engine.status', {})).toMatchObject({ ok: true });
    expect(idle.events.some((m) => m.t === 'event' && m.event === 'feed.data')).toBe(false);

    peer.destroy();
    await watching.close();
    await idle.close();
  });
});

const hasIpv6Loopback = Object.values(networkInterfaces()).some((addresses) =>
  (addresses ?? []).some((a) => a.address === '::1'),
);

describe.skipIf(!hasIpv6Loopback)('IPv6 loopback', () => {
  it('brackets the host in the URL and accepts that Host header and Origin', async () => {
    const fixed = 'fixed-token-0123456789abcdef0123456789';
    const v6 = await startServer({ host: '::1', port: 0, rendererDir, token: fixed });
    try {
      expect(v6.url).toBe(`http://[::1]:${v6.port}/?token=${fixed}`);
      const res = await new Promise<number>((resolve, reject) => {
        httpRequest({ host: '::1', port: v6.port, path: `/?token=${fixed}` }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
      expect(res).toBe(200);
      const ws = `ws://[::1]:${v6.port}/ws?token=${fixed}`;
      expect(await upgradeStatus(ws, `http://[::1]:${v6.port}`)).toBe(101);
      expect(await upgradeStatus(ws, `http://127.0.0.1:${v6.port}`)).toBe(403);
    } finally {
      await v6.close();
    }
  });
});

/** Sends one raw request (any headers, or none) and resolves with the status the server answers. */
function rawStatus(port: number, request: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      if (status) {
        resolve(Number(status[1]));
        socket.destroy();
      }
    });
    socket.on('error', reject);
    socket.on('end', () => reject(new Error(`no status line in ${JSON.stringify(data)}`)));
    socket.write(request);
  });
}

function upgradeRequest(path: string, headers: Record<string, string>): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

describe('DNS rebinding and foreign pages, on the WebSocket', () => {
  it('refuses an upgrade whose Host is not this server, even with the token and its own Origin', async () => {
    // A rebinding page at http://evil.example:PORT resolves to 127.0.0.1: its Origin then
    // matches its Host, so the Host check is what stops it.
    const path = `/ws?token=${server.token}`;
    const p = server.port;
    for (const host of [`evil.example:${p}`, `127.0.0.1.evil.example:${p}`, '127.0.0.1:1']) {
      const status = await rawStatus(
        p,
        upgradeRequest(path, { Host: host, Origin: `http://${host}` }),
      );
      expect(status, host).toBe(421);
    }
    // The same request naming this server is accepted: the refusals above are the Host's doing.
    for (const host of [`127.0.0.1:${p}`, `localhost:${p}`]) {
      const status = await rawStatus(
        p,
        upgradeRequest(path, { Host: host, Origin: `http://${host}` }),
      );
      expect(status, host).toBe(101);
    }
  });

  it('refuses an upgrade or a page request with no Host header at all', async () => {
    const p = server.port;
    const noHost = await rawStatus(
      p,
      upgradeRequest(`/ws?token=${server.token}`, { Origin: origin }),
    );
    expect(noHost).toBeGreaterThanOrEqual(400);
    // HTTP/1.0 may leave Host out; the server still does not answer to a name it cannot check.
    const page = await rawStatus(p, `GET /?token=${server.token} HTTP/1.0\r\n\r\n`);
    expect(page).toBe(421);
  });

  it('refuses a sandboxed iframe or a file:// page (Origin: null) even with the token', async () => {
    const url = `ws://127.0.0.1:${server.port}/ws?token=${server.token}`;
    expect(await upgradeStatus(url, 'null')).toBe(403);
    expect(await upgradeStatus(url, 'file://')).toBe(403);
  });

  it('closes the socket on a frame over the size limit instead of buffering it', async () => {
    const client = await Client.open(server);
    const closed = new Promise<number>((resolve) =>
      client.ws.once('close', (code) => resolve(code)),
    );
    // Writing may fail half-way once the server has hung up; the close code is the answer.
    client.ws.on('error', () => {});
    client.ws.send(Buffer.alloc(MAX_FRAME_BYTES + 1, 0x20), { binary: false });
    expect(await closed).toBe(1009);
    // Nothing else was affected.
    const other = await Client.open(server);
    expect(await other.call(1, 'session.snapshot', {})).toMatchObject({ ok: true });
    await other.close();
  });

  it('sends the CSP even with its refusals, so an error page cannot run anything either', async () => {
    const refused = await get(server, '/');
    expect(refused.status).toBe(401);
    expect(refused.headers['content-security-policy']).toMatch(/script-src 'self'/);
  });
});

describe('default bind', () => {
  it('listens on 127.0.0.1 unless told otherwise, never on every interface', async () => {
    expect(DEFAULT_HOST).toBe('127.0.0.1');
    expect(isLoopbackHost(DEFAULT_HOST)).toBe(true);
    for (const wildcard of ['0.0.0.0', '::', '192.0.2.1'])
      expect(isLoopbackHost(wildcard)).toBe(false);

    const plain = await startServer({ port: 0, rendererDir });
    try {
      expect(plain.host).toBe('127.0.0.1');
      expect(plain.url).toBe(`http://127.0.0.1:${plain.port}/?token=${plain.token}`);
      if (hasIpv6Loopback) {
        // Bound to the IPv4 loopback address only: the same port on ::1 has nobody listening.
        const refused = await new Promise<string>((resolve) => {
          const socket = connect(plain.port, '::1');
          socket.once('connect', () => {
            socket.destroy();
            resolve('connected');
          });
          socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
        });
        expect(refused).toBe('ECONNREFUSED');
      }
    } finally {
      await plain.close();
    }
  });
});
