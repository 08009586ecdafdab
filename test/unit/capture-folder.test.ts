/**
 * The capture folder on real disks, real sockets and a real `kill -9`: it stays under its limit
 * (oldest bytes first, everything newer exact), stops at its free-space floor and resumes, is
 * readable without the app (rows, endpoints, bytes), survives a killed process with an exact
 * prefix, and a private temporary one left by a killed process is removed by the next start.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureFolder } from '../../src/main/engine/capture-folder';
import { CaptureFolderReader, findSessions } from '../../src/main/engine/capture-reader';
import { Engine } from '../../src/main/engine/engine';
import { commands, type EndpointInfo } from '../../src/shared/contract';
import { startEngineProcess } from '../support/engine-process-client';
import { dataBytesIn, folderBytes } from '../support/capture';
import { tempDir } from '../support/peers';
import { waitUntil } from '../support/wait';
import { cleanupsAfterEach } from '../support/engine';

const MiB = 1024 * 1024;
const cleanups = cleanupsAfterEach();

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Every kept byte of an endpoint, read from the folder without the engine. */
function readFromFolder(folder: string, id: string, direction?: 'in' | 'out'): Buffer {
  const reader = new CaptureFolderReader(folder);
  return Buffer.concat([...reader.chunks(id, direction)].map((chunk) => chunk.bytes));
}

async function newEngine(options: ConstructorParameters<typeof Engine>[0]): Promise<Engine> {
  const engine = new Engine(options);
  cleanups.push(() => engine.dispose());
  return engine;
}

async function listen(engine: Engine): Promise<{ listener: EndpointInfo; port: number }> {
  // The contract fills in every other option with its default, as the router does.
  const input = commands['tcp.listen'].input.parse({ host: '127.0.0.1', port: 0, backlog: 16 });
  const listener = await engine.listenTcp(input);
  return { listener, port: listener.local && 'port' in listener.local ? listener.local.port : 0 };
}

/** A peer writes `payload` to `port`; resolves once it has handed every byte to its kernel. */
function push(port: number, payload: Buffer): { socket: net.Socket; done: Promise<void> } {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  const done = new Promise<void>((resolve) => {
    socket.once('connect', () => socket.end(payload, () => resolve()));
  });
  return { socket, done };
}

function acceptedOf(engine: Engine, listenerId: string): EndpointInfo | undefined {
  return engine.list().find((endpoint) => endpoint.parentId === listenerId);
}

/** A peer writes `payload` to the listener; resolves once the engine has captured all of it. */
async function pushAll(engine: Engine, listener: EndpointInfo, port: number, payload: Buffer) {
  await push(port, payload).done;
  await waitUntil(
    'every byte',
    () => acceptedOf(engine, listener.id)?.counters.bytesIn === payload.length,
    60_000,
  );
}

describe('the capture limit', () => {
  it('keeps the folder under its limit: the oldest bytes go, every newer one is exact', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const limit = 4 * MiB;
    const engine = await newEngine({
      captureDir: dir,
      captureMemoryBytes: 1 * MiB,
      capture: { limitBytes: limit, floorBytes: 0 },
    });
    const { listener, port } = await listen(engine);
    const payload = randomBytes(40 * MiB);
    let peak = 0;
    const folder = engine.status().capture.folder;
    const sampler = setInterval(() => (peak = Math.max(peak, folderBytes(folder))), 2);
    cleanups.push(() => clearInterval(sampler));
    await pushAll(engine, listener, port, payload);
    await engine.flushCapture();
    clearInterval(sampler);

    const status = engine.status().capture;
    expect(status.limitBytes).toBe(limit);
    expect(status.storedBytes).toBeLessThanOrEqual(limit);
    expect(status.deletedBytes).toBeGreaterThan(payload.length - limit);
    // Sampled while the flood ran: a segment can go only once it is wholly on disk, so the
    // folder may pass its limit by up to two segments (an eighth of it) for a moment.
    expect(peak).toBeLessThanOrEqual(limit + limit / 8 + 4096); // and session.json

    const accepted = acceptedOf(engine, listener.id) as EndpointInfo;
    const keptFrom = accepted.captureKeptFrom;
    expect(keptFrom).toBeGreaterThan(payload.length - limit);
    expect(keptFrom).toBeLessThan(payload.length);
    // The engine says where the kept bytes begin, and reads them back exactly.
    const fromStart = engine.readCapture(accepted.id, 0, 4 * MiB);
    expect(fromStart).toMatchObject({ keptFrom, chunks: [] });
    expect(engine.readCapture(accepted.id, 0, keptFrom + 1).chunks[0]?.offset).toBe(keptFrom);
    const kept: Uint8Array[] = [];
    for (let offset = keptFrom; offset < payload.length; offset += 4 * MiB) {
      kept.push(...engine.readCapture(accepted.id, offset, 4 * MiB).chunks.map((c) => c.bytes));
    }
    expect(sha256(Buffer.concat(kept))).toBe(sha256(payload.subarray(keptFrom)));
    // So does a reader of the folder that knows nothing of the engine.
    const fromFolder = readFromFolder(folder, accepted.id);
    expect(sha256(fromFolder)).toBe(sha256(payload.subarray(payload.length - fromFolder.length)));
    expect(fromFolder.length).toBeGreaterThanOrEqual(payload.length - keptFrom);
  });

  it('acts at once when lowered, and deletes nothing while under it', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    // A 64 MiB limit makes 4 MiB segments: 22 MiB leaves about 2 MiB in the newest.
    const engine = await newEngine({
      captureDir: dir,
      capture: { limitBytes: 64 * MiB, floorBytes: 0 },
    });
    const { listener, port } = await listen(engine);
    const payload = randomBytes(22 * MiB);
    await pushAll(engine, listener, port, payload);
    await engine.flushCapture();
    const accepted = acceptedOf(engine, listener.id) as EndpointInfo;
    expect(engine.status().capture.deletedBytes).toBe(0);
    expect(accepted.captureKeptFrom).toBe(0);

    // Lowered to 1 MiB, even the newest segment must go at once: the limit holds.
    const status = engine.configureCapture({ limitBytes: 1 * MiB });
    expect(status.capture.storedBytes).toBeLessThanOrEqual(1 * MiB);
    expect(engine.info(accepted.id).captureKeptFrom).toBe(payload.length);
    // Bytes that come after are kept, and exact.
    const more = randomBytes(100_000);
    const peer = push(port, more);
    await peer.done;
    const second = await waitUntil('a second connection', () =>
      engine
        .list()
        .find(
          (e) =>
            e.parentId === listener.id &&
            e.id !== accepted.id &&
            e.counters.bytesIn === more.length,
        ),
    );
    await engine.flushCapture();
    expect(readFromFolder(status.capture.folder, second.id)).toEqual(more);
  });

  it('holds against a flood of empty datagrams, which fill only the index', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const limit = 1 * MiB;
    const engine = await newEngine({
      captureDir: dir,
      capture: { limitBytes: limit, floorBytes: 0 },
    });
    const udp = await engine.bindUdp({ host: '127.0.0.1', port: 0 });
    const port = udp.local && 'port' in udp.local ? udp.local.port : 0;
    const peer = dgram.createSocket('udp4');
    cleanups.push(() => peer.close());
    const count = 60_000; // 33 bytes of index each: about twice the limit
    const seen = () => {
      const { chunksIn, kernelDrops } = engine.info(udp.id).counters;
      return chunksIn + (kernelDrops ?? 0);
    };
    for (let n = 0; n < count; n++) {
      await new Promise((resolve) => peer.send(Buffer.alloc(0), port, '127.0.0.1', resolve));
      if (n % 100 === 99) await waitUntil('the engine to keep up', () => seen() >= n - 100);
    }
    expect(engine.info(udp.id).counters.chunksIn).toBeGreaterThan(count / 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await engine.flushCapture();
    const status = engine.status().capture;
    expect(status.deletedBytes).toBeGreaterThan(0);
    expect(folderBytes(status.folder)).toBeLessThanOrEqual(limit + limit / 8 + 4096);
  });
});

describe('the free-space floor', () => {
  it('stops the capture with a clear notice, pauses reading, and resumes when lowered', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const free = fs.statfsSync(dir).bavail * fs.statfsSync(dir).bsize;
    const engine = await newEngine({
      captureDir: dir,
      captureMemoryBytes: 2 * MiB,
      capture: { limitBytes: null, floorBytes: free + 1024 * 1024 * MiB },
    });
    const { listener, port } = await listen(engine);
    const payload = randomBytes(16 * MiB);
    const peer = push(port, payload);
    await waitUntil('the floor to stop the capture', () => engine.status().capture.error !== null);
    const { error } = engine.status().capture;
    expect(error?.code).toBe('CAPTURE_FLOOR');
    expect(error?.message).toMatch(/^Capture stopped: .* free .*under the .* floor/);
    await waitUntil('reading to pause', () => engine.status().capture.pressure);
    const stalledAt = acceptedOf(engine, listener.id)?.counters.bytesIn ?? 0;
    expect(stalledAt).toBeLessThan(payload.length);

    engine.configureCapture({ floorBytes: 0 });
    await peer.done;
    await waitUntil(
      'every byte',
      () => acceptedOf(engine, listener.id)?.counters.bytesIn === payload.length,
      60_000,
    );
    await engine.flushCapture();
    expect(engine.status().capture.error).toBeNull();
    const accepted = acceptedOf(engine, listener.id) as EndpointInfo;
    expect(sha256(readFromFolder(engine.status().capture.folder, accepted.id))).toBe(
      sha256(payload),
    );
  });
});

describe('a capture folder read without the app', () => {
  it('holds every endpoint and every row after a clean stop', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const engine = new Engine({ captureDir: dir, capture: { limitBytes: null, floorBytes: 0 } });
    const folder = engine.status().capture.folder;
    const { listener, port } = await listen(engine);
    const sent = new Map<number, Buffer>();
    for (let n = 0; n < 30; n++) {
      // A few chunks each: most connections never fill a whole record.
      const socket = net.connect({ host: '127.0.0.1', port });
      await new Promise((resolve) => socket.once('connect', resolve));
      const parts = [randomBytes(10 + n), randomBytes(300)];
      for (const part of parts) {
        socket.write(part);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      socket.end();
      sent.set(socket.localPort as number, Buffer.concat(parts));
    }
    await waitUntil(
      'every byte',
      () =>
        engine
          .list()
          .filter((e) => e.parentId === listener.id && e.counters.bytesIn > 0)
          .reduce((sum, e) => sum + e.counters.bytesIn, 0) ===
        [...sent.values()].reduce((sum, b) => sum + b.length, 0),
    );
    const accepted = engine.list().filter((endpoint) => endpoint.parentId === listener.id);
    const reply = engine.send(accepted[0]?.id as string, {
      format: 'text',
      data: 'pong',
      encoding: 'utf-8',
    });
    expect(reply.bytes).toBe(4);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await engine.dispose();

    const reader = new CaptureFolderReader(folder);
    expect(reader.session?.stoppedAt).toBeDefined();
    const endpoints = reader.endpoints();
    expect(reader.warnings).toEqual([]);
    expect(endpoints.map((e) => e.description.id).sort()).toEqual(
      [listener.id, ...accepted.map((e) => e.id)].sort(),
    );
    for (const endpoint of accepted) {
      const found = endpoints.find((e) => e.description.id === endpoint.id);
      expect(found?.description).toMatchObject({
        kind: 'tcp-connection',
        role: 'accepted',
        parentId: listener.id,
      });
      const remotePort = endpoint.remote && 'port' in endpoint.remote ? endpoint.remote.port : -1;
      expect(readFromFolder(folder, endpoint.id, 'in')).toEqual(sent.get(remotePort));
      expect(found?.missingChunks).toBe(0);
    }
    expect(readFromFolder(folder, accepted[0]?.id as string, 'out').toString()).toBe('pong');
  });

  it("the command line lists the endpoints and writes one endpoint's bytes", async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const engine = new Engine({ captureDir: dir });
    const { listener, port } = await listen(engine);
    const payload = randomBytes(3 * MiB);
    await pushAll(engine, listener, port, payload);
    const accepted = acceptedOf(engine, listener.id) as EndpointInfo;
    await engine.dispose();

    const cli = path.resolve('src/main/capture-cli.ts');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { maxBuffer: 64 * MiB });
    const listing = run(dir);
    expect(listing.status).toBe(0);
    expect(listing.stdout.toString()).toContain(`${accepted.id} `);
    expect(listing.stdout.toString()).toContain(`in ${payload.length} B`);
    const bytes = run(dir, '--endpoint', accepted.id, '--direction', 'in');
    expect(bytes.status).toBe(0);
    expect(sha256(bytes.stdout)).toBe(sha256(payload));
    const wrong = run(dir, '--endpoint', 'conn-999');
    expect(wrong.status).toBe(2);
    expect(wrong.stderr.toString()).toContain('No endpoint conn-999');
    expect(run(path.join(dir, 'nothing-here')).stderr.toString()).toContain('Cannot read');
  });
});

describe('a capture folder under faults', () => {
  it('goes on in its current segment when a new one cannot be opened, and reads back exactly', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const failures: Array<string | null> = [];
    const folder = new CaptureFolder(dir, {
      settings: { limitBytes: 1 * MiB, floorBytes: 0 },
      onFailure: (error) => failures.push(error?.message ?? null),
    });
    cleanups.push(() => folder.close());
    expect(folder.segmentBytes).toBe(64 * 1024);
    const first = randomBytes(64 * 1024);
    folder.appendData(first);
    // Something else has taken the next segment's name.
    const blocked = path.join(folder.folder, 'data-000001-0000000000065536.bin');
    fs.mkdirSync(blocked);
    const second = Buffer.from('HELLO');
    expect(folder.appendData(second)).toBe(first.length);
    await folder.flush();
    expect(failures.at(-1)).toMatch(/^Cannot start a new capture file in .*EISDIR/);
    expect(folder.error).not.toBeNull();
    expect(Buffer.from(folder.data.read(first.length, second.length))).toEqual(second);
    expect(fs.readdirSync(folder.folder).filter((n) => n.startsWith('index-'))).toHaveLength(1);

    fs.rmdirSync(blocked);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    folder.appendData(Buffer.from('after'));
    await folder.flush();
    expect(folder.error).toBeNull();
    expect(failures.at(-1)).toBeNull();
    expect(folder.data.segmentCount).toBe(2);
    expect(folder.index.segmentCount).toBe(2);
  });

  it('a reader warns of an index record cut short, and reads what comes before it', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const engine = new Engine({ captureDir: dir, capture: { limitBytes: null, floorBytes: 0 } });
    const folder = engine.status().capture.folder;
    const { listener, port } = await listen(engine);
    const payload = randomBytes(256 * 1024);
    await pushAll(engine, listener, port, payload);
    const accepted = acceptedOf(engine, listener.id) as EndpointInfo;
    await engine.dispose();
    const [index] = fs.readdirSync(folder).filter((name) => name.startsWith('index-'));
    const file = path.join(folder, index as string);
    fs.truncateSync(file, fs.statSync(file).size - 5);

    const reader = new CaptureFolderReader(folder);
    const found = reader.endpoints().find((e) => e.description.id === accepted.id);
    expect(reader.warnings.join()).toMatch(/a record is cut short at byte \d+/);
    const kept = readFromFolder(folder, accepted.id);
    expect(kept).toEqual(payload.subarray(0, kept.length));
    expect(found?.missingChunks).toBe(0);
  });
});

describe('a killed engine', () => {
  it('leaves an exact prefix, an index never ahead of its data, and says how much was lost', async () => {
    const dir = tempDir();
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const child = await startEngineProcess({ captureDir: dir });
    cleanups.push(() => child.child.kill('SIGKILL'));
    const listener = await child.call('tcp.listen', { host: '127.0.0.1', port: 0 });
    const port = listener.local && 'port' in listener.local ? listener.local.port : 0;
    const payload = randomBytes(200 * MiB);
    // One MiB at a time: a write's callback says the kernel has taken it.
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    let handedToKernel = 0;
    let stopped = false;
    const pushing = (async () => {
      for (let at = 0; at < payload.length && !stopped; at += MiB) {
        const piece = payload.subarray(at, at + MiB);
        const taken = await new Promise<boolean>((resolve) =>
          socket.write(piece, (e) => resolve(!e)),
        );
        if (!taken) return;
        handedToKernel += piece.length;
      }
    })();
    const capturedSoFar = async () => {
      const { endpoints } = await child.call('session.snapshot', {});
      return endpoints.find((e) => e.parentId === listener.id)?.counters.bytesIn ?? 0;
    };
    const deadline = Date.now() + 60_000;
    while ((await capturedSoFar()) < 64 * MiB && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const handedAtKill = handedToKernel + MiB; // and the piece being written, at most
    child.child.kill('SIGKILL');
    stopped = true;
    await new Promise((resolve) => child.child.once('exit', resolve));
    socket.destroy();
    await pushing;

    const [session] = findSessions(dir);
    const reader = new CaptureFolderReader(session as string);
    expect(reader.session?.stoppedAt).toBeUndefined();
    const [connection] = reader.endpoints().filter((e) => e.description.role === 'accepted');
    expect(connection?.missingChunks).toBe(0);
    const captured = readFromFolder(session as string, connection?.description.id as string);
    expect(captured.length).toBeGreaterThan(0);
    expect(sha256(captured)).toBe(sha256(payload.subarray(0, captured.length)));
    const dataOnDisk = dataBytesIn(session as string);
    const lost = handedAtKill - captured.length;
    // What the engine had read but not written (its 32 MiB memory budget at most), what its
    // index had not yet journaled, and what sat in the two kernels' socket buffers.
    console.log(
      `kill -9: peer handed at most ${handedAtKill} B to its kernel; folder holds ${captured.length} B ` +
        `indexed (${dataOnDisk - captured.length} B on disk not yet indexed); lost ${lost} B`,
    );
    expect(dataOnDisk).toBeGreaterThanOrEqual(captured.length);
    // The data: at most the memory budget behind the socket, beyond the two kernels' buffers.
    expect(handedAtKill - dataOnDisk).toBeLessThanOrEqual(32 * MiB + 16 * MiB);
    // The index: at most about one data write behind the data (writes start at 1 MiB pending,
    // and a write already in flight may carry up to the budget's quarter).
    expect(dataOnDisk - captured.length).toBeLessThanOrEqual(16 * MiB);
  });
});

describe('private temporary capture folders', () => {
  it('are owner-only and removed on a clean stop', async () => {
    const folder = new CaptureFolder(undefined);
    const root = path.dirname(folder.folder);
    expect(fs.statSync(root).mode & 0o777).toBe(0o700);
    expect(fs.statSync(folder.folder).mode & 0o777).toBe(0o700);
    folder.appendData(new TextEncoder().encode('secret bytes from a peer'));
    await folder.flush();
    expect(fs.statSync(folder.data.file).mode & 0o777).toBe(0o600);
    await folder.close();
    expect(fs.existsSync(root)).toBe(false);
  });

  it('left by a killed process are removed by the next start', async () => {
    const script =
      "import { CaptureFolder } from './src/main/engine/capture-folder.ts';" +
      'const f = new CaptureFolder(undefined); console.log(f.folder); process.kill(process.pid, "SIGKILL");';
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (data: Buffer) => (out += data.toString()));
    await new Promise((resolve) => child.once('exit', resolve));
    const abandoned = path.dirname(out.trim());
    expect(abandoned.startsWith(os.tmpdir())).toBe(true);
    expect(fs.existsSync(abandoned)).toBe(true);

    // A running process's folder is left alone, whoever started it.
    const running = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        "import { CaptureFolder } from './src/main/engine/capture-folder.ts';" +
          'const f = new CaptureFolder(undefined); console.log(f.folder); setInterval(() => {}, 1000);',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => running.kill('SIGKILL'));
    const runningFolder = await new Promise<string>((resolve) =>
      running.stdout.on('data', (data: Buffer) => resolve(path.dirname(data.toString().trim()))),
    );

    const next = new CaptureFolder(undefined);
    cleanups.push(() => next.close());
    expect(fs.existsSync(abandoned)).toBe(false);
    expect(fs.existsSync(runningFolder)).toBe(true);
    expect(fs.existsSync(next.folder)).toBe(true);
  });
});
