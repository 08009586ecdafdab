/**
 * A peer resets (RST) a connection in the middle of a flood, in either direction. The peer is a
 * python3 process that writes a deterministic stream and reports how much of it it sent and how
 * much the engine's kernel had acknowledged when it reset; the engine's capture must hold at
 * least every acknowledged byte, byte-exact, and nothing the peer did not send.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router } from '../../src/main/router';
import type { EndpointInfo } from '../../src/shared/contract';
import {
  MiB,
  acceptedFrom,
  call,
  portOf,
  readDirection,
  refusal,
  startPythonPeer,
  type PythonPeer,
} from '../support/engine-helpers';
import { PYTHON_STREAM, firstMismatch, sha256, streamBytes, streamHash } from '../support/stream';
import { openFds } from '../support/system';
import { connectPeer, hasCommand } from '../support/peers';
import { waitForEndpoint, waitForState, waitUntil } from '../support/wait';

const python = hasCommand('python3');

let engine: Engine;
let router: Router;
let listener: EndpointInfo;
const peers: PythonPeer[] = [];
beforeEach(async () => {
  engine = new Engine();
  router = createRouter(engine);
  listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
});
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.child.kill('SIGKILL');
  await engine.dispose();
});

const HEADER = `
import fcntl, hashlib, select, socket, struct, sys, termios, time
${PYTHON_STREAM}
def unacknowledged(s):
    return struct.unpack('i', fcntl.ioctl(s, termios.TIOCOUTQ, b'\\0\\0\\0\\0'))[0]

def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()

port, phase, total = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(('127.0.0.1', port))
print('connected', s.getsockname()[1])
`;

/** Sends `total` bytes, waits until the engine's kernel has acknowledged all of them, resets. */
const RESET_AFTER_LAST_BYTE = `${HEADER}
s.recv(2)
s.sendall(stream_slice(phase, 0, total))
while unacknowledged(s):
    time.sleep(0.001)
reset(s)
print('reset')
`;

/** Floods until told to stop on stdin, then resets and says how much was sent and acknowledged. */
const RESET_MID_FLOOD = `${HEADER}
s.setblocking(False)
sent = 0
reported = 0
while True:
    readable, writable, _ = select.select([sys.stdin], [s], [])
    if readable:
        sys.stdin.readline()
        acknowledged = sent - unacknowledged(s)
        reset(s)
        print('reset', sent, acknowledged)
        break
    try:
        sent += s.send(stream_slice(phase, sent, 65536))
    except BlockingIOError:
        pass
    if sent - reported >= 1048576:
        reported = sent
        print('sent', sent)
`;

/** Reads until it has `total` bytes, then resets with the rest of the flood still coming. */
const READ_THEN_RESET = `${HEADER}
received = bytearray()
while len(received) < total:
    received += s.recv(65536)
reset(s)
print('received', len(received))
print('hash', hashlib.sha256(bytes(received)).hexdigest())
`;

async function acceptPython(script: string, args: Array<string | number>) {
  const peer = startPythonPeer(script, [portOf(listener), ...args]);
  peers.push(peer);
  const clientPort = Number(
    (await peer.line('connect', (l) => l.startsWith('connected'))).split(' ')[1],
  );
  const accepted = await acceptedFrom(engine, listener.id, clientPort);
  return { peer, accepted };
}

/** A connection that has nothing to do with the fault, and must not notice it. */
async function openBystander() {
  const peer = await connectPeer({ host: '127.0.0.1', port: portOf(listener) });
  const accepted = await acceptedFrom(engine, listener.id, peer.socket.localPort as number);
  return { peer, accepted };
}

async function expectBystanderServed(bystander: Awaited<ReturnType<typeof openBystander>>) {
  const before = engine.info(bystander.accepted.id).counters.bytesIn;
  bystander.peer.socket.write('after the reset');
  await waitUntil('the bystander bytes', () => {
    return engine.info(bystander.accepted.id).counters.bytesIn === before + 15;
  });
  await call(router, 'connection.send', {
    id: bystander.accepted.id,
    payload: { format: 'text', data: 'ok' },
  });
  await waitUntil('the bystander reply', () => bystander.peer.received().toString().endsWith('ok'));
  expect(engine.info(bystander.accepted.id).state).toBe('open');
  // The listener accepts as before.
  const another = await openBystander();
  expect(another.accepted.state).toBe('open');
  another.peer.socket.destroy();
  bystander.peer.socket.destroy();
}

function expectResetByPeer(info: EndpointInfo) {
  expect(info.state).toBe('reset');
  expect(info.timeline.at(-1)).toMatchObject({ event: 'rst-received', by: 'remote' });
  expect(['ECONNRESET', 'EPIPE']).toContain(info.error?.code);
  expect(info.error?.message).toMatch(/reset the connection|no longer reading/);
}

describe.skipIf(!python)('a peer resets the connection', () => {
  it.each([
    // Small enough to arrive in one read together with the RST: libuv then reports end-of-file.
    ['while the engine reads', false, 20_011],
    ['while the bytes wait in the kernel because reading is paused', true, 40_009],
  ])(
    'right after its last byte %s: the capture holds exactly what it sent',
    async (_when, paused, total) => {
      const bystander = await openBystander();
      const phase = total;
      const { peer, accepted } = await acceptPython(RESET_AFTER_LAST_BYTE, [phase, total]);
      if (paused) await call(router, 'connection.pauseReading', { id: accepted.id });
      await call(router, 'connection.send', {
        id: accepted.id,
        payload: { format: 'text', data: 'go' },
      });
      if (paused) {
        await peer.line('the reset', (l) => l === 'reset');
        await call(router, 'connection.resumeReading', { id: accepted.id });
      }
      await peer.line('the reset', (l) => l === 'reset');

      const info = await waitForState(engine, accepted.id, 'reset');
      expectResetByPeer(info);
      expect(info.counters.bytesIn).toBe(total);
      const captured = await readDirection(router, accepted.id, 'in');
      expect(captured.length).toBe(total);
      expect(sha256(captured)).toBe(streamHash(phase, total));
      await expectBystanderServed(bystander);
    },
  );

  it('in the middle of its flood: the capture holds every acknowledged byte, exactly', async () => {
    const bystander = await openBystander();
    const phase = 314_159;
    const { peer, accepted } = await acceptPython(RESET_MID_FLOOD, [phase, 0]);
    await peer.line(
      '4 MiB sent',
      (l) => l.startsWith('sent') && Number(l.split(' ')[1]) >= 4 * MiB,
    );
    peer.child.stdin?.write('reset\n');
    const [, sent, acknowledged] = (await peer.line('the reset', (l) => l.startsWith('reset')))
      .split(' ')
      .map(Number);

    const info = await waitForState(engine, accepted.id, 'reset');
    expectResetByPeer(info);
    const captured = await readDirection(router, accepted.id, 'in');
    expect(captured.length).toBe(info.counters.bytesIn);
    expect(captured.length).toBeGreaterThanOrEqual(acknowledged as number);
    expect(captured.length).toBeLessThanOrEqual(sent as number);
    expect(firstMismatch(phase, 0, captured)).toBe(-1);
    expect(sha256(captured)).toBe(streamHash(phase, captured.length));
    await expectBystanderServed(bystander);
  });

  it('while the engine floods it: every byte sent is captured, later sends are refused', async () => {
    const bystander = await openBystander();
    const phase = 2_718_281;
    const readBeforeReset = 1 * MiB;
    const { peer, accepted } = await acceptPython(READ_THEN_RESET, [0, readBeforeReset]);
    const payloads = 12;
    let sent = 0;
    for (let i = 0; i < payloads; i++) {
      const bytes = streamBytes(phase, i * MiB, MiB);
      const result = await router.invoke('connection.send', {
        id: accepted.id,
        payload: { format: 'base64', data: bytes.toString('base64') },
      });
      if (!result.ok) {
        expect(result.error.code).toBe('NOT_WRITABLE');
        break;
      }
      sent += MiB;
    }
    const [, received] = (await peer.line('the read', (l) => l.startsWith('received')))
      .split(' ')
      .map(Number);
    const peerHash = (await peer.line('the hash', (l) => l.startsWith('hash'))).split(' ')[1];

    const info = await waitForState(engine, accepted.id, 'reset');
    expectResetByPeer(info);
    // What the user sent is in the capture, whether or not the peer lived to read it.
    const out = await readDirection(router, accepted.id, 'out');
    expect(out.length).toBe(sent);
    expect(info.counters.bytesOut).toBe(sent);
    expect(sha256(out)).toBe(streamHash(phase, sent));
    // What the peer read is the start of it.
    expect(sha256(out.subarray(0, received))).toBe(peerHash);
    const refused = await refusal(router, 'connection.send', {
      id: accepted.id,
      payload: { format: 'text', data: 'anyone there?' },
    });
    expect(refused.code).toBe('NOT_WRITABLE');
    expect(refused.message).toContain('reset');
    await expectBystanderServed(bystander);
    expect(await waitForEndpoint(engine, 'listener', (e) => e.id === listener.id)).toMatchObject({
      state: 'listening',
    });
  });

  // Found by the soak: a reset within one turn of the event loop after a half-close (a quick
  // double action, or automation) hit libuv's EINVAL, sent no RST and leaked the descriptor.
  it('right after the engine half-closed: the RST still goes out, and nothing leaks', async () => {
    const before = openFds();
    for (let i = 0; i < 10; i++) {
      const peer = await connectPeer({
        host: '127.0.0.1',
        port: portOf(listener),
        allowHalfOpen: true,
      });
      const accepted = await acceptedFrom(engine, listener.id, peer.socket.localPort as number);
      await call(router, 'connection.halfClose', { id: accepted.id });
      await call(router, 'connection.reset', { id: accepted.id });
      await peer.ended;
      const info = await waitForState(engine, accepted.id, 'reset');
      expect(info.timeline.map((t) => t.event)).toEqual(['accepted', 'fin-sent', 'rst-sent']);
      // Had the engine kept its socket half-open, this write would be taken without complaint.
      const refused = new Promise<string | undefined>((resolve) =>
        peer.socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code)),
      );
      const writeUntilRefused = setInterval(() => peer.socket.write('x'), 5);
      expect(['ECONNRESET', 'EPIPE']).toContain(await refused);
      clearInterval(writeUntilRefused);
      peer.socket.destroy();
      await call(router, 'endpoint.forget', { id: accepted.id });
    }
    if (before !== undefined) {
      await waitUntil('every descriptor back', () => (openFds() as number) <= before);
    }
  });
});
