/**
 * `serve --workspace FILE`: the flag, and a server that opens the file before its first page,
 * saves changes to it, and writes it on a clean stop.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCommandLine, startServer } from '../../src/main/serve';
import type { EndpointInfo, WorkspaceState } from '../../src/shared/contract';
import { Page } from '../support/serve-peers';
import { exited, tempDir } from '../support/peers';
import { waitUntil } from '../support/wait';

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

/** A workspace file in the test's folder holding these endpoints; its path. */
function writeWorkspace(name: string, endpoints: unknown[]): string {
  const file = path.join(root, name);
  const workspace = { format: 'socket-workbench-workspace', version: 1, savedAt: '', endpoints };
  fs.writeFileSync(file, JSON.stringify({ ...workspace, library: [], view: {} }));
  return file;
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
    const file = writeWorkspace('lab.json', [
      { open: 'tcp.listen', input: { host: '127.0.0.1', port } },
    ]);
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

  it('says on stderr what the workspace opened where other machines can reach it', async () => {
    const file = writeWorkspace('shared.json', [
      { open: 'tcp.listen', input: { host: '127.0.0.1', port: 0 } },
      { open: 'tcp.listen', input: { host: '0.0.0.0', port: 0 } },
    ]);
    const repo = path.resolve(import.meta.dirname, '../..');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(repo, 'src/main/serve/index.ts'),
        '--port',
        '0',
        '--data-dir',
        path.join(root, 'data'),
        '--workspace',
        file,
      ],
      { cwd: repo },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    try {
      await waitUntil('the notice', () => /can reach them: .*\n/.test(stderr), 20_000);
      expect(stdout).toMatch(/^Socket Workbench: http:\/\/127\.0\.0\.1:\d+\/\?token=/);
      expect(stderr).toMatch(
        /^Socket Workbench: the workspace opened these where other machines can reach them: TCP listener 0\.0\.0\.0:[1-9]\d*$/m,
      );
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });
});
