/**
 * A peer that never reads must not make the engine queue bytes without end (issue 9, item 3):
 * 40 sends of 16 MiB were all accepted and held in memory. Past the send queue limit (64 MiB by
 * default) a send is refused with the queued bytes named, and a broadcast skips that connection
 * only. Real peers: python3 that does not call recv(), and paused node:net sockets.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SEND_QUEUE_LIMIT_BYTES } from '../../src/main/engine/connection';
import { Engine } from '../../src/main/engine/engine';
import { commands } from '../../src/shared/contract';
import { WorkbenchError } from '../../src/shared/errors';
import { connectLocalTcp } from '../support/engine';
import { exited, hasCommand, startPython } from '../support/peers';
import { waitForEndpoint, waitUntil } from '../support/wait';

const MiB = 1024 * 1024;
const text = (data: string) => ({ format: 'text' as const, data, encoding: 'utf-8' as const });
const sixteenMiB = text('x'.repeat(16 * MiB));

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.dispose();
  engine = undefined;
});

/** The WorkbenchError a call throws, or null when it returns. */
function refusal(call: () => unknown): WorkbenchError | null {
  try {
    call();
    return null;
  } catch (error) {
    if (error instanceof WorkbenchError) return error;
    throw error;
  }
}

const notReading = /^The peer is not reading: ([\d,]+) bytes already queued/;

describe.runIf(hasCommand('python3'))('the send queue limit of a connection', () => {
  it('refuses sends to a python3 peer that does not read once 64 MiB are queued, and takes them again once it reads', async () => {
    engine = new Engine();
    // Accepts, reads nothing until SIGUSR1, then reads to the end and prints the byte count.
    const python = startPython(
      [
        'import signal, socket',
        'go = []',
        'signal.signal(signal.SIGUSR1, lambda *_: go.append(1))',
        "server = socket.create_server(('127.0.0.1', 0))",
        "print(server.getsockname()[1], 'ready', flush=True)",
        'conn, _ = server.accept()',
        'while not go:',
        '    signal.pause()',
        'total = 0',
        'while True:',
        '    data = conn.recv(1 << 20)',
        '    if not data:',
        '        break',
        '    total += len(data)',
        "print('received', total, flush=True)",
      ].join('\n'),
    );
    let said = '';
    python.child.stdout?.on('data', (data: Buffer) => (said += data.toString()));
    const port = Number.parseInt(await python.ready, 10);
    const client = await connectLocalTcp(engine, port);
    expect(client.options.sendQueueLimit).toBe(DEFAULT_SEND_QUEUE_LIMIT_BYTES);
    expect(DEFAULT_SEND_QUEUE_LIMIT_BYTES).toBe(64 * MiB);

    let accepted = 0;
    let refused: WorkbenchError | null = null;
    // Before the limit, all 40 were accepted (640 MiB in memory).
    for (let i = 0; i < 40 && !refused; i += 1) {
      refused = refusal(() => engine?.send(client.id, sixteenMiB));
      if (!refused) accepted += 1;
    }
    expect(refused?.code).toBe('SEND_QUEUE_FULL');
    const queuedInMessage = Number(
      (notReading.exec(refused?.message ?? '')?.[1] ?? '').replace(/,/g, ''),
    );
    const counters = engine.info(client.id).counters;
    expect(queuedInMessage).toBe(counters.bytesQueued);
    // The queue holds at most the limit, and the refused send would have passed it.
    expect(counters.bytesQueued).toBeLessThanOrEqual(64 * MiB);
    expect(counters.bytesQueued + 16 * MiB).toBeGreaterThan(64 * MiB);
    // A refused send is neither captured nor counted as sent.
    expect(counters.bytesOut).toBe(accepted * 16 * MiB);
    expect(accepted).toBeLessThan(40);

    // The peer reads: the queue drains, and sends are taken again.
    python.child.kill('SIGUSR1');
    await waitUntil(
      'the queue to drain',
      () => engine?.info(client.id).counters.bytesQueued === 0,
      20_000,
    );
    expect(refusal(() => engine?.send(client.id, sixteenMiB))).toBeNull();
    engine.halfClose(client.id);
    await exited(python.child);
    // Everything accepted arrived; nothing refused was sent.
    expect(said).toContain(`received ${(accepted + 1) * 16 * MiB}`);
  });
});

/** A node:net peer that counts what it receives, or reads nothing at all once paused. */
async function countingPeer(port: number, { reads }: { reads: boolean }) {
  const socket = net.connect({ host: '127.0.0.1', port });
  let received = 0;
  socket.on('data', (data: Buffer) => (received += data.byteLength));
  socket.on('error', () => undefined);
  if (!reads) socket.pause();
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received: () => received };
}

describe('a broadcast when one peer does not read', () => {
  it('reaches the peers that read, names the one that does not, and is refused once none reads', async () => {
    // A smaller limit keeps the test light; the rule is the same at 64 MiB.
    engine = new Engine({ sendQueueLimitBytes: 4 * MiB });
    // The contract fills in every default, whatever options listeners grow.
    const listener = await engine.listenTcp(
      commands['tcp.listen'].input.parse({ host: '127.0.0.1', port: 0 }),
    );
    const port = listener.local && 'port' in listener.local ? listener.local.port : 0;
    const stalled = await countingPeer(port, { reads: false });
    const reading = await countingPeer(port, { reads: true });
    await waitUntil('both accepted', () => engine?.info(listener.id).openConnections === 2);
    const stalledId = (
      await waitForEndpoint(
        engine,
        'the stalled connection',
        (e) =>
          e.parentId === listener.id &&
          e.remote !== null &&
          'port' in e.remote &&
          e.remote.port === stalled.socket.localPort,
      )
    ).id;

    const oneMiB = text('y'.repeat(MiB));
    let broadcasts = 1;
    let result = engine.broadcast(listener.id, oneMiB);
    while (result.refused.length === 0 && broadcasts < 1000) {
      const sent = broadcasts;
      await waitUntil('the reading peer to keep up', () => reading.received() === sent * MiB);
      result = engine.broadcast(listener.id, oneMiB);
      broadcasts += 1;
    }
    expect(result.connections).toBe(1);
    expect(result.refused).toEqual([
      { id: stalledId, bytesQueued: engine.info(stalledId).counters.bytesQueued },
    ]);
    expect(engine.info(stalledId).counters.bytesQueued).toBeLessThanOrEqual(4 * MiB);
    // The reading peer got every broadcast, the one the stalled peer missed included.
    await waitUntil('the reading peer to get all', () => reading.received() === broadcasts * MiB);

    // Now neither reads: the broadcast goes nowhere and says why.
    reading.socket.pause();
    let error: WorkbenchError | null = null;
    for (let i = 0; i < 1000 && !error; i += 1)
      error = refusal(() => engine?.broadcast(listener.id, oneMiB));
    expect(error?.code).toBe('SEND_QUEUE_FULL');
    expect(error?.message).toMatch(notReading);
    expect(error?.message).toContain(stalledId);
    stalled.socket.destroy();
    reading.socket.destroy();
  });
});
