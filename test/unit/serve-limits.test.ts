/**
 * Browser mode's limits against hostile or broken clients, with real loopback sockets and real
 * processes: connections that never show the token, weak tokens, pages that flood or stall,
 * frames built to make JSON.parse choke, and capture reads large enough to stall everyone else.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, readCaptureInPieces, type Router } from '../../src/main/router';
import {
  generateToken,
  MIN_TOKEN_BITS,
  parseCommandLine,
  startServer,
  tokenStrength,
  weakTokenReason,
  type RunningServer,
  type ServeLimits,
} from '../../src/main/serve';
import type { CaptureChunk, EndpointInfo } from '../../src/shared/contract';
import {
  CLIENT_FRAME_LIMITS,
  decodeWire,
  encodeWire,
  MAX_CLIENT_FRAME_VALUES,
  MAX_WIRE_DEPTH,
} from '../../src/shared/wire';
import { WorkbenchError } from '../../src/shared/errors';
import { call, MiB, portOf } from '../support/engine-helpers';
import { exited, startPython, tempDir } from '../support/peers';
import { Page, RawWebSocket } from '../support/serve-peers';
import { waitUntil } from '../support/wait';
import { cleanupsAfterEach } from '../support/engine';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const cleanups = cleanupsAfterEach();

let rendererDir: string;
beforeAll(() => {
  rendererDir = tempDir();
  fs.mkdirSync(path.join(rendererDir, 'assets'));
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<title>Socket Workbench</title>');
  fs.writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'console.log("app");');
});
afterAll(() => fs.rmSync(rendererDir, { recursive: true, force: true }));

async function serve(limits: Partial<ServeLimits> = {}, engine?: Engine): Promise<RunningServer> {
  const server = await startServer({ host: '127.0.0.1', port: 0, rendererDir, limits, engine });
  cleanups.push(() => server.close());
  return server;
}

async function openPage(server: RunningServer): Promise<Page> {
  const page = await Page.open(server);
  cleanups.push(() => page.close());
  return page;
}

/** A TCP connection to the server that sends nothing unless told to. */
async function idleSocket(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

const closedByServer = (socket: net.Socket): Promise<void> =>
  socket.readableEnded || socket.destroyed
    ? Promise.resolve()
    : new Promise((resolve) => socket.once('close', () => resolve()));

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends one request on `socket` and reads one response (Content-Length framed). */
function exchange(socket: net.Socket, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (data.length < end + 4 + length) return;
      socket.off('data', onData);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1]),
        headers,
        body: data.subarray(end + 4, end + 4 + length).toString('utf8'),
      });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(request);
  });
}

const get = (server: RunningServer, target: string): string =>
  `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`;

describe('HTTP: connections that have not shown the token', () => {
  it('get one answer each, then the server closes the connection', async () => {
    const server = await serve();
    for (const target of ['/', '/?token=wrong', '/assets/app.js', '/nope.js']) {
      const socket = await idleSocket(server.port);
      const response = await exchange(socket, get(server, target));
      expect(response.status, target).toBe(target === '/assets/app.js' ? 200 : 401);
      expect(response.headers['connection'], target).toBe('close');
      await closedByServer(socket);
    }
    // The wrong Host is answered and closed the same way.
    const socket = await idleSocket(server.port);
    const response = await exchange(
      socket,
      `GET /?token=${server.token} HTTP/1.1\r\nHost: evil.example\r\n\r\n`,
    );
    expect(response.status).toBe(421);
    expect(response.headers['connection']).toBe('close');
    await closedByServer(socket);
  });

  it('a connection that showed the token stays open for the page and its assets (keep-alive)', async () => {
    const server = await serve();
    const socket = await idleSocket(server.port);
    const page = await exchange(socket, get(server, `/?token=${server.token}`));
    expect(page.status).toBe(200);
    expect(page.headers['connection']).toBe('keep-alive');
    const asset = await exchange(socket, get(server, '/assets/app.js'));
    expect(asset.status).toBe(200);
    expect(asset.body).toBe('console.log("app");');
    expect(socket.readableEnded || socket.destroyed).toBe(false);
    expect(server.stats().unauthenticatedSockets).toBe(0);
  });

  it('a connection that never sends a request is closed after the idle time', async () => {
    const server = await serve({ unauthenticatedIdleMs: 300 });
    const socket = await idleSocket(server.port);
    await closedByServer(socket);
    await waitUntil('the server to forget it', () => server.stats().unauthenticatedSockets === 0);
  });

  it('a connection that trickles its headers is closed at the headers timeout', async () => {
    const server = await serve({ unauthenticatedIdleMs: 2_000, headersTimeoutMs: 400 });
    const socket = await idleSocket(server.port);
    let received = '';
    socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
    socket.write(`GET /?token=${server.token} HTTP/1.1\r\n`);
    // One header byte now and then: never idle long enough for the idle timeout.
    const trickle = setInterval(() => socket.write('X'), 50);
    cleanups.push(() => clearInterval(trickle));
    await closedByServer(socket);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('are capped: past the cap the oldest go, and the page and the WebSockets keep working', async () => {
    const cap = 4;
    const server = await serve({ maxUnauthenticatedSockets: cap, unauthenticatedIdleMs: 60_000 });
    // Pages open before the flood, more of them than the cap: they do not count against it.
    const pages = await Promise.all(Array.from({ length: cap + 2 }, () => openPage(server)));

    const flood: net.Socket[] = [];
    for (let i = 0; i < 20; i++) flood.push(await idleSocket(server.port));
    await waitUntil('the oldest to be closed', () =>
      flood.slice(0, 20 - cap).every((s) => s.readableEnded || s.destroyed),
    );
    expect(flood.slice(20 - cap).some((s) => s.readableEnded || s.destroyed)).toBe(false);
    expect(server.stats().unauthenticatedSockets).toBe(cap);

    // The user's browser: its connection is the newest, and it shows the token at once.
    const socket = await idleSocket(server.port);
    expect((await exchange(socket, get(server, `/?token=${server.token}`))).status).toBe(200);
    for (const page of pages) {
      expect(await page.call('session.snapshot', {})).toBeDefined();
    }
    const reloaded = await openPage(server);
    expect(await reloaded.call('engine.status', {})).toBeDefined();
  });
});

describe('tokens the user sets', () => {
  it('estimates strength by the smallest standard alphabet holding every character', () => {
    expect(tokenStrength('x')).toEqual({ bits: 6, alphabet: 'base64url' });
    expect(tokenStrength('f')).toEqual({ bits: 4, alphabet: 'hexadecimal' });
    expect(tokenStrength('0123')?.alphabet).toBe('decimal digits');
    expect(tokenStrength('a'.repeat(32))).toEqual({ bits: 128, alphabet: 'hexadecimal' });
    expect(tokenStrength('AbCdEf')?.alphabet).toBe('hexadecimal');
    expect(tokenStrength('g_-')?.alphabet).toBe('base64url');
    expect(tokenStrength('g+/==')).toEqual({ bits: 18, alphabet: 'base64' });
    expect(tokenStrength('p@ss')?.alphabet).toBe('printable ASCII');
    expect(tokenStrength('with space')).toBeNull();
    expect(tokenStrength('pässwort')).toBeNull();
  });

  it('refuses tokens under 128 bits and accepts those at it', () => {
    const cases: Array<[string, boolean]> = [
      ['x', false],
      ['f'.repeat(31), false],
      ['f'.repeat(32), true],
      ['9'.repeat(38), false],
      ['9'.repeat(39), true],
      ['Zz'.repeat(10) + 'Z', false], // 21 base64url characters: 126 bits
      ['Zz'.repeat(11), true],
      ['p@ssw0rd!'.repeat(2) + 'x', false], // 19 printable characters: 124 bits
      ['p@ssw0rd!'.repeat(2) + 'xy', true],
    ];
    for (const [token, strong] of cases) {
      expect(weakTokenReason(token) === null, token).toBe(strong);
    }
    expect(weakTokenReason('x', 'SOCKET_WORKBENCH_TOKEN')).toMatch(
      /^SOCKET_WORKBENCH_TOKEN is too weak: 1 character of base64url give about 6 bits, and it must have at least 128/,
    );
    expect(weakTokenReason('two words and more, long enough to be strong')).toMatch(
      /printable ASCII/,
    );
    // The generated one stays 256 bits (43 base64url characters).
    const generated = generateToken();
    expect(generated).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokenStrength(generated)?.bits).toBeGreaterThanOrEqual(256);
    expect(MIN_TOKEN_BITS).toBe(128);
  });

  it('the command line refuses a weak SOCKET_WORKBENCH_TOKEN and passes a strong one on', () => {
    expect(parseCommandLine([], { SOCKET_WORKBENCH_TOKEN: 'x' })).toMatch(
      /^SOCKET_WORKBENCH_TOKEN is too weak/,
    );
    const strong = 'a'.repeat(64);
    expect(parseCommandLine([], { SOCKET_WORKBENCH_TOKEN: strong })).toMatchObject({
      token: strong,
    });
    // Empty means unset: a random token.
    expect(parseCommandLine([], { SOCKET_WORKBENCH_TOKEN: '' })).not.toHaveProperty('token');
  });

  it('startServer refuses a weak token', async () => {
    await expect(startServer({ port: 0, rendererDir, token: 'fixed-token' })).rejects.toThrow(
      /too weak/,
    );
  });

  it('the serve process exits with a clear error for a weak token, and starts with a strong one', async () => {
    const run = (token: string) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', path.join(root, 'src/main/serve/index.ts'), '--port', '0'],
        { cwd: root, env: { ...process.env, SOCKET_WORKBENCH_TOKEN: token } },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
      child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
      cleanups.push(() => child.kill('SIGKILL'));
      return { child, stdout: () => stdout, stderr: () => stderr };
    };
    const weak = run('x');
    expect(await exited(weak.child)).toBe(2);
    expect(weak.stderr()).toMatch(/SOCKET_WORKBENCH_TOKEN is too weak: .* at least 128/);
    expect(weak.stdout()).toBe('');

    const strongToken = 'b'.repeat(40);
    const strong = run(strongToken);
    await waitUntil('the URL', () => strong.stdout().includes('\n'), 20_000);
    expect(strong.stdout()).toMatch(
      new RegExp(`^Socket Workbench: http://127\\.0\\.0\\.1:\\d+/\\?token=${strongToken}\\n$`),
    );
    strong.child.kill('SIGTERM');
    expect(await exited(strong.child)).toBe(0);
  });
});

describe('one memory budget for every page', () => {
  it('disconnects the page holding the most unfinished frame, with a reason; the rest carry on', async () => {
    const server = await serve({ pageMemoryBudgetBytes: 8 * MiB });
    const bystander = await openPage(server);
    const small = await RawWebSocket.open(server);
    const large = await RawWebSocket.open(server);
    const last = await RawWebSocket.open(server);
    cleanups.push(() => [small, large, last].forEach((client) => client.destroy()));

    // Frames that declare 60 MiB (under the 64 MiB frame limit), sent in part, then stalled.
    await small.sendFrameStart(60 * MiB, 1 * MiB);
    await large.sendFrameStart(60 * MiB, 5 * MiB);
    await waitUntil('6 MiB to arrive', () => server.stats().pageMemoryBytes >= 6 * MiB);
    await last.sendFrameStart(60 * MiB, 3 * MiB);

    const frame = await large.closeFrame;
    expect(frame?.code).toBe(1008);
    expect(frame?.reason).toMatch(
      /^Server memory budget for pages exceeded; this page held the most/,
    );
    await waitUntil('its socket to be gone', () => large.isClosed);
    expect(small.isClosed || last.isClosed).toBe(false);
    expect(await bystander.call('session.snapshot', {})).toBeDefined();
    await waitUntil('its bytes to be let go', () => server.stats().pageMemoryBytes < 8 * MiB);
  });

  it('a page that sends a thousand snapshot calls and reads no answer holds a few, not all', async () => {
    const engine = new Engine();
    cleanups.push(() => engine.dispose());
    // 200 UDP sockets: each snapshot answer is about 100 KB of JSON.
    for (let i = 0; i < 200; i++) await engine.bindUdp({ host: '127.0.0.1', port: 0 });
    const highWater = 2 * MiB;
    const server = await serve({ replyHighWaterBytes: highWater }, engine);
    const bystander = await openPage(server);
    const flooding = await openPage(server);
    const one = JSON.stringify(await bystander.call('session.snapshot', {})).length;
    expect(one).toBeGreaterThan(50_000);
    flooding.ws.pause();
    const answers = Array.from({ length: 1000 }, () => flooding.invoke('session.snapshot', {}));
    await waitUntil('answers to queue up', () => server.stats().pageMemoryBytes > highWater);
    let peak = 0;
    for (let i = 0; i < 30; i++) {
      peak = Math.max(peak, server.stats().pageMemoryBytes);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // The high-water mark, the calls running at once and the frames of those waiting, with
    // slack: all thousand answers would be about 100 MB.
    expect(peak).toBeLessThan(highWater + 10 * one + MiB);
    // The other page is answered meanwhile.
    expect(await bystander.call('engine.status', {})).toBeDefined();
    flooding.ws.resume();
    const results = await Promise.all(answers);
    expect(results.every((result) => result.ok)).toBe(true);
  });

  it('calls waiting on the network hold up nothing else the page asks', async () => {
    // A listener whose accept queue is full and never accepted from: connects to it wait.
    const python = startPython(
      [
        'import socket, sys, time',
        's = socket.socket()',
        "s.bind(('127.0.0.1', 0))",
        's.listen(0)',
        'held = socket.create_connection(s.getsockname(), timeout=1)',
        "print('ready', s.getsockname()[1], flush=True)",
        'time.sleep(60)',
      ].join('\n'),
    );
    cleanups.push(() => python.child.kill());
    const port = Number(/ready (\d+)/.exec(await python.ready)?.[1]);
    const server = await serve();
    const page = await openPage(server);
    let connectsAnswered = 0;
    const connects = Array.from({ length: 12 }, () =>
      page.invoke('tcp.connect', { host: '127.0.0.1', port, timeoutMs: 3000 }).then((result) => {
        connectsAnswered += 1;
        return result;
      }),
    );
    // Answered while every connect still waits for its handshake.
    expect(await page.call('engine.status', {})).toBeDefined();
    expect(connectsAnswered).toBe(0);
    for (const result of await Promise.all(connects)) {
      expect(result.ok ? null : result.error.code).toBe('ETIMEDOUT');
    }
  });

  it('twenty pages each stalling in a 64 MiB frame hold at most the budget', async () => {
    const budget = 16 * MiB;
    const server = await serve({ pageMemoryBudgetBytes: budget });
    const clients = await Promise.all(Array.from({ length: 20 }, () => RawWebSocket.open(server)));
    cleanups.push(() => clients.forEach((client) => client.destroy()));
    // Each sends 2 MiB of a frame that would be 64 MiB less one byte: 40 MiB in all.
    await Promise.all(clients.map((client) => client.sendFrameStart(64 * MiB - 1, 2 * MiB)));
    // Those disconnected are gone once their grace period ends; the rest fit in the budget.
    await waitUntil('the pages over the budget to be gone', () => {
      const { pages, pageMemoryBytes } = server.stats();
      return (
        pages * 2 * MiB <= budget &&
        pageMemoryBytes <= budget &&
        clients.filter((c) => c.isClosed).length === 20 - pages
      );
    });
    const disconnected = clients.filter((client) => client.isClosed);
    expect(disconnected.length).toBeGreaterThanOrEqual(12);
    expect(disconnected.length).toBeLessThan(20);
    for (const client of disconnected) expect((await client.closeFrame)?.code).toBe(1008);
    const page = await openPage(server);
    expect(await page.call('engine.status', {})).toBeDefined();
  });

  describe('with captured data to read', () => {
    let engine: Engine;
    let router: Router;
    let connectionId: string;
    const peerBytes = Buffer.alloc(6 * MiB);
    for (let i = 0; i < peerBytes.length; i++) peerBytes[i] = (i * 7 + (i >> 12)) & 0xff;

    beforeAll(async () => {
      engine = new Engine();
      router = createRouter(engine);
      const listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
      const peer = net.connect(portOf(listener), '127.0.0.1');
      peer.on('error', () => undefined);
      await new Promise<void>((resolve) => peer.once('connect', resolve));
      peer.end(peerBytes);
      const accepted = await waitUntil('the accepted connection', () =>
        engine.list().find((e: EndpointInfo) => e.parentId === listener.id),
      );
      connectionId = accepted.id;
      await waitUntil(
        'every byte in the capture',
        () => engine.readCapture(connectionId, 0, 1).totalBytes === peerBytes.length,
      );
      // One chunk far larger than a piece, out the other way.
      await call(router, 'connection.send', {
        id: connectionId,
        payload: { format: 'base64', data: Buffer.alloc(MiB + 3, 0xab).toString('base64') },
      });
    });
    afterAll(async () => {
      await engine.dispose();
    });

    it('capture reads in pieces answer exactly what one read does', async () => {
      const normalise = (chunks: CaptureChunk[]) =>
        chunks.map((c) => ({ ...c, bytes: Buffer.from(c.bytes).toString('base64') }));
      const total = engine.readCapture(connectionId, 0, 1).totalBytes;
      expect(total).toBe(peerBytes.length + MiB + 3);
      for (const [offset, length] of [
        [0, 4 * MiB],
        [1, 4 * MiB],
        [256 * 1024 - 1, 2],
        [peerBytes.length - 100, 4 * MiB],
        [peerBytes.length + 5, 300_000],
        [total - 1, 4 * MiB],
        [total + 10, 100],
      ] as const) {
        const whole = engine.readCapture(connectionId, offset, length);
        const pieces = await readCaptureInPieces(engine, connectionId, offset, length);
        expect({ ...pieces, chunks: normalise(pieces.chunks) }, `${offset}+${length}`).toEqual({
          ...whole,
          chunks: normalise(whole.chunks),
        });
      }
    });

    it('a 4 MiB read over the WebSocket arrives whole and exact', async () => {
      const server = await serve({}, engine);
      const page = await openPage(server);
      const read = await page.call<{ chunks: CaptureChunk[]; totalBytes: number }>('capture.read', {
        id: connectionId,
        offset: 2 * MiB,
        length: 4 * MiB,
      });
      const bytes = Buffer.concat(read.chunks.map((c) => c.bytes));
      expect(bytes.equals(peerBytes.subarray(2 * MiB, 6 * MiB))).toBe(true);
      const expected = engine.readCapture(connectionId, 2 * MiB, 4 * MiB);
      expect(read.chunks.map((c) => [c.seq, c.offset, c.dir])).toEqual(
        expected.chunks.map((c) => [c.seq, c.offset, c.dir]),
      );
    });

    it('a page that asks for many reads and never reads its socket holds one answer, not all', async () => {
      const highWater = 2 * MiB;
      const server = await serve({ replyHighWaterBytes: highWater }, engine);
      const page = await openPage(server);
      // Stop reading: the kernel buffers fill, then the server's queue for this page.
      page.ws.pause();
      const answers = Array.from({ length: 20 }, () =>
        page.invoke('capture.read', { id: connectionId, offset: 0, length: 4 * MiB }),
      );
      await waitUntil('an answer to queue up', () => server.stats().pageMemoryBytes > highWater);
      let peak = 0;
      for (let i = 0; i < 50; i++) {
        peak = Math.max(peak, server.stats().pageMemoryBytes);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // The high-water mark, plus the one read being answered: its 4 MiB, their 5.6 MB of JSON,
      // and a little slack. All twenty at once would be over 110 MB.
      expect(peak).toBeLessThan(highWater + 4 * MiB + 6 * MiB + MiB);
      page.ws.resume();
      for (const answer of await Promise.all(answers)) {
        expect(answer.ok && answer.value).toMatchObject({ totalBytes: peerBytes.length + MiB + 3 });
      }
    });

    it('a page that never reads its answers is disconnected at the budget; others carry on', async () => {
      const server = await serve(
        { pageMemoryBudgetBytes: 16 * MiB, replyHighWaterBytes: 64 * MiB },
        engine,
      );
      const bystander = await openPage(server);
      const stalled = await openPage(server);
      stalled.ws.pause();
      for (let i = 0; i < 20; i++) {
        void stalled.invoke('capture.read', { id: connectionId, offset: 0, length: 4 * MiB });
      }
      // It never reads, so the close frame cannot reach it: its socket is destroyed instead.
      await waitUntil('the stalled page to be disconnected', () => server.stats().pages === 1);
      expect(server.stats().pageMemoryBytes).toBeLessThan(16 * MiB);
      const read = await bystander.call<{ chunks: CaptureChunk[] }>('capture.read', {
        id: connectionId,
        offset: 0,
        length: MiB,
      });
      expect(
        Buffer.concat(read.chunks.map((c) => c.bytes)).equals(peerBytes.subarray(0, MiB)),
      ).toBe(true);
    });
  });
});

describe('frames built to make JSON.parse choke', () => {
  it('are refused by nesting depth or value count before parsing', () => {
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    expect(() => decodeWire(nested(MAX_WIRE_DEPTH))).not.toThrow();
    const deep = (() => {
      try {
        decodeWire(nested(MAX_WIRE_DEPTH + 1));
      } catch (error) {
        return error;
      }
    })();
    expect(deep).toBeInstanceOf(WorkbenchError);
    expect((deep as WorkbenchError).code).toBe('FRAME_TOO_DEEP');

    // Brackets, braces, commas and escaped quotes inside strings are text, not structure.
    const tricky = JSON.stringify({ s: `\\"${'[{,'.repeat(100_000)}\\"` });
    expect(decodeWire(tricky, CLIENT_FRAME_LIMITS)).toEqual(JSON.parse(tricky));

    const many = `[${'0,'.repeat(MAX_CLIENT_FRAME_VALUES)}0]`;
    expect(() => decodeWire(many, CLIENT_FRAME_LIMITS)).toThrow(/more than 10000 values/);
    // The limit on values is the server's, for frames from pages: the snapshot it sends is big.
    expect((decodeWire(many) as unknown[]).length).toBe(MAX_CLIENT_FRAME_VALUES + 1);
  });

  it('bytes in a Node Buffer travel as bytes, not as a JSON array of numbers', () => {
    const text = encodeWire({
      t: 'result',
      id: 1,
      result: { ok: true, value: { bytes: Buffer.from('hi') } },
    });
    expect(text).toBe(
      '{"t":"result","id":1,"result":{"ok":true,"value":{"bytes":{"$bytes":"aGk="}}}}',
    );
  });

  it('a 64 MiB frame of [[[[ or {},{},… is answered with a typed error, and the page goes on', async () => {
    const server = await serve();
    const page = await openPage(server);
    page.ws.send('['.repeat(64 * MiB - 1024));
    expect(await page.nextUnreadable()).toMatchObject({
      ok: false,
      error: { code: 'FRAME_TOO_DEEP', message: expect.stringMatching(/32 levels/) },
    });
    page.ws.send(`[${'{},'.repeat(20 * MiB)}0]`);
    expect(await page.nextUnreadable()).toMatchObject({
      ok: false,
      error: { code: 'FRAME_TOO_MANY_VALUES' },
    });
    expect(await page.call('session.snapshot', {})).toBeDefined();
  });
});
