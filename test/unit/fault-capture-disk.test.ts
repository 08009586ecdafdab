/**
 * The capture directory fills up or turns read-only under an open capture file, on real file
 * systems: a tmpfs of a few MiB, and an ext4 image on a loop device whose kernel-injected error
 * remounts it read-only (what a failing disk does). Both need mount privileges; without them the
 * tests say why and skip.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter } from '../../src/main/router';
import type { AnyEvent } from '../../src/shared/api';
import { errorCodes, type UserError } from '../../src/shared/errors';
import {
  MiB,
  acceptedFrom,
  call,
  portOf,
  readDirection,
  startSinkServer,
} from '../support/engine-helpers';
import { firstMismatch, sha256, streamBytes, streamHash } from '../support/stream';
import {
  activeResources,
  mountFailingExt4,
  mountTmpfs,
  resourceDifference,
  type Mounted,
} from '../support/system';
import { connectPeer } from '../support/peers';
import { dataBytesIn } from '../support/capture';
import { waitUntil } from '../support/wait';

const KiB = 1024;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  // Each step gets a few seconds, so that a hang (say, in dispose) still leaves nothing mounted.
  for (const cleanup of cleanups.splice(0).reverse()) {
    await Promise.race([cleanup(), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
  }
});

async function setUp(disk: Mounted, memoryBytes: number) {
  const engine = new Engine({
    captureDir: disk.dir,
    captureMemoryBytes: memoryBytes,
    // The disk itself fails here: no floor or limit may act first.
    capture: { limitBytes: null, floorBytes: 0 },
  });
  let disposed: Promise<void> | undefined;
  const dispose = () => (disposed ??= engine.dispose());
  cleanups.push(dispose);
  const router = createRouter(engine);
  const statuses: Array<UserError | null> = [];
  const view = router.openView((event: AnyEvent) => {
    if (event.event === 'engine.status') statuses.push(event.payload.capture.error);
  });
  cleanups.push(() => view.close());

  const listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
  const flooder = await connectPeer({ host: '127.0.0.1', port: portOf(listener) });
  cleanups.push(() => void flooder.socket.destroy());
  const flood = await acceptedFrom(engine, listener.id, flooder.socket.localPort as number);
  // Opened before the fault: it has to keep working through it.
  const bystander = await connectPeer({ host: '127.0.0.1', port: portOf(listener) });
  cleanups.push(() => void bystander.socket.destroy());
  const standing = await acceptedFrom(engine, listener.id, bystander.socket.localPort as number);
  return { engine, dispose, router, statuses, listener, flooder, flood, bystander, standing };
}

type Setup = Awaited<ReturnType<typeof setUp>>;

/** Every byte the engine read from the flooding peer is in its capture, exactly. */
async function expectCaptureIsExactPrefix(setup: Setup, phase: number) {
  const received = setup.engine.info(setup.flood.id).counters.bytesIn;
  const captured = await readDirection(setup.router, setup.flood.id, 'in');
  expect(captured.length).toBe(received);
  expect(firstMismatch(phase, 0, captured)).toBe(-1);
  expect(sha256(captured)).toBe(streamHash(phase, received));
  return received;
}

/** Accepting, connecting, sending and answering commands all go on while the file fails. */
async function expectEngineKeepsServing(setup: Setup) {
  const { engine, router, bystander, standing } = setup;
  await call(router, 'connection.send', {
    id: standing.id,
    payload: { format: 'text', data: 'still here\\n' },
  });
  await waitUntil('the bystander to get its bytes', () =>
    bystander.received().toString().endsWith('still here\n'),
  );

  const another = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
  const late = await connectPeer({ host: '127.0.0.1', port: portOf(another) });
  const lateAccepted = await acceptedFrom(engine, another.id, late.socket.localPort as number);
  expect(lateAccepted.state).toBe('open');

  const sink = await startSinkServer();
  const client = await call(router, 'tcp.connect', { host: '127.0.0.1', port: sink.port });
  expect(client.state).toBe('open');
  await call(router, 'connection.close', { id: client.id });
  late.socket.destroy();
  await sink.close();
  expect((await call(router, 'session.snapshot', {})).endpoints.length).toBeGreaterThan(4);
}

function expectClearError(error: UserError | null, errno: string, words: RegExp) {
  expect(error).not.toBeNull();
  expect(errorCodes).toContain(error?.code);
  expect(error?.message).toContain(errno);
  expect(error?.message).toMatch(words);
  expect(error?.message).toContain('capture file');
}

describe('the capture directory fills up', () => {
  it('keeps every received byte in memory, pauses reading, and resumes once there is room', async ({
    skip,
  }) => {
    const disk = mountTmpfs(4 * MiB);
    if (typeof disk === 'string') return skip(disk);
    cleanups.push(() => disk.unmount());
    // Most of the disk is taken by someone else's file; deleting it later makes room.
    const filler = path.join(disk.dir, 'someone-elses-file');
    fs.writeFileSync(filler, Buffer.alloc(3 * MiB + 512 * KiB));
    const setup = await setUp(disk, 256 * KiB);
    const { engine, flooder, flood, bystander, standing } = setup;

    const phase = 4242;
    const total = 3 * MiB;
    flooder.socket.end(streamBytes(phase, 0, total));
    bystander.socket.write('sent while the disk was full');

    await waitUntil('the capture file to fail', () => engine.status().capture.error !== null);
    await waitUntil(
      'reading to pause under capture pressure',
      () => engine.status().capture.pressure,
    );
    const status = engine.status().capture;
    expectClearError(status.error, 'ENOSPC', /full|space/i);
    expect(setup.statuses.some((error) => error?.message === status.error?.message)).toBe(true);
    expect(status.unpersistedBytes).toBeGreaterThan(0);
    // The socket is not read any further than memory allows, so the flood cannot have finished.
    expect(engine.info(flood.id).counters.bytesIn).toBeLessThan(total);

    await expectCaptureIsExactPrefix(setup, phase);
    await expectEngineKeepsServing(setup);

    fs.rmSync(filler);
    await waitUntil('the capture file to recover', () => engine.status().capture.error === null);
    await waitUntil('the whole flood', () => engine.info(flood.id).counters.bytesIn === total);
    await waitUntil('the bystander bytes', () => engine.info(standing.id).counters.bytesIn === 28);
    expect(await expectCaptureIsExactPrefix(setup, phase)).toBe(total);
    await engine.flushCapture();
    const after = engine.status().capture;
    expect(after).toMatchObject({ error: null, pressure: false, unpersistedBytes: 0 });
    const captured = engine
      .list()
      .reduce((sum, e) => sum + e.counters.bytesIn + e.counters.bytesOut, 0);
    expect(dataBytesIn(after.folder)).toBe(captured);
    expect(setup.statuses.at(-1)).toBeNull();
  });

  it('shuts down cleanly while the disk is still full, leaving nothing running', async ({
    skip,
  }) => {
    const disk = mountTmpfs(512 * KiB);
    if (typeof disk === 'string') return skip(disk);
    cleanups.push(() => disk.unmount());
    fs.writeFileSync(path.join(disk.dir, 'filler'), Buffer.alloc(448 * KiB));
    const before = activeResources();
    const setup = await setUp(disk, 128 * KiB);
    setup.flooder.socket.write(streamBytes(7, 0, 2 * MiB));
    // Reading pauses as soon as memory is full, usually while the write that will fail is still
    // in flight: dispose must neither wait for that write forever nor leave a retry behind.
    await waitUntil('capture pressure', () => setup.engine.status().capture.pressure);
    await setup.dispose();
    setup.flooder.socket.destroy();
    setup.bystander.socket.destroy();
    const leftOver = () => {
      const now = activeResources();
      return Object.keys(now).filter((kind) => (now[kind] ?? 0) > (before[kind] ?? 0));
    };
    await waitUntil('every handle to be released', () => leftOver().length === 0).catch(() => {
      throw new Error(`still running: ${resourceDifference(before, activeResources()).join(', ')}`);
    });
  });
});

describe('a UDP flood while the capture directory is full', () => {
  it('takes datagrams up to a memory ceiling, then drops and counts them; captures again once there is room', async ({
    skip,
  }) => {
    const disk = mountTmpfs(1 * MiB);
    if (typeof disk === 'string') return skip(disk);
    cleanups.push(() => disk.unmount());
    const filler = path.join(disk.dir, 'someone-elses-file');
    fs.writeFileSync(filler, Buffer.alloc(1 * MiB));
    const budget = 64 * KiB;
    const engine = new Engine({
      captureDir: disk.dir,
      captureMemoryBytes: budget,
      capture: { limitBytes: null, floorBytes: 0 },
    });
    cleanups.push(() => engine.dispose());
    const udp = await engine.bindUdp({ host: '127.0.0.1', port: 0 });
    const port = udp.local && 'port' in udp.local ? udp.local.port : 0;
    const peer = dgram.createSocket('udp4');
    cleanups.push(() => void peer.close());

    // Datagram n is 1,000 bytes of (n mod 251): whichever ones were taken can be checked.
    const datagram = (n: number) => Buffer.alloc(1000, n % 251);
    let sent = 0;
    const sendBatch = async (count: number) => {
      for (let i = 0; i < count; i++) {
        await new Promise<void>((done) =>
          peer.send(datagram(sent++), port, '127.0.0.1', () => done()),
        );
        // Paced so that the kernel's own receive buffer never overflows: what is not captured
        // is then exactly what the engine chose to drop.
        if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    };
    const counters = () => engine.info(udp.id).counters;
    await sendBatch(400);
    await waitUntil('every datagram taken or dropped', () => {
      const c = counters();
      return c.chunksIn + c.datagramsDropped === sent;
    });

    const full = counters();
    expectClearError(engine.status().capture.error, 'ENOSPC', /full|space/i);
    expect(full.datagramsDropped).toBeGreaterThan(0);
    // Memory stopped at the ceiling (twice the budget) instead of growing with the flood.
    expect(engine.status().capture.bytesInMemory).toBeLessThanOrEqual(2 * budget + 2 * KiB);
    expect(full.bytesIn).toBe(full.chunksIn * 1000);
    // The disk never recovered during the flood, so the datagrams taken are exactly the first
    // ones sent, each whole, in order.
    const taken = engine.readCapture(udp.id, 0, full.bytesIn).chunks;
    expect(taken.map((chunk) => Buffer.from(chunk.bytes))).toEqual(
      Array.from({ length: full.chunksIn }, (_, n) => datagram(n)),
    );

    fs.rmSync(filler);
    await waitUntil('the capture file to recover', () => engine.status().capture.error === null);
    await engine.flushCapture();
    const before = counters();
    await sendBatch(50);
    await waitUntil(
      'the new datagrams captured',
      () => counters().chunksIn === before.chunksIn + 50,
    );
    expect(counters().datagramsDropped).toBe(before.datagramsDropped);
    await engine.flushCapture();
    expect(dataBytesIn(engine.status().capture.folder)).toBe(counters().bytesIn);
  });
});

describe('the capture directory becomes read-only', () => {
  it('keeps every received byte, says why, and goes on serving', async ({ skip }) => {
    const disk = mountFailingExt4(8 * MiB);
    if (typeof disk === 'string') return skip(disk);
    cleanups.push(() => disk.unmount());
    const setup = await setUp(disk, 256 * KiB);
    const { engine, flooder, flood } = setup;
    const phase = 99_991;

    flooder.socket.write(streamBytes(phase, 0, 1 * MiB));
    await waitUntil('the first MiB', () => engine.info(flood.id).counters.bytesIn === 1 * MiB);
    await engine.flushCapture();
    expect(engine.status().capture.unpersistedBytes).toBe(0);

    disk.failFileSystem();
    flooder.socket.write(streamBytes(phase, 1 * MiB, 2 * MiB));
    await waitUntil('the capture file to fail', () => engine.status().capture.error !== null);
    await waitUntil(
      'reading to pause under capture pressure',
      () => engine.status().capture.pressure,
    );
    expectClearError(engine.status().capture.error, 'EROFS', /read-only/i);

    // Bytes persisted before the fault come back from the file, later ones from memory.
    const received = await expectCaptureIsExactPrefix(setup, phase);
    expect(received).toBeGreaterThan(1 * MiB);
    await expectEngineKeepsServing(setup);
    expect(engine.info(setup.listener.id).state).toBe('listening');
  });
});
