import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router } from '../../src/main/router';
import { FEED_WINDOW_MAX, FEED_WINDOW_MIN, MAX_PAYLOAD_BYTES } from '../../src/shared/contract';
import { connectPeer } from '../support/peers';
import { waitUntil } from '../support/wait';

let engine: Engine;
let router: Router;
beforeAll(() => {
  engine = new Engine();
  router = createRouter(engine);
});
afterAll(async () => {
  await engine.dispose();
});

async function errorOf(command: unknown, input: unknown) {
  const result = await router.invoke(command, input);
  if (result.ok) throw new Error(`expected ${String(command)} to fail`);
  return result.error;
}

const hex = (data: string) => ({ format: 'hex', data });

/** A listener opened through the router, a peer connected to it, and the accepted connection. */
async function acceptedThroughRouter() {
  const listened = await router.invoke('tcp.listen', { host: '127.0.0.1', port: 0 });
  if (!listened.ok) throw new Error('listen failed');
  const listener = listened.value as { id: string; local: { port: number } };
  const peer = await connectPeer({ host: '127.0.0.1', port: listener.local.port });
  const accepted = await waitUntil('accepted', () =>
    engine.list().find((e) => e.parentId === listener.id),
  );
  return { peer, accepted };
}

describe('router', () => {
  it('answers a valid command with its result, filling in defaults', async () => {
    const result = await router.invoke('tcp.listen', { host: '127.0.0.1', port: 0 });
    expect(result.ok).toBe(true);
    if (result.ok)
      expect(result.value).toMatchObject({ state: 'listening', options: { backlog: 511 } });
  });

  it.each([
    ['port above 65535', 'tcp.listen', { host: '127.0.0.1', port: 70000 }, 'PORT_OUT_OF_RANGE'],
    ['negative port', 'tcp.listen', { host: '127.0.0.1', port: -1 }, 'PORT_OUT_OF_RANGE'],
    ['fractional port', 'tcp.connect', { host: '127.0.0.1', port: 80.5 }, 'PORT_OUT_OF_RANGE'],
    ['port 0 as a destination', 'tcp.connect', { host: '127.0.0.1', port: 0 }, 'PORT_OUT_OF_RANGE'],
    ['empty host', 'tcp.connect', { host: '', port: 80 }, 'INVALID_HOST'],
    ['over-long host', 'tcp.connect', { host: 'a'.repeat(254), port: 80 }, 'INVALID_HOST'],
    ['host with spaces', 'tcp.listen', { host: 'local host', port: 0 }, 'INVALID_HOST'],
    ['empty socket path', 'unix.listen', { path: '' }, 'INVALID_PATH'],
    ['malformed id', 'connection.close', { id: '../../etc' }, 'INVALID_ID'],
    ['unknown endpoint', 'connection.close', { id: 'conn-999999' }, 'UNKNOWN_ENDPOINT'],
    ['port as a string', 'tcp.listen', { host: '127.0.0.1', port: '80' }, 'INVALID_INPUT'],
    ['NaN port', 'tcp.listen', { host: '127.0.0.1', port: Number.NaN }, 'INVALID_INPUT'],
    ['null input', 'tcp.listen', null, 'INVALID_INPUT'],
    ['an array as input', 'session.snapshot', [], 'INVALID_INPUT'],
    ['unexpected keys', 'session.snapshot', { evil: true }, 'INVALID_INPUT'],
    [
      'unknown payload format',
      'payload.encode',
      { payload: { format: 'rot13', data: '' } },
      'INVALID_INPUT',
    ],
  ])('rejects %s', async (_name, command, input, code) => {
    expect((await errorOf(command, input)).code).toBe(code);
  });

  it.each([FEED_WINDOW_MIN - 1, FEED_WINDOW_MAX + 1, 5000.5])(
    'rejects a feed window of %d bytes',
    async (bytes) => {
      const view = router.openView(() => undefined);
      const result = await router.invoke(
        'feed.open',
        { feed: 1, id: 'conn-1', windowBytes: bytes },
        view,
      );
      view.close();
      if (result.ok) throw new Error('expected feed.open to fail');
      expect(result.error.code).toBe('INVALID_INPUT');
      expect(result.error.message).toMatch(/feed window must be a whole number of bytes from 4096/);
    },
  );

  it('gives a feed the window it asks for, at either bound', async () => {
    const { peer, accepted } = await acceptedThroughRouter();
    const received = { small: 0, large: 0 };
    const viewWith = (key: keyof typeof received) =>
      router.openView((event) => {
        if (event.event !== 'feed.data') return;
        for (const chunk of event.payload.chunks) received[key] += chunk.bytes.byteLength;
      });
    const small = viewWith('small');
    const large = viewWith('large');
    const open = (view: typeof small, windowBytes: number) =>
      router.invoke('feed.open', { feed: 1, id: accepted.id, windowBytes }, view);
    expect(await open(small, FEED_WINDOW_MIN)).toEqual({ ok: true, value: { start: 0 } });
    expect(await open(large, FEED_WINDOW_MAX)).toEqual({ ok: true, value: { start: 0 } });

    const flood = Buffer.alloc(FEED_WINDOW_MAX + 1024 * 1024, 7);
    peer.socket.write(flood);
    await waitUntil(
      'every byte captured',
      () => engine.info(accepted.id).counters.bytesIn === flood.length,
      30_000,
    );
    engine.flushCapture();
    await waitUntil('the large window full', () => received.large === FEED_WINDOW_MAX);
    expect(received.small).toBe(FEED_WINDOW_MIN);
    small.close();
    large.close();
    peer.socket.destroy();
  });

  it('rejects an unknown command', async () => {
    expect((await errorOf('fs.readFile', {})).code).toBe('UNKNOWN_COMMAND');
    expect((await errorOf(42, {})).code).toBe('UNKNOWN_COMMAND');
    expect((await errorOf('__proto__', {})).code).toBe('UNKNOWN_COMMAND');
    expect((await errorOf('toString', {})).code).toBe('UNKNOWN_COMMAND');
  });

  it('names the position of bad hex', async () => {
    const error = await errorOf('payload.encode', { payload: hex('de ad bx ef') });
    expect(error).toMatchObject({ code: 'BAD_HEX', position: 7 });
    expect(error.message).toContain('"x"');
  });

  it('rejects a payload over the size limit', async () => {
    const tooBig = 'ab'.repeat(MAX_PAYLOAD_BYTES + 1);
    expect((await errorOf('payload.encode', { payload: hex(tooBig) })).code).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    const wayTooBig = 'a'.repeat(4 * MAX_PAYLOAD_BYTES);
    expect(
      (await errorOf('payload.encode', { payload: { format: 'text', data: wayTooBig } })).code,
    ).toBe('PAYLOAD_TOO_LARGE');
  });

  it('uses the right kind of endpoint for each action', async () => {
    const udp = await router.invoke('udp.bind', { host: '127.0.0.1', port: 0 });
    if (!udp.ok) throw new Error('bind failed');
    const id = (udp.value as { id: string }).id;
    expect((await errorOf('connection.send', { id, payload: hex('00') })).code).toBe(
      'WRONG_ENDPOINT_KIND',
    );
  });

  it('keeps serving every other connection after all of that', async () => {
    const { peer, accepted } = await acceptedThroughRouter();
    await errorOf('connection.send', { id: accepted.id, payload: hex('zz') });
    await errorOf('connection.send', { id: accepted.id, payload: 'not an object' });
    const sent = await router.invoke('connection.send', { id: accepted.id, payload: hex('4f 4b') });
    expect(sent).toEqual({ ok: true, value: { bytes: 2 } });
    await waitUntil('OK at the peer', () => peer.received().toString() === 'OK');
    peer.socket.write('fine');
    await waitUntil('data in', () => engine.info(accepted.id).counters.bytesIn === 4);
    peer.socket.destroy();
  });

  it('delivers events for one endpoint in order', async () => {
    const seen: string[] = [];
    const listened = await router.invoke('tcp.listen', { host: '127.0.0.1', port: 0 });
    if (!listened.ok) throw new Error('listen failed');
    const listener = listened.value as { id: string; local: { port: number } };
    const feeds = new Map<number, string>();
    const view = router.openView((event) => {
      if (event.event === 'endpoint.updated')
        seen.push(`${event.payload.id}:${event.payload.state}`);
      if (event.event === 'feed.data') seen.push(`${feeds.get(event.payload.feed)}:data`);
      // A feed on each connection the listener accepts, opened as soon as the view hears of it
      // (before any of its bytes can have been read).
      if (event.event === 'endpoint.added' && event.payload.parentId === listener.id) {
        const feed = feeds.size + 1;
        feeds.set(feed, event.payload.id);
        void router.invoke('feed.open', { feed, id: event.payload.id }, view);
      }
    });
    const peer = await connectPeer({ host: '127.0.0.1', port: listener.local.port });
    peer.socket.end('bye');
    const accepted = await waitUntil('accepted', () =>
      engine.list().find((e) => e.parentId === listener.id),
    );
    await waitUntil('closed', () => engine.info(accepted.id).state === 'half-closed-remote');
    await router.invoke('connection.close', { id: accepted.id });
    await waitUntil('closed', () => seen.some((s) => s.endsWith(':closed')));
    view.close();
    const ofAccepted = seen
      .filter((entry) => entry.startsWith(`${accepted.id}:`))
      .map((entry) => entry.slice(accepted.id.length + 1));
    expect(ofAccepted).toEqual(['data', 'half-closed-remote', 'closed']);
  });
});
