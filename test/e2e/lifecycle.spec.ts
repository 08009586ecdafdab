import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPythonPeer } from '../support/engine-helpers';
import { expect, openTab, openTcpListener, pane, row, send, terminal, test } from './fixtures';

/**
 * A writer that stops when the workbench stops reading: it sends without blocking until the
 * kernel's buffers are full, reports how far it got, then (told to go on) sends the rest.
 */
const writer = `
import socket, sys
TOTAL = 64 * 1024 * 1024
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
print('connected', flush=True)
sys.stdin.readline()
s.setblocking(False)
block = b'x' * 65536
sent = 0
try:
    while sent < TOTAL:
        sent += s.send(block[: min(len(block), TOTAL - sent)])
except BlockingIOError:
    pass
print('stalled', sent, flush=True)
s.setblocking(True)
while sent < TOTAL:
    sent += s.send(block[: min(len(block), TOTAL - sent)])
print('done', sent, flush=True)
s.close()
`;

test('pausing reading stalls the peer’s writes until reading resumes', async ({ app }) => {
  const port = await openTcpListener(app);
  const { child: python, lines, exited } = startPythonPeer(writer, [port]);

  await app.getByRole('treeitem', { level: 2 }).click();
  await app.getByRole('button', { name: 'Pause reading' }).click();
  await expect(pane(app)).toContainText('reading paused');
  await expect.poll(() => lines.includes('connected')).toBe(true);

  python.stdin?.write('go\n');
  await expect.poll(() => lines.find((l) => l.startsWith('stalled'))).toBeTruthy();
  const stalledAt = Number(lines.find((l) => l.startsWith('stalled'))?.split(' ')[1]);
  expect(stalledAt).toBeLessThan(64 * 1024 * 1024);

  await app.getByRole('button', { name: 'Resume reading' }).click();
  await expect(pane(app)).toContainText('reading resumed');
  const code = await exited;
  expect(code).toBe(0);
  expect(lines).toContain(`done ${64 * 1024 * 1024}`);
  await expect(pane(app).getByRole('group', { name: 'Counters' })).toContainText(
    'Bytes in 67,108,864',
  );
});

test.describe('Unix-domain sockets', () => {
  let dir = '';
  test.beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'swb-e2e-'));
  });
  test.afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a Unix listener and client exchange bytes', async ({ app }) => {
    const path = join(dir, 'echo.sock');
    await openTab(app, 'Unix listener');
    await app.getByLabel('Path', { exact: true }).fill(path);
    await app.getByRole('button', { name: 'Open listener' }).click();
    await expect(row(app, /Unix listener/)).toContainText('listening');

    await openTab(app, 'Unix client');
    await app.getByLabel('Path', { exact: true }).fill(path);
    await app.getByRole('button', { name: 'Connect', exact: true }).click();
    await expect(pane(app)).toContainText('connect(path)');
    await send(app, 'over a path');

    await app.getByRole('treeitem', { level: 2 }).click();
    await expect(terminal(app)).toContainText('over a path');
  });

  test('a stale socket file is reported, and removed when asked', async ({ app }) => {
    const path = join(dir, 'stale.sock');
    // A socket bound and closed without unlink leaves the file behind, with nobody listening.
    const binder = startPythonPeer(
      `import socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.close()`,
      [path],
    );
    expect(await binder.exited).toBe(0);

    await openTab(app, 'Unix listener');
    await app.getByLabel('Path', { exact: true }).fill(path);
    await app.getByRole('button', { name: 'Open listener' }).click();
    await expect(app.getByRole('tabpanel').getByRole('alert')).toContainText(
      `A stale socket file is left at ${path}`,
    );

    await app.getByLabel('Remove stale socket file').check();
    await app.getByRole('button', { name: 'Open listener' }).click();
    await expect(pane(app).getByRole('heading', { level: 2 })).toContainText(path);
    await expect(pane(app)).toContainText('listening');
  });
});
