import {
  connectTcp,
  expect,
  openTab,
  openTcpListener,
  pane,
  row,
  terminal,
  test,
} from './fixtures';

test('the composer previews the exact bytes and blocks a bad payload', async ({ app }) => {
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  const preview = pane(app).getByRole('status', { name: 'Preview' });
  const sendButton = app.getByRole('button', { name: 'Send', exact: true });

  await app.getByLabel('Payload', { exact: true }).fill('A\\x00\\r\\n');
  await expect(preview).toContainText('4 bytes');
  await expect(preview).toContainText('41 00 0d 0a');

  await app.getByLabel('Format', { exact: true }).selectOption('hex');
  await app.getByLabel('Payload', { exact: true }).fill('de ad zz');
  await expect(preview).toContainText('Invalid hex digit "z" at position 6');
  await expect(sendButton).toBeDisabled();

  await app.getByLabel('Payload', { exact: true }).fill('de ad be ef');
  await expect(preview).toContainText('4 bytes');
  await app.getByLabel('Payload', { exact: true }).press('Control+Enter');
  await expect(pane(app).getByRole('status').filter({ hasText: 'Sent 4 bytes' })).toBeVisible();

  // The history brings the payload back with its format.
  await app.getByLabel('Format', { exact: true }).selectOption('text');
  await app.getByLabel('Payload', { exact: true }).fill('');
  await app.getByLabel('History').selectOption({ index: 1 });
  await expect(app.getByLabel('Payload', { exact: true })).toHaveValue('de ad be ef');
  await expect(app.getByLabel('Format', { exact: true })).toHaveValue('hex');
});

test('a legacy encoding is previewed by the engine', async ({ app }) => {
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  await app.getByLabel('Encoding', { exact: true }).selectOption('gbk');
  await app.getByLabel('Payload', { exact: true }).fill('你好');
  await expect(pane(app).getByRole('status', { name: 'Preview' })).toContainText('c4 e3 ba c3');
});

test('a listener broadcasts to every connection it accepted', async ({ app }) => {
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  await connectTcp(app, port);
  await row(app, /TCP listener/).click();
  await expect(pane(app).getByRole('heading', { name: 'Accepted connections' })).toBeVisible();

  await app.getByLabel('Payload', { exact: true }).fill('to everyone\\n');
  await app.getByRole('button', { name: 'Broadcast to all 2 connections' }).click();
  await expect(pane(app)).toContainText('Sent 12 bytes to each of 2 connections');

  // Both clients received it: their rows name the listener's port as their peer.
  const clients = row(app, new RegExp(`^TCP 127\\.0\\.0\\.1:${port} open`));
  await expect(clients).toHaveCount(2);
  for (const client of await clients.all()) {
    await client.click();
    await expect(terminal(app)).toContainText('to everyone');
    await expect(pane(app).getByRole('group', { name: 'Counters' })).toContainText('Bytes in 12');
  }
});

test('a UDP datagram arrives with the address of its sender', async ({ app }) => {
  await openTab(app, 'UDP socket');
  await app.getByRole('button', { name: 'Bind' }).click();
  const title = pane(app).getByRole('heading', { level: 2 });
  await expect(title).toContainText(/127\.0\.0\.1:[1-9]/);
  const receiver = /127\.0\.0\.1:\d+/.exec(await title.innerText())?.[0] ?? '';

  await app.getByRole('button', { name: 'Bind' }).click();
  await expect(title).not.toContainText(receiver);
  const sender = /127\.0\.0\.1:\d+/.exec(await title.innerText())?.[0] ?? '';
  await app.getByLabel('Destination', { exact: true }).fill(receiver);
  await app.getByLabel('Payload', { exact: true }).fill('ping');
  await app.getByRole('button', { name: 'Send', exact: true }).click();
  await expect(pane(app).getByRole('status').filter({ hasText: 'Sent 4 bytes' })).toBeVisible();

  await row(app, new RegExp(`UDP ${receiver.replaceAll('.', '\\.')}`)).click();
  await expect(terminal(app)).toContainText(`← received ${sender} 4 bytes ping`);
});

test("a send's result and error stay with the socket that sent", async ({ app }) => {
  await openTab(app, 'UDP socket');
  await app.getByRole('button', { name: 'Bind' }).click();
  const title = pane(app).getByRole('heading', { level: 2 });
  await expect(title).toContainText(/127\.0\.0\.1:[1-9]/);
  const first = /127\.0\.0\.1:\d+/.exec(await title.innerText())?.[0] ?? '';
  // An IPv4 socket cannot send to an IPv6 address: the error says so, under the Send button.
  await app.getByLabel('Destination', { exact: true }).fill('[::1]:9');
  await app.getByLabel('Payload', { exact: true }).fill('x');
  await app.getByRole('button', { name: 'Send', exact: true }).click();
  const refusal = pane(app).getByRole('alert').filter({ hasText: 'cannot send to the IPv6' });
  await expect(refusal).toBeVisible();
  await expect(refusal).toContainText('bind one on :: or ::1 for that (EINVAL)');

  // Another socket shows none of it, and its own result is its own.
  await app.getByRole('button', { name: 'Bind' }).click();
  await expect(title).not.toContainText(first);
  await expect(pane(app).getByRole('alert')).toHaveCount(0);
  await app.getByLabel('Destination', { exact: true }).fill(first);
  await app.getByRole('button', { name: 'Send', exact: true }).click();
  await expect(pane(app).getByRole('status').filter({ hasText: 'Sent 1 byte' })).toBeVisible();
  await row(app, new RegExp(`UDP ${first.replaceAll('.', '\\.')}`)).click();
  await expect(title).toContainText(first);
  await expect(pane(app).getByRole('status').filter({ hasText: /^Sent/ })).toHaveCount(0);
});
