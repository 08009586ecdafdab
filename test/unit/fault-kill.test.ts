/**
 * A peer process is killed (SIGKILL) in the middle of a transfer. The peer is python3 writing or
 * reading a deterministic stream and printing how far it got after every call; the engine's
 * capture must be byte-exact against what it sent, hold everything it had handed to its kernel,
 * and the engine must say what happened and keep serving everything else.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router } from '../../src/main/router';
import type { EndpointInfo } from '../../src/shared/contract';
import {
  MiB,
  acceptedFrom,
  call,
  eventually,
  portOf,
  readDirection,
  refusal,
  startPythonPeer,
  type PythonPeer,
} from '../support/engine-helpers';
import { PYTHON_STREAM, firstMismatch, sha256, streamBytes, streamHash } from '../support/stream';
import { connectPeer, hasCommand, tempDir } from '../support/peers';
import { waitForEndpoint, waitForState, waitUntil } from '../support/wait';

const python = hasCommand('python3');
const CHUNK = 16_384;

let engine: Engine;
let router: Router;
let listener: EndpointInfo;
const peers: PythonPeer[] = [];
const directories: string[] = [];
beforeEach(async () => {
  engine = new Engine();
  router = createRouter(engine);
  listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
});
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.child.kill('SIGKILL');
  await engine.dispose();
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true });
});

/**
 * argv: how (tcp-connect PORT | unix-connect PATH | tcp-serve), phase, then `write` (flood the
 * engine) or `read` (take what the engine sends, checking it against the stream).
 */
const PEER = `
import socket, sys
${PYTHON_STREAM}
how, where, phase, role = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if how == 'tcp-connect':
    s = socket.create_connection(('127.0.0.1', int(where)))
elif how == 'unix-connect':
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(where)
else:
    server = socket.create_server(('127.0.0.1', 0))
    print('listening', server.getsockname()[1])
    s, _ = server.accept()
print('connected', s.getsockname()[1] if how != 'unix-connect' else 0)
done = 0
if role == 'write':
    while True:
        done += s.send(stream_slice(phase, done, ${CHUNK}))
        print('sent', done)
else:
    while True:
        data = s.recv(${CHUNK})
        if not data:
            break
        if data != stream_slice(phase, done, len(data)):
            print('mismatch', done)
            break
        done += len(data)
        print('received', done)
`;

function lastCount(peer: PythonPeer, word: string): number {
  const line = peer.lines.filter((l) => l.startsWith(`${word} `)).at(-1);
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** Starts the peer and finds the engine's end of its connection. */
async function connectKillablePeer(
  how: 'tcp-connect' | 'unix-connect' | 'tcp-serve',
  phase: number,
  role: 'write' | 'read',
): Promise<{ peer: PythonPeer; connection: EndpointInfo }> {
  if (how === 'tcp-serve') {
    const peer = startPythonPeer(PEER, [how, 0, phase, role]);
    peers.push(peer);
    const port = Number(
      (await peer.line('listening', (l) => l.startsWith('listening'))).split(' ')[1],
    );
    const connection = await call(router, 'tcp.connect', { host: '127.0.0.1', port });
    return { peer, connection };
  }
  if (how === 'unix-connect') {
    const directory = tempDir();
    directories.push(directory);
    const socketPath = path.join(directory, 'engine.sock');
    const unix = await call(router, 'unix.listen', { path: socketPath });
    const peer = startPythonPeer(PEER, [how, socketPath, phase, role]);
    peers.push(peer);
    await peer.line('connected', (l) => l.startsWith('connected'));
    const connection = await waitForEndpoint(
      engine,
      'the accepted unix connection',
      (e) => e.parentId === unix.id,
    );
    return { peer, connection };
  }
  const peer = startPythonPeer(PEER, [how, portOf(listener), phase, role]);
  peers.push(peer);
  const clientPort = Number(
    (await peer.line('connected', (l) => l.startsWith('connected'))).split(' ')[1],
  );
  return { peer, connection: await acceptedFrom(engine, listener.id, clientPort) };
}

async function expectOthersServed() {
  const peer = await connectPeer({ host: '127.0.0.1', port: portOf(listener) });
  const accepted = await acceptedFrom(engine, listener.id, peer.socket.localPort as number);
  peer.socket.write('hello');
  await call(router, 'connection.send', {
    id: accepted.id,
    payload: { format: 'text', data: 'hi' },
  });
  await waitUntil(
    'both ways',
    () => engine.info(accepted.id).counters.bytesIn === 5 && peer.received().toString() === 'hi',
  );
  peer.socket.destroy();
}

describe.skipIf(!python)('a peer process is killed mid-transfer', () => {
  it.each([
    ['a TCP client of the engine', 'tcp-connect'],
    ['a Unix-domain client of the engine', 'unix-connect'],
    ['a TCP server the engine connected to', 'tcp-serve'],
  ] as const)(
    'while %s floods it: every byte it sent arrives, exactly, and later sends are refused',
    async (_who, how) => {
      const phase = 7_777 + how.length;
      const { peer, connection } = await connectKillablePeer(how, phase, 'write');
      await peer.line(
        '2 MiB sent',
        (l) => l.startsWith('sent') && Number(l.split(' ')[1]) >= 2 * MiB,
      );
      peer.child.kill('SIGKILL');
      await peer.exited;
      const reported = lastCount(peer, 'sent');

      // The kernel still delivers what the dead process had handed to it, then closes: a FIN.
      const ended = await waitForState(engine, connection.id, 'half-closed-remote');
      expect(ended.timeline.at(-1)).toMatchObject({ event: 'fin-received', by: 'remote' });
      const captured = await readDirection(router, connection.id, 'in');
      expect(captured.length).toBe(ended.counters.bytesIn);
      // At least what it reported sending; at most one more call's worth, cut short by the kill.
      expect(captured.length).toBeGreaterThanOrEqual(reported);
      expect(captured.length).toBeLessThanOrEqual(reported + CHUNK);
      expect(firstMismatch(phase, 0, captured)).toBe(-1);
      expect(sha256(captured)).toBe(streamHash(phase, captured.length));

      // Nobody is left to read. As with any socket, a send is taken by our kernel and the dead
      // peer's kernel answers with RST, which the next send (or read) reports.
      const sends = await eventually('the reset to surface', async () => {
        const sent = await router.invoke('connection.send', {
          id: connection.id,
          payload: { format: 'text', data: 'anyone there?' },
        });
        return engine.info(connection.id).state === 'reset' ? sent : undefined;
      });
      expect(sends.ok || sends.error.code === 'NOT_WRITABLE').toBe(true);
      const reset = engine.info(connection.id);
      expect(reset.timeline.at(-1)).toMatchObject({ event: 'rst-received', by: 'remote' });
      expect(reset.error?.code).toMatch(/^(ECONNRESET|EPIPE)$/);
      expect(reset.error?.message).toMatch(/reset the connection|no longer reading/);
      const refused = await refusal(router, 'connection.send', {
        id: connection.id,
        payload: { format: 'text', data: 'hello?' },
      });
      expect(refused.code).toBe('NOT_WRITABLE');
      await expectOthersServed();
    },
  );

  it("while it reads the engine's flood: the engine says reset, and captured all it sent", async () => {
    const phase = 1_234_567;
    const { peer, connection } = await connectKillablePeer('tcp-connect', phase, 'read');
    let sent = 0;
    // Far more than socket buffers hold, so the peer dies with unread bytes and its kernel resets.
    for (let i = 0; i < 8; i++) {
      const bytes = streamBytes(phase, sent, MiB);
      await call(router, 'connection.send', {
        id: connection.id,
        payload: { format: 'hex', data: bytes.toString('hex') },
      });
      sent += MiB;
    }
    await peer.line(
      '1 MiB read',
      (l) => l.startsWith('received') && Number(l.split(' ')[1]) >= MiB,
    );
    peer.child.kill('SIGKILL');
    await peer.exited;
    expect(peer.lines.some((l) => l.startsWith('mismatch'))).toBe(false);

    const info = await waitForState(engine, connection.id, 'reset');
    expect(info.timeline.at(-1)).toMatchObject({ event: 'rst-received', by: 'remote' });
    expect(info.error?.message).toMatch(/reset the connection|no longer reading/);
    const out = await readDirection(router, connection.id, 'out');
    expect(out.length).toBe(sent);
    expect(sha256(out)).toBe(streamHash(phase, sent));
    expect(lastCount(peer, 'received')).toBeLessThan(sent);
    await expectOthersServed();
  });
});
