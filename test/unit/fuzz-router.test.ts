/**
 * The router against 3,000 generated inputs (FUZZ_RUNS) per command and per notification: valid ones,
 * near-valid ones with one thing wrong, and hostile ones (wrong types, huge strings, prototype
 * keys, NaN, negative and fractional numbers, deeply nested objects). Every command must be
 * answered with a correct result or a typed error, every notification accepted (null) or refused
 * with a typed error, never thrown; none may crash the router, touch an endpoint it did not name,
 * or pollute a prototype.
 *
 * Valid inputs run for real, on loopback only: whatever they would bind or dial is pointed at
 * 127.0.0.1 (port 0, or a sink this test owns) and at temporary socket paths, and whatever they
 * may close or change is an endpoint made for that run (a "victim"), never one of the fixtures.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router, type View } from '../../src/main/router';
import {
  commandNames,
  commands,
  notificationNames,
  notifications,
  type CommandName,
  type EndpointInfo,
} from '../../src/shared/contract';
import { errorCodes, type ErrorCode } from '../../src/shared/errors';
import { portOf, startSinkServer } from '../support/engine-helpers';
import {
  PROTOTYPE_KEYS,
  hostile,
  hostileSmall,
  nearValid,
  validInput,
  validNotification,
} from '../support/router-inputs';
import { connectLocalTcp } from '../support/engine';
import { connectPeer, tempDir } from '../support/peers';
import { waitUntil } from '../support/wait';

/**
 * Inputs per command. 3,000 keeps `npm test` inside CI's time (53 commands; the whole file is
 * the suite's longest); `FUZZ_RUNS=20000 npx vitest run test/unit/fuzz-router.test.ts` digs deeper.
 */
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 3_000);
const RUNS_TEXT = RUNS.toLocaleString('en-US');

/** The codes a rejected input may carry: it never reached the engine. */
const inputCodes: readonly ErrorCode[] = [
  'UNKNOWN_COMMAND',
  'INVALID_INPUT',
  'PORT_OUT_OF_RANGE',
  'INVALID_HOST',
  'INVALID_PATH',
  'INVALID_ID',
  'PAYLOAD_TOO_LARGE',
];

// ---------------------------------------------------------------------------------------------
// The engine under test, its fixtures, and the loopback targets valid inputs are sent to
// ---------------------------------------------------------------------------------------------

/** Stands for "an endpoint made for this run" in generated ids. */
const VICTIM = 'victim-1';
type VictimKind = 'client' | 'unix' | 'closed' | 'listener' | 'udp';
const victimKinds: VictimKind[] = ['client', 'unix', 'closed', 'listener', 'udp'];
/** The state a victim of each kind is made in, and must still be in to be used again. */
const victimState: Record<VictimKind, EndpointInfo['state']> = {
  client: 'open',
  unix: 'open',
  closed: 'closed',
  listener: 'listening',
  udp: 'bound',
};
/** Commands that only read: valid inputs may name the fixtures themselves. */
const readOnly = new Set<CommandName>([
  'capture.read',
  'capture.find',
  'capture.copy',
  'feed.open',
]);
/** After these, a victim is ended and replaced, so nothing it does later can blur a check. */
const destructive = new Set<CommandName>([
  'connection.halfClose',
  'connection.close',
  'connection.reset',
  'listener.stop',
  'udp.close',
  'endpoint.forget',
]);
const terminal = new Set(['closed', 'reset', 'error']);

let engine: Engine;
let router: Router;
let view: View;
let fixtureConnection: string;
let fixtures: string[];
let tcpSink: Awaited<ReturnType<typeof startSinkServer>>;
let unixSink: net.Server;
let unixSinkPath: string;
let udpSink: dgram.Socket;
let directory: string;
let peer: net.Socket;
let pathCount = 0;
const victims = new Map<VictimKind, string>();
const finishWaiters = new Map<string, () => void>();

/** Resolves when the endpoint reaches a terminal state: on its event, with no polling. */
function finished(id: string): Promise<void> {
  const info = engine.list().find((e) => e.id === id);
  if (!info || terminal.has(info.state)) return Promise.resolve();
  return new Promise((resolve) => finishWaiters.set(id, resolve));
}

beforeAll(async () => {
  engine = new Engine();
  router = createRouter(engine);
  view = router.openView(() => undefined);
  engine.openView((event) => {
    if (event.event === 'endpoint.updated' && terminal.has(event.payload.state)) {
      finishWaiters.get(event.payload.id)?.();
      finishWaiters.delete(event.payload.id);
    }
  });
  directory = tempDir();
  tcpSink = await startSinkServer();
  unixSinkPath = path.join(directory, 'sink.sock');
  unixSink = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.resume();
  });
  await new Promise<void>((resolve) => unixSink.listen(unixSinkPath, resolve));
  udpSink = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udpSink.bind(0, '127.0.0.1', resolve));

  // Fixtures: one endpoint of every kind and state, none of which any run may change.
  const listener = await engine.listenTcp({
    host: '127.0.0.1',
    port: 0,
    backlog: 8,
    allowHalfOpen: true,
  });
  peer = (await connectPeer({ host: '127.0.0.1', port: portOf(listener) })).socket;
  peer.write('fixture bytes');
  const accepted = await waitUntil('the fixture connection', () =>
    engine.list().find((e) => e.parentId === listener.id && e.counters.bytesIn === 13),
  );
  const client = await makeVictim('client');
  const closed = await makeVictim('closed');
  const udp = await makeVictim('udp');
  const unix = await engine.listenUnix({
    path: path.join(directory, 'fixture.sock'),
    backlog: 8,
    allowHalfOpen: true,
    removeStale: false,
  });
  fixtures = [listener.id, accepted.id, client, closed, udp, unix.id];
  fixtureConnection = accepted.id;
});

afterAll(async () => {
  view.close();
  peer.destroy();
  await engine.dispose();
  await tcpSink.close();
  await new Promise<void>((resolve) => unixSink.close(() => resolve()));
  udpSink.close();
  fs.rmSync(directory, { recursive: true, force: true });
});

/** What must not change, in short: everything but the send queue, which drains on its own. */
function signature(list: EndpointInfo[], skip?: string | null): string {
  let text = '';
  for (const e of list) {
    if (e.id === skip) continue;
    const c = e.counters;
    text +=
      `${e.id} ${e.state} ${c.bytesIn} ${c.bytesOut} ${c.chunksIn} ${c.chunksOut} ` +
      `${e.timeline.length} ${e.readingPaused} ${e.openConnections} ${e.options.noDelay} ` +
      `${e.options.keepAlive} ${e.options.allowHalfOpen} ${e.error?.code}\n`;
  }
  return text;
}

async function makeVictim(kind: VictimKind): Promise<string> {
  switch (kind) {
    case 'listener':
      return (
        await engine.listenTcp({ host: '127.0.0.1', port: 0, backlog: 8, allowHalfOpen: true })
      ).id;
    case 'udp':
      return (await engine.bindUdp({ host: '127.0.0.1', port: 0 })).id;
    case 'unix':
      return (
        await engine.connectUnix({ path: unixSinkPath, timeoutMs: 5000, allowHalfOpen: true })
      ).id;
    case 'client':
    case 'closed': {
      const { id } = await connectLocalTcp(engine, tcpSink.port);
      if (kind === 'closed') {
        engine.close(id);
        await finished(id);
      }
      return id;
    }
  }
}

/** A victim of this kind in the state it was made in: the one from before, or a new one. */
async function victim(kind: VictimKind): Promise<string> {
  const id = victims.get(kind);
  const info = id === undefined ? undefined : engine.list().find((e) => e.id === id);
  if (id !== undefined && info?.state === victimState[kind]) return id;
  if (id !== undefined) await retire(id);
  const made = await makeVictim(kind);
  victims.set(kind, made);
  return made;
}

/** Ends an endpoint a run made or was allowed to touch, and drops it from the engine. */
async function retire(id: string): Promise<void> {
  const info = engine.list().find((e) => e.id === id);
  if (!info) return;
  if (info.role === 'listener') await engine.stopListener(id, true);
  else if (info.role === 'udp') engine.closeUdp(id);
  else engine.close(id);
  await finished(id);
  engine.forget(id);
}

/** Points whatever a valid input would bind, dial or change at loopback and at a victim. */
async function aim(
  command: CommandName,
  input: Record<string, unknown>,
  kind: VictimKind,
): Promise<{ input: unknown; target: string | null }> {
  const aimed = { ...input };
  if ('host' in aimed) aimed.host = '127.0.0.1';
  if (command === 'tcp.listen' || command === 'udp.bind') aimed.port = 0;
  if (command === 'tcp.connect') aimed.port = tcpSink.port;
  if (command === 'udp.send') aimed.port = udpSink.address().port;
  if (command === 'unix.listen') aimed.path = path.join(directory, `l${pathCount++}.sock`);
  if (command === 'unix.connect') aimed.path = unixSinkPath;
  const id = aimed.id;
  if (
    typeof id === 'string' &&
    (id === VICTIM || (fixtures.includes(id) && !readOnly.has(command)))
  ) {
    aimed.id = await victim(kind);
    return { input: aimed, target: aimed.id as string };
  }
  // A send job names its endpoint inside `target` (send.repeat, send.sequence, send.file).
  const nested = aimed.target;
  if (typeof nested === 'object' && nested !== null && 'id' in nested) {
    const aimedTarget: Record<string, unknown> = { ...nested, id: await victim(kind) };
    if ('host' in aimedTarget) aimedTarget.host = '127.0.0.1';
    if ('port' in aimedTarget) aimedTarget.port = udpSink.address().port;
    aimed.target = aimedTarget;
    return { input: aimed, target: aimedTarget.id as string };
  }
  return { input: aimed, target: null };
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const prototypesBefore = [Object.prototype, Array.prototype, Function.prototype].map(
  (p) => Object.getOwnPropertyNames(p).length,
);

function assertNoPollution() {
  for (const key in {}) throw new Error(`Object.prototype was polluted with ${key}`);
  for (const key in []) throw new Error(`Array.prototype was polluted with ${key}`);
  const now = [Object.prototype, Array.prototype, Function.prototype].map(
    (p) => Object.getOwnPropertyNames(p).length,
  );
  assert(now.join() === prototypesBefore.join(), 'a prototype gained a property');
}

type Result =
  | { ok: true; value: unknown }
  | { ok: false; error: { code: ErrorCode; message: string; position?: number } };

function assertWellFormed(result: unknown): asserts result is Result {
  assert(typeof result === 'object' && result !== null, 'the result is not an object');
  const r = result as { ok: unknown; error?: Record<string, unknown> };
  if (r.ok === true) return;
  assert(r.ok === false, `ok is ${String(r.ok)}`);
  const { code, message, position } = r.error ?? {};
  assert(errorCodes.includes(code as ErrorCode), `unknown error code ${String(code)}`);
  assert(typeof message === 'string' && message.length > 0, 'an empty message');
  // A sentence for a person, never a stack trace.
  assert(!/\n\s+at /.test(message), `a stack trace in ${message}`);
  assert(position === undefined || Number.isInteger(position), `position ${String(position)}`);
}

async function runOne(
  command: CommandName,
  generated: unknown,
  kind: VictimKind,
  withView: boolean,
) {
  const oracle = commands[command].input.safeParse(generated);
  let sent: unknown = generated;
  let target: string | null = null;
  if (oracle.success) {
    ({ input: sent, target } = await aim(command, generated as Record<string, unknown>, kind));
  }
  const before = engine.list();
  const result = await router.invoke(command, sent, withView ? view : undefined);
  assertWellFormed(result);
  if (!oracle.success) {
    // Rejected before the engine: a validation code, and not one endpoint touched.
    assert(!result.ok, 'an invalid input was accepted');
    assert(inputCodes.includes(result.error.code), `${result.error.code} for an invalid input`);
    assert(signature(engine.list()) === signature(before), 'an invalid input changed the engine');
  } else {
    if (result.ok) {
      const output = commands[command].output.safeParse(result.value);
      assert(output.success, `a malformed result: ${JSON.stringify(output.error?.issues)}`);
    } else {
      // INTERNAL is what an engine failure nobody anticipated turns into.
      assert(result.error.code !== 'INTERNAL', `${command}: INTERNAL ${result.error.message}`);
    }
    // A feed the run opened is closed again, so later runs can open that number too.
    if (command === 'feed.open' && result.ok && withView) {
      view.closeFeed((sent as { feed: number }).feed);
    }
    // A send job the run started ends with it (stop, then stop again to forget it), so it
    // cannot send during a later run; a datagram it handed to the kernel just before is
    // captured when dgram calls back, so give those a moment.
    const jobs = engine.jobs.list();
    for (const job of jobs) {
      engine.jobs.stop(job.id);
      if (engine.jobs.list().some((j) => j.id === job.id)) engine.jobs.stop(job.id);
    }
    if (jobs.length > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // Whatever the run made goes away again, the victim too if it may have changed for good.
    for (const endpoint of engine.list()) {
      if (!before.some((b) => b.id === endpoint.id)) await retire(endpoint.id);
    }
    if (target !== null && destructive.has(command)) await retire(target);
    assert(
      signature(engine.list(), target) === signature(before, target),
      `${command} changed an endpoint it did not name`,
    );
  }
  assertNoPollution();
}

describe('router fuzzing', () => {
  it.each(commandNames.map((name) => [name]))(
    `%s: ${RUNS_TEXT} inputs, each a result or a typed error, nothing else touched`,
    async (command) => {
      const valid = validInput(command, fixtures, VICTIM);
      const input = fc.oneof(
        { arbitrary: valid, weight: 1 },
        { arbitrary: nearValid(valid), weight: 6 },
        { arbitrary: hostile, weight: 3 },
      );
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(
          input,
          fc.constantFrom(...victimKinds),
          fc.boolean(),
          async (generated, kind, withView) => {
            if (commands[command].input.safeParse(generated).success) accepted += 1;
            await runOne(command, generated, kind, withView);
          },
        ),
        { numRuns: RUNS },
      );
      // Both sides of the schema were exercised, not only rejections.
      expect(accepted).toBeGreaterThan(RUNS / 50);
      expect(accepted).toBeLessThan(RUNS);
    },
    120_000,
  );

  it(`answers ${RUNS_TEXT} unknown command names, prototype names among them, with UNKNOWN_COMMAND`, async () => {
    const before = signature(engine.list());
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { arbitrary: hostileSmall, weight: 100 },
          {
            arbitrary: fc.constantFrom(...PROTOTYPE_KEYS, 'tcp.listen ', 'TCP.LISTEN', 'tcp', ''),
            weight: 100,
          },
          // The router quotes a bad name back: a huge one must not become a huge message.
          {
            arbitrary: fc.constantFrom('x'.repeat(1 << 20), `tcp.listen${'\0'.repeat(1000)}`),
            weight: 1,
          },
        ),
        hostile,
        async (command, input) => {
          fc.pre(!(commandNames as unknown[]).includes(command));
          const result = await router.invoke(command, input);
          assertWellFormed(result);
          assert(!result.ok && result.error.code === 'UNKNOWN_COMMAND', 'not UNKNOWN_COMMAND');
          assert(result.error.message.length < 200, 'the message quotes too much of the name');
        },
      ),
      { numRuns: RUNS },
    );
    expect(signature(engine.list())).toBe(before);
    assertNoPollution();
  });

  it.each(notificationNames.map((name) => [name]))(
    `notification %s: ${RUNS_TEXT} inputs, each accepted or refused with a typed error, never thrown`,
    (name) => {
      const valid = validNotification(name);
      const input = fc.oneof(
        { arbitrary: valid, weight: 2 },
        { arbitrary: nearValid(valid), weight: 5 },
        { arbitrary: hostile, weight: 3 },
      );
      let accepted = 0;
      const before = signature(engine.list());
      fc.assert(
        fc.property(input, (generated) => {
          // A fresh page per run, with feeds 1 and 2 open on a fixture and query 1 running: valid
          // inputs meet feeds and queries that exist as well as ones that do not.
          const page = router.openView(() => undefined);
          page.openFeed(1, fixtureConnection);
          page.openFeed(2, fixtureConnection, 4096);
          let cancelled = false;
          void page.runQuery(
            1,
            (signal) =>
              new Promise<void>((resolve) =>
                signal.addEventListener('abort', () => {
                  cancelled = true;
                  resolve();
                }),
              ),
          );
          try {
            const oracle = notifications[name].safeParse(generated);
            let answer: unknown;
            try {
              answer = router.notify(name, generated, page);
            } catch (error) {
              throw new Error(`notify threw: ${String(error)}`, { cause: error });
            }
            if (oracle.success) {
              accepted += 1;
              assert(answer === null, `a valid ${name} was refused: ${JSON.stringify(answer)}`);
              const { query } = oracle.data as { query?: number };
              if (name === 'capture.cancel') {
                assert(
                  cancelled === (query === 1),
                  `cancel of query ${query} aborted ${cancelled}`,
                );
              }
              if (name === 'feed.close') {
                const { feed } = oracle.data as { feed: number };
                // A closed number is free again, the other feed stays open.
                for (const n of [1, 2]) {
                  let inUse = false;
                  try {
                    page.openFeed(n, fixtureConnection);
                  } catch {
                    inUse = true;
                  }
                  assert(inUse === (n !== feed), `feed ${n} after closing feed ${feed}`);
                }
              }
            } else {
              assertWellFormed({ ok: false, error: answer });
              const code = (answer as { code: ErrorCode }).code;
              assert(inputCodes.includes(code), `${code} for an invalid ${name}`);
              assert(!cancelled, 'an invalid notification cancelled a query');
            }
            assert(page.watches(fixtureConnection), 'the page lost its feeds');
          } finally {
            page.close();
          }
        }),
        { numRuns: RUNS },
      );
      expect(accepted).toBeGreaterThan(RUNS / 50);
      expect(accepted).toBeLessThan(RUNS);
      expect(signature(engine.list())).toBe(before);
      assertNoPollution();
    },
    120_000,
  );

  it('refuses 10,000 unknown notification names, commands among them, with UNKNOWN_COMMAND', () => {
    const before = signature(engine.list());
    const page = router.openView(() => undefined);
    fc.assert(
      fc.property(
        fc.oneof(
          { arbitrary: hostileSmall, weight: 100 },
          {
            arbitrary: fc.constantFrom(
              ...PROTOTYPE_KEYS,
              ...commandNames,
              'feed.ack ',
              'FEED.ACK',
              'feed',
              '',
            ),
            weight: 100,
          },
          {
            arbitrary: fc.constantFrom('x'.repeat(1 << 20), `feed.ack${'\0'.repeat(1000)}`),
            weight: 1,
          },
        ),
        hostile,
        (name, input) => {
          fc.pre(!(notificationNames as unknown[]).includes(name));
          const answer = router.notify(name, input, page);
          assertWellFormed({ ok: false, error: answer });
          assert(answer?.code === 'UNKNOWN_COMMAND', `not UNKNOWN_COMMAND: ${answer?.code}`);
          assert(answer.message.length < 200, 'the message quotes too much of the name');
        },
      ),
      { numRuns: RUNS },
    );
    page.close();
    expect(signature(engine.list())).toBe(before);
    assertNoPollution();
  });

  // Found by this fuzzer: a second close() of a UDP socket, before the first had finished,
  // threw from dgram and reached the user as INTERNAL "Not running".
  it('closes a UDP socket twice in a row, and refuses to send on it, with typed answers', async () => {
    const udp = await engine.bindUdp({ host: '127.0.0.1', port: 0 });
    expect(await router.invoke('udp.close', { id: udp.id })).toEqual({
      ok: true,
      value: { ok: true },
    });
    expect(await router.invoke('udp.close', { id: udp.id })).toEqual({
      ok: true,
      value: { ok: true },
    });
    const send = await router.invoke('udp.send', {
      id: udp.id,
      host: '127.0.0.1',
      port: udpSink.address().port,
      payload: { format: 'text', data: 'late' },
    });
    expect(send).toMatchObject({ ok: false, error: { code: 'NOT_OPEN' } });
    await finished(udp.id);
    engine.forget(udp.id);
  });

  // Found by this fuzzer: a datagram over the UDP limit came back as INTERNAL "send EMSGSIZE",
  // and a reset of a Unix-domain connection as INTERNAL "This handle type cannot be sent" (after
  // the timeline already said "reset" and with the socket left open).
  it('refuses a datagram over the UDP limit and a reset of a Unix connection, with typed errors', async () => {
    const udp = await engine.bindUdp({ host: '127.0.0.1', port: 0 });
    const datagram = (bytes: number) =>
      router.invoke('udp.send', {
        id: udp.id,
        host: '127.0.0.1',
        port: udpSink.address().port,
        payload: { format: 'hex', data: 'ab'.repeat(bytes) },
      });
    expect(await datagram(65_507)).toEqual({ ok: true, value: { bytes: 65_507 } });
    const tooBig = await datagram(65_508);
    expect(tooBig).toMatchObject({ ok: false, error: { code: 'PAYLOAD_TOO_LARGE' } });
    await retire(udp.id);

    const unix = await engine.connectUnix({
      path: unixSinkPath,
      timeoutMs: 5000,
      allowHalfOpen: true,
    });
    const reset = await router.invoke('connection.reset', { id: unix.id });
    expect(reset).toMatchObject({ ok: false, error: { code: 'WRONG_ENDPOINT_KIND' } });
    expect(engine.info(unix.id).state).toBe('open');
    await retire(unix.id);
  });
});
