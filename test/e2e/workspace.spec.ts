/**
 * Workspaces in the UI (docs/workspaces.md): a listener saved with Save as lands in the file;
 * a workspace file written here opens its listeners, and one whose port is held elsewhere is
 * reported by name while the others open.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, openTcpListener, pane, row, test } from './fixtures';

let folder: string;
test.beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'sw-e2e-workspace-'));
});
test.afterEach(() => {
  rmSync(folder, { recursive: true, force: true });
});

async function openMenu(page: Page) {
  const summary = page.locator('summary').filter({ hasText: /^Workspace:/ });
  await summary.click();
  return page.locator('details').filter({ has: summary });
}

async function listenOnFreePort(): Promise<net.Server> {
  const server = net.createServer((socket) => socket.on('error', () => undefined));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  return server;
}

const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;

async function freePort(): Promise<number> {
  const server = await listenOnFreePort();
  const port = portOf(server);
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

test('Save as writes the open listener to a file of my choosing', async ({ app }) => {
  const port = await openTcpListener(app);
  const menu = await openMenu(app);
  await expect(menu).toContainText('default');
  const file = join(folder, 'mine.json');
  await menu.getByLabel('Save to file', { exact: true }).fill(file);
  await menu.getByRole('button', { name: 'Save as', exact: true }).click();
  await expect(menu.getByRole('status')).toContainText('mine.json');
  await expect(app.locator('summary').filter({ hasText: 'Workspace: mine.json' })).toBeVisible();
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  expect(saved.format).toBe('socket-workbench-workspace');
  expect(saved.endpoints).toEqual([
    expect.objectContaining({ open: 'tcp.listen', input: expect.objectContaining({ port: 0 }) }),
  ]);
  expect(port).toBeGreaterThan(0);
  await expect(menu.getByRole('button', { name: `Open ${file}` })).toBeVisible();
  // Ctrl+S saves now, wherever the focus is.
  await app.keyboard.press('Control+s');
  await expect(menu.getByRole('status')).toHaveText('Saved.');

  // A file that is not a workspace is not overwritten, and the UI says so.
  const other = join(folder, 'package.json');
  writeFileSync(other, '{"name": "mine"}');
  await menu.getByLabel('Save to file', { exact: true }).fill(other);
  await menu.getByRole('button', { name: 'Save as', exact: true }).click();
  await expect(menu.getByRole('alert')).toContainText('was not overwritten');
  expect(readFileSync(other, 'utf8')).toBe('{"name": "mine"}');
});

test('opening a workspace file opens its listeners and names the one that failed', async ({
  app,
}) => {
  const held = await listenOnFreePort();
  try {
    const [first, second, udp] = [await freePort(), await freePort(), await freePort()];
    const endpoint = (port: number) => ({
      open: 'tcp.listen',
      input: { host: '127.0.0.1', port },
    });
    const file = join(folder, 'lab.json');
    writeFileSync(
      file,
      JSON.stringify({
        format: 'socket-workbench-workspace',
        version: 1,
        savedAt: new Date().toISOString(),
        endpoints: [
          endpoint(first),
          endpoint(portOf(held)),
          endpoint(second),
          { open: 'udp.bind', input: { host: '127.0.0.1', port: udp } },
        ],
        library: [],
        view: { mode: 'hex', decoding: 'utf-8', timestamps: false },
      }),
    );
    const menu = await openMenu(app);
    await menu.getByLabel('File to open', { exact: true }).fill(file);
    await menu.getByRole('button', { name: 'Open', exact: true }).click();

    const report = app.getByRole('status', { name: 'Workspace opened' });
    await expect(report).toContainText('Opened 3 of 4 endpoints from lab.json');
    await expect(report).toContainText(`TCP listener 127.0.0.1:${portOf(held)}:`);
    await expect(report).toContainText('already in use');
    await expect(row(app, new RegExp(`127\\.0\\.0\\.1:${first}.*listening`))).toBeVisible();
    await expect(row(app, new RegExp(`127\\.0\\.0\\.1:${second}.*listening`))).toBeVisible();
    await expect(app.locator('summary').filter({ hasText: 'Workspace: lab.json' })).toBeVisible();
    // The workspace's view settings apply to the traffic view.
    await row(app, new RegExp(`127\\.0\\.0\\.1:${udp}`)).click();
    await expect(pane(app).getByLabel('Mode', { exact: true })).toHaveValue('hex');
    await report.getByRole('button', { name: 'Dismiss' }).click();
    await expect(report).toBeHidden();

    // A file that is not a workspace changes nothing, and says which field is wrong.
    const broken = join(folder, 'broken.json');
    const text = JSON.stringify({
      format: 'socket-workbench-workspace',
      version: 1,
      savedAt: '',
      endpoints: [{ open: 'tcp.listen', input: { host: '127.0.0.1', port: -1 } }],
      library: [],
      view: {},
    });
    writeFileSync(broken, text);
    const again = await openMenu(app);
    await again.getByLabel('File to open', { exact: true }).fill(broken);
    await again.getByRole('button', { name: 'Open', exact: true }).click();
    await expect(again.getByRole('alert')).toContainText('endpoints[0].input.port');
    expect(readFileSync(broken, 'utf8')).toBe(text);
    await expect(row(app, new RegExp(`127\\.0\\.0\\.1:${first}.*listening`))).toBeVisible();
  } finally {
    await new Promise<void>((done) => held.close(() => done()));
  }
});
