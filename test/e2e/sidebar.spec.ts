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
