/**
 * capture.export as pcapng, checked with tshark: every TCP stream's bytes each way, the
 * handshake and teardown, UDP datagrams with their ports, no malformed packets.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { freshEngineAndDir } from '../support/engine';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router } from '../../src/main/router';
import { sumWords } from '../../src/main/engine/export/packets';
import { MIN_CAPTURE_LIMIT } from '../../src/shared/contract';
import { acceptedFrom, call } from '../support/engine-helpers';
import { connectPeer, tempDir } from '../support/peers';
import { waitUntil } from '../support/wait';
import { runScenario, type Scenario, type StreamExpectation } from '../support/export-scenario';

const fresh = freshEngineAndDir();

function tshark(...args: string[]): string {
  return execFileSync('tshark', args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** `-z follow,tcp,raw,N`: the bytes node 0 (who sent the first packet) and node 1 sent. */
function follow(file: string, stream: number): { nodes: string[]; sent: [Buffer, Buffer] } {
  const output = tshark('-r', file, '-qz', `follow,tcp,raw,${stream}`);
  const nodes: string[] = [];
  const hex: [string[], string[]] = [[], []];
  let inData = false;
  for (const line of output.split('\n')) {
    const node = /^Node (\d): (.*)$/.exec(line);
    if (node) {
      nodes[Number(node[1])] = node[2] as string;
      inData = true;
      continue;
    }
    if (!inData || line.startsWith('=====') || line.trim() === '') continue;
    if (line.startsWith('\t')) hex[1].push(line.trim());
    else hex[0].push(line.trim());
  }
  return {
    nodes,
    sent: [Buffer.from(hex[0].join(''), 'hex'), Buffer.from(hex[1].join(''), 'hex')],
  };
}

function fields(file: string, filter: string, ...names: string[]): string[][] {
  const args = ['-r', file, '-Y', filter, '-T', 'fields', ...names.flatMap((n) => ['-e', n])];
  return tshark(...args)
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

describe('capture.export as pcapng', () => {
  let scenario: Scenario;
  beforeEach(async () => {
    scenario = await runScenario(fresh.engine, fresh.dir);
  }, 30_000);

  it('holds every stream byte for byte, its handshake and teardown, and the datagrams', async () => {
    const file = path.join(fresh.dir, 'all.pcapng');
    const answer = await call(scenario.router, 'capture.export', {
      ids: [scenario.tcpListener, scenario.udp, scenario.unixListener],
      format: 'pcapng',
      path: file,
    });
    // The two listeners, four connections, the UDP socket.
    expect(answer).toMatchObject({ path: file, endpoints: 7, bytes: fs.statSync(file).size });
    expect(answer.packets).toBeGreaterThan(20);

    const expert = tshark('-r', file, '-qz', 'expert');
    expect(expert).not.toMatch(/Malformed|Errors \(/);
    expect(expert).not.toMatch(/not captured|ACKed segment|Retransmission|Out-Of-Order/i);

    const streams = [
      scenario.halfClosed,
      scenario.resetBySelf,
      scenario.resetByPeer,
      scenario.unix,
    ];
    const seen = new Set<string>();
    for (let stream = 0; stream < streams.length; stream++) {
      const { nodes, sent } = follow(file, stream);
      // Which node is the peer: its port, or the connecting end's placeholder (Unix).
      const peerNode = (s: StreamExpectation) =>
        nodes.findIndex((node) =>
          s.peerPort === null ? node.startsWith('192.0.2.1:') : node === `127.0.0.1:${s.peerPort}`,
        );
      const expected = streams.find((s) => peerNode(s) >= 0) as StreamExpectation;
      expect(expected, `stream ${stream}: ${nodes.join(' / ')}`).toBeDefined();
      seen.add(expected.id);
      const peer = peerNode(expected);
      expect(sent[peer]?.equals(expected.in), `${expected.id} in`).toBe(true);
      expect(sent[1 - peer]?.equals(expected.out), `${expected.id} out`).toBe(true);
    }
    expect(seen.size).toBe(4);

    // Each connection's SYN comes from the peer, the SYN-ACK from the workbench.
    expect(fields(file, 'tcp.flags.syn==1 && tcp.flags.ack==0', 'tcp.stream')).toHaveLength(4);
    expect(fields(file, 'tcp.flags.syn==1 && tcp.flags.ack==1', 'tcp.stream')).toHaveLength(4);
    const fins = fields(file, 'tcp.flags.fin==1', 'tcp.srcport', 'tcp.dstport');
    const halfClosedPort = String(scenario.halfClosed.peerPort);
    // conn A: one FIN each way; the Unix connection: one each way.
    expect(fins.filter((f) => f.includes(halfClosedPort))).toHaveLength(2);
    expect(fins).toHaveLength(4);
    const resets = fields(file, 'tcp.flags.reset==1', 'tcp.srcport', 'tcp.dstport');
    expect(resets).toContainEqual([expect.any(String), String(scenario.resetBySelf.peerPort)]);
    expect(resets).toContainEqual([String(scenario.resetByPeer.peerPort), expect.any(String)]);

    const datagrams = fields(
      file,
      'udp',
      'udp.srcport',
      'udp.dstport',
      'data.data',
      'udp.checksum.status',
    );
    const udpPort = String(scenario.udpPort);
    const peerPort = String(scenario.udpPeerPort);
    expect(datagrams).toEqual([
      ...scenario.datagramsIn.map((d) => [
        peerPort,
        udpPort,
        d.toString('hex'),
        expect.any(String),
      ]),
      ...scenario.datagramsOut.map((d) => [
        udpPort,
        peerPort,
        d.toString('hex'),
        expect.any(String),
      ]),
    ]);

    // Checksums: tshark checks them when asked to.
    const bad = tshark(
      '-r',
      file,
      '-o',
      'tcp.check_checksum:TRUE',
      '-o',
      'udp.check_checksum:TRUE',
      '-o',
      'ip.check_checksum:TRUE',
      '-Y',
      'tcp.checksum.status==0 || udp.checksum.status==0 || ip.checksum.status==0',
    );
    expect(bad.trim()).toBe('');

    // The Unix connection's first packet says what it is.
    const comments = fields(file, 'frame.comment', 'frame.comment').flat();
    expect(comments.some((c) => c.includes('export.sock') && c.includes('placeholders'))).toBe(
      true,
    );
  });
});

/** Connects a node:net peer to a workbench listener and exchanges a few bytes each way. */
async function exchange(router: Router, engine: Engine, listenHost: string, connectHost: string) {
  const listener = await call(router, 'tcp.listen', { host: listenHost, port: 0 });
  const port = (listener.local as { port: number }).port;
  const peer = await connectPeer({ host: connectHost, port });
  const peerPort = peer.socket.localPort as number;
  const accepted = await acceptedFrom(engine, listener.id, peerPort);
  peer.socket.write(`to ${listenHost}`);
  await waitUntil('received', () => engine.info(accepted.id).counters.bytesIn > 0);
  await call(router, 'connection.send', {
    id: accepted.id,
    payload: { format: 'text', data: `from ${listenHost}` },
  });
  await waitUntil('answered', () => peer.received().length > 0);
  peer.socket.end();
  await waitUntil('closed', () => engine.info(accepted.id).state !== 'open');
  await call(router, 'connection.close', { id: accepted.id });
  return { listener: listener.id, accepted: accepted.id, peerPort };
}

describe('pcapng addresses, big chunks and deleted starts', () => {
  it('draws IPv6 as IPv6 and an IPv4-mapped address as IPv4', async () => {
    const router = createRouter(fresh.engine);
    const six = await exchange(router, fresh.engine, '::1', '::1');
    const mapped = await exchange(router, fresh.engine, '::', '127.0.0.1');
    expect(fresh.engine.info(mapped.accepted).remote).toMatchObject({ host: '::ffff:127.0.0.1' });
    const file = path.join(fresh.dir, 'families.pcapng');
    await call(router, 'capture.export', {
      ids: [six.listener, mapped.listener],
      format: 'pcapng',
      path: file,
    });
    const rows = fields(
      file,
      'tcp.flags.syn==1 && tcp.flags.ack==0',
      'ip.src',
      'ipv6.src',
      'tcp.srcport',
    );
    expect(rows).toContainEqual(['', '::1', String(six.peerPort)]);
    expect(rows).toContainEqual(['127.0.0.1', '', String(mapped.peerPort)]);
    for (const stream of [0, 1]) {
      const { sent } = follow(file, stream);
      expect(sent.map((b) => b.toString()).sort()).toEqual(
        stream === 0 ? ['from ::1', 'to ::1'] : ['from ::', 'to ::'],
      );
    }
    expect(tshark('-r', file, '-qz', 'expert')).not.toMatch(/Malformed|Errors \(/);
  });

  it('draws a client connection the workbench made: its SYN first, at connect', async () => {
    const router = createRouter(fresh.engine);
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('data', (data) => socket.end(Buffer.concat([Buffer.from('echo:'), data])));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const serverPort = (server.address() as net.AddressInfo).port;
    try {
      const client = await call(router, 'tcp.connect', { host: '127.0.0.1', port: serverPort });
      await call(router, 'connection.send', {
        id: client.id,
        payload: { format: 'text', data: 'hello' },
      });
      await waitUntil('echoed and closed', () => fresh.engine.info(client.id).state !== 'open');
      await call(router, 'connection.close', { id: client.id });
      await waitUntil('closed', () => fresh.engine.info(client.id).state === 'closed');
      const file = path.join(fresh.dir, 'client.pcapng');
      await call(router, 'capture.export', { ids: [client.id], format: 'pcapng', path: file });
      const clientPort = String((client.local as { port: number }).port);
      const flags = fields(file, 'tcp', 'tcp.srcport', 'tcp.flags.str');
      expect(flags[0]).toEqual([clientPort, expect.stringMatching(/S/)]);
      expect(flags[1]).toEqual([String(serverPort), expect.stringMatching(/A.*S|S.*A/)]);
      const { nodes, sent } = follow(file, 0);
      const self = nodes.indexOf(`127.0.0.1:${clientPort}`);
      expect(sent[self]?.toString()).toBe('hello');
      expect(sent[1 - self]?.toString()).toBe('echo:hello');
      expect(fields(file, 'tcp.flags.fin==1', 'tcp.srcport').flat().sort()).toEqual(
        [clientPort, String(serverPort)].sort(),
      );
      expect(tshark('-r', file, '-qz', 'expert')).not.toMatch(/Malformed|Errors \(/);
    } finally {
      server.close();
    }
  });

  it('draws a refused connect as a SYN to the address it went to', async () => {
    const router = createRouter(fresh.engine);
    // A port just freed: nothing listens there.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const refused = await router.invoke('tcp.connect', { host: '127.0.0.1', port });
    expect(refused.ok ? null : refused.error.code).toBe('ECONNREFUSED');
    const client = fresh.engine.list().find((e) => e.role === 'client') as { id: string };
    const file = path.join(fresh.dir, 'refused.pcapng');
    await call(router, 'capture.export', { ids: [client.id], format: 'pcapng', path: file });
    expect(fields(file, 'tcp', 'ip.dst', 'tcp.dstport', 'tcp.flags.str')).toEqual([
      ['127.0.0.1', String(port), expect.stringMatching(/S/)],
    ]);
  });

  it('splits a chunk of several MiB into segments of at most 64 KiB', async () => {
    const router = createRouter(fresh.engine);
    const l = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    const peer = await connectPeer({ host: '127.0.0.1', port: (l.local as { port: number }).port });
    const peerPort = peer.socket.localPort as number;
    const accepted = (await acceptedFrom(fresh.engine, l.id, peerPort)).id;
    const big = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13 + (i >> 12)) & 0xff;
    const payload = { format: 'base64' as const, data: big.toString('base64') };
    await call(router, 'connection.send', { id: accepted, payload });
    await waitUntil('all sent', () => peer.received().length === big.length, 20_000);
    // One chunk of 3 MiB: the export reads it a piece at a time.
    expect(fresh.engine.info(accepted).counters.chunksOut).toBe(1);
    peer.socket.destroy();
    const file = path.join(fresh.dir, 'big.pcapng');
    await call(router, 'capture.export', { ids: [accepted], format: 'pcapng', path: file });
    const { nodes, sent } = follow(file, 0);
    const peerNode = nodes.indexOf(`127.0.0.1:${peerPort}`);
    const raw = path.join(fresh.dir, 'big.raw');
    await call(router, 'capture.export', {
      ids: [accepted],
      format: 'raw',
      direction: 'out',
      path: raw,
    });
    expect(fs.readFileSync(raw).equals(big)).toBe(true);
    expect(sent[1 - peerNode]?.equals(big)).toBe(true);
    const lengths = fields(file, 'tcp.len > 0', 'tcp.len').map(([n]) => Number(n));
    expect(Math.max(...lengths)).toBeLessThanOrEqual(65_535);
    expect(lengths.length).toBeGreaterThanOrEqual(49);
    expect(tshark('-r', file, '-qz', 'expert')).not.toMatch(/Malformed|Errors \(/);
  });

  it('starts mid-stream, without a handshake, when the capture limit deleted the start', async () => {
    const dir = tempDir();
    const engine = new Engine({
      captureDir: dir,
      capture: { limitBytes: MIN_CAPTURE_LIMIT, floorBytes: 0 },
      captureMemoryBytes: 256 * 1024,
    });
    try {
      const router = createRouter(engine);
      const l = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
      const peer = await connectPeer({
        host: '127.0.0.1',
        port: (l.local as { port: number }).port,
      });
      const a = await acceptedFrom(engine, l.id, peer.socket.localPort as number);
      const payload = Buffer.alloc(4 * 1024 * 1024);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
      for (let at = 0; at < payload.length; at += 64 * 1024) {
        peer.socket.write(payload.subarray(at, at + 64 * 1024));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await waitUntil(
        'all received',
        () => engine.info(a.id).counters.bytesIn === payload.length,
        20_000,
      );
      await engine.flushCapture();
      await waitUntil('the start deleted', () => engine.info(a.id).captureKeptFrom > 0, 10_000);
      peer.socket.end();
      await waitUntil('half-closed', () => engine.info(a.id).state !== 'open');

      const file = path.join(dir, 'tail.pcapng');
      await call(router, 'capture.export', { ids: [a.id], format: 'pcapng', path: file });
      const keptFrom = engine.info(a.id).captureKeptFrom;
      expect(fields(file, 'tcp.flags.syn==1', 'frame.number')).toEqual([]);
      const comments = fields(file, 'frame.comment', 'frame.comment').flat();
      expect(comments.some((c) => c.includes(`first ${keptFrom} bytes`))).toBe(true);
      const { sent } = follow(file, 0);
      const received = sent.find((b) => b.length > 0) as Buffer;
      expect(received.equals(payload.subarray(keptFrom))).toBe(true);
      expect(tshark('-r', file, '-qz', 'expert')).not.toMatch(/Malformed|Errors \(|not captured/);
      peer.socket.destroy();
    } finally {
      await engine.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the checksum sum', () => {
  it('matches a byte-by-byte sum at every alignment and length', () => {
    const reference = (bytes: Uint8Array, at: number, length: number) => {
      let sum = 0;
      for (let i = 0; i < length; i += 2) {
        sum +=
          ((bytes[at + i] as number) << 8) | (i + 1 < length ? (bytes[at + i + 1] as number) : 0);
      }
      return sum;
    };
    const fold = (sum: number) => {
      let folded = sum;
      while (folded > 0xffff) folded = (folded % 0x10000) + Math.floor(folded / 0x10000);
      return folded;
    };
    const bytes = new Uint8Array(200_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2_654_435_761) >>> 24;
    bytes.fill(0xff, 1000, 70_000);
    for (const at of [0, 1, 2, 3, 4, 68]) {
      for (const length of [0, 1, 2, 63, 64, 65, 1499, 65_495, 131_074 + 3]) {
        expect(fold(sumWords(bytes, at, length)), `at ${at}, ${length} bytes`).toBe(
          fold(reference(bytes, at, length)),
        );
      }
    }
  });
});
