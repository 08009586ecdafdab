/**
 * "Reply to a UDP sender": a UDP socket remembers who sent to it lately (newest first, each
 * sender once, at most RECENT_PEERS_MAX), and a reply to one of them reaches it. The senders are
 * python3 sockets, each bound to its own port, as devices on a network would be.
 */
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { RECENT_PEERS_MAX } from '../../src/main/engine/udp';
import { freshEngineAndDir } from '../support/engine';
import { startPython } from '../support/peers';
import { waitUntil } from '../support/wait';

const fresh = freshEngineAndDir();

async function bindUdp(): Promise<{ id: string; port: number }> {
  const udp = await fresh.engine.bindUdp({ host: '127.0.0.1', port: 0 });
  const port = udp.local && 'port' in udp.local ? udp.local.port : 0;
  return { id: udp.id, port };
}

/**
 * python3 opens `count` sockets (each on its own ephemeral port) and sends one datagram from each
 * of them, in the order of `order` (indexes into the sockets), then prints the ports it used.
 */
async function pythonSends(port: number, count: number, order: number[]): Promise<number[]> {
  const python = startPython(
    [
      'import socket, sys',
      'port, count = int(sys.argv[1]), int(sys.argv[2])',
      'order = [int(i) for i in sys.argv[3].split(",")]',
      'socks = []',
      'for _ in range(count):',
      '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      "    s.bind(('127.0.0.1', 0))",
      '    socks.append(s)',
      'for i in order:',
      "    socks[i].sendto(b'hello %d' % i, ('127.0.0.1', port))",
      "print('ports', ','.join(str(s.getsockname()[1]) for s in socks))",
      "print('ready', flush=True)",
    ].join('\n'),
    [String(port), String(count), order.join(',')],
  );
  const out = await python.ready;
  const line = out.split('\n').find((l) => l.startsWith('ports '));
  return (line ?? '').slice(6).split(',').map(Number);
}

function recentPorts(id: string): number[] {
  return (fresh.engine.info(id).recentPeers ?? []).map((peer) => peer.port);
}

describe('recent UDP senders', () => {
  it('lists each sender once, newest first, with its address and time', async () => {
    const udp = await bindUdp();
    expect(fresh.engine.info(udp.id).recentPeers).toEqual([]);
    // a, b, a: a sent last, so it comes first, and only once.
    const [a, b] = await pythonSends(udp.port, 2, [0, 1, 0]);
    await waitUntil('three datagrams', () => fresh.engine.info(udp.id).counters.chunksIn === 3);
    const peers = fresh.engine.info(udp.id).recentPeers ?? [];
    expect(peers.map((p) => [p.host, p.port])).toEqual([
      ['127.0.0.1', a],
      ['127.0.0.1', b],
    ]);
    // `at` is wall-clock time (what "3 s ago" is computed from), and a's is the newer.
    expect(peers[0]!.at).toBeGreaterThanOrEqual(peers[1]!.at);
    expect(Math.abs(peers[0]!.at - Date.now())).toBeLessThan(60_000);
  });

  it(`keeps only the latest ${RECENT_PEERS_MAX} senders`, async () => {
    const udp = await bindUdp();
    const count = RECENT_PEERS_MAX + 3;
    const order = Array.from({ length: count }, (_, i) => i);
    const ports = await pythonSends(udp.port, count, order);
    await waitUntil('every datagram', () => fresh.engine.info(udp.id).counters.chunksIn === count);
    expect(recentPorts(udp.id)).toEqual(ports.slice(-RECENT_PEERS_MAX).reverse());
  });

  it('a sender that comes back moves to the front; the oldest falls off', async () => {
    const udp = await bindUdp();
    const count = RECENT_PEERS_MAX + 1;
    // 0..7 send, then 0 again (back to the front), then 8 (pushes out the oldest, which is 1).
    const order = [...Array.from({ length: RECENT_PEERS_MAX }, (_, i) => i), 0, RECENT_PEERS_MAX];
    const ports = await pythonSends(udp.port, count, order);
    await waitUntil('every datagram', () => {
      return fresh.engine.info(udp.id).counters.chunksIn === order.length;
    });
    expect(recentPorts(udp.id)).toEqual([
      ports[RECENT_PEERS_MAX],
      ports[0],
      ...ports.slice(2, RECENT_PEERS_MAX).reverse(),
    ]);
  });

  it('a reply to a listed sender reaches it', async () => {
    const udp = await bindUdp();
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
    peer.send('ping', udp.port, '127.0.0.1');
    const sender = await waitUntil('the sender', () => fresh.engine.info(udp.id).recentPeers?.[0]);
    expect(sender.port).toBe(peer.address().port);
    const reply = new Promise<Buffer>((resolve) => peer.once('message', resolve));
    await fresh.engine.sendUdp({
      id: udp.id,
      host: sender.host,
      port: sender.port,
      payload: { format: 'text', data: 'pong', encoding: 'utf-8', lineEnding: 'crlf' },
    });
    expect(await reply).toEqual(Buffer.from('pong\r\n'));
    peer.close();
  });

  it('is only on UDP sockets', async () => {
    const listener = await fresh.engine.listenTcp({
      host: '127.0.0.1',
      port: 0,
      backlog: 16,
      allowHalfOpen: true,
    });
    expect(fresh.engine.info(listener.id).recentPeers).toBeUndefined();
  });
});
