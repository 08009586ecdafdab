/**
 * Inputs for fuzzing the router (test/unit/fuzz-router.test.ts): valid inputs for every command
 * and every notification, near-valid ones with one thing wrong, and hostile values of every kind.
 */
import fc from 'fast-check';
import type { z } from 'zod';
import {
  HALF_CLOSED_IDLE_MS_MAX,
  KEEP_CLOSED_MAX,
  MAX_CAPTURE_READ,
  MAX_CONNECTIONS_MAX,
  MIN_CAPTURE_LIMIT,
  RECEIVE_BUFFER_MAX,
  RECEIVE_BUFFER_MIN,
  SNAPSHOT_PAGE_MAX,
  FEED_WINDOW_MAX,
  FEED_WINDOW_MIN,
  FIND_PAGE_MAX,
  FIND_PATTERN_MAX,
  MAX_PAYLOAD_BYTES,
  MAX_PAYLOAD_TEXT,
  captureDirections,
  commands,
  copyFormats,
  exportFormats,
  notifications,
  textEncodings,
  type CommandName,
  type NotificationName,
} from '../../src/shared/contract';

// ---------------------------------------------------------------------------------------------
// Hostile values
// ---------------------------------------------------------------------------------------------

export const PROTOTYPE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  '__defineGetter__',
  'then',
  'toJSON',
];

function nest(depth: number, wrap: (inner: unknown) => unknown): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = wrap(value);
  return value;
}

/** Built once: generating these per run would cost more than the router does. */
const huge = [
  'a'.repeat(254),
  'x'.repeat(1 << 20),
  'conn-1'.repeat(100_000),
  '0'.repeat(MAX_PAYLOAD_TEXT + 1),
  nest(10_000, (inner) => ({ a: inner })),
  nest(10_000, (inner) => [inner]),
  nest(2_000, (inner) => ({ id: inner, payload: inner, host: inner, port: inner })),
  Array.from({ length: 100_000 }, (_, i) => `conn-${i}`),
];

/** An own property, even for "__proto__", the way JSON.parse makes one. */
export function withOwnKey(target: object, key: string, value: unknown): Record<string, unknown> {
  const copy = { ...target } as Record<string, unknown>;
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

const numbers = fc.oneof(
  fc.constantFrom(
    Number.NaN,
    Infinity,
    -Infinity,
    -0,
    0.5,
    -1,
    1.5,
    65535.5,
    65536,
    -65536,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    2 ** 53 + 2,
    1e308,
    Number.MIN_VALUE,
    Number.EPSILON,
    MAX_CAPTURE_READ + 1,
  ),
  fc.double(),
  fc.integer({ min: -100_000, max: 100_000 }),
);

const strings = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\0',
    '127.0.0.1\0',
    '127.0.0.1 ',
    '[::1]',
    '../../etc/passwd',
    'conn-1 ',
    'CONN-1',
    'conn--1',
    'conn-1\n',
    ...PROTOTYPE_KEYS,
  ),
  fc.stringMatching(/^[a-z]{1,16}-[0-9]{1,12}$/),
);

/** Objects whose keys are prototype names, built as JSON.parse builds them (own properties). */
const prototypeKeyed = fc
  .array(fc.tuple(fc.constantFrom(...PROTOTYPE_KEYS), fc.jsonValue({ maxDepth: 2 })), {
    minLength: 1,
    maxLength: 3,
  })
  .map((entries) => entries.reduce<object>((o, [k, v]) => withOwnKey(o, k, v), {}));

/** Hostile values short of huge ones (cheap to generate and to reject). */
export const hostileSmall: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: numbers, weight: 24 },
  { arbitrary: strings, weight: 24 },
  { arbitrary: prototypeKeyed, weight: 12 },
  {
    arbitrary: fc.anything({
      maxDepth: 2,
      maxKeys: 4,
      key: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(...PROTOTYPE_KEYS)),
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withSparseArray: true,
      withNullPrototype: true,
      withObjectString: true,
    }),
    weight: 24,
  },
  {
    arbitrary: fc.constantFrom<unknown>(
      null,
      undefined,
      true,
      false,
      [],
      {},
      Symbol('hostile'),
      () => 1,
      new Uint8Array(4),
      new Date(Number.NaN),
      { [Symbol('key')]: 1 },
      Object.create(null),
    ),
    weight: 12,
  },
);

export const hostile: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: hostileSmall, weight: 96 },
  { arbitrary: fc.constantFrom(...huge), weight: 1 },
);

// ---------------------------------------------------------------------------------------------
// Valid inputs, and near-valid ones with one thing wrong
// ---------------------------------------------------------------------------------------------

function validPayload() {
  return fc.oneof(
    { arbitrary: smallPayload(), weight: 1000 },
    // Rarely, the largest payloads: a MiB to send, and one just over the decoded limit.
    {
      arbitrary: fc.constantFrom(
        { format: 'hex' as const, data: 'ab'.repeat(1 << 20) },
        { format: 'base64' as const, data: 'A'.repeat((4 * (MAX_PAYLOAD_BYTES + 2)) / 3) },
      ),
      weight: 1,
    },
  );
}

function smallPayload() {
  return fc.oneof(
    fc.record(
      {
        format: fc.constant('text' as const),
        data: fc.oneof(
          fc.string({ maxLength: 30 }),
          fc.constantFrom('hello\\r\\n', '\\x00\\xff', '\\q', '\\', 'é', '你好', '😀'),
        ),
        encoding: fc.constantFrom(...textEncodings),
      },
      { requiredKeys: ['format', 'data'] },
    ),
    fc.record({
      format: fc.constant('hex' as const),
      data: fc
        .tuple(fc.uint8Array({ maxLength: 24 }), fc.constantFrom('', ' ', ':', ', 0x'))
        .map(([bytes, separator]) =>
          [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(separator),
        ),
    }),
    fc.record({
      format: fc.constant('base64' as const),
      data: fc.uint8Array({ maxLength: 24 }).map((bytes) => Buffer.from(bytes).toString('base64')),
    }),
  );
}

/** A feed or query number: small ones (likely in use), and the largest there is. */
const handle = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 8 }), weight: 8 },
  { arbitrary: fc.integer({ min: 1, max: 1_000_000 }), weight: 1 },
  { arbitrary: fc.constant(Number.MAX_SAFE_INTEGER), weight: 1 },
);

/** A capture offset: near the start of a small capture, or far past any end. */
const offset = fc.oneof(fc.nat(1000), fc.constant(Number.MAX_SAFE_INTEGER));

/** What capture.find looks for: a payload's bytes, or an RE2 pattern (valid or not for RE2). */
function findQuery() {
  return fc.oneof(
    fc.record(
      { kind: fc.constant('payload' as const), payload: smallPayload(), ignoreCase: fc.boolean() },
      { requiredKeys: ['kind', 'payload'] },
    ),
    fc.record(
      {
        kind: fc.constant('regex' as const),
        pattern: fc.oneof(
          fc.string({ minLength: 1, maxLength: 20 }),
          fc.constantFrom(
            'fixture',
            'b.t',
            '(a|b)*c',
            '\\d{3}',
            '(?i)BYTES',
            '^',
            '$',
            '\\x00',
            // Catastrophic for a backtracking engine, linear for RE2.
            '(a*)*b',
            '(x+x+)+y',
            // Not RE2: backreferences and lookarounds; unbalanced.
            '(a)\\1',
            '(?=a)',
            '[',
            'x'.repeat(FIND_PATTERN_MAX),
          ),
        ),
        encoding: fc.constantFrom(...textEncodings),
        ignoreCase: fc.boolean(),
      },
      { requiredKeys: ['kind', 'pattern'] },
    ),
  );
}

/**
 * A valid input for each command. Ids are drawn from `ids` (endpoints that exist), `placeholder`
 * (for the test to replace), or ones that exist nowhere.
 */
export function validInput(
  command: CommandName,
  ids: string[],
  placeholder: string,
): fc.Arbitrary<Record<string, unknown>> {
  const id = fc.oneof(
    fc.constantFrom(...ids),
    fc.constant(placeholder),
    fc.stringMatching(/^[a-z]{1,16}-[0-9]{9,12}$/),
  );
  const host = fc.oneof(
    fc.constantFrom('127.0.0.1', '::1', 'localhost', 'example.com', '0.0.0.0'),
    fc.stringMatching(/^[A-Za-z0-9.:%_-]{1,20}$/),
  );
  const port = fc.integer({ min: 0, max: 65535 });
  const remotePort = fc.integer({ min: 1, max: 65535 });
  const socketPath = fc.stringMatching(/^[a-z/._-]{1,40}$/);
  const flag = fc.boolean();
  const listenerLimits = {
    maxConnections: fc.integer({ min: 1, max: MAX_CONNECTIONS_MAX }),
    halfClosedIdleMs: fc.integer({ min: 0, max: HALF_CLOSED_IDLE_MS_MAX }),
    keepClosed: fc.integer({ min: 0, max: KEEP_CLOSED_MAX }),
  };
  const sendTarget = fc.oneof(
    fc.record({ kind: fc.constantFrom('connection' as const, 'broadcast' as const), id }),
    fc.record({ kind: fc.constant('datagram' as const), id, host, port: remotePort }),
  );
  const jobId = fc.oneof(fc.stringMatching(/^job-[0-9]{1,4}$/), fc.string({ maxLength: 10 }));
  /** What capture.export and capture.download share: the endpoints and how to write them. */
  const exportRequest = {
    ids: fc.array(id, { minLength: 1, maxLength: 3 }),
    withConnections: flag,
    format: fc.constantFrom(...exportFormats),
    direction: fc.constantFrom(...captureDirections),
    range: fc.option(fc.record({ start: fc.nat(100), end: fc.integer({ min: 101, max: 200 }) }), {
      nil: undefined,
    }),
  };
  const shapes: { [C in CommandName]: Record<string, fc.Arbitrary<unknown>> } = {
    'session.snapshot': {
      cursor: fc.oneof(fc.nat(1000), fc.constant(Number.MAX_SAFE_INTEGER)),
      limit: fc.integer({ min: 1, max: SNAPSHOT_PAGE_MAX }),
    },
    'engine.status': {},
    // A floor of a few bytes never stops the capture of the engine under test.
    'capture.configure': {
      limitBytes: fc.oneof(fc.constant(null), fc.integer({ min: MIN_CAPTURE_LIMIT, max: 2 ** 40 })),
      floorBytes: fc.nat(4096),
    },
    'tcp.listen': { host, port, backlog: port, allowHalfOpen: flag, ...listenerLimits },
    'tcp.connect': {
      host,
      port: remotePort,
      timeoutMs: fc.integer({ min: 1, max: 600_000 }),
      noDelay: flag,
      keepAlive: flag,
      allowHalfOpen: flag,
    },
    'unix.listen': {
      path: socketPath,
      backlog: port,
      allowHalfOpen: flag,
      removeStale: flag,
      ...listenerLimits,
    },
    'unix.connect': {
      path: socketPath,
      timeoutMs: fc.integer({ min: 1, max: 600_000 }),
      allowHalfOpen: flag,
    },
    'udp.bind': {
      host,
      port,
      receiveBufferSize: fc.integer({ min: RECEIVE_BUFFER_MIN, max: RECEIVE_BUFFER_MAX }),
    },
    'udp.send': { id, host, port: remotePort, payload: validPayload() },
    'connection.send': { id, payload: validPayload() },
    'connection.halfClose': { id },
    'connection.close': { id },
    'connection.reset': { id },
    'connection.pauseReading': { id },
    'connection.resumeReading': { id },
    'connection.setOptions': { id, noDelay: flag, keepAlive: flag, allowHalfOpen: flag },
    'listener.broadcast': { id, payload: validPayload() },
    'listener.stop': { id, closeConnections: flag },
    'udp.close': { id },
    'endpoint.forget': { id },
    'capture.read': {
      id,
      offset: fc.oneof(fc.nat(1000), fc.constant(Number.MAX_SAFE_INTEGER)),
      length: fc.integer({ min: 1, max: MAX_CAPTURE_READ }),
    },
    'feed.open': {
      feed: handle,
      id,
      windowBytes: fc.integer({ min: FEED_WINDOW_MIN, max: FEED_WINDOW_MAX }),
    },
    'capture.find': {
      query: handle,
      id,
      find: findQuery(),
      direction: fc.constantFrom(...captureDirections),
      from: offset,
      maxMatches: fc.integer({ min: 1, max: FIND_PAGE_MAX }),
    },
    'capture.copy': {
      query: fc.integer({ min: 1, max: 3 }),
      id,
      from: offset,
      to: offset,
      direction: fc.constantFrom(...captureDirections),
      format: fc.constantFrom(...copyFormats),
      encoding: fc.constantFrom(...textEncodings),
    },
    'capture.download': {
      ...exportRequest,
      name: fc.constantFrom('capture.pcapng', 'a/b.bin', '.hidden.txt', 'x'),
    },
    // Paths that can never be written (a folder, a missing folder, a relative path): a fuzz run
    // must not leave files behind.
    'capture.export': {
      ...exportRequest,
      path: fc.constantFrom('/', '/nonexistent-folder/export.pcapng', 'relative.pcapng'),
      overwrite: flag,
    },
    'payload.encode': { payload: validPayload() },
    'library.list': {},
    'library.save': {
      item: fc.record({
        id: fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/),
        name: fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ]{0,20}$/),
        payload: validPayload(),
      }),
    },
    'library.delete': { id: fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/) },
    'library.import': {
      json: fc.oneof(
        fc.constant('{"format":"socket-workbench-payloads","version":1,"items":[]}'),
        fc.string({ maxLength: 40 }),
      ),
      mode: fc.constantFrom('merge' as const, 'replace' as const),
    },
    'library.export': {},
    // Short jobs only: a fuzz run must not leave timers sending for ever.
    'send.repeat': {
      target: sendTarget,
      payload: validPayload(),
      intervalMs: fc.integer({ min: 1, max: 20 }),
      count: fc.integer({ min: 1, max: 3 }),
    },
    'send.sequence': {
      target: sendTarget,
      steps: fc.array(fc.record({ payload: validPayload(), delayMs: fc.nat(5) }), {
        minLength: 1,
        maxLength: 3,
      }),
      repeat: fc.integer({ min: 1, max: 2 }),
    },
    'send.file': {
      target: sendTarget,
      path: fc.constantFrom('/dev/null', '/nonexistent/file', 'relative.bin'),
      chunkBytes: fc.integer({ min: 1, max: 4096 }),
      intervalMs: fc.nat(5),
    },
    'job.list': {},
    'job.pause': { job: jobId },
    'job.resume': { job: jobId },
    'job.stop': { job: jobId },
    'rules.get': { id },
    'rules.set': {
      id,
      mode: fc.constantFrom('first' as const, 'all' as const),
      rules: fc.array(
        fc.record({
          id: fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/),
          match: fc.oneof(
            fc.record({
              mode: fc.constantFrom('exact' as const, 'contains' as const, 'starts' as const),
              payload: validPayload(),
            }),
            fc.record({
              mode: fc.constant('regex' as const),
              pattern: fc.constantFrom('a+', '(x+x+)+y', '['),
            }),
          ),
          reply: validPayload(),
        }),
        { maxLength: 3 },
      ),
    },
    // Paths that cannot hold a workspace: a fuzzed save or open never writes or opens one.
    'workspace.get': {},
    'workspace.save': {
      path: fc.constantFrom('/nonexistent/dir/w.json', 'relative.json', '/dev/null', 'w.txt'),
      view: fc.record({
        mode: fc.constantFrom('text' as const, 'hex' as const, 'both' as const),
        decoding: fc.constantFrom(...textEncodings),
        timestamps: flag,
      }),
    },
    'workspace.open': {
      path: fc.constantFrom('/nonexistent/dir/w.json', 'relative.json', '/dev/null', 'w.txt'),
    },
    'workspace.settings': { reopenOnStart: flag },
    // Paths that hold no capture: a fuzzed open never replays one into the engine under test.
    'capture.open': {
      path: fc.constantFrom('/nonexistent/capture', 'relative.pcapng', '/dev/null'),
    },
    'kernel.sample': { ids: fc.array(id, { minLength: 1, maxLength: 4 }) },
    'traffic.history': { id },
  };
  const shape = shapes[command];
  // Fields with a default (or optional ones) may be left out; the others are required.
  const fields = (commands[command].input as unknown as { shape: Record<string, z.ZodType> }).shape;
  const required = Object.keys(shape).filter((key) => !fields[key]?.safeParse(undefined).success);
  return fc.record(shape, { requiredKeys: required }) as fc.Arbitrary<Record<string, unknown>>;
}

/** A valid input for each notification (feed and query numbers, in use or not). */
export function validNotification(name: NotificationName): fc.Arbitrary<Record<string, unknown>> {
  const shapes: { [N in NotificationName]: Record<string, fc.Arbitrary<unknown>> } = {
    'feed.ack': {
      feed: handle,
      bytes: fc.oneof(fc.nat(), fc.constant(0), fc.constant(Number.MAX_SAFE_INTEGER)),
    },
    'feed.close': { feed: handle },
    'capture.cancel': { query: handle },
  };
  const shape = shapes[name];
  const fields = (notifications[name] as unknown as { shape: Record<string, z.ZodType> }).shape;
  const required = Object.keys(shape).filter((key) => !fields[key]?.safeParse(undefined).success);
  return fc.record(shape, { requiredKeys: required }) as fc.Arbitrary<Record<string, unknown>>;
}

/** Paths to every field, and to every field of a nested payload. */
function pathsOf(value: Record<string, unknown>): string[][] {
  return Object.entries(value).flatMap(([key, field]) =>
    field !== null && typeof field === 'object' && !Array.isArray(field)
      ? [[key], ...Object.keys(field).map((inner) => [key, inner])]
      : [[key]],
  );
}

function setPath(value: Record<string, unknown>, at: string[], to: unknown, remove = false) {
  const [head, ...rest] = at as [string, ...string[]];
  const copy = { ...value };
  if (rest.length === 0) {
    if (remove) delete copy[head];
    else
      Object.defineProperty(copy, head, {
        value: to,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return copy;
  }
  copy[head] = setPath(copy[head] as Record<string, unknown>, rest, to, remove);
  return copy;
}

/** One thing wrong with an otherwise valid input. */
export function nearValid(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  return valid.chain((input) => {
    const paths = pathsOf(input);
    const options: fc.Arbitrary<unknown>[] = [
      fc
        .tuple(fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS), fc.string({ maxLength: 8 })), hostile)
        .map(([key, extra]) => withOwnKey(input, key, extra)),
      fc.constantFrom<unknown>(
        JSON.stringify(input),
        [input],
        Object.assign(Object.create(null), input),
        Object.assign(Object.create({ inherited: true }), input),
        // What JSON.parse makes of {"__proto__": ...}: an own property, not a prototype.
        withOwnKey(input, '__proto__', { polluted: true }),
      ),
    ];
    if (paths.length > 0) {
      options.push(
        fc.tuple(fc.constantFrom(...paths), hostile).map(([at, to]) => setPath(input, at, to)),
        fc.constantFrom(...paths).map((at) => setPath(input, at, undefined, true)),
      );
    }
    return fc.oneof(...options);
  });
}
