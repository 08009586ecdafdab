import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect, openTcpListener, pane, row, test } from './fixtures';

/** Opens `count` connections to a port and holds them until stdin closes. */
const swarm = `
import socket, sys
conns = [socket.create_connection(('127.0.0.1', int(sys.argv[1]))) for _ in range(int(sys.argv[2]))]
print('open', len(conns), flush=True)
sys.stdin.read()
`;

test('a long endpoint list stays small in the DOM and fully reachable', async ({ app }) => {
  const port = await openTcpListener(app);
  const python = spawn('python3', ['-c', swarm, String(port), '400']);
  const exited = once(python, 'exit');
  await expect(row(app, /TCP listener/)).toContainText('400 connections');

  // Only the rows in view (and a margin) exist; the tree still tells their place in the whole.
  const items = app.getByRole('treeitem');
  expect(await items.count()).toBeLessThan(100);
  const first = app.getByRole('treeitem', { level: 2 }).first();
  await expect(first).toHaveAttribute('aria-setsize', '400');
  await expect(first).toHaveAttribute('aria-posinset', '1');

  // The keyboard reaches the last one, which is rendered on the way.
  await row(app, /TCP listener/).focus();
  await app.keyboard.press('End');
  const last = app.getByRole('treeitem', { level: 2 }).and(app.locator('[aria-posinset="400"]'));
  await expect(last).toBeFocused();
  await app.keyboard.press('Enter');
  await expect(pane(app)).toContainText('accept()');

  python.stdin.end();
  await exited;
});

test('Forget finished clears closed entries and keeps what is open', async ({ app }) => {
  const port = await openTcpListener(app);
  // Three peers come and reset; one stays.
  const python = spawn('python3', [
    '-c',
    `
import socket, struct, sys
port = int(sys.argv[1])
for _ in range(3):
    gone = socket.create_connection(('127.0.0.1', port))
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    gone.close()
stay = socket.create_connection(('127.0.0.1', port))
print('ready', flush=True)
sys.stdin.read()
`,
    String(port),
  ]);
  const exited = once(python, 'exit');
  await once(python.stdout, 'data');
  const accepted = app.getByRole('treeitem', { level: 2 });
  await expect(accepted).toHaveCount(4);
  await expect(accepted.filter({ hasText: 'reset' })).toHaveCount(3);

  await app.getByRole('button', { name: 'Forget finished' }).click();
  await expect(app.getByRole('status').filter({ hasText: 'Forgot 3.' })).toBeVisible();
  await expect(accepted).toHaveCount(1);
  await expect(accepted).toContainText('open');
  await expect(row(app, /TCP listener/)).toContainText('listening');

  await app.getByRole('button', { name: 'Forget finished' }).click();
  await expect(
    app.getByRole('status').filter({ hasText: 'Nothing finished to forget.' }),
  ).toBeVisible();
  python.stdin.end();
  await exited;
});
