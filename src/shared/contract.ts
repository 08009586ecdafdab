/**
 * The one contract between the engine (main process or serve) and the UI.
 *
 * Three kinds of message, each declared here once with a zod schema: commands (UI -> engine,
 * request -> response), notifications (UI -> engine, one-way, no reply: a feed's ack, a capture
 * query's cancel) and events (engine -> UI). The router validates every input at runtime; every
 * TypeScript type below is inferred from a schema, so main, preload and renderer cannot drift.
 */
import { z } from 'zod';
import {
  BACKLOG_MAX,
  HOST_LENGTH_MAX,
  PORT_MAX,
  SOCKET_PATH_LENGTH_MAX,
  TIMEOUT_MS_MAX,
  TIMEOUT_MS_MIN,
} from './domain';
import { checksumSpecSchema } from './checksum';
import { userErrorSchema, type ErrorCode, type UserError } from './errors';

/** Largest payload one send may carry, after decoding (bytes). */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Largest payload text accepted before decoding (hex needs ~3 characters a byte). */
export const MAX_PAYLOAD_TEXT = 3 * MAX_PAYLOAD_BYTES + 1024;
/** Largest range one capture read returns. */
export const MAX_CAPTURE_READ = 4 * 1024 * 1024;
/** The smallest capture limit a user may set. */
export const MIN_CAPTURE_LIMIT = 1024 * 1024;
/** A feed's credit window (unacknowledged live bytes): its default and bounds. */
export const FEED_WINDOW_DEFAULT = 512 * 1024;
export const FEED_WINDOW_MIN = 4 * 1024;
export const FEED_WINDOW_MAX = 8 * 1024 * 1024;
/** Feeds one view (a window or a browser tab) may have open at once. */
export const FEEDS_PER_VIEW_MAX = 64;
/** Capture queries (find, copy) one view may have running at once. */
export const QUERIES_PER_VIEW_MAX = 4;
/** Matches one capture.find page returns at most. */
export const FIND_PAGE_MAX = 1_000;
/** The longest regex pattern capture.find takes (characters). */
export const FIND_PATTERN_MAX = 1_000;
/** The most bytes capture.copy turns into text in one answer (a clipboard has limits too). */
export const COPY_MAX_BYTES = 16 * 1024 * 1024;
/**
 * A listener's connection limits (docs/security.md): connections open at once, after which new
 * ones are refused; how long a connection the peer half-closed may sit idle; how many closed
 * connections stay listed. Defaults, and the largest value each setting takes.
 */
export const MAX_CONNECTIONS_DEFAULT = 1_000;
export const MAX_CONNECTIONS_MAX = 1_000_000;
export const HALF_CLOSED_IDLE_MS_DEFAULT = 60_000;
export const HALF_CLOSED_IDLE_MS_MAX = 86_400_000;
export const KEEP_CLOSED_DEFAULT = 1_000;
export const KEEP_CLOSED_MAX = 100_000;
/** Endpoints per session.snapshot page: the default and the largest page. */
export const SNAPSHOT_PAGE_DEFAULT = 500;
export const SNAPSHOT_PAGE_MAX = 5_000;

/** Raw bytes: Uint8Array across Electron IPC, base64 inside JSON on the WebSocket (wire.ts). */
const bytesSchema = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'Expected bytes');

function coded(code: ErrorCode, message: string) {
  return { message, params: { code } };
}

// ---------------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------------

export const portSchema = z
  .number()
  .refine(
    (n) => Number.isInteger(n) && n >= 0 && n <= PORT_MAX,
    coded('PORT_OUT_OF_RANGE', `Port must be a whole number from 0 to ${PORT_MAX}`),
  );

/** A peer's port: 0 is not a destination. */
export const remotePortSchema = z
  .number()
  .refine(
    (n) => Number.isInteger(n) && n >= 1 && n <= PORT_MAX,
    coded('PORT_OUT_OF_RANGE', `Port must be a whole number from 1 to ${PORT_MAX}`),
  );

// No brackets: node:net wants a bare IPv6 address ("::1"), and "[::1]" fails as a host name.
const hostPattern = /^[A-Za-z0-9.:%_-]+$/;
export const hostSchema = z
  .string()
  .refine(
    (h) => h.length > 0,
    coded('INVALID_HOST', 'Host is empty: give a name or an address such as 127.0.0.1'),
  )
  .refine(
    (h) => h.length <= HOST_LENGTH_MAX,
    coded(
      'INVALID_HOST',
      `Host is longer than ${HOST_LENGTH_MAX} characters, the limit for a DNS name`,
    ),
  )
  .refine(
    (h) => h.length === 0 || h.length > HOST_LENGTH_MAX || hostPattern.test(h),
    coded('INVALID_HOST', 'Host may only contain letters, digits, ".", ":", "-", "_" and "%"'),
  );

export const socketPathSchema = z
  .string()
  .refine((p) => p.length > 0, coded('INVALID_PATH', 'Socket path is empty'))
  .refine(
    (p) => p.length <= SOCKET_PATH_LENGTH_MAX,
    coded('INVALID_PATH', `Socket path is longer than ${SOCKET_PATH_LENGTH_MAX} characters`),
  )
  .refine((p) => !p.includes('\0'), coded('INVALID_PATH', 'Socket path contains a NUL character'));

export const endpointIdSchema = z
  .string()
  .refine(
    (id) => /^[a-z]{1,16}-[0-9]{1,12}$/.test(id),
    coded('INVALID_ID', 'Endpoint id must look like "conn-12"'),
  );

const timeoutSchema = z
  .number()
  .refine(
    (n) => Number.isInteger(n) && n >= TIMEOUT_MS_MIN && n <= TIMEOUT_MS_MAX,
    coded(
      'INVALID_INPUT',
      `Timeout must be a whole number of milliseconds from ${TIMEOUT_MS_MIN} to ${TIMEOUT_MS_MAX}`,
    ),
  );

function wholeNumberSchema(min: number, max: number, what: string) {
  return z
    .number()
    .refine(
      (n) => Number.isInteger(n) && n >= min && n <= max,
      coded('INVALID_INPUT', `${what} must be a whole number from ${min} to ${max}`),
    );
}

/** The limits a listener applies to its connections; set when it is opened. */
const listenerLimitFields = {
  /** Connections open at once; past it a new one is closed right after accept() and counted. */
  maxConnections: wholeNumberSchema(1, MAX_CONNECTIONS_MAX, 'The connection limit').default(
    MAX_CONNECTIONS_DEFAULT,
  ),
  /** A connection the peer half-closed that stays idle this long is closed; 0: never. */
  halfClosedIdleMs: wholeNumberSchema(
    0,
    HALF_CLOSED_IDLE_MS_MAX,
    'The idle time of a half-closed connection (ms)',
  ).default(HALF_CLOSED_IDLE_MS_DEFAULT),
  /** Closed connections kept listed; older ones are forgotten (counted on the listener). */
  keepClosed: wholeNumberSchema(0, KEEP_CLOSED_MAX, 'Closed connections kept').default(
    KEEP_CLOSED_DEFAULT,
  ),
};

const backlogSchema = z
  .number()
  .refine(
    (n) => Number.isInteger(n) && n >= 0 && n <= BACKLOG_MAX,
    coded('INVALID_INPUT', `Backlog must be a whole number from 0 to ${BACKLOG_MAX}`),
  );

// ---------------------------------------------------------------------------------------------
// Payloads: what the user typed, and how to turn it into bytes (see ./payload.ts)
// ---------------------------------------------------------------------------------------------

export const textEncodings = [
  'utf-8',
  'latin1',
  'ascii',
  'utf-16le',
  'utf-16be',
  'gbk',
  'gb18030',
  'big5',
  'shift_jis',
  'euc-kr',
] as const;
export type TextEncoding = (typeof textEncodings)[number];

export const payloadFormats = ['text', 'hex', 'base64'] as const;

/** What a payload may end with, as composers of serial and network tools offer it. */
export const lineEndings = ['none', 'lf', 'crlf', 'cr'] as const;
export type LineEnding = (typeof lineEndings)[number];
export type PayloadFormat = (typeof payloadFormats)[number];

export const payloadSchema = z.strictObject({
  /** text: characters with escapes (\r \n \t \0 \\ \xHH); hex: byte pairs; base64. */
  format: z.enum(payloadFormats),
  data: z
    .string()
    .refine(
      (s) => s.length <= MAX_PAYLOAD_TEXT,
      coded('PAYLOAD_TOO_LARGE', `Payload is over the ${MAX_PAYLOAD_BYTES / 1048576} MiB limit`),
    ),
  /** How text characters become bytes; ignored for hex and base64. */
  encoding: z.enum(textEncodings).default('utf-8'),
  /** Appended after the data: a checksum over a range of it (see ./checksum.ts). */
  checksum: checksumSpecSchema.optional(),
  /** Appended last, after the checksum (a Modbus ASCII frame ends LRC, then CR LF). */
  lineEnding: z.enum(lineEndings).optional(),
});
export type PayloadSpec = z.input<typeof payloadSchema>;

// ---------------------------------------------------------------------------------------------
// Endpoints: listeners, connections and UDP sockets, as the UI sees them
// ---------------------------------------------------------------------------------------------

export const endpointKinds = [
  'tcp-listener',
  'unix-listener',
  'tcp-connection',
  'unix-connection',
  'udp-socket',
] as const;

export const endpointRoles = ['listener', 'client', 'accepted', 'udp'] as const;

export const endpointStates = [
  // listeners and UDP sockets
  'opening',
  'listening',
  'bound',
  // connections
  'connecting',
  'open',
  'half-closed-local',
  'half-closed-remote',
  // terminal
  'closed',
  'reset',
  'error',
] as const;
export type EndpointState = (typeof endpointStates)[number];

/** What happened, in the vocabulary of socket calls and TCP segments (the UI explains each). */
export const transitionEvents = [
  'socket', // socket() + bind() requested
  'listening', // listen(backlog) succeeded
  'bound', // UDP bind() succeeded
  'connect', // connect(): SYN sent
  'established', // three-way handshake done
  'accepted', // accept() returned this connection
  'fin-sent', // end() / shutdown(SHUT_WR)
  'fin-received', // the peer's FIN arrived ('end')
  'rst-sent', // resetAndDestroy(): RST
  'rst-received', // ECONNRESET
  'closed', // close(): both directions done, fd released
  'stopped', // listener close(): no more accept()
  'paused', // reading paused: the receive buffer fills, the peer's window closes
  'resumed', // reading resumed
  'option', // setNoDelay / setKeepAlive / allowHalfOpen changed
  'error', // an operation failed
  'idle-close', // the engine closes a connection the peer half-closed that stayed idle
  // automation, so the timeline says what the workbench did on its own
  'job-started', // a send job (repeat, sequence, file) began sending from this endpoint
  'job-done', // it sent all it planned
  'job-stopped', // the user stopped it
  'job-failed', // a send failed and the job ended (the error says why)
  'rule-off', // an auto-reply rule turned itself off (a reply loop between own endpoints)
] as const;

/** The transitions automation records on an endpoint's timeline. */
export type AutomationTransition = Extract<
  (typeof transitionEvents)[number],
  `job-${string}` | 'rule-off'
>;

export const addressSchema = z.union([
  z.object({ host: z.string(), port: z.number(), family: z.enum(['IPv4', 'IPv6']) }),
  z.object({ path: z.string() }),
]);
export type Address = z.infer<typeof addressSchema>;

/** A timeline holds at most TIMELINE_MAX transitions: its first TIMELINE_HEAD and its latest. */
export const TIMELINE_MAX = 1000;
export const TIMELINE_HEAD = 100;

export const transitionSchema = z.object({
  /** Wall-clock time in milliseconds since the epoch, with sub-millisecond precision. */
  at: z.number(),
  event: z.enum(transitionEvents),
  state: z.enum(endpointStates),
  /** Who caused it, where that matters (who closed first, who reset). */
  by: z.enum(['local', 'remote']).optional(),
  /** Extra facts: the backlog, the option changed, the error's errno. */
  detail: z.string().optional(),
  error: userErrorSchema.optional(),
});
export type Transition = z.infer<typeof transitionSchema>;

export const countersSchema = z.object({
  bytesIn: z.number(),
  bytesOut: z.number(),
  chunksIn: z.number(),
  chunksOut: z.number(),
  /** Bytes handed to the socket but not yet written to the kernel (socket.writableLength). */
  bytesQueued: z.number(),
  /**
   * UDP datagrams dropped unread while the capture file was too far behind: a datagram socket
   * cannot be paused, so past a memory ceiling the engine does what a full receive buffer does.
   */
  datagramsDropped: z.number(),
  /**
   * UDP: datagrams the kernel dropped before the engine could read them (its receive buffer was
   * full), as the OS reports it (Linux: /proc/net/udp "drops"); null where the OS does not say.
   */
  kernelDrops: z.number().nullable(),
});
export type Counters = z.infer<typeof countersSchema>;

export const endpointOptionsSchema = z.object({
  noDelay: z.boolean(),
  keepAlive: z.boolean(),
  allowHalfOpen: z.boolean(),
  backlog: z.number().optional(),
  /**
   * Connections: bytes that may wait in this process for the peer to read before a send is
   * refused (SEND_QUEUE_FULL).
   */
  sendQueueLimit: z.number().optional(),
  /** Listeners: the limits they apply to their connections (see listenerLimitFields). */
  maxConnections: z.number().optional(),
  halfClosedIdleMs: z.number().optional(),
  keepClosed: z.number().optional(),
});

/** What a listener accepted, refused, closed and forgot, over its whole life. */
export const listenerCountsSchema = z.object({
  accepted: z.number(),
  /** Accepted connections that have closed (listed or forgotten). */
  closed: z.number(),
  /** Closed connections no longer listed: past keepClosed, or forgotten by the user. */
  forgotten: z.number(),
  /** Closed right after accept() because maxConnections were open. */
  refusedAtLimit: z.number(),
  /** Closed right after accept() to keep the engine's file-descriptor reserve. */
  refusedForReserve: z.number(),
  /** Closed by the engine: half-closed by the peer, then idle for halfClosedIdleMs. */
  closedIdle: z.number(),
});
export type ListenerCounts = z.infer<typeof listenerCountsSchema>;

export const endpointInfoSchema = z.object({
  id: z.string(),
  kind: z.enum(endpointKinds),
  role: z.enum(endpointRoles),
  /** The listener that accepted this connection. */
  parentId: z.string().nullable(),
  state: z.enum(endpointStates),
  local: addressSchema.nullable(),
  remote: addressSchema.nullable(),
  options: endpointOptionsSchema,
  counters: countersSchema,
  readingPaused: z.boolean(),
  /** Listeners: connections accepted so far that are still open. */
  openConnections: z.number(),
  timeline: z.array(transitionSchema),
  /** Transitions left out between the timeline's first 100 and its latest ones (it holds 1,000). */
  timelineOmitted: z.number().optional(),
  error: userErrorSchema.nullable(),
  createdAt: z.number(),
  /** Capture offsets before this are gone: the capture limit deleted the session's oldest part. */
  captureKeptFrom: z.number(),
  /** Listeners only. */
  listenerCounts: listenerCountsSchema.optional(),
  /** What is automated on it: enabled auto-reply rules, and send jobs running or paused. */
  automation: z.object({ rules: z.number(), jobs: z.number() }).optional(),
  /** UDP only: the latest peers that sent to it, newest first (one click to reply). */
  recentPeers: z.array(z.object({ host: z.string(), port: z.number(), at: z.number() })).optional(),
  /**
   * UDP only, once bound: SO_RCVBUF as the engine asked for it and as the kernel granted it
   * (getsockopt; Linux doubles the ask and caps it at net.core.rmem_max first).
   */
  receiveBuffer: z.object({ asked: z.number(), granted: z.number() }).optional(),
  /**
   * UDP only, during a flood: datagrams read (and counted) but not yet captured or shown; they
   * are within half a second (docs/benchmarks.md, "UDP: read first, capture after").
   */
  datagramsWaiting: z.number().int().nonnegative().optional(),
  /** Opened read-only from a capture folder or pcapng file (capture.open): this file. */
  openedFrom: z.string().optional(),
});
export type EndpointInfo = z.infer<typeof endpointInfoSchema>;

export const captureChunkSchema = z.object({
  /** Index of the chunk within the endpoint's capture, from 0. */
  seq: z.number(),
  at: z.number(),
  dir: z.enum(['in', 'out']),
  /** Offset of the first byte within the endpoint's capture (both directions, in order). */
  offset: z.number(),
  bytes: bytesSchema,
  /** UDP: who sent the datagram, or whom it was sent to. */
  peer: z.object({ host: z.string(), port: z.number() }).optional(),
});
export type CaptureChunk = z.infer<typeof captureChunkSchema>;

export const engineStatusSchema = z.object({
  capture: z.object({
    /** The session's capture folder (docs/capture-format.md; `socket-workbench capture` reads it). */
    folder: z.string(),
    budgetBytes: z.number(),
    bytesInMemory: z.number(),
    /** Captured but not yet written to the file (held in memory until it is). */
    unpersistedBytes: z.number(),
    /** True while the file cannot keep up: reading is paused on every connection. */
    pressure: z.boolean(),
    /** Why the capture file cannot be written (full disk, permissions), if it cannot. */
    error: userErrorSchema.nullable(),
    /** The session's files stay under this; the oldest bytes go first. null: unlimited. */
    limitBytes: z.number().nullable(),
    /** Capture stops (reading pauses) while the disk has less free space than this. */
    floorBytes: z.number(),
    /** What the session's files take now, and what the limit has deleted so far. */
    storedBytes: z.number(),
    deletedBytes: z.number(),
    /** Free space where the capture is kept, when the file system says. */
    freeBytes: z.number().nullable(),
  }),
});
export type EngineStatus = z.infer<typeof engineStatusSchema>;

// ---------------------------------------------------------------------------------------------
// Feeds and capture queries (docs: ../../docs/design vocabulary: "feed", "capture query")
// ---------------------------------------------------------------------------------------------

/** A number the view picks for its feed or query, unique among its own open ones. */
const handleSchema = z
  .number()
  .refine(
    (n) => Number.isSafeInteger(n) && n >= 1,
    coded('INVALID_INPUT', 'A feed or query number must be a whole number, 1 or more'),
  );

const offsetSchema = z
  .number()
  .refine(
    (n) => Number.isSafeInteger(n) && n >= 0,
    coded('INVALID_INPUT', 'Offset must be a whole number of bytes, 0 or more'),
  );

export const captureDirections = ['both', 'in', 'out'] as const;
export type CaptureDirection = (typeof captureDirections)[number];

/** An RE2 pattern over text decoded in an encoding: capture.find's and auto-reply's. */
const regexFields = {
  pattern: z
    .string()
    .refine((p) => p.length > 0, coded('INVALID_INPUT', 'The pattern is empty'))
    .refine(
      (p) => p.length <= FIND_PATTERN_MAX,
      coded('INVALID_INPUT', `The pattern is longer than ${FIND_PATTERN_MAX} characters`),
    ),
  encoding: z.enum(textEncodings).default('utf-8'),
  ignoreCase: z.boolean().default(false),
};

/**
 * What capture.find looks for. `payload`: the bytes a payload spec gives (hex, base64, or text
 * with escapes in an encoding), optionally ignoring ASCII case. `regex`: an RE2 pattern (linear
 * time, so no pattern can freeze the engine) over the capture decoded in `encoding`.
 */
export const findQuerySchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('payload'),
    payload: payloadSchema,
    ignoreCase: z.boolean().default(false),
  }),
  z.strictObject({ kind: z.literal('regex'), ...regexFields }),
]);
export type FindQuery = z.input<typeof findQuerySchema>;

export const copyFormats = ['text', 'hex', 'c', 'base64'] as const;
export type CopyFormat = (typeof copyFormats)[number];

// ---------------------------------------------------------------------------------------------
// Automation: the payload library, send jobs (repeat, sequence, file) and auto-reply rules
// ---------------------------------------------------------------------------------------------

export const LIBRARY_ITEMS_MAX = 10_000;
export const LIBRARY_JSON_MAX = 32 * 1024 * 1024;
export const SEQUENCE_STEPS_MAX = 1_000;
export const RULES_PER_ENDPOINT_MAX = 100;
export const INTERVAL_MS_MAX = 86_400_000;
export const FILE_CHUNK_MAX = 16 * 1024 * 1024;

const shortText = (what: string, max: number) =>
  z
    .string()
    .refine(
      (s) => s.length <= max,
      coded('INVALID_INPUT', `${what} is longer than ${max} characters`),
    );

const itemIdSchema = z
  .string()
  .refine(
    (id) => /^[A-Za-z0-9_-]{1,64}$/.test(id),
    coded('INVALID_ID', 'An id is 1 to 64 letters, digits, "-" or "_"'),
  );

/** One saved payload: shared by every endpoint, kept in the app's data folder. */
export const libraryItemSchema = z.strictObject({
  id: itemIdSchema,
  name: shortText('A name', 200).refine(
    (s) => s.trim().length > 0,
    coded('INVALID_INPUT', 'A saved payload needs a name'),
  ),
  /** A folder path such as "modbus/read"; empty: the top level. */
  folder: shortText('A folder', 200).default(''),
  tags: z.array(shortText('A tag', 50)).max(20).default([]),
  payload: payloadSchema,
  note: shortText('A note', 2_000).default(''),
  /** A keyboard shortcut slot: Alt+1 … Alt+9 send it to the selected endpoint. */
  hotkey: z.number().int().min(1).max(9).nullable().default(null),
});
export type LibraryItem = z.output<typeof libraryItemSchema>;

/** Where a send job sends. */
export const sendTargetSchema = z.discriminatedUnion('kind', [
  /** One connection (TCP or Unix), or a UDP socket's default peer is not a thing: see datagram. */
  z.strictObject({ kind: z.literal('connection'), id: endpointIdSchema }),
  /** Every open connection of a listener. */
  z.strictObject({ kind: z.literal('broadcast'), id: endpointIdSchema }),
  /** Datagrams from a UDP socket to host:port. */
  z.strictObject({
    kind: z.literal('datagram'),
    id: endpointIdSchema,
    host: hostSchema,
    port: remotePortSchema,
  }),
]);
export type SendTarget = z.input<typeof sendTargetSchema>;

const intervalSchema = wholeNumberSchema(1, INTERVAL_MS_MAX, 'The interval (ms)');
const delaySchema = wholeNumberSchema(0, INTERVAL_MS_MAX, 'The delay (ms)');

export const jobKinds = ['repeat', 'sequence', 'file'] as const;
export const jobStates = ['running', 'paused', 'done', 'stopped', 'failed'] as const;

/** A send job as the UI shows it: what it does, how far it is, how fast it went. */
export const jobInfoSchema = z.object({
  id: z.string(),
  kind: z.enum(jobKinds),
  /** The endpoint it sends from (the listener, for a broadcast). */
  endpointId: z.string(),
  target: sendTargetSchema,
  /** A short description: the payload's start, the sequence's length, the file's name. */
  label: z.string(),
  state: z.enum(jobStates),
  /** Sends done (repeat, sequence steps) or bytes sent (file). */
  done: z.number(),
  /** Sends or bytes planned; null: until stopped. */
  planned: z.number().nullable(),
  /** Sends the timer skipped because the socket could not take more (backpressure). */
  skipped: z.number(),
  bytesSent: z.number(),
  /** Achieved sends (or bytes, for a file) per second since the job started. */
  rate: z.number(),
  startedAt: z.number(),
  endedAt: z.number().nullable(),
  error: userErrorSchema.nullable(),
});
export type JobInfo = z.infer<typeof jobInfoSchema>;

export const matchModes = ['exact', 'contains', 'starts', 'ends', 'regex'] as const;
export type MatchMode = (typeof matchModes)[number];

/** When received data matches, reply. */
export const replyRuleSchema = z.strictObject({
  id: itemIdSchema,
  enabled: z.boolean().default(true),
  name: shortText('A rule name', 200).default(''),
  match: z.discriminatedUnion('mode', [
    z.strictObject({
      mode: z.enum(['exact', 'contains', 'starts', 'ends']),
      payload: payloadSchema,
    }),
    z.strictObject({ mode: z.literal('regex'), ...regexFields }),
  ]),
  /**
   * The reply, a template: {{$0}} the matched bytes, {{$1}}…{{$9}} a regex's groups, {{counter}}
   * this rule's hit number, {{time}} the time (ISO 8601), {{unix}} milliseconds since 1970.
   */
  reply: payloadSchema,
  delayMs: delaySchema.default(0),
});
export type ReplyRule = z.output<typeof replyRuleSchema>;

export const ruleStateSchema = z.object({
  id: z.string(),
  hits: z.number(),
  lastHitAt: z.number().nullable(),
  /** Why the last reply could not be sent, if it could not. */
  lastError: userErrorSchema.nullable(),
});

export const rulesInfoSchema = z.object({
  /** The endpoint the rules belong to (a listener's rules apply to its connections). */
  id: z.string(),
  /** first: only the first matching rule replies; all: every matching rule does. */
  mode: z.enum(['first', 'all']),
  rules: z.array(replyRuleSchema),
  states: z.array(ruleStateSchema),
});
export type RulesInfo = z.infer<typeof rulesInfoSchema>;

// ---------------------------------------------------------------------------------------------
// Opening endpoints (commands, and the entries of a workspace file)
// ---------------------------------------------------------------------------------------------

const tcpListenInput = z.strictObject({
  host: hostSchema,
  port: portSchema,
  backlog: backlogSchema.default(511),
  allowHalfOpen: z.boolean().default(true),
  ...listenerLimitFields,
});

const tcpConnectInput = z.strictObject({
  host: hostSchema,
  port: remotePortSchema,
  timeoutMs: timeoutSchema.default(10_000),
  noDelay: z.boolean().default(false),
  keepAlive: z.boolean().default(false),
  allowHalfOpen: z.boolean().default(true),
});

const unixListenInput = z.strictObject({
  path: socketPathSchema,
  backlog: backlogSchema.default(511),
  allowHalfOpen: z.boolean().default(true),
  /** Remove a leftover socket file nobody is listening on, instead of failing. */
  removeStale: z.boolean().default(false),
  ...listenerLimitFields,
});

const unixConnectInput = z.strictObject({
  path: socketPathSchema,
  timeoutMs: timeoutSchema.default(10_000),
  allowHalfOpen: z.boolean().default(true),
});

/**
 * SO_RCVBUF a UDP socket asks for, in bytes. A small datagram costs the kernel far more than its
 * bytes (Linux counts about 800 B for a 64-byte one), so the OS default (208 KiB on Linux) holds
 * about 250 of them, a few milliseconds of a flood: the engine asks for more unless told
 * otherwise. The kernel may grant less (Linux caps the ask at net.core.rmem_max, then doubles
 * it for its own bookkeeping).
 */
export const RECEIVE_BUFFER_MIN = 4 * 1024;
export const RECEIVE_BUFFER_MAX = 64 * 1024 * 1024;
export const RECEIVE_BUFFER_DEFAULT = 4 * 1024 * 1024;

const udpBindInput = z.strictObject({
  host: hostSchema,
  port: portSchema,
  /** Absent: RECEIVE_BUFFER_DEFAULT (absent from the workspace file, it follows the default). */
  receiveBufferSize: wholeNumberSchema(
    RECEIVE_BUFFER_MIN,
    RECEIVE_BUFFER_MAX,
    'The receive buffer size (bytes)',
  ).optional(),
});

/** A file on the engine's machine: a file to send, a workspace, an export, a capture to open. */
export const filePathSchema = z
  .string()
  .refine(
    (p) => p.length > 0 && p.length <= 4096,
    coded('INVALID_PATH', 'A file path is 1 to 4096 characters'),
  )
  .refine((p) => !p.includes('\0'), coded('INVALID_PATH', 'A file path contains a NUL character'));

// ---------------------------------------------------------------------------------------------
// Workspaces: what to open again, in a JSON file (docs/workspaces.md)
// ---------------------------------------------------------------------------------------------

export const WORKSPACE_FORMAT = 'socket-workbench-workspace';
export const WORKSPACE_VERSION = 1;
export const WORKSPACE_ENDPOINTS_MAX = 10_000;
/** A workspace file larger than this is refused before it is parsed. */
export const WORKSPACE_JSON_MAX = 64 * 1024 * 1024;
export const RECENT_WORKSPACES_MAX = 10;

export const viewModes = ['text', 'hex', 'both'] as const;
export type ViewMode = (typeof viewModes)[number];

/** How traffic is shown: kept in the workspace, applied to every endpoint's view. */
export const viewSettingsSchema = z.strictObject({
  mode: z.enum(viewModes).default('text'),
  decoding: z.enum(textEncodings).default('utf-8'),
  timestamps: z.boolean().default(false),
});
export type ViewSettings = z.output<typeof viewSettingsSchema>;

const endpointRulesSchema = z.strictObject({
  mode: z.enum(['first', 'all']).default('first'),
  rules: z.array(replyRuleSchema).max(RULES_PER_ENDPOINT_MAX),
});

/** One endpoint to open again: the command that opens it, its input, and its rules. */
export const workspaceEndpointSchema = z.discriminatedUnion('open', [
  z.strictObject({
    open: z.literal('tcp.listen'),
    input: tcpListenInput,
    rules: endpointRulesSchema.optional(),
  }),
  z.strictObject({
    open: z.literal('tcp.connect'),
    input: tcpConnectInput,
    rules: endpointRulesSchema.optional(),
  }),
  z.strictObject({
    open: z.literal('unix.listen'),
    input: unixListenInput,
    rules: endpointRulesSchema.optional(),
  }),
  z.strictObject({
    open: z.literal('unix.connect'),
    input: unixConnectInput,
    rules: endpointRulesSchema.optional(),
  }),
  z.strictObject({
    open: z.literal('udp.bind'),
    input: udpBindInput,
    rules: endpointRulesSchema.optional(),
  }),
]);
export type WorkspaceEndpoint = z.output<typeof workspaceEndpointSchema>;

/** A workspace file (format and version are checked first, so a newer file gets its own error). */
export const workspaceSchema = z.strictObject({
  format: z.literal(WORKSPACE_FORMAT),
  version: z.literal(WORKSPACE_VERSION),
  savedAt: z.string().max(64),
  endpoints: z.array(workspaceEndpointSchema).max(WORKSPACE_ENDPOINTS_MAX),
  library: z.array(libraryItemSchema).max(LIBRARY_ITEMS_MAX),
  view: viewSettingsSchema,
});
export type Workspace = z.output<typeof workspaceSchema>;

/** What opening a workspace did: endpoints opened, and each that could not be, with why. */
export const workspaceOpenReportSchema = z.object({
  path: z.string(),
  at: z.number(),
  opened: z.number(),
  failed: z.array(z.object({ label: z.string(), error: userErrorSchema })),
  /**
   * Listeners and UDP sockets it opened that other machines can reach (any host but loopback):
   * the open forms warn before such a bind, and a workspace file does it without a form.
   */
  exposed: z.array(z.string()).default([]),
  /** The file could not be used at all (unreadable, corrupt, newer): nothing was opened. */
  error: userErrorSchema.nullable(),
});

export const workspaceStateSchema = z.object({
  /**
   * The workspace file changes are saved to (automatically, a second after each change); null
   * when the engine has no data folder (tests, a library use) and nothing was saved as yet.
   */
  path: z.string().nullable(),
  /** The default workspace, in the app's data folder, is in use. */
  isDefault: z.boolean(),
  recent: z.array(z.string()),
  reopenOnStart: z.boolean(),
  /** The view settings the workspace holds (applied by the views when it is opened). */
  view: viewSettingsSchema,
  /** When it was last written, ms since 1970; null: not yet. */
  savedAt: z.number().nullable(),
  /** Why the last save failed, if it did. */
  saveError: userErrorSchema.nullable(),
  lastOpen: workspaceOpenReportSchema.nullable(),
});
export type WorkspaceState = z.infer<typeof workspaceStateSchema>;

// ---------------------------------------------------------------------------------------------
// Exports (docs/export.md) and captures opened read-only
// ---------------------------------------------------------------------------------------------

export const exportFormats = ['pcapng', 'raw', 'hex', 'transcript'] as const;
export type ExportFormat = (typeof exportFormats)[number];
/**
 * The names an export's file may end with (case-insensitive), the first suggested: the engine
 * refuses others, so that a peer's bytes never land in a file a shell or a service would run.
 */
export const exportExtensions: Record<ExportFormat, readonly [string, ...string[]]> = {
  pcapng: ['.pcapng', '.pcap'],
  raw: ['.bin', '.raw', '.dat'],
  hex: ['.hex.txt', '.txt', '.hex'],
  transcript: ['.txt', '.log'],
};
export const EXPORT_ENDPOINTS_MAX = 10_000;

export const exportRequestSchema = z.strictObject({
  /** The endpoints to export; a listener brings its accepted connections when withConnections. */
  ids: z.array(endpointIdSchema).min(1).max(EXPORT_ENDPOINTS_MAX),
  withConnections: z.boolean().default(true),
  format: z.enum(exportFormats),
  /** raw, hex and transcript: one direction or both (pcapng always holds both). */
  direction: z.enum(captureDirections).default('both'),
  /** Stream offsets [start, end) of a single endpoint: a selection in its view. */
  range: z
    .strictObject({ start: offsetSchema, end: offsetSchema })
    .refine((r) => r.end > r.start, coded('INVALID_INPUT', 'A range ends after it starts'))
    .optional(),
});
export type ExportRequest = z.output<typeof exportRequestSchema>;

/** A file name the browser suggests for a download: no folders, no control characters. */
export const downloadNameSchema = z
  .string()
  .refine(
    (name) => name.length >= 1 && name.length <= 200,
    coded('INVALID_PATH', 'A download name is 1 to 200 characters'),
  )
  .refine(
    (name) =>
      ![...name].some((c) => c === '/' || c === '\\' || c < ' ' || c === '\x7f') &&
      !name.startsWith('.'),
    coded(
      'INVALID_PATH',
      'A download name has no folders, no control characters and no leading dot',
    ),
  );

// ---------------------------------------------------------------------------------------------
// The kernel's view of a socket (docs/kernel-view.md)
// ---------------------------------------------------------------------------------------------

/** The TCP states as Linux names them (RFC 9293's, with underscores; SYN_RECV for SYN-RECEIVED). */
export const tcpKernelStates = [
  'LISTEN',
  'SYN_SENT',
  'SYN_RECV',
  'ESTABLISHED',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'CLOSE_WAIT',
  'CLOSING',
  'LAST_ACK',
  'TIME_WAIT',
  'CLOSE',
] as const;
export type TcpKernelState = (typeof tcpKernelStates)[number];

/** Endpoints one kernel.sample may ask for: a view samples what it shows, not everything. */
export const KERNEL_SAMPLE_IDS_MAX = 64;

/** What the kernel holds for one endpoint's socket now; null: this OS does not say. */
export const kernelSampleSchema = z.object({
  id: z.string(),
  /** The kernel still holds a socket for it (false: closed and gone, even from TIME_WAIT). */
  found: z.boolean(),
  /** TCP: the kernel's state; Unix: LISTEN, ESTABLISHED or CLOSE; UDP: null. */
  tcpState: z.enum(tcpKernelStates).nullable(),
  /** Bytes received and not yet read by the engine; for a listener, connections waiting in accept(). */
  recvQ: z.number().nullable(),
  /** Bytes written and not yet acknowledged by the peer; for a listener, its accept queue's limit. */
  sendQ: z.number().nullable(),
  /** SO_RCVBUF and SO_SNDBUF as the kernel applies them (bytes). */
  rcvBuf: z.number().nullable(),
  sndBuf: z.number().nullable(),
  /** TCP info, for the curious. */
  rttMs: z.number().nullable(),
  cwnd: z.number().nullable(),
  mss: z.number().nullable(),
  retransmits: z.number().nullable(),
  /** A running timer (TIME_WAIT's, a retransmission's): milliseconds until it fires. */
  timerMs: z.number().nullable(),
  at: z.number(),
});
export type KernelSample = z.infer<typeof kernelSampleSchema>;

/** The most buckets a traffic history has: its buckets widen (double) to keep under this. */
export const TRAFFIC_HISTORY_BUCKETS_MAX = 240;

/**
 * Bytes in and out over an endpoint's whole life, summed from its capture in buckets of equal
 * width: the graph's zoomed-out view. Bucket i covers [startMs + i * bucketMs, + bucketMs).
 */
export const trafficHistorySchema = z.object({
  id: z.string(),
  startMs: z.number(),
  bucketMs: z.number(),
  bytesIn: z.array(z.number()),
  bytesOut: z.array(z.number()),
  /** When the oldest byte still captured came, if the capture limit deleted older ones. */
  deletedBeforeMs: z.number().nullable(),
});
export type TrafficHistory = z.infer<typeof trafficHistorySchema>;

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

const idInput = z.strictObject({ id: endpointIdSchema });
const endpointResult = endpointInfoSchema;
const okResult = z.object({ ok: z.literal(true) });

function command<I extends z.ZodType, O extends z.ZodType>(input: I, output: O) {
  return { input, output };
}

export const commands = {
  /**
   * Everything the engine holds now (what a freshly loaded page starts from), a page at a time,
   * in the order the endpoints were made: ask again with `cursor: nextCursor` until there is none.
   */
  'session.snapshot': command(
    z.strictObject({
      cursor: z
        .number()
        .refine(
          (n) => Number.isSafeInteger(n) && n >= 0,
          coded('INVALID_INPUT', 'A cursor must be a whole number, 0 or more'),
        )
        .optional(),
      limit: wholeNumberSchema(1, SNAPSHOT_PAGE_MAX, 'A page size').default(SNAPSHOT_PAGE_DEFAULT),
    }),
    z.object({
      endpoints: z.array(endpointInfoSchema),
      /** Where the next page starts; absent on the last page. */
      nextCursor: z.number().optional(),
    }),
  ),

  'tcp.listen': command(tcpListenInput, endpointResult),
  'tcp.connect': command(tcpConnectInput, endpointResult),
  'unix.listen': command(unixListenInput, endpointResult),
  'unix.connect': command(unixConnectInput, endpointResult),
  'udp.bind': command(udpBindInput, endpointResult),
  'udp.send': command(
    z.strictObject({
      id: endpointIdSchema,
      host: hostSchema,
      port: remotePortSchema,
      payload: payloadSchema,
    }),
    z.object({ bytes: z.number() }),
  ),

  /** Write bytes to one connection. */
  'connection.send': command(
    z.strictObject({ id: endpointIdSchema, payload: payloadSchema }),
    z.object({ bytes: z.number() }),
  ),
  /** shutdown(SHUT_WR): send FIN, keep reading. */
  'connection.halfClose': command(idInput, okResult),
  /** close(): FIN, then release the socket. */
  'connection.close': command(idInput, okResult),
  /** Abortive close: RST instead of FIN. */
  'connection.reset': command(idInput, okResult),
  'connection.pauseReading': command(idInput, okResult),
  'connection.resumeReading': command(idInput, okResult),
  'connection.setOptions': command(
    z.strictObject({
      id: endpointIdSchema,
      noDelay: z.boolean().optional(),
      keepAlive: z.boolean().optional(),
      allowHalfOpen: z.boolean().optional(),
    }),
    endpointResult,
  ),

  /** Send the same bytes to every open connection of a listener. */
  'listener.broadcast': command(
    z.strictObject({ id: endpointIdSchema, payload: payloadSchema }),
    z.object({
      connections: z.number(),
      bytes: z.number(),
      /** Connections whose peer is not reading: their send queue is full, so they got nothing. */
      refused: z.array(z.object({ id: z.string(), bytesQueued: z.number() })),
    }),
  ),
  /** Stop accepting; optionally close every connection it accepted. */
  'listener.stop': command(
    z.strictObject({ id: endpointIdSchema, closeConnections: z.boolean().default(false) }),
    okResult,
  ),
  /** Close a UDP socket. */
  'udp.close': command(idInput, okResult),
  /** Drop a finished endpoint (and its capture) from the session. */
  'endpoint.forget': command(idInput, okResult),

  /** Read back a byte range of an endpoint's capture. */
  'capture.read': command(
    z.strictObject({
      id: endpointIdSchema,
      offset: z
        .number()
        .refine(
          (n) => Number.isSafeInteger(n) && n >= 0,
          coded('INVALID_INPUT', 'Offset must be a whole number of bytes, 0 or more'),
        ),
      length: z
        .number()
        .refine(
          (n) => Number.isInteger(n) && n >= 1 && n <= MAX_CAPTURE_READ,
          coded('INVALID_INPUT', `Length must be a whole number from 1 to ${MAX_CAPTURE_READ}`),
        ),
    }),
    z.object({
      chunks: z.array(captureChunkSchema),
      totalBytes: z.number(),
      /** Bytes before this offset are gone: the capture limit deleted them. */
      keptFrom: z.number(),
    }),
  ),

  /** Sets the capture limit (null: unlimited) or the free-space floor. */
  'capture.configure': command(
    z.strictObject({
      limitBytes: z
        .number()
        .refine(
          (n) => Number.isSafeInteger(n) && n >= MIN_CAPTURE_LIMIT,
          coded(
            'INVALID_INPUT',
            `The capture limit must be a whole number of bytes, at least ${MIN_CAPTURE_LIMIT / 1048576} MiB`,
          ),
        )
        .nullable()
        .optional(),
      floorBytes: z
        .number()
        .refine(
          (n) => Number.isSafeInteger(n) && n >= 0,
          coded('INVALID_INPUT', 'The free-space floor must be a whole number of bytes, 0 or more'),
        )
        .optional(),
    }),
    engineStatusSchema,
  ),

  /**
   * Opens a feed: this view's flow-controlled stream of one endpoint's live data. Answers the
   * capture offset where the feed's data starts (earlier bytes: capture.read). Data and skipped
   * notices follow as feed.data / feed.skipped events; the view returns credit with the feed.ack
   * notification and ends the feed with the feed.close notification.
   */
  'feed.open': command(
    z.strictObject({
      feed: handleSchema,
      id: endpointIdSchema,
      /**
       * Unacknowledged live bytes the feed may have before the engine skips ahead (default
       * FEED_WINDOW_DEFAULT). A view that parses slowly asks for less, so that when a flood stops
       * it is never more than a fraction of a second behind.
       */
      windowBytes: z
        .number()
        .refine(
          (n) => Number.isInteger(n) && n >= FEED_WINDOW_MIN && n <= FEED_WINDOW_MAX,
          coded(
            'INVALID_INPUT',
            `A feed window must be a whole number of bytes from ${FEED_WINDOW_MIN} to ${FEED_WINDOW_MAX}`,
          ),
        )
        .optional(),
    }),
    z.object({ start: z.number() }),
  ),

  /**
   * A capture query: where `query` occurs in an endpoint's capture (both directions in capture
   * order, or one direction's stream), from `from` on. Answers a page: at most `maxMatches`
   * matches, and `next`, where the following page starts (null once the whole capture as it was
   * when the page began has been searched). A long page is cancelled by capture.cancel.
   */
  'capture.find': command(
    z.strictObject({
      query: handleSchema,
      id: endpointIdSchema,
      find: findQuerySchema,
      direction: z.enum(captureDirections).default('both'),
      from: offsetSchema.default(0),
      maxMatches: wholeNumberSchema(1, FIND_PAGE_MAX, 'Matches per page').default(100),
    }),
    z.object({
      /** Capture offsets of each match's first byte and just past its last. */
      matches: z.array(z.object({ offset: z.number(), end: z.number() })),
      next: z.number().nullable(),
      /** Searched up to here (the progress of a long search). */
      searchedTo: z.number(),
      totalBytes: z.number(),
      keptFrom: z.number(),
    }),
  ),
  /**
   * A range of the capture as text to copy: decoded in `encoding`, or hex, a C array or base64
   * of the bytes. At most COPY_MAX_BYTES bytes; `bytes` says how many went in.
   */
  'capture.copy': command(
    z.strictObject({
      /** Like capture.find's: capture.cancel stops it, and so does the page going away. */
      query: handleSchema,
      id: endpointIdSchema,
      from: offsetSchema,
      to: offsetSchema,
      direction: z.enum(captureDirections).default('both'),
      format: z.enum(copyFormats),
      encoding: z.enum(textEncodings).default('utf-8'),
    }),
    z.object({ text: z.string(), bytes: z.number(), truncated: z.boolean(), keptFrom: z.number() }),
  ),
  /**
   * The payload library: every saved payload, and why the library file could not be used when
   * it could not (it is then set aside on the next save: docs/payload-library.md).
   */
  'library.list': command(
    z.strictObject({}),
    z.object({ items: z.array(libraryItemSchema), problem: userErrorSchema.nullable() }),
  ),
  /** Saves a payload (a new id adds it, an existing id replaces it). */
  'library.save': command(z.strictObject({ item: libraryItemSchema }), libraryItemSchema),
  'library.delete': command(z.strictObject({ id: itemIdSchema }), okResult),
  /**
   * Imports a library file (docs/payload-library.md). All or nothing: an invalid file changes
   * nothing and the error names the first bad field. merge: items with a known id replace it.
   */
  'library.import': command(
    z.strictObject({
      json: shortText('A library file', LIBRARY_JSON_MAX),
      mode: z.enum(['merge', 'replace']).default('merge'),
    }),
    z.object({ added: z.number(), replaced: z.number(), items: z.array(libraryItemSchema) }),
  ),
  'library.export': command(z.strictObject({}), z.object({ json: z.string() })),

  /** Sends a payload every intervalMs, count times or until stopped; the engine owns the timer. */
  'send.repeat': command(
    z.strictObject({
      target: sendTargetSchema,
      payload: payloadSchema,
      intervalMs: intervalSchema,
      count: wholeNumberSchema(1, 1_000_000_000, 'The count').nullable().default(null),
    }),
    jobInfoSchema,
  ),
  /** Sends payloads one after another, each after its delay; the whole list `repeat` times. */
  'send.sequence': command(
    z.strictObject({
      target: sendTargetSchema,
      steps: z
        .array(z.strictObject({ payload: payloadSchema, delayMs: delaySchema.default(0) }))
        .min(1)
        .max(SEQUENCE_STEPS_MAX),
      repeat: wholeNumberSchema(1, 1_000_000, 'The repeat count').nullable().default(1),
    }),
    jobInfoSchema,
  ),
  /**
   * Sends a file's bytes, read from the engine's disk as the socket takes them (flat memory):
   * whole, or in chunks of chunkBytes every intervalMs.
   */
  'send.file': command(
    z.strictObject({
      target: sendTargetSchema,
      path: filePathSchema,
      chunkBytes: wholeNumberSchema(1, FILE_CHUNK_MAX, 'The chunk size').optional(),
      intervalMs: delaySchema.default(0),
    }),
    jobInfoSchema,
  ),
  'job.list': command(z.strictObject({}), z.object({ jobs: z.array(jobInfoSchema) })),
  'job.pause': command(z.strictObject({ job: z.string().max(64) }), jobInfoSchema),
  'job.resume': command(z.strictObject({ job: z.string().max(64) }), jobInfoSchema),
  /** Stops a job at once; a finished job is forgotten. */
  'job.stop': command(z.strictObject({ job: z.string().max(64) }), jobInfoSchema),

  /** An endpoint's auto-reply rules (a listener's apply to every connection it accepts). */
  'rules.get': command(idInput, rulesInfoSchema),
  'rules.set': command(
    z.strictObject({
      id: endpointIdSchema,
      mode: z.enum(['first', 'all']).default('first'),
      rules: z.array(replyRuleSchema).max(RULES_PER_ENDPOINT_MAX),
    }),
    rulesInfoSchema,
  ),
  'engine.status': command(z.strictObject({}), engineStatusSchema),

  /** The workspace in use, the recent ones, and what opening the last one did. */
  'workspace.get': command(z.strictObject({}), workspaceStateSchema),
  /**
   * Saves the workspace now (it is also saved a second after every change), to `path` when given:
   * "Save as", which then becomes the workspace in use. Refuses to overwrite a file that is not a
   * workspace (WOULD_OVERWRITE).
   */
  'workspace.save': command(
    z.strictObject({ path: filePathSchema.optional(), view: viewSettingsSchema.optional() }),
    workspaceStateSchema,
  ),
  /**
   * Opens a workspace file: closes what is open, then opens its endpoints (one that cannot be
   * opened is reported and the rest open), imports its payloads and applies its rules. A file
   * that cannot be used changes nothing and is left untouched.
   */
  'workspace.open': command(z.strictObject({ path: filePathSchema }), workspaceStateSchema),
  'workspace.settings': command(
    z.strictObject({ reopenOnStart: z.boolean() }),
    workspaceStateSchema,
  ),

  /**
   * Writes endpoints' captures to a file on the engine's machine as pcapng, raw bytes, a hex dump
   * or a timestamped transcript (docs/export.md).
   */
  'capture.export': command(
    exportRequestSchema.safeExtend({
      path: filePathSchema,
      /** Replace an existing file (never a folder). */
      overwrite: z.boolean().default(false),
    }),
    z.object({ path: z.string(), bytes: z.number(), endpoints: z.number(), packets: z.number() }),
  ),
  /**
   * The same export, written for the browser to download (browser mode, where the page may run on
   * another machine than the engine): the file waits under `id` until the page fetches
   * `/download/<id>` once, for at most 10 minutes. `name` is the file name the browser suggests.
   */
  'capture.download': command(
    exportRequestSchema.safeExtend({ name: downloadNameSchema }),
    z.object({ id: z.string(), name: z.string(), bytes: z.number(), packets: z.number() }),
  ),
  /**
   * Opens a capture read-only: a capture session folder or a pcapng file (ours, or any with TCP
   * or UDP streams). Its endpoints join the list, closed, with their bytes for the views, search,
   * copy and export; nothing can be sent from them.
   */
  'capture.open': command(
    z.strictObject({ path: filePathSchema }),
    z.object({ ids: z.array(z.string()), warnings: z.array(z.string()) }),
  ),

  /**
   * What the kernel holds for these endpoints' sockets now (state, queues, buffers, TCP info), read
   * from the OS (Linux: /proc/net and ss). A view asks a few times a second while it shows them;
   * nothing is read otherwise. `missing` names figures this OS does not give, and why.
   */
  'kernel.sample': command(
    z.strictObject({ ids: z.array(endpointIdSchema).min(1).max(KERNEL_SAMPLE_IDS_MAX) }),
    z.object({ samples: z.array(kernelSampleSchema), missing: z.array(z.string()) }),
  ),

  /**
   * An endpoint's traffic over its whole life (bytes in and out per bucket), summed from its
   * capture: nothing is counted while nobody asks, and a second ask only reads what is new.
   */
  'traffic.history': command(z.strictObject({ id: endpointIdSchema }), trafficHistorySchema),

  /** The exact bytes a payload would send, for the composer's preview. */
  'payload.encode': command(
    z.strictObject({ payload: payloadSchema }),
    z.object({ bytes: bytesSchema }),
  ),
} as const;

// ---------------------------------------------------------------------------------------------
// Notifications (UI -> engine, one-way: no reply, an invalid one is dropped)
// ---------------------------------------------------------------------------------------------

export const notifications = {
  /** The view has parsed this many more of a feed's bytes: credit returns. */
  'feed.ack': z.strictObject({
    feed: handleSchema,
    bytes: z
      .number()
      .refine(
        (n) => Number.isSafeInteger(n) && n >= 0,
        coded('INVALID_INPUT', 'Acknowledged bytes must be a whole number, 0 or more'),
      ),
  }),
  /** The view is done with a feed: nothing more is sent for it. */
  'feed.close': z.strictObject({ feed: handleSchema }),
  /** Stop a capture query's page now; its command answers with CANCELLED. */
  'capture.cancel': z.strictObject({ query: handleSchema }),
} as const;

// ---------------------------------------------------------------------------------------------
// Events (engine -> UI). For one endpoint they arrive in the order they happened.
// ---------------------------------------------------------------------------------------------

export const events = {
  'endpoint.added': endpointInfoSchema,
  'endpoint.updated': endpointInfoSchema,
  'endpoint.removed': z.object({ id: z.string() }),
  /** A feed's live data, batched (~16 ms). The full capture stays readable with capture.read. */
  'feed.data': z.object({ feed: z.number(), chunks: z.array(captureChunkSchema) }),
  /**
   * The view fell behind, so the feed did not send [offset, offset + bytes); the bytes are in the
   * capture (capture.read). The feed's data resumes right after them.
   */
  'feed.skipped': z.object({ feed: z.number(), offset: z.number(), bytes: z.number() }),
  'engine.status': engineStatusSchema,
  /** The payload library changed (in this page or another). */
  'library.changed': z.object({ items: z.array(libraryItemSchema) }),
  /** A send job started, progressed (a few times a second at most) or ended. */
  'job.updated': jobInfoSchema,
  'job.removed': z.object({ id: z.string() }),
  /** An endpoint's rules changed (set, or one turned itself off). */
  'rules.updated': rulesInfoSchema,
  /** Their hit counters and last errors moved (a few times a second at most), rules unchanged. */
  'rules.hits': z.object({ id: z.string(), states: z.array(ruleStateSchema) }),
  /** The workspace changed: another one opened, saved, its settings, a save that failed. */
  'workspace.updated': workspaceStateSchema,
} as const;

// ---------------------------------------------------------------------------------------------
// Inferred types
// ---------------------------------------------------------------------------------------------

export type Commands = typeof commands;
export type CommandName = keyof Commands;
/** What a caller passes (defaults may be omitted). */
export type CommandInput<C extends CommandName> = z.input<Commands[C]['input']>;
/** What the engine receives after validation (defaults filled in). */
export type ValidInput<C extends CommandName> = z.output<Commands[C]['input']>;
export type CommandOutput<C extends CommandName> = z.infer<Commands[C]['output']>;

export type Notifications = typeof notifications;
export type NotificationName = keyof Notifications;
export type NotificationInput<N extends NotificationName> = z.input<Notifications[N]>;
export type ValidNotification<N extends NotificationName> = z.output<Notifications[N]>;

export type Events = typeof events;
export type EventName = keyof Events;
export type EventPayload<E extends EventName> = z.infer<Events[E]>;

export type CommandResult<C extends CommandName> =
  { ok: true; value: CommandOutput<C> } | { ok: false; error: UserError };

export const commandNames = Object.keys(commands) as CommandName[];
export const eventNames = Object.keys(events) as EventName[];
export const notificationNames = Object.keys(notifications) as NotificationName[];

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.hasOwn(commands, name);
}
export function isNotificationName(name: unknown): name is NotificationName {
  return typeof name === 'string' && Object.hasOwn(notifications, name);
}
export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.hasOwn(events, name);
}
