/**
 * capture.open: a capture session folder made by a real engine with real peers, and pcap/pcapng
 * files written byte by byte (and converted by Wireshark's editcap), opened read-only into a
 * second engine: the endpoints, their bytes with their original times, their last states and
 * timelines; sends refused; damaged and hostile files refused or cut short with a clear word,
 * while the engine keeps serving.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { findSessions } from '../../src/main/engine/capture-reader';
import { exportCapture } from '../../src/main/engine/export/export-capture';
import { createRouter } from '../../src/main/router';
import type { EndpointInfo } from '../../src/shared/contract';
import { freshEngineAndDir } from '../support/engine';
import { acceptedFrom, call, portOf, refusal } from '../support/engine-helpers';
import { hasCommand } from '../support/peers';
import { capturedBytes, rejection, waitForState, waitUntil } from '../support/wait';
import {
  exchange,
  EXCHANGE_CLIENT_SENT,
  EXCHANGE_SERVER_SENT,
  writeCaptureFile,
  type FileFormat,
  type Framing,
} from '../support/pcap-writer';

const fresh = freshEngineAndDir();

const text = (engine: Engine, id: string, dir: 'in' | 'out') =>
  capturedBytes(engine, id, dir).toString('utf8');

function byId(engine: Engine, ids: string[]): EndpointInfo[] {
  return ids.map((id) => engine.info(id));
}

/** The engine still serves: a TCP listener accepts a node:net client and captures its bytes. */
async function stillServes(engine: Engine): Promise<void> {
  const listener = await engine.listenTcp({
    host: '127.0.0.1',
    port: 0,
    backlog: 4,
    allowHalfOpen: true,
  });
  const socket = net.connect(portOf(listener), '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  const accepted = await acceptedFrom(engine, listener.id, socket.localPort as number);
  socket.write('still here');
  await waitUntil('the bytes', () => text(engine, accepted.id, 'in') === 'still here');
  socket.destroy();
}

/**
 * A session made by a real engine with real peers, stopped cleanly: a TCP connection a node:net
 * peer half-closes after its request, answered after the FIN, and a UDP ping and pong. Gives the
 * session folder and the times of the connection's chunks.
 */
async function makeSession(): Promise<{ sessionFolder: string; sentAt: number[] }> {
  const captureDir = path.join(fresh.dir, 'captures');
  const source = new Engine({ captureDir });
  const sentAt: number[] = [];
  try {
    const listener = await source.listenTcp({
      host: '127.0.0.1',
      port: 0,
      backlog: 4,
      allowHalfOpen: true,
    });
    // A real peer: it writes, half-closes, and keeps reading what the engine sends after.
    const peer = net.connect({ port: portOf(listener), host: '127.0.0.1', allowHalfOpen: true });
    const received: Buffer[] = [];
    peer.on('data', (data) => received.push(data));
    const peerEnded = new Promise((resolve) => peer.once('end', resolve));
    await new Promise((resolve) => peer.once('connect', resolve));
    const accepted = await acceptedFrom(source, listener.id, peer.localPort as number);
    peer.write('request from the peer');
    peer.end();
    await waitForState(source, accepted.id, 'half-closed-remote');
    source.send(accepted.id, { format: 'text', data: 'reply after the FIN', encoding: 'utf-8' });
    source.close(accepted.id);
    await peerEnded;
    expect(Buffer.concat(received).toString()).toBe('reply after the FIN');
    await waitForState(source, accepted.id, 'closed');
    sentAt.push(...source.readCapture(accepted.id, 0, 1000).chunks.map((chunk) => chunk.at));

    const udp = await source.bindUdp({ host: '127.0.0.1', port: 0 });
    const udpPeer = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udpPeer.bind(0, '127.0.0.1', resolve));
    const udpReply = new Promise<Buffer>((resolve) => udpPeer.once('message', resolve));
    udpPeer.send('ping', portOf(udp), '127.0.0.1');
    await waitUntil('the datagram', () => text(source, udp.id, 'in') === 'ping');
    await source.sendUdp({
      id: udp.id,
      host: '127.0.0.1',
      port: udpPeer.address().port,
      payload: { format: 'text', data: 'pong', encoding: 'utf-8' },
    });
    expect((await udpReply).toString()).toBe('pong');
    udpPeer.close();
    peer.destroy();
  } finally {
    await source.dispose();
  }
  return { sessionFolder: findSessions(captureDir)[0] as string, sentAt };
}

describe('opening a capture session folder', () => {
  it('replays every endpoint of a stopped session: bytes, times, states, parents, peers', async () => {
    const { sessionFolder, sentAt } = await makeSession();

    const router = createRouter(fresh.engine);
    const opened = await call(router, 'capture.open', { path: sessionFolder });
    expect(opened.warnings).toEqual([]);
    const [listenerInfo, acceptedInfo, udpInfo] = byId(fresh.engine, opened.ids);
    expect(listenerInfo).toMatchObject({
      role: 'listener',
      state: 'closed',
      openedFrom: sessionFolder,
    });
    expect(acceptedInfo).toMatchObject({
      role: 'accepted',
      parentId: listenerInfo?.id,
      state: 'closed',
      openedFrom: sessionFolder,
    });
    expect(udpInfo).toMatchObject({ kind: 'udp-socket', state: 'closed' });
    const connection = acceptedInfo?.id as string;
    expect(text(fresh.engine, connection, 'in')).toBe('request from the peer');
    expect(text(fresh.engine, connection, 'out')).toBe('reply after the FIN');
    const chunks = fresh.engine.readCapture(connection, 0, 1000).chunks;
    expect(chunks.map((chunk) => chunk.at)).toEqual(sentAt);
    // The timeline is the source's: the FIN from the peer, then ours, at their times.
    const events = acceptedInfo?.timeline.map((entry) => entry.event);
    expect(events).toEqual(expect.arrayContaining(['fin-received', 'closed']));
    expect(
      acceptedInfo?.timeline.every((entry) => entry.at <= (sentAt.at(-1) as number) + 5000),
    ).toBe(true);
    const udpChunks = fresh.engine.readCapture(udpInfo?.id as string, 0, 100).chunks;
    expect(
      udpChunks.map((chunk) => [chunk.dir, Buffer.from(chunk.bytes).toString(), chunk.peer?.host]),
    ).toEqual([
      ['in', 'ping', '127.0.0.1'],
      ['out', 'pong', '127.0.0.1'],
    ]);

    // Read-only: every action that needs a socket says so.
    const send = await refusal(router, 'connection.send', {
      id: connection,
      payload: { format: 'text', data: 'x', encoding: 'utf-8' },
    });
    expect(send.code).toBe('READ_ONLY');
    expect(send.message).toContain(sessionFolder);
    for (const [command, input] of [
      ['connection.close', { id: connection }],
      ['connection.reset', { id: connection }],
      ['connection.halfClose', { id: connection }],
      ['udp.close', { id: udpInfo?.id }],
    ] as const) {
      expect((await refusal(router, command, input)).code).toBe('READ_ONLY');
    }
    // Search works on the opened bytes.
    const found = await fresh.engine.findInCapture(
      {
        query: 1,
        id: connection,
        find: {
          kind: 'payload',
          payload: { format: 'text', data: 'after the', encoding: 'utf-8' },
          ignoreCase: false,
        },
        direction: 'both',
        from: 0,
        maxMatches: 10,
      },
      new AbortController().signal,
    );
    expect(found.matches).toEqual([{ offset: 27, end: 36 }]);
    // Forgetting the listener forgets its connection too.
    await call(router, 'endpoint.forget', { id: listenerInfo?.id as string });
    expect(fresh.engine.list().map((info) => info.id)).toEqual([udpInfo?.id]);
  });

  it('opens the pcapng the workbench exports from that session, with the same bytes', async () => {
    const { sessionFolder } = await makeSession();
    const file = path.join(fresh.dir, 'exported.pcapng');
    await exportCapture({
      folder: sessionFolder,
      ids: 'all',
      withConnections: true,
      format: 'pcapng',
      direction: 'both',
      target: { path: file, overwrite: false },
    });
    const { ids, warnings } = await fresh.engine.openCapture(file);
    expect(warnings).toEqual([]);
    const opened = byId(fresh.engine, ids);
    const tcp = opened.find((info) => info.kind === 'tcp-connection');
    const udp = opened.find((info) => info.kind === 'udp-socket');
    // The peer opened the connection: it is the client, so what it sent is "out".
    expect(text(fresh.engine, tcp?.id as string, 'out')).toBe('request from the peer');
    expect(text(fresh.engine, tcp?.id as string, 'in')).toBe('reply after the FIN');
    expect(tcp?.state).toBe('closed');
    const datagrams = fresh.engine.readCapture(udp?.id as string, 0, 100).chunks;
    expect(datagrams.map((chunk) => Buffer.from(chunk.bytes).toString()).sort()).toEqual([
      'ping',
      'pong',
    ]);
  });

  it('refuses the engine’s own session, and a folder that is not a session', async () => {
    const own = fresh.engine.status().capture.folder;
    const error = await rejection(fresh.engine.openCapture(own));
    expect(error.code).toBe('BAD_CAPTURE_FILE');
    expect(error.message).toContain('own capture');
    const empty = await rejection(fresh.engine.openCapture(fresh.dir));
    expect(empty.code).toBe('BAD_CAPTURE_FILE');
    expect(empty.message).toContain('not a capture session folder');
    const missing = await rejection(fresh.engine.openCapture(path.join(fresh.dir, 'nope')));
    expect(missing.message).toContain('no such file or folder');
  });
});

describe('opening a pcap or pcapng file', () => {
  const variants: Array<[FileFormat, Framing, string, string]> = [
    ['pcap-le-us', 'ethernet-vlan', '10.0.0.1', '10.0.0.2'],
    ['pcap-be-ns', 'raw', '10.0.0.1', '10.0.0.2'],
    ['pcapng-le', 'sll2', 'fd00::1', 'fd00::2'],
    ['pcapng-be', 'null', '192.168.1.5', '192.168.1.9'],
  ];
  it.each(variants)(
    '%s with %s framing: streams reassembled exactly',
    async (format, framing, client, server) => {
      const file = path.join(fresh.dir, `x.${format}`);
      writeCaptureFile(file, format, framing, exchange(client, server));
      const { ids, warnings } = await fresh.engine.openCapture(file);
      expect(warnings).toEqual([]);
      const [tcp, udp53] = byId(fresh.engine, ids);
      expect(ids).toHaveLength(2);
      expect(tcp).toMatchObject({
        kind: 'tcp-connection',
        role: 'client',
        state: 'closed',
        openedFrom: file,
        local: { host: client, port: 40000 },
        remote: { host: server, port: 8080 },
      });
      expect(tcp?.createdAt).toBeCloseTo(1700000000100, 3);
      expect(tcp?.timeline.map((entry) => [entry.event, entry.state])).toEqual([
        ['connect', 'connecting'],
        ['established', 'open'],
        ['fin-sent', 'half-closed-local'],
        ['fin-received', 'closed'],
      ]);
      expect(tcp?.timeline[2]?.at).toBeCloseTo(1700000000500, 3);
      expect(text(fresh.engine, tcp?.id as string, 'out')).toBe(EXCHANGE_CLIENT_SENT);
      expect(text(fresh.engine, tcp?.id as string, 'in')).toBe(EXCHANGE_SERVER_SENT);
      // Interleaved by packet time, each chunk at the time of the packet that completed it.
      const chunks = fresh.engine.readCapture(tcp?.id as string, 0, 1000).chunks;
      expect(chunks.map((chunk) => [chunk.dir, Buffer.from(chunk.bytes).toString()])).toEqual([
        ['out', 'GET /x\n'],
        ['out', 'Host: y\n'],
        ['in', 'HTTP/1.0 200'],
        ['in', ' OK\n'],
        ['in', 'body after FIN'],
      ]);
      expect(chunks[0]?.at).toBeCloseTo(1700000000300, 3);
      // UDP: the receiver of the first datagram is the socket; its two peers are kept.
      expect(udp53).toMatchObject({ kind: 'udp-socket', local: { host: server, port: 53 } });
      const datagrams = fresh.engine.readCapture(udp53?.id as string, 0, 100).chunks;
      expect(
        datagrams.map((chunk) => [
          chunk.dir,
          Buffer.from(chunk.bytes).toString(),
          chunk.peer?.port,
        ]),
      ).toEqual([
        ['in', 'query', 5353],
        ['out', 'answer', 5353],
        ['in', '', 5354],
      ]);
      // The empty datagram is a chunk too, listed by a range read that reaches the capture's end.
      expect(fresh.engine.info(udp53?.id as string).counters).toMatchObject({
        chunksIn: 2,
        chunksOut: 1,
      });
      expect(
        (
          await rejection(
            Promise.resolve().then(() =>
              fresh.engine.send(tcp?.id as string, {
                format: 'text',
                data: 'x',
                encoding: 'utf-8',
              }),
            ),
          )
        ).code,
      ).toBe('READ_ONLY');
    },
  );

  it.runIf(hasCommand('editcap'))('reads the pcapng that Wireshark’s editcap writes', async () => {
    const pcap = path.join(fresh.dir, 'in.pcap');
    const pcapng = path.join(fresh.dir, 'out.pcapng');
    writeCaptureFile(pcap, 'pcap-le-us', 'ethernet-vlan', exchange('10.1.1.1', '10.1.1.2'));
    const result = spawnSync('editcap', ['-F', 'pcapng', pcap, pcapng]);
    expect(result.status).toBe(0);
    const { ids, warnings } = await fresh.engine.openCapture(pcapng);
    expect(warnings).toEqual([]);
    expect(text(fresh.engine, ids[0] as string, 'out')).toBe(EXCHANGE_CLIENT_SENT);
    expect(text(fresh.engine, ids[0] as string, 'in')).toBe(EXCHANGE_SERVER_SENT);
  });

  it('says how many bytes a gap lost, and goes on after it', async () => {
    const file = path.join(fresh.dir, 'gap.pcap');
    const c = { src: '10.0.0.1', dst: '10.0.0.2', sport: 1234, dport: 80, proto: 'tcp' as const };
    writeCaptureFile(file, 'pcap-le-us', 'raw', [
      { ...c, t: 1, flags: 'S', seq: 100 },
      { ...c, t: 2, flags: 'PA', seq: 101, data: 'abc' },
      // 4 bytes never captured
      { ...c, t: 3, flags: 'PA', seq: 108, data: 'hij' },
      { ...c, t: 4, flags: 'RA', seq: 111 },
    ]);
    const { ids, warnings } = await fresh.engine.openCapture(file);
    expect(warnings).toEqual([expect.stringContaining('4 bytes the client sent are missing')]);
    expect(text(fresh.engine, ids[0] as string, 'out')).toBe('abchij');
    expect(fresh.engine.info(ids[0] as string)).toMatchObject({ state: 'reset' });
  });

  it('refuses garbage, cuts a truncated file short, and survives hostile lengths', async () => {
    const garbage = path.join(fresh.dir, 'garbage.bin');
    fs.writeFileSync(garbage, 'this is not a capture at all, just some text\n');
    const notPcap = await rejection(fresh.engine.openCapture(garbage));
    expect(notPcap.code).toBe('BAD_CAPTURE_FILE');
    expect(notPcap.message).toContain('neither a pcapng nor a pcap file');

    const whole = path.join(fresh.dir, 'whole.pcapng');
    writeCaptureFile(whole, 'pcapng-le', 'raw', exchange('10.0.0.1', '10.0.0.2'));
    const bytes = fs.readFileSync(whole);
    const truncated = path.join(fresh.dir, 'truncated.pcapng');
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.byteLength - 30));
    const cut = await fresh.engine.openCapture(truncated);
    expect(cut.warnings).toEqual([expect.stringContaining('cut short')]);
    expect(text(fresh.engine, cut.ids[0] as string, 'out')).toBe(EXCHANGE_CLIENT_SENT);

    // The third block (the first packet) claims 4 GiB.
    const hostile = Buffer.from(bytes);
    const firstPacket = hostile.readUInt32LE(4) + hostile.readUInt32LE(hostile.readUInt32LE(4) + 4);
    hostile.writeUInt32LE(0xfffffffc, firstPacket + 4);
    const hostileFile = path.join(fresh.dir, 'hostile.pcapng');
    fs.writeFileSync(hostileFile, hostile);
    const refused = await rejection(fresh.engine.openCapture(hostileFile));
    expect(refused.code).toBe('BAD_CAPTURE_FILE');
    expect(refused.message).toContain('claims a length of 4294967292 bytes');

    const hugeRecord = Buffer.alloc(24 + 16);
    hugeRecord.writeUInt32LE(0xa1b2c3d4, 0);
    hugeRecord.writeUInt32LE(101, 20);
    hugeRecord.writeUInt32LE(0x7fffffff, 24 + 8);
    const hugeFile = path.join(fresh.dir, 'huge.pcap');
    fs.writeFileSync(hugeFile, hugeRecord);
    expect((await rejection(fresh.engine.openCapture(hugeFile))).message).toContain(
      'claims 2147483647 bytes',
    );

    const ethernetOnly = Buffer.alloc(24);
    ethernetOnly.writeUInt32LE(0xa1b2c3d4, 0);
    ethernetOnly.writeUInt32LE(147, 20);
    const userLink = path.join(fresh.dir, 'user.pcap');
    fs.writeFileSync(
      userLink,
      Buffer.concat([
        ethernetOnly,
        Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4]),
      ]),
    );
    expect((await rejection(fresh.engine.openCapture(userLink))).message).toContain(
      'link type (147) is not supported',
    );

    // 3,000 one-byte segments, last first: out-of-order bytes are held only up to a bound.
    const c = { src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 'tcp' as const };
    const reversed = Array.from({ length: 3000 }, (_, i) => ({
      ...c,
      t: 10 + i / 1000,
      flags: 'PA',
      seq: 3000 - i,
      data: String.fromCharCode(97 + ((2999 - i) % 26)),
    }));
    const backwards = path.join(fresh.dir, 'backwards.pcap');
    writeCaptureFile(backwards, 'pcap-le-us', 'raw', [
      { ...c, t: 9, flags: 'S', seq: 0 },
      ...reversed,
    ]);
    const held = await fresh.engine.openCapture(backwards);
    const out = text(fresh.engine, held.ids[0] as string, 'out');
    expect(held.warnings).toEqual([expect.stringContaining('bytes the client sent are missing')]);
    const missing = Number(
      /([\d,]+) bytes/.exec(held.warnings[0] as string)?.[1]?.replace(/,/g, ''),
    );
    expect(out.length + missing).toBe(3000);

    await stillServes(fresh.engine);
  });

  it('fuzzes the reader with damaged copies of a good file without throwing anything but a clear error', async () => {
    const whole = path.join(fresh.dir, 'whole.pcapng');
    writeCaptureFile(whole, 'pcapng-le', 'ethernet-vlan', exchange('10.0.0.1', '10.0.0.2'));
    const bytes = fs.readFileSync(whole);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 60; round++) {
      const damaged = Buffer.from(bytes);
      for (let i = 0; i < 8; i++)
        damaged[Math.floor(random() * damaged.byteLength)] = Math.floor(random() * 256);
      const file = path.join(fresh.dir, `fuzz-${round}.pcapng`);
      fs.writeFileSync(file, damaged);
      try {
        const { ids } = await fresh.engine.openCapture(file);
        for (const id of ids) await call(createRouter(fresh.engine), 'endpoint.forget', { id });
      } catch (error) {
        if ((error as { code?: string }).code !== 'BAD_CAPTURE_FILE') throw error;
      }
    }
    await stillServes(fresh.engine);
  });
});

/** A pcap of `segments` 1,400-byte TCP segments from a client, in order, written by python3. */
function writeBigPcap(file: string, segments: number): void {
  const written = spawnSync('python3', [
    '-c',
    [
      'import struct, sys',
      "f = open(sys.argv[1], 'wb')",
      "f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))",
      'src, dst = bytes([10,0,0,1]), bytes([10,0,0,2])',
      'seq = 1',
      'for i in range(int(sys.argv[2])):',
      '    data = bytes([(i + j) % 251 for j in range(0, 1400, 100)]) * 100',
      "    tcp = struct.pack('!HHIIBBHHH', 1111, 2222, seq, 0, 5 << 4, 0x18, 65535, 0, 0) + data",
      "    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, src, dst) + tcp",
      "    f.write(struct.pack('<IIII', 1700000000 + i // 1000, i % 1000 * 1000, len(ip), len(ip)) + ip)",
      '    seq += len(data)',
    ].join('\n'),
    file,
    String(segments),
  ]);
  expect(written.status).toBe(0);
}

describe('opening a capture bigger than capture memory', () => {
  it('stops cleanly when the engine is disposed in the middle', async () => {
    const engine = new Engine({ captureMemoryBytes: 1024 * 1024 });
    const file = path.join(fresh.dir, 'big.pcap');
    writeBigPcap(file, 12000);
    const opening = engine.openCapture(file);
    await waitUntil('some bytes replayed', () => engine.list()[0]?.counters.bytesOut);
    await engine.dispose();
    const { ids } = await opening;
    expect(ids).toHaveLength(1);
  });

  it('streams it through the capture folder within the memory budget', async () => {
    const budget = 1024 * 1024;
    const engine = new Engine({ captureMemoryBytes: budget });
    try {
      const file = path.join(fresh.dir, 'big.pcap');
      // 24,000 segments of 1,400 bytes: about 32 MiB.
      writeBigPcap(file, 24000);
      let peak = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, engine.status().capture.bytesInMemory);
      }, 1);
      const { ids } = await engine.openCapture(file);
      clearInterval(sampler);
      const id = ids[0] as string;
      expect(engine.info(id).counters.bytesOut).toBe(24000 * 1400);
      // Capture memory stays near its budget (one batch and the datagram ceiling's slack).
      expect(peak).toBeLessThanOrEqual(budget * 2 + 2 * 1024 * 1024);
      const last = engine.readCapture(id, 23999 * 1400, 1400).chunks[0];
      const expected = Buffer.from(Array.from({ length: 14 }, (_, j) => (23999 + j * 100) % 251));
      expect(Buffer.from(last?.bytes ?? []).equals(Buffer.concat(Array(100).fill(expected)))).toBe(
        true,
      );
      await stillServes(engine);
    } finally {
      await engine.dispose();
    }
  }, 60_000);
});
