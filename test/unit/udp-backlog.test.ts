/**
 * While datagrams come faster than a UDP socket reads them, the engine reads first and captures
 * later: the datagrams wait in a backlog (issue 15, item 3). What waits must come out whole, in
 * the order it came, before anything the socket sends, and be counted out of memory again.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { BATCH_SPACE_MAX, type CaptureMemory } from '../../src/main/engine/capture';
import { BACKLOG_ROW_COST, DatagramBacklog } from '../../src/main/engine/datagram-backlog';
import { Engine } from '../../src/main/engine/engine';
import { hasCommand } from '../support/peers';
import { waitUntil } from '../support/wait';

describe('DatagramBacklog', () => {
  it('gives back every datagram, oldest first, in pieces no larger than a batch space', () => {
    const backlog = new DatagramBacklog();
    const peers = [
      { host: '127.0.0.1', port: 1000 },
      { host: '::1', port: 2000 },
    ];
    // Sizes from empty to the largest a backlog takes; the bytes say which datagram they are.
    const sizes = Array.from({ length: 3000 }, (_, i) => (i * 37) % 2048);
    const sent = sizes.map((size, i) => new Uint8Array(size).fill(i % 251));
    let cost = 0;
    for (const [i, bytes] of sent.entries()) {
      backlog.add(bytes, peers[i % 2]!, 1000 + i);
      cost += bytes.byteLength + BACKLOG_ROW_COST;
      // The caller may reuse its buffer at once: the backlog holds a copy.
      bytes.fill(255);
    }
    expect(backlog.count).toBe(sent.length);
    expect(backlog.cost).toBe(cost);
    expect(backlog.oldestAt).toBe(1000);

    let next = 0;
    while (backlog.count > 0) {
      const piece = backlog.take();
      expect(piece.data.byteLength).toBeLessThanOrEqual(BATCH_SPACE_MAX);
      let place = 0;
      for (let i = piece.first; i < piece.end; i++, next++) {
        const size = piece.sizes[i]!;
        expect(size).toBe(sizes[next]);
        expect(piece.peers[i]).toBe(peers[next % 2]);
        expect(piece.times[i]).toBe(1000 + next);
        const bytes = piece.data.subarray(place, place + size);
        expect(bytes.every((byte) => byte === next % 251)).toBe(true);
        place += size;
      }
      expect(place).toBe(piece.data.byteLength);
      if (backlog.count > 0) expect(backlog.oldestAt).toBe(1000 + next);
    }
    expect(next).toBe(sent.length);
    expect(backlog.cost).toBe(0);
    expect(backlog.oldestAt).toBeNull();
  });

  it('holds any number of empty datagrams, and starts small for a quiet socket', () => {
    const backlog = new DatagramBacklog();
    const peer = { host: '127.0.0.1', port: 1 };
    backlog.add(new Uint8Array(3), peer, 1);
    const first = backlog.take();
    expect(first.data.buffer.byteLength).toBeLessThanOrEqual(4096);
    for (let i = 0; i < 10_000; i++) backlog.add(new Uint8Array(0), peer, i);
    let taken = 0;
    while (backlog.count > 0) {
      const piece = backlog.take();
      taken += piece.end - piece.first;
    }
    expect(taken).toBe(10_000);
  });
});

const python = hasCommand('python3');

/** Sends `count` numbered datagrams from python3 as fast as it can, then exits. */
function flood(port: number, count: number): Promise<number | null> {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    'port, count = int(sys.argv[1]), int(sys.argv[2])',
    'for i in range(count):',
    "    s.sendto(b'#%d:' % i + b'x' * (i % 50), ('127.0.0.1', port))",
  ].join('\n');
  const child = spawn('python3', ['-c', script, String(port), String(count)], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.dispose();
  engine = undefined;
});

describe.skipIf(!python)('a UDP socket under a flood', () => {
  it('captures what waited whole and in order, before what it sends, and counts it out of memory', async () => {
    const current = (engine = new Engine());
    const udp = await current.bindUdp({ host: '127.0.0.1', port: 0 });
    const port = udp.local && 'port' in udp.local ? udp.local.port : 0;
    const count = 60_000;
    const done = flood(port, count);
    // Replies go out while datagrams still arrive, so some wait in the backlog as they do.
    await waitUntil('the flood to start', () => current.info(udp.id).counters.chunksIn > 0);
    const replies = [];
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 3));
      replies.push(
        await current.sendUdp({
          id: udp.id,
          host: '127.0.0.1',
          port: 9,
          payload: { format: 'text', data: `reply ${i}`, encoding: 'utf-8' },
        }),
      );
    }
    expect(await done).toBe(0);
    await waitUntil('every datagram counted', () => {
      const { chunksIn, kernelDrops, datagramsDropped } = current.info(udp.id).counters;
      return chunksIn + (kernelDrops ?? 0) + datagramsDropped >= count;
    });
    const { counters } = current.info(udp.id);
    expect(counters.chunksIn + (counters.kernelDrops ?? 0) + counters.datagramsDropped).toBe(count);
    expect(counters.chunksOut).toBe(replies.length);
    const memory = (current as unknown as { memory: CaptureMemory }).memory;
    expect(memory.backloggedBytes).toBe(0);

    const { chunks } = current.readCapture(udp.id, 0, counters.bytesIn + counters.bytesOut);
    expect(chunks).toHaveLength(counters.chunksIn + counters.chunksOut);
    // The capture's order is the order things happened in: times never go back.
    for (let i = 1; i < chunks.length; i++) {
      expect(chunks[i]!.at).toBeGreaterThanOrEqual(chunks[i - 1]!.at);
    }
    let last = -1;
    for (const chunk of chunks.filter((c) => c.dir === 'in')) {
      const text = Buffer.from(chunk.bytes).toString('latin1');
      const n = Number(/^#(\d+):/.exec(text)?.[1]);
      expect(text).toBe(`#${n}:${'x'.repeat(n % 50)}`);
      expect(n).toBeGreaterThan(last);
      last = n;
    }
  });
});
