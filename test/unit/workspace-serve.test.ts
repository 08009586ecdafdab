/**
 * `serve --workspace FILE`: the flag, and a server that opens the file before its first page,
 * saves changes to it, and writes it on a clean stop.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCommandLine, startServer } from '../../src/main/serve';
import type { EndpointInfo, WorkspaceState } from '../../src/shared/contract';
import { Page } from '../support/serve-peers';
import { tempDir } from '../support/peers';

let root: string;
beforeEach(() => {
  root = tempDir();
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

describe('serve --workspace', () => {
  it('takes a .json file, as an absolute path', () => {
    expect(parseCommandLine(['--workspace', 'lab.json'])).toMatchObject({
      workspace: path.resolve('lab.json'),
    });
    expect(parseCommandLine(['--workspace', '/etc/passwd'])).toMatch(/names a \.json file/);
    expect(parseCommandLine(['--workspace', ''])).toMatch(/--workspace is empty/);
  });

  it('opens the file before the first page, and saves to it on a clean stop', async () => {
    const rendererDir = path.join(root, 'renderer');
    fs.mkdirSync(rendererDir);
    fs.writeFileSync(path.join(rendererDir, 'index.html'), '<title>Socket Workbench</title>');
    const port = await freePort();
    const file = path.join(root, 'lab.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        format: 'socket-workbench-workspace',
        version: 1,
        savedAt: '',
        endpoints: [{ open: 'tcp.listen', input: { host: '127.0.0.1', port } }],
        library: [],
        view: {},
      }),
    );
    const server = await startServer({
      port: 0,
      rendererDir,
      dataDir: path.join(root, 'data'),
      workspace: file,
    });
    const page = await Page.open(server);
    const state = await page.call<WorkspaceState>('workspace.get', {});
    expect(state).toMatchObject({ path: file, isDefault: false, lastOpen: { opened: 1 } });
    const { endpoints } = await page.call<{ endpoints: EndpointInfo[] }>('session.snapshot', {});
    expect(endpoints.map((e) => e.state)).toEqual(['listening']);
    await page.call('udp.bind', { host: '127.0.0.1', port: 0 });
    await page.close();
    await server.close();
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(saved.endpoints.map((e: { open: string }) => e.open)).toEqual([
      'tcp.listen',
      'udp.bind',
    ]);
    const settings = JSON.parse(
      fs.readFileSync(path.join(root, 'data', 'workspaces.json'), 'utf8'),
    );
    expect(settings).toMatchObject({ current: file, recent: [file], reopenOnStart: true });
  });
});
