/**
 * capture.open: a capture session folder or a pcap/pcapng file, opened read-only into the running
 * engine (see opened-capture.ts). A folder's endpoints keep their kinds, roles, addresses, last
 * states and timelines; accepted connections stay under their (newly numbered) listener.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  addressSchema,
  endpointKinds,
  endpointRoles,
  endpointStates,
  transitionEvents,
  type Address,
  type EndpointState,
  type Transition,
} from '../../shared/contract';
import { isTerminalState } from '../../shared/domain';
import { userErrorSchema, WorkbenchError, type UserError } from '../../shared/errors';
import type { Peer } from './capture';
import {
  CaptureFolderReader,
  findSessions,
  isSessionFolder,
  type CapturedEndpoint,
  type RowColumns,
} from './capture-reader';
import {
  ImportRun,
  OpenedEndpoint,
  type CaptureOpenHost,
  type OpenedCapture,
  type OpenedIdentity,
} from './opened-capture';
import { importPcap } from './pcap/pcap-import';

/**
 * Opens a capture folder or a pcap/pcapng file read-only; resolves once every byte is replayed.
 * Fails with BAD_CAPTURE_FILE, changing nothing, when the path cannot be read as a capture.
 */
export async function openCapture(host: CaptureOpenHost, input: string): Promise<OpenedCapture> {
  const source = path.resolve(input);
  let stat;
  try {
    stat = await fs.stat(source);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'there is no such file or folder'
        : code === 'EACCES'
          ? 'permission denied'
          : (error as Error).message;
    throw new WorkbenchError('BAD_CAPTURE_FILE', `Cannot open ${source}: ${why}`);
  }
  // A FIFO or device would block the open, or read forever.
  if (!stat.isDirectory() && !stat.isFile()) {
    throw new WorkbenchError(
      'BAD_CAPTURE_FILE',
      `Cannot open ${source}: it is neither a regular file nor a folder`,
    );
  }
  const run = new ImportRun(source, host.context.memory);
  const ids = stat.isDirectory()
    ? await importFolder(host, source, run)
    : await importPcap(host, source, run);
  return { ids, warnings: run.warnings };
}

async function sameFolder(a: string, b: string): Promise<boolean> {
  try {
    return (await fs.realpath(a)) === (await fs.realpath(b));
  } catch {
    return false;
  }
}

async function importFolder(host: CaptureOpenHost, folder: string, run: ImportRun) {
  if (await sameFolder(folder, host.ownFolder)) {
    throw new WorkbenchError(
      'BAD_CAPTURE_FILE',
      `${folder} is this workbench's own capture, still being written: its endpoints are already listed`,
    );
  }
  if (!isSessionFolder(folder)) {
    let sessions: string[] = [];
    try {
      sessions = findSessions(folder);
    } catch {
      // Unreadable: said below.
    }
    const hint =
      sessions.length > 0
        ? `; it holds ${sessions.length} session folders: open one of them (${path.basename(sessions.at(-1) as string)})`
        : '';
    throw new WorkbenchError(
      'BAD_CAPTURE_FILE',
      `${folder} is not a capture session folder (it has no session.json or index files)${hint}`,
    );
  }
  let reader: CaptureFolderReader;
  let captured: CapturedEndpoint[];
  let rows: Map<number, RowColumns>;
  try {
    reader = new CaptureFolderReader(folder);
    ({ endpoints: captured, rows } = await reader.scanRows(() => true));
  } catch (error) {
    throw new WorkbenchError(
      'BAD_CAPTURE_FILE',
      `${folder} cannot be read as a capture session: ${(error as Error).message}`,
    );
  }
  if (captured.length === 0) {
    throw new WorkbenchError('BAD_CAPTURE_FILE', `${folder} holds no endpoints`);
  }
  if (!reader.session?.stoppedAt) {
    run.warn(
      `${path.basename(folder)} was not stopped cleanly (the app was killed, or is still running): its last bytes may be missing`,
    );
  }
  const newIds = new Map<string, OpenedEndpoint>();
  const opened: Array<{ endpoint: OpenedEndpoint; entry: CapturedEndpoint }> = [];
  for (const entry of captured) {
    const description = entry.description;
    const identity = identityOf(description, newIds);
    if (!identity) {
      run.warn(`${description.id}: its description cannot be read; it was skipped`);
      continue;
    }
    const prefix =
      identity.role === 'listener' ? 'lst' : identity.kind === 'udp-socket' ? 'udp' : 'conn';
    const endpoint = new OpenedEndpoint(host.newId(prefix), host.context, identity, run);
    const parent = identity.parentId ? newIds.get(String(description['parentId'])) : undefined;
    parent?.children.push(endpoint);
    newIds.set(description.id, endpoint);
    host.add(endpoint);
    rebuildTimeline(endpoint, description);
    opened.push({ endpoint, entry });
    if (entry.keptFrom !== null && entry.keptFrom > 0) {
      run.warn(
        `${description.id} (now ${endpoint.id}): its oldest ${entry.keptFrom.toLocaleString('en-US')} bytes were deleted by the source's capture limit`,
      );
    }
    if (entry.missingChunks > 0) {
      run.warn(
        `${description.id} (now ${endpoint.id}): ${entry.missingChunks.toLocaleString('en-US')} chunks are indexed but their bytes are not in the folder`,
      );
    }
  }
  const files = new SegmentFiles();
  try {
    for (const { endpoint, entry } of opened) {
      const columns = rows.get(entry.number);
      if (!columns) continue;
      await replayRows(reader, files, endpoint, entry, columns, run);
    }
  } finally {
    await files.close();
  }
  for (const warning of reader.warnings) run.warn(warning);
  return opened.map(({ endpoint }) => endpoint.id);
}

/** A row bigger than this is not one the engine wrote: the index is damaged. */
const CHUNK_MAX_BYTES = 16 * 1024 * 1024;

/** The data segment files a replay reads, each opened once. */
class SegmentFiles {
  private readonly handles = new Map<string, fs.FileHandle>();

  async read(file: string, position: number, size: number): Promise<Uint8Array> {
    let handle = this.handles.get(file);
    if (!handle) {
      handle = await fs.open(file, 'r');
      this.handles.set(file, handle);
    }
    const bytes = new Uint8Array(size);
    const { bytesRead } = await handle.read(bytes, 0, size, position);
    return bytesRead === size ? bytes : bytes.subarray(0, bytesRead);
  }

  async close(): Promise<void> {
    await Promise.all([...this.handles.values()].map((handle) => handle.close()));
    this.handles.clear();
  }
}

/** One endpoint's kept chunks, read from the folder's data segments and replayed in order. */
async function replayRows(
  reader: CaptureFolderReader,
  files: SegmentFiles,
  endpoint: OpenedEndpoint,
  entry: CapturedEndpoint,
  columns: RowColumns,
  run: ImportRun,
): Promise<void> {
  for (let i = 0; i < columns.length && !endpoint.abandoned; i++) {
    const size = columns.size[i] as number;
    const where = reader.locate(columns.fileOffset[i] as number, size);
    if (!where) continue;
    if (size > CHUNK_MAX_BYTES) {
      run.warn(
        `${entry.description.id}: a chunk of ${size} bytes is not plausible; it was skipped`,
      );
      continue;
    }
    let bytes: Uint8Array;
    try {
      bytes = await files.read(where.file, where.position, size);
    } catch (error) {
      run.warn(`${path.basename(where.file)}: ${(error as Error).message}; reading stopped there`);
      return;
    }
    if (endpoint.abandoned) return;
    const peerIndex = columns.peer[i] as number;
    const peer = peerIndex >= 0 ? peerOf(entry.peers[peerIndex]) : undefined;
    const dir = columns.dir[i] === 0 ? 'in' : 'out';
    endpoint.replay(dir, bytes, columns.at[i] as number, peer);
    await run.paced(size);
  }
}

/** A peer as the folder describes it, if it is one. */
function peerOf(value: unknown): Peer | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const { host, port } = value as Record<string, unknown>;
  return typeof host === 'string' && typeof port === 'number' ? { host, port } : undefined;
}

function oneOf<T extends string>(values: readonly T[], value: unknown): T | undefined {
  return values.find((candidate) => candidate === value);
}

function addressOf(value: unknown): Address | null {
  const parsed = addressSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** What the description says the endpoint was, or undefined where it cannot be trusted. */
function identityOf(
  description: Record<string, unknown>,
  newIds: Map<string, OpenedEndpoint>,
): OpenedIdentity | undefined {
  const kind = oneOf(endpointKinds, description['kind']);
  const role = oneOf(endpointRoles, description['role']);
  if (!kind || !role) return undefined;
  const createdAt = description['createdAt'];
  const parent = newIds.get(String(description['parentId']));
  return {
    kind,
    role,
    parentId: parent?.id ?? null,
    local: addressOf(description['local']),
    remote: addressOf(description['remote']),
    createdAt: typeof createdAt === 'number' && Number.isFinite(createdAt) ? createdAt : 0,
    initialState:
      role === 'listener' || role === 'udp' ? 'opening' : role === 'client' ? 'connecting' : 'open',
  };
}

/** The state a connection is in after a segment event, given the state before it. */
function stateAfter(event: Transition['event'], before: EndpointState): EndpointState {
  switch (event) {
    case 'connect':
      return 'connecting';
    case 'established':
    case 'accepted':
      return 'open';
    case 'fin-sent':
      return before === 'half-closed-remote' ? 'closed' : 'half-closed-local';
    case 'fin-received':
      return before === 'half-closed-local' ? 'closed' : 'half-closed-remote';
    case 'rst-sent':
    case 'rst-received':
      return 'reset';
    default:
      return 'closed';
  }
}

/**
 * The timeline from the description's `transitions` (the segments that went on the wire), then
 * its last state: an opened endpoint is always finished, whatever it was when the capture ended.
 */
function rebuildTimeline(endpoint: OpenedEndpoint, description: Record<string, unknown>): void {
  const createdAt = endpoint.createdAt;
  if (endpoint.role === 'listener') endpoint.happened('listening', 'listening', createdAt);
  if (endpoint.role === 'udp') endpoint.happened('bound', 'bound', createdAt);
  const transitions = Array.isArray(description['transitions']) ? description['transitions'] : [];
  let lastAt = createdAt;
  for (const entry of transitions as unknown[]) {
    if (!entry || typeof entry !== 'object') continue;
    const fields = entry as Record<string, unknown>;
    const event = oneOf(transitionEvents, fields['event']);
    const at = fields['at'];
    if (!event || typeof at !== 'number' || !Number.isFinite(at)) continue;
    const by = oneOf(['local', 'remote'] as const, fields['by']);
    endpoint.happened(event, stateAfter(event, endpoint.currentState), at, by ? { by } : {});
    lastAt = at;
  }
  if (endpoint.isFinished) return;
  const endedAt = description['endedAt'];
  const at = typeof endedAt === 'number' && Number.isFinite(endedAt) ? endedAt : lastAt;
  const state = oneOf(endpointStates, description['state']);
  const error = userErrorOf(description['error']);
  if (state && isTerminalState(state)) {
    const event =
      endpoint.role === 'listener'
        ? 'stopped'
        : state === 'reset'
          ? 'rst-received'
          : state === 'error'
            ? 'error'
            : 'closed';
    endpoint.happened(event, state, at, error ? { error } : {});
  } else {
    endpoint.happened('closed', 'closed', at, {
      detail: `the capture ends here; it was ${state ?? 'open'} then`,
    });
  }
}

function userErrorOf(value: unknown): UserError | undefined {
  const parsed = userErrorSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
