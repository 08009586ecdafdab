import { connectTcp, expect, openTcpListener, pane, row, send, terminal, test } from './fixtures';

test('a listener accepts a client; both sides see the bytes and the teardown', async ({ app }) => {
  const port = await openTcpListener(app);
  await expect(row(app, /TCP listener/)).toContainText('listening');

  await connectTcp(app, port);
  await expect(pane(app)).toContainText('open');
  await expect(row(app, /TCP listener/)).toContainText('1 connection');

  await send(app, 'hello\\r\\n');
  await expect(app.getByRole('status').filter({ hasText: 'Sent 7 bytes' })).toBeVisible();
  await expect(terminal(app)).toContainText('hello');

  // The accepted side: nested under the listener, it received exactly what the client sent.
  const accepted = app.getByRole('treeitem', { level: 2 });
  await accepted.click();
  await expect(pane(app).getByText('accept()', { exact: true })).toBeVisible();
  await expect(terminal(app)).toContainText('hello');
  await expect(pane(app).getByRole('group', { name: 'Counters' })).toContainText('Bytes in 7');

  await send(app, 'pong');
  await app.getByRole('button', { name: 'Half-close', exact: true }).click();
  await expect(pane(app).getByRole('heading', { level: 2 }).locator('..')).toContainText(
    'half-closed (we sent FIN)',
  );
  await expect(pane(app)).toContainText('shutdown(SHUT_WR) → FIN');

  // The client saw our FIN as the end of the stream, and our reply before it.
  await row(app, /^TCP 127\.0\.0\.1:\d+ half-closed \(peer sent FIN\)/).click();
  await expect(pane(app)).toContainText('← FIN (read returns 0)');
  await expect(terminal(app)).toContainText('pong');

  await app.getByRole('button', { name: 'Close', exact: true }).click();
  await expect(pane(app)).toContainText('closed');
  await app.getByRole('button', { name: 'Forget', exact: true }).click();
  await expect(app.getByRole('heading', { name: 'Nothing selected' })).toBeVisible();
});

test('a refused connection shows the engine error in the form', async ({ app }) => {
  const port = await openTcpListener(app);
  await app.getByRole('button', { name: 'Stop listening' }).click();
  await expect(row(app, /TCP listener/)).toContainText('closed');

  await connectTcp(app, port, { expectOpen: false });
  await expect(app.getByRole('tabpanel').getByRole('alert')).toContainText('ECONNREFUSED');
});

test('the open forms check their fields before sending anything', async ({ app }) => {
  await app.getByRole('tab', { name: 'TCP client' }).click();
  const port = app.getByLabel('Port', { exact: true });
  await port.fill('70000');
  await expect(port).toHaveAttribute('aria-invalid', 'true');
  await expect(app.getByText('Port must be a whole number from 1 to 65535')).toBeVisible();
  await expect(app.getByRole('button', { name: 'Connect', exact: true })).toBeDisabled();

  await port.fill('8080');
  await app.getByLabel('Host', { exact: true }).fill('bad host!');
  await expect(app.getByText(/A host may only contain/)).toBeVisible();
});

test('reset aborts the connection with RST on both sides', async ({ app }) => {
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  await expect(pane(app)).toContainText('SYN-ACK received, ACK sent');
  await app.getByRole('button', { name: 'Reset', exact: true }).click();
  await expect(pane(app)).toContainText('RST →');
  await app.getByRole('treeitem', { level: 2 }).click();
  await expect(pane(app)).toContainText('← RST (ECONNRESET)');
});
