/**
 * Auto-reply rules against real loopback peers (node:net, python3): the exact bytes each rule
 * sends back, which rules reply, and that a catastrophic regex cannot hold the engine.
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router } from '../../src/main/router';
import type { AnyEvent } from '../../src/shared/api';
import type { CommandInput, EndpointInfo, PayloadSpec } from '../../src/shared/contract';
import { freshEngineAndDir } from '../support/engine';
import { call, eventually, portOf, refusal, startPythonPeer } from '../support/engine-helpers';
import { connectPeer } from '../support/peers';
import { waitUntil } from '../support/wait';

const fresh = freshEngineAndDir();
let router: Router;
const peers: net.Socket[] = [];

beforeEach(() => {
  router = createRouter(fresh.engine);
});
const after: Array<() => unknown> = [];
afterEach(async () => {
  for (const socket of peers.splice(0)) socket.destroy();
  for (const cleanup of after.splice(0)) await cleanup();
});

type RuleInput = CommandInput<'rules.set'>['rules'][number];

const text = (data: string, encoding: PayloadSpec['encoding'] = 'utf-8'): PayloadSpec => ({
  format: 'text',
  data,
  encoding,
});
const hex = (data: string): PayloadSpec => ({ format: 'hex', data });

function bytesRule(
  id: string,
  mode: 'exact' | 'contains' | 'starts' | 'ends',
  match: PayloadSpec,
  reply: PayloadSpec,
  extra: Partial<RuleInput> = {},
): RuleInput {
  return { id, name: id, match: { mode, payload: match }, reply, ...extra };
}

function regexRule(id: string, pattern: string, reply: PayloadSpec, extra = {}): RuleInput {
  return { id, name: id, match: { mode: 'regex', pattern }, reply, ...extra };
}

async function tcpListener(): Promise<EndpointInfo> {
  return call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
}

function setRules(id: string, rules: RuleInput[], mode: 'first' | 'all' = 'first') {
  return call(router, 'rules.set', { id, mode, rules });
}

/** A node:net client of the listener, recording what it receives. */
async function client(listener: EndpointInfo) {
  const peer = await connectPeer({ host: '127.0.0.1', port: portOf(listener) });
  peers.push(peer.socket);
  return peer;
}

/**
 * Writes one message and waits for everything received so far to be `expected`: the next write
 * goes out only after the reply, so each message arrives as a read of its own.
 */
async function exchange(
  peer: { socket: net.Socket; received: () => Buffer },
  message: string | Buffer,
  expected: string | Buffer,
): Promise<void> {
  peer.socket.write(message);
  const want = Buffer.isBuffer(expected) ? expected : Buffer.from(expected, 'latin1');
  await waitUntil(`the reply to ${JSON.stringify(message.toString())}`, () => {
    const got = peer.received();
    if (got.length > want.length || !want.subarray(0, got.length).equals(got)) {
      throw new Error(
        `Expected ${JSON.stringify(want.toString('latin1'))}, got ${JSON.stringify(got.toString('latin1'))}`,
      );
    }
    return got.equals(want);
  });
}

describe('auto-reply: match modes', () => {
  it('replies by exact, starts, ends, contains and regex, with the exact bytes', async () => {
    const listener = await tcpListener();
    await setRules(listener.id, [
      bytesRule('exact', 'exact', text('PING'), text('exact\\n')),
      bytesRule('starts', 'starts', text('GET '), text('starts\\n')),
      bytesRule('ends', 'ends', hex('0d 0a'), text('ends\\n')),
      bytesRule('contains', 'contains', text('ERR'), text('contains\\n')),
      regexRule('regex', '^id=(\\d+)$', text('id {{$1}}\\n')),
      bytesRule('end', 'exact', text('END'), text('end')),
    ]);
    const peer = await client(listener);
    let expected = '';
    let sent = 0;
    for (const [message, reply] of [
      ['PING', 'exact\n'],
      ['GET /x', 'starts\n'],
      ['hello\r\n', 'ends\n'],
      ['xxERRxx', 'contains\n'],
      ['id=42', 'id 42\n'],
      // Near misses reply nothing: the next reply follows the last one directly.
      ['PINGx', ''],
      ['xGET ', ''],
      ['id=4x', ''],
      ['END', 'end'],
    ] as const) {
      expected += reply;
      sent += message.length;
      await exchange(peer, message, expected);
      // A message that gets no reply must still be read on its own before the next is written.
      await waitUntil('the message read', () =>
        fresh.engine.list().some((e) => e.parentId === listener.id && e.counters.bytesIn === sent),
      );
    }
    const { states } = await call(router, 'rules.get', { id: listener.id });
    expect(states.map((s) => [s.id, s.hits])).toEqual([
      ['exact', 1],
      ['starts', 1],
      ['ends', 1],
      ['contains', 1],
      ['regex', 1],
      ['end', 1],
    ]);
  });

  it('first: only the first matching rule replies; all: each does, in order', async () => {
    const listener = await tcpListener();
    const rules = [
      bytesRule('one', 'contains', text('A'), text('1')),
      bytesRule('two', 'contains', text('A'), text('2')),
      bytesRule('end', 'exact', text('END'), text('.')),
    ];
    await setRules(listener.id, rules, 'first');
    const peer = await client(listener);
    await exchange(peer, 'A', '1');
    await exchange(peer, 'END', '1.');
    await setRules(listener.id, rules, 'all');
    await exchange(peer, 'A', '1.12');
    await exchange(peer, 'END', '1.12.');
  });

  it('a disabled rule neither replies nor counts, nor shows in the endpoint as automated', async () => {
    const listener = await tcpListener();
    await setRules(listener.id, [
      bytesRule('off', 'contains', text('A'), text('no'), { enabled: false }),
      bytesRule('on', 'contains', text('A'), text('yes')),
    ]);
    expect(fresh.engine.info(listener.id).automation).toEqual({ rules: 1, jobs: 0 });
    const peer = await client(listener);
    await exchange(peer, 'A', 'yes');
    const { states } = await call(router, 'rules.get', { id: listener.id });
    expect(states.map((s) => s.hits)).toEqual([0, 1]);
  });
});

describe('auto-reply: templates', () => {
  it('fills in groups, the matched bytes and the counter, in text and in hex', async () => {
    const listener = await tcpListener();
    await setRules(listener.id, [
      regexRule('kv', '(\\w+)=(\\d+)', text('{{$0}}|{{$2}}|{{$1}}|#{{counter}}\\r\\n')),
      bytesRule('hex', 'contains', hex('de ad'), hex('aa {{$0}} {{counter}}')),
      // Bytes that are not printable ASCII go back exactly as they came (\xHH inside).
      regexRule('raw', '(?s)<(.+)>', text('[{{$1}}]'), {
        match: { mode: 'regex', pattern: '(?s)<(.+)>', encoding: 'latin1' },
      }),
    ]);
    const peer = await client(listener);
    let expected = Buffer.alloc(0);
    const step = async (message: Buffer | string, reply: Buffer) => {
      expected = Buffer.concat([expected, reply]);
      await exchange(peer, message, expected);
    };
    await step('say temp=21 ok', Buffer.from('temp=21|21|temp|#1\r\n'));
    await step('x=7', Buffer.from('x=7|7|x|#2\r\n'));
    await step(Buffer.from([0x01, 0xde, 0xad, 0x02]), Buffer.from([0xaa, 0xde, 0xad, 0x31]));
    await step(
      Buffer.from([0x3c, 0xff, 0x00, 0x5c, 0x41, 0x3e]),
      Buffer.from([0x5b, 0xff, 0x00, 0x5c, 0x41, 0x5d]),
    );
  });

  it('refuses a reply that uses a group the pattern lacks, or placeholders in base64', async () => {
    const listener = await tcpListener();
    const groups = await refusal(router, 'rules.set', {
      id: listener.id,
      rules: [regexRule('g', '(a)', text('{{$2}}'))],
    });
    expect(groups).toMatchObject({ code: 'INVALID_INPUT' });
    expect(groups.message).toContain('Rule "g"');
    const base64 = await refusal(router, 'rules.set', {
      id: listener.id,
      rules: [bytesRule('b', 'contains', text('a'), { format: 'base64', data: 'QQ=={{counter}}' })],
    });
    expect(base64.message).toContain('base64');
  });
});

describe('auto-reply: where replies go', () => {
  it("a listener's rules answer each accepted connection on its own", async () => {
    const listener = await tcpListener();
    await setRules(listener.id, [
      bytesRule('hi', 'contains', text('hi'), text('hello {{counter}};')),
    ]);
    const a = await client(listener);
    const b = await client(listener);
    await exchange(a, 'hi', 'hello 1;');
    await exchange(b, 'hi', 'hello 2;');
    await exchange(a, 'hi', 'hello 1;hello 3;');
    expect(b.received().toString()).toBe('hello 2;');
  });

  it("a UDP socket's rule answers the datagram's sender (python3)", async () => {
    const udp = await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
    await setRules(udp.id, [
      bytesRule('ping', 'starts', text('ping'), text('pong {{counter}} {{$0}}')),
    ]);
    const python = startPythonPeer(
      [
        'import socket, sys',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        's.settimeout(10)',
        'for _ in range(2):',
        "    s.sendto(b'ping!', ('127.0.0.1', int(sys.argv[1])))",
        '    data, _ = s.recvfrom(100)',
        '    print(data.hex(), flush=True)',
      ].join('\n'),
      [portOf(udp)],
    );
    expect(await python.exited).toBe(0);
    expect(python.lines).toEqual([
      Buffer.from('pong 1 ping').toString('hex'),
      Buffer.from('pong 2 ping').toString('hex'),
    ]);
  });

  it("a client's rule answers its server (python3), after its delay when it has one", async () => {
    // A delayed reply comes after an immediate one from a later rule: ordering, not timing.
    const python = startPythonPeer(
      [
        'import socket',
        's = socket.socket()',
        "s.bind(('127.0.0.1', 0))",
        's.listen(1)',
        'print(s.getsockname()[1], flush=True)',
        'c, _ = s.accept()',
        // Waits for the workbench to say its rules are set.
        'c.recv(2)',
        "c.sendall(b'slow fast')",
        "data = b''",
        "while len(data) < len('early late'):",
        '    data += c.recv(100)',
        'print(data.decode(), flush=True)',
      ].join('\n'),
      [],
    );
    const port = Number(await python.line('the port', (l) => /^\d+$/.test(l)));
    const connection = await call(router, 'tcp.connect', { host: '127.0.0.1', port });
    await setRules(
      connection.id,
      [
        bytesRule('slow', 'contains', text('slow'), text('late'), { delayMs: 300 }),
        bytesRule('fast', 'contains', text('fast'), text('early ')),
      ],
      'all',
    );
    // The rules are set after the connection opened: the server speaks once told they are.
    await call(router, 'connection.send', { id: connection.id, payload: text('go') });
    expect(await python.exited).toBe(0);
    expect(python.lines.at(-1)).toBe('early late');
  });
});

describe('auto-reply: failures', () => {
  it('a reply the connection can no longer take is recorded on the rule, not thrown', async () => {
    const listener = await tcpListener();
    await setRules(listener.id, [
      bytesRule('late', 'contains', text('bye'), text('too late'), { delayMs: 200 }),
    ]);
    const peer = await client(listener);
    peer.socket.write('bye');
    const accepted = await waitUntil('the message read', () =>
      fresh.engine.list().find((e) => e.parentId === listener.id && e.counters.bytesIn === 3),
    );
    // The connection is gone before the rule's delay is over.
    await call(router, 'connection.close', { id: accepted.id });
    const state = await eventually('the failed reply', async () => {
      const { states } = await call(router, 'rules.get', { id: listener.id });
      return states[0]?.lastError ? states[0] : undefined;
    });
    expect(state).toMatchObject({ hits: 1, lastError: { code: 'NOT_WRITABLE' } });
    // The engine goes on: a new connection is answered.
    await setRules(listener.id, [bytesRule('now', 'contains', text('hi'), text('hello'))]);
    await exchange(await client(listener), 'hi', 'hello');
  });
});

describe('auto-reply: rules.set', () => {
  it('keeps hit counters by rule id across a new list, and tells every view', async () => {
    const events: AnyEvent[] = [];
    const view = fresh.engine.openView((event) => events.push(event));
    const listener = await tcpListener();
    await setRules(listener.id, [
      bytesRule('a', 'contains', text('a'), text('A')),
      bytesRule('b', 'contains', text('b'), text('B')),
    ]);
    const peer = await client(listener);
    await exchange(peer, 'a', 'A');
    await exchange(peer, 'a', 'AA');
    await exchange(peer, 'b', 'AAB');
    const after = await setRules(listener.id, [
      bytesRule('a', 'contains', text('a'), text('new A')),
      bytesRule('c', 'contains', text('c'), text('C')),
    ]);
    expect(after.states.map((s) => [s.id, s.hits])).toEqual([
      ['a', 2],
      ['c', 0],
    ]);
    await exchange(peer, 'a', 'AABnew A');
    expect((await call(router, 'rules.get', { id: listener.id })).states[0]).toMatchObject({
      hits: 3,
    });
    await waitUntil('a rules.hits with the third hit', () =>
      events.some((e) => e.event === 'rules.hits' && e.payload.states[0]?.hits === 3),
    );
    view.close();
  });

  it('refuses a bad regex naming the rule, and keeps the rules it had', async () => {
    const listener = await tcpListener();
    await setRules(listener.id, [bytesRule('keep', 'contains', text('a'), text('A'))]);
    const error = await refusal(router, 'rules.set', {
      id: listener.id,
      rules: [
        bytesRule('fine', 'contains', text('b'), text('B')),
        regexRule('broken', '(unclosed', text('x')),
      ],
    });
    expect(error.code).toBe('BAD_PATTERN');
    expect(error.message).toContain('Rule "broken"');
    const { rules } = await call(router, 'rules.get', { id: listener.id });
    expect(rules.map((r) => r.id)).toEqual(['keep']);
    const peer = await client(listener);
    await exchange(peer, 'a', 'A');
  });

  it('sets no rules on an accepted connection (they belong to its listener)', async () => {
    const listener = await tcpListener();
    await client(listener);
    const accepted = await waitUntil('accepted', () =>
      fresh.engine.list().find((e) => e.parentId === listener.id),
    );
    const error = await refusal(router, 'rules.get', { id: accepted.id });
    expect(error.code).toBe('WRONG_ENDPOINT_KIND');
  });
});

describe('auto-reply: a catastrophic regex cannot hold the engine', () => {
  it('(x+x+)+y over 100 KB of x: another connection is answered, and nothing matched', async () => {
    const flooded = await tcpListener();
    await setRules(flooded.id, [regexRule('redos', '(x+x+)+y', text('matched'))]);
    const other = await tcpListener();
    await setRules(other.id, [bytesRule('probe', 'exact', text('probe'), text('answer'))]);
    const flooder = await client(flooded);
    const prober = await client(other);
    // All 100 KB are written before the probe: the probe's answer comes after the engine has
    // read (and matched) what reached it by then, and the rest of the flood is read after.
    await new Promise<void>((resolve) =>
      flooder.socket.write(Buffer.alloc(100_000, 'x'), () => resolve()),
    );
    await exchange(prober, 'probe', 'answer');
    const accepted = await waitUntil('the flood read', () =>
      fresh.engine.list().find((e) => e.parentId === flooded.id && e.counters.bytesIn === 100_000),
    );
    expect(accepted.counters.bytesIn).toBe(100_000);
    const { states } = await call(router, 'rules.get', { id: flooded.id });
    expect(states[0]).toMatchObject({ hits: 0, lastHitAt: null });
    expect(flooder.received().length).toBe(0);
  });

  it('(a+)+$ over a UDP datagram of 60,000 a and one !: the engine answers another peer', async () => {
    const udp = await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
    await setRules(udp.id, [
      regexRule('redos', '(a+)+$', text('matched')),
      bytesRule('probe', 'exact', text('probe'), text('answer')),
    ]);
    // One datagram is one read, so the pattern sees the whole of it, '!' at the end and all.
    const python = startPythonPeer(
      [
        'import socket, sys',
        'addr = ("127.0.0.1", int(sys.argv[1]))',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        's.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)',
        's.settimeout(10)',
        "s.sendto(b'a' * 60000 + b'!', addr)",
        "s.sendto(b'probe', addr)",
        'print(s.recvfrom(100)[0].decode(), flush=True)',
      ].join('\n'),
      [portOf(udp)],
    );
    expect(await python.exited).toBe(0);
    expect(python.lines).toEqual(['answer']);
    const { states } = await call(router, 'rules.get', { id: udp.id });
    expect(states.map((s) => s.hits)).toEqual([0, 1]);
    expect(fresh.engine.info(udp.id).counters.bytesIn).toBe(60_006);
  });
});

describe('auto-reply: brakes', () => {
  // A loop on a loaded machine may run slower than the default 1,000 a second: a lower brake
  // proves the same mechanism whatever the load.
  it('two UDP sockets whose rules answer each other: the loop stops, and the rule says why', async () => {
    const engine = new Engine({ ruleRepliesPerSecond: 50 });
    const router = createRouter(engine);
    const setRules = (id: string, rules: RuleInput[]) =>
      call(router, 'rules.set', { id, mode: 'first', rules });
    after.push(() => engine.dispose());
    const a = await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
    const b = await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
    await setRules(a.id, [bytesRule('echo', 'contains', text('ping'), text('ping'))]);
    await setRules(b.id, [bytesRule('echo', 'contains', text('ping'), text('ping'))]);
    await call(router, 'udp.send', {
      id: a.id,
      host: '127.0.0.1',
      port: portOf(b),
      payload: text('ping'),
    });
    const rules = async (id: string) => call(router, 'rules.get', { id });
    await eventually('a rule turned itself off', async () => {
      const [ra, rb] = [await rules(a.id), await rules(b.id)];
      const off = [...ra.rules, ...rb.rules].some((rule) => !rule.enabled);
      return off ? true : undefined;
    });
    const [ra, rb] = [await rules(a.id), await rules(b.id)];
    const stopped = [...ra.states, ...rb.states].find((s) => s.lastError !== null);
    expect(stopped?.lastError?.code).toBe('REPLY_RATE_LIMIT');
    // The owner's timeline says so too, with the rule's name and the reason.
    const ruleOff = [a, b]
      .flatMap((udp) => engine.info(udp.id).timeline)
      .filter((entry) => entry.event === 'rule-off');
    expect(ruleOff).toHaveLength(1);
    expect(ruleOff[0]).toMatchObject({ detail: '"echo"', error: { code: 'REPLY_RATE_LIMIT' } });
    // The loop is over: the counters stand still.
    const before = (await rules(a.id)).states[0]?.hits;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await rules(a.id)).states[0]?.hits).toBe(before);
  });

  it('a fast peer that is not one of ours is answered past the same brake', async () => {
    const engine = new Engine({ ruleRepliesPerSecond: 50 });
    const router = createRouter(engine);
    after.push(() => engine.dispose());
    const listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    await call(router, 'rules.set', {
      id: listener.id,
      mode: 'first',
      rules: [bytesRule('pong', 'exact', text('ping'), text('pong'))],
    });
    // python3 is the peer here: its address is no endpoint of the engine.
    const python = startPythonPeer(
      [
        'import socket, sys',
        "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))",
        's.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)',
        'ok = 0',
        'for _ in range(300):',
        "    s.sendall(b'ping')",
        "    if s.recv(16) == b'pong': ok += 1",
        'print(ok, flush=True)',
      ].join('\n'),
      [portOf(listener)],
    );
    expect(await python.exited).toBe(0);
    expect(python.lines).toEqual(['300']);
    const rules = await call(router, 'rules.get', { id: listener.id });
    expect(rules.rules[0]?.enabled).toBe(true);
    expect(rules.states[0]?.hits).toBe(300);
  });

  it('refuses to build a reply over the payload limit, before building it', async () => {
    const listener = await tcpListener();
    const many = '{{$0}}'.repeat(1000);
    await setRules(listener.id, [regexRule('big', '(?s).+', text(many))]);
    const peer = await client(listener);
    peer.socket.write(Buffer.alloc(64 * 1024, 0x80));
    const info = await eventually('the refusal recorded', async () => {
      const got = await call(router, 'rules.get', { id: listener.id });
      return got.states[0]?.lastError ? got : undefined;
    });
    expect(info.states[0]?.lastError?.code).toBe('PAYLOAD_TOO_LARGE');
    expect(peer.received().length).toBe(0);
  });
});
