/**
 * Workspaces (docs/workspaces.md), on real engines with a temporary data folder and real sockets:
 * saved, opened again by a new engine, and every file that must be refused left untouched.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import dgram from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/main/engine/engine';
import { createRouter, type Router } from '../../src/main/router';
import {
  WORKSPACE_JSON_MAX,
  type CommandInput,
  type EndpointInfo,
  type WorkspaceState,
} from '../../src/shared/contract';
import { call, eventually, portOf, refusal } from '../support/engine-helpers';
import { tempDir } from '../support/peers';

let dir: string;
const engines: Engine[] = [];
const servers: net.Server[] = [];

beforeEach(() => {
  dir = tempDir();
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.dispose()));
  await Promise.all(
    servers.splice(0).map((server) => new Promise<void>((done) => server.close(() => done()))),
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

function newEngine(dataDir: string | null = path.join(dir, 'data')): {
  engine: Engine;
  router: Router;
} {
  const engine = new Engine({ dataDir, keepFinished: 100 });
  engines.push(engine);
  return { engine, router: createRouter(engine) };
}

/** A port nothing listens on now (the OS picked it, then it was closed). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** A node:net server held by this test (another process, as far as the engine knows). */
async function holdPort(port = 0): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((socket) => socket.on('error', () => undefined));
  servers.push(server);
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', () => done()));
  return { server, port: (server.address() as net.AddressInfo).port };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function listening(engine: Engine): EndpointInfo[] {
  return engine.list().filter((e) => e.role === 'listener' && e.state === 'listening');
}

function workspaceFile(
  endpoints: unknown[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    format: 'socket-workbench-workspace',
    version: 1,
    savedAt: new Date().toISOString(),
    endpoints,
    library: [],
    view: { mode: 'text', decoding: 'utf-8', timestamps: false },
    ...extra,
  };
}

function writeJson(file: string, value: unknown): string {
  fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

const rule: CommandInput<'rules.set'>['rules'][number] = {
  id: 'ping',
  name: 'ping',
  match: { mode: 'exact', payload: { format: 'text', data: 'ping' } },
  reply: { format: 'text', data: 'pong' },
};

describe('saving and opening again', () => {
  it('a new engine with the same data folder opens the same endpoints, rules and library', async () => {
    const upstream = await holdPort();
    const [portA, portB, udpPort] = [await freePort(), await freePort(), await freePort()];
    const first = newEngine();
    await first.engine.workspace.start();
    const a = await call(first.router, 'tcp.listen', { host: '127.0.0.1', port: portA });
    await call(first.router, 'tcp.listen', { host: '127.0.0.1', port: portB, backlog: 7 });
    await call(first.router, 'tcp.connect', { host: '127.0.0.1', port: upstream.port });
    await call(first.router, 'udp.bind', { host: '127.0.0.1', port: udpPort });
    await call(first.router, 'rules.set', { id: a.id, mode: 'all', rules: [rule] });
    await call(first.router, 'library.save', {
      item: { id: 'hello', name: 'Hello', payload: { format: 'text', data: 'hello' } },
    });
    // A stopped listener is not part of the workspace.
    const stopped = await call(first.router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    await call(first.router, 'listener.stop', { id: stopped.id, closeConnections: true });
    await call(first.router, 'workspace.save', {
      view: { mode: 'hex', decoding: 'gbk', timestamps: true },
    });
    await first.engine.dispose();
    engines.splice(engines.indexOf(first.engine), 1);

    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'data', 'workspace.json'), 'utf8'));
    expect(saved.endpoints.map((e: { open: string }) => e.open)).toEqual([
      'tcp.listen',
      'tcp.listen',
      'tcp.connect',
      'udp.bind',
    ]);
    expect(fs.statSync(path.join(dir, 'data', 'workspace.json')).mode & 0o777).toBe(0o600);

    // The library file is another engine's business: a workspace brings its items back too.
    fs.rmSync(path.join(dir, 'data', 'payloads.json'));
    const accepted = new Promise<void>((done) => upstream.server.once('connection', () => done()));
    const second = newEngine();
    await second.engine.workspace.start();
    const state = await call(second.router, 'workspace.get', {});
    expect(state.lastOpen).toMatchObject({ opened: 4, failed: [], error: null });
    expect(state.view).toEqual({ mode: 'hex', decoding: 'gbk', timestamps: true });
    expect(state.isDefault).toBe(true);
    expect(listening(second.engine).map(portOf).sort()).toEqual([portA, portB].sort());
    expect(await canConnect(portA)).toBe(true);
    expect(await canConnect(portB)).toBe(true);
    await accepted;
    const udp = second.engine.list().find((e) => e.role === 'udp');
    expect(udp?.state).toBe('bound');
    expect(udp && portOf(udp)).toBe(udpPort);
    const reopenedA = listening(second.engine).find((e) => portOf(e) === portA);
    const rules = await call(second.router, 'rules.get', { id: reopenedA?.id ?? '' });
    expect(rules.mode).toBe('all');
    expect(rules.rules.map((r) => r.id)).toEqual(['ping']);
    const library = await call(second.router, 'library.list', {});
    expect(library.items.map((item) => item.id)).toEqual(['hello']);
    // The rules work: the reopened listener answers.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: portA }, () => socket.write('ping'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString());
      });
      socket.once('error', reject);
    });
    expect(reply).toBe('pong');
  });

  it('saves by itself after a change', async () => {
    const { engine, router } = newEngine();
    await engine.workspace.start();
    const file = path.join(dir, 'data', 'workspace.json');
    expect(fs.existsSync(file)).toBe(false);
    await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    // The file is in place (renamed) a moment before the save is done (the folder synced).
    const saved = await eventually('the workspace saved', async () => {
      if (!fs.existsSync(file) || engine.workspace.state().savedAt === null) return undefined;
      const value = JSON.parse(fs.readFileSync(file, 'utf8'));
      return value.endpoints.length === 1 ? value : undefined;
    });
    expect(saved.endpoints[0]).toMatchObject({ open: 'tcp.listen', input: { port: 0 } });
    expect(engine.workspace.state().saveError).toBeNull();
  });

  it('a change made while the last save is written on stop is not saved after it', async () => {
    const { engine, router } = newEngine();
    await engine.workspace.start();
    const file = path.join(dir, 'data', 'workspace.json');
    await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    const udp = await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
    // The stop's save is under way (the autosave not yet due) when the UDP socket closes.
    const disposing = engine.workspace.dispose();
    await new Promise((resolve) => setImmediate(resolve));
    await call(router, 'udp.close', { id: udp.id });
    await disposing;
    const atStop = fs.readFileSync(file, 'utf8');
    expect(JSON.parse(atStop).endpoints).toHaveLength(2);
    // Past the autosave delay: nothing else was written.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(fs.readFileSync(file, 'utf8')).toBe(atStop);
  });

  it('a port held by another process fails alone; the others open', async () => {
    const held = await holdPort();
    const [free1, free2] = [await freePort(), await freePort()];
    const file = writeJson(
      path.join(dir, 'ports.json'),
      workspaceFile([
        { open: 'tcp.listen', input: { host: '127.0.0.1', port: free1 } },
        { open: 'tcp.listen', input: { host: '127.0.0.1', port: held.port } },
        { open: 'tcp.listen', input: { host: '127.0.0.1', port: free2 } },
      ]),
    );
    const { engine, router } = newEngine();
    await engine.workspace.start();
    const state = await call(router, 'workspace.open', { path: file });
    expect(state.path).toBe(file);
    expect(state.recent[0]).toBe(file);
    expect(state.lastOpen?.opened).toBe(2);
    expect(state.lastOpen?.failed).toHaveLength(1);
    expect(state.lastOpen?.failed[0]?.label).toBe(`TCP listener 127.0.0.1:${held.port}`);
    expect(state.lastOpen?.failed[0]?.error.code).toBe('EADDRINUSE');
    expect(listening(engine).map(portOf).sort()).toEqual([free1, free2].sort());
    // The one that could not open stays in the workspace (the port may be free next time).
    await call(router, 'workspace.save', {});
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(saved.endpoints.map((e: { input: { port: number } }) => e.input.port)).toEqual([
      free1,
      held.port,
      free2,
    ]);
  });

  it('opening another workspace closes what was open', async () => {
    const { engine, router } = newEngine();
    await engine.workspace.start();
    const before = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    const port = await freePort();
    const file = writeJson(
      path.join(dir, 'other.json'),
      workspaceFile([{ open: 'tcp.listen', input: { host: '127.0.0.1', port } }]),
    );
    await call(router, 'workspace.open', { path: file });
    expect(engine.info(before.id).state).toBe('closed');
    expect(await canConnect(portOf(before))).toBe(false);
    expect(listening(engine).map(portOf)).toEqual([port]);
  });

  it('an endpoint that failed to open stays with its workspace, not the next one opened', async () => {
    const held = await holdPort();
    const first = writeJson(
      path.join(dir, 'first.json'),
      workspaceFile([{ open: 'tcp.listen', input: { host: '127.0.0.1', port: held.port } }]),
    );
    const port = await freePort();
    const second = writeJson(
      path.join(dir, 'second.json'),
      workspaceFile([{ open: 'tcp.listen', input: { host: '127.0.0.1', port } }]),
    );
    const { engine, router } = newEngine();
    await engine.workspace.start();
    expect((await call(router, 'workspace.open', { path: first })).lastOpen?.failed).toHaveLength(
      1,
    );
    await call(router, 'workspace.open', { path: second });
    await call(router, 'workspace.save', {});
    const saved = JSON.parse(fs.readFileSync(second, 'utf8'));
    expect(saved.endpoints.map((e: { input: { port: number } }) => e.input.port)).toEqual([port]);
    // The first file still has its own.
    const kept = JSON.parse(fs.readFileSync(first, 'utf8'));
    expect(kept.endpoints.map((e: { input: { port: number } }) => e.input.port)).toEqual([
      held.port,
    ]);
  });

  it('an open the user tried that failed is not saved; one the workspace could not reopen is', async () => {
    const held = await holdPort();
    const file = writeJson(
      path.join(dir, 'mixed.json'),
      workspaceFile([{ open: 'tcp.listen', input: { host: '127.0.0.1', port: held.port } }]),
    );
    const { engine, router } = newEngine();
    await engine.workspace.start();
    await call(router, 'workspace.open', { path: file });
    // Then the user: a listener that opens, a client to a port nothing listens on, and a
    // listener on the held port.
    const listener = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    const nobody = await freePort();
    expect((await refusal(router, 'tcp.connect', { host: '127.0.0.1', port: nobody })).code).toBe(
      'ECONNREFUSED',
    );
    expect((await refusal(router, 'tcp.listen', { host: '127.0.0.1', port: held.port })).code).toBe(
      'EADDRINUSE',
    );
    await call(router, 'workspace.save', {});
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(
      saved.endpoints.map((e: { open: string; input: { port: number } }) => [e.open, e.input.port]),
    ).toEqual([
      ['tcp.listen', held.port],
      // Saved as asked: port 0, any free port.
      ['tcp.listen', 0],
    ]);
    expect(engine.info(listener.id).state).toBe('listening');
  });

  it('a client whose connect fails is reported, not retried', async () => {
    const port = await freePort();
    const file = writeJson(
      path.join(dir, 'client.json'),
      workspaceFile([{ open: 'tcp.connect', input: { host: '127.0.0.1', port } }]),
    );
    const { router } = newEngine(null);
    const state = await call(router, 'workspace.open', { path: file });
    expect(state.lastOpen?.opened).toBe(0);
    expect(state.lastOpen?.failed[0]).toMatchObject({
      label: `TCP client 127.0.0.1:${port}`,
      error: { code: 'ECONNREFUSED' },
    });
  });
});

describe('files that are refused', () => {
  async function refusedFile(
    name: string,
    content: string | Buffer,
  ): Promise<{ code: string; message: string; state: WorkspaceState; unchanged: boolean }> {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    const { engine, router } = newEngine();
    await engine.workspace.start();
    const kept = await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    const error = await refusal(router, 'workspace.open', { path: file });
    expect(engine.info(kept.id).state).toBe('listening');
    const state = await call(router, 'workspace.get', {});
    return {
      ...error,
      state,
      unchanged: Buffer.compare(fs.readFileSync(file), Buffer.from(content)) === 0,
    };
  }

  it('corrupt JSON', async () => {
    const result = await refusedFile('corrupt.json', '{"format": "socket-workbench-wor');
    expect(result.code).toBe('BAD_WORKSPACE_FILE');
    expect(result.unchanged).toBe(true);
    expect(result.state.path).toBe(path.join(dir, 'data', 'workspace.json'));
  });

  it('a wrong field, named in the message', async () => {
    const bad = workspaceFile([
      { open: 'tcp.listen', input: { host: '127.0.0.1', port: 1 } },
      { open: 'udp.bind', input: { host: '127.0.0.1', port: 70000 } },
    ]);
    const result = await refusedFile('wrong.json', JSON.stringify(bad));
    expect(result.code).toBe('BAD_WORKSPACE_FILE');
    expect(result.message).toContain('endpoints[1].input.port');
    expect(result.unchanged).toBe(true);
  });

  it('a newer version', async () => {
    const newer = { ...workspaceFile([]), version: 99, somethingNew: true };
    const result = await refusedFile('newer.json', JSON.stringify(newer));
    expect(result.code).toBe('WORKSPACE_TOO_NEW');
    expect(result.message).toContain('version 99');
    expect(result.unchanged).toBe(true);
  });

  it('a file larger than a workspace can be', async () => {
    const big = Buffer.alloc(WORKSPACE_JSON_MAX + 1, 0x20);
    const result = await refusedFile('big.json', big);
    expect(result.code).toBe('BAD_WORKSPACE_FILE');
    expect(result.message).toContain('larger than a workspace can be');
    expect(result.unchanged).toBe(true);
  });

  it('a name that does not end in .json', async () => {
    const { router } = newEngine();
    const error = await refusal(router, 'workspace.open', { path: '/etc/passwd' });
    expect(error.code).toBe('INVALID_PATH');
  });

  it('Save as onto a file that is not a workspace: WOULD_OVERWRITE, the file untouched', async () => {
    const { engine, router } = newEngine();
    await engine.workspace.start();
    const file = writeJson(path.join(dir, 'package.json'), { name: 'not-a-workspace' });
    const before = fs.readFileSync(file);
    const error = await refusal(router, 'workspace.save', { path: file });
    expect(error.code).toBe('WOULD_OVERWRITE');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    const txt = await refusal(router, 'workspace.save', { path: path.join(dir, 'notes.txt') });
    expect(txt.code).toBe('INVALID_PATH');
  });

  it('Save as makes the file the workspace in use, and a recent one', async () => {
    const { engine, router } = newEngine(null);
    expect(engine.workspace.state().path).toBeNull();
    const unsaved = await refusal(router, 'workspace.save', {});
    expect(unsaved.code).toBe('INVALID_PATH');
    await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    const file = path.join(dir, 'mine.json');
    const state = await call(router, 'workspace.save', { path: file });
    expect(state).toMatchObject({ path: file, isDefault: false, recent: [file], saveError: null });
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).endpoints).toHaveLength(1);
    // Autosave now goes there.
    await call(router, 'udp.bind', { host: '127.0.0.1', port: 0 });
    await eventually('the second endpoint saved', async () => {
      const value = JSON.parse(fs.readFileSync(file, 'utf8'));
      return value.endpoints.length === 2 || undefined;
    });
  });
});

describe('start-up', () => {
  it('a corrupt workspace in use: the app starts empty, says why, and never writes over it', async () => {
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    const file = path.join(data, 'workspace.json');
    const corrupt = '{"format": "socket-workbench-workspace", "version": 1, "endpoi';
    fs.writeFileSync(file, corrupt);
    const { engine, router } = newEngine(data);
    await engine.workspace.start();
    const state = await call(router, 'workspace.get', {});
    expect(state.lastOpen?.error?.code).toBe('BAD_WORKSPACE_FILE');
    expect(state.saveError).not.toBeNull();
    await call(router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    const explicit = await refusal(router, 'workspace.save', {});
    expect(explicit.code).toBe('WOULD_OVERWRITE');
    await engine.dispose();
    engines.splice(engines.indexOf(engine), 1);
    expect(fs.readFileSync(file, 'utf8')).toBe(corrupt);
  });

  it('a workspace in use with one wrong field is never written over by Save either', async () => {
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    const file = path.join(data, 'workspace.json');
    const port = await freePort();
    const text = JSON.stringify(
      workspaceFile([
        { open: 'tcp.listen', input: { host: '127.0.0.1', port } },
        { open: 'tcp.listen', input: { host: '127.0.0.1', port: 70_000 } },
      ]),
    );
    fs.writeFileSync(file, text);
    const { engine, router } = newEngine(data);
    await engine.workspace.start();
    expect((await call(router, 'workspace.get', {})).lastOpen?.error?.code).toBe(
      'BAD_WORKSPACE_FILE',
    );
    const explicit = await refusal(router, 'workspace.save', {});
    expect(explicit.code).toBe('WOULD_OVERWRITE');
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
    // Saved under another name, it is saved again from then on.
    const other = path.join(dir, 'other.json');
    expect((await call(router, 'workspace.save', { path: other })).saveError).toBeNull();
    await call(router, 'workspace.save', {});
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
  });

  it('--workspace FILE opens that file; a newer one is reported and kept', async () => {
    const port = await freePort();
    const named = writeJson(
      path.join(dir, 'named.json'),
      workspaceFile([{ open: 'udp.bind', input: { host: '127.0.0.1', port } }]),
    );
    const { engine } = newEngine();
    await engine.workspace.start({ path: named });
    expect(engine.workspace.state()).toMatchObject({ path: named, isDefault: false });
    const socket = dgram.createSocket('udp4');
    const bound = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => resolve(true));
    });
    socket.close();
    expect(bound).toBe(false);

    const newer = writeJson(path.join(dir, 'newer.json'), { ...workspaceFile([]), version: 99 });
    const before = fs.readFileSync(newer);
    const other = newEngine(path.join(dir, 'data2'));
    await other.engine.workspace.start({ path: newer });
    expect(other.engine.workspace.state().lastOpen?.error?.code).toBe('WORKSPACE_TOO_NEW');
    await other.engine.dispose();
    engines.splice(engines.indexOf(other.engine), 1);
    expect(fs.readFileSync(newer).equals(before)).toBe(true);
  });

  it('reopenOnStart off: the next start opens nothing', async () => {
    const first = newEngine();
    await first.engine.workspace.start();
    await call(first.router, 'tcp.listen', { host: '127.0.0.1', port: 0 });
    await call(first.router, 'workspace.settings', { reopenOnStart: false });
    await first.engine.dispose();
    engines.splice(engines.indexOf(first.engine), 1);
    const second = newEngine();
    await second.engine.workspace.start();
    expect(second.engine.list()).toEqual([]);
    expect(second.engine.workspace.state()).toMatchObject({ reopenOnStart: false, lastOpen: null });
  });
});
