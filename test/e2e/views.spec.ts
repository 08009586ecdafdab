import { connectTcp, expect, openTcpListener, pane, send, terminal, test } from './fixtures';

test('the traffic view shows text, a hex dump, or both', async ({ app }) => {
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  await send(app, 'hi\\x1b[2J\\n');
  await expect(pane(app).getByRole('status').filter({ hasText: 'Sent 7 bytes' })).toBeVisible();

  // Control bytes are shown, never obeyed: ESC [2J would otherwise clear the terminal. The marks
  // are plain ASCII (the composer's escapes), so they show with any font.
  await expect(terminal(app)).toContainText('hi\\e[2J\\n');

  await app.getByLabel('Mode', { exact: true }).selectOption('hex');
  await expect(terminal(app)).toContainText('→ sent 7 bytes');
  await expect(terminal(app)).toContainText('00000000  68 69 1b 5b 32 4a 0a');
  await expect(terminal(app)).toContainText('|hi.[2J.|');

  await app.getByLabel('Mode', { exact: true }).selectOption('both');
  await app.getByLabel('Timestamps').check();
  await expect(terminal(app)).toContainText(/\d\d:\d\d:\d\d\.\d{3} → sent 7 bytes/);
  await expect(terminal(app)).toContainText('hi\\e[2J\\n');
  await expect(terminal(app)).toContainText('68 69 1b 5b');

  await app.getByRole('button', { name: 'Clear', exact: true }).click();
  await expect(terminal(app)).not.toContainText('68 69');
});

test('search finds bytes anywhere in the capture', async ({ app }) => {
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  await send(app, 'alpha beta\\n');
  await send(app, 'gamma beta\\n');
  await expect(terminal(app)).toContainText('gamma beta');

  const search = app.getByLabel('Search', { exact: true });
  await search.fill('beta');
  await search.press('Enter');
  await expect(pane(app).getByRole('status').filter({ hasText: 'Match 1 of 2' })).toContainText(
    'at byte 6',
  );
  await app.getByRole('button', { name: 'Find next' }).click();
  await expect(pane(app).getByRole('status').filter({ hasText: 'Match 2 of 2' })).toContainText(
    'at byte 17',
  );

  await search.fill('delta');
  await search.press('Enter');
  await expect(pane(app).getByRole('status').filter({ hasText: 'No matches' })).toBeVisible();
});

test('search takes hex bytes, ASCII case, a regex, and one direction', async ({ app }) => {
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  await send(app, 'ID=42;Temp=19\\r\\n');
  await send(app, 'id=7;TEMP=21\\r\\n');
  await expect(terminal(app)).toContainText('TEMP=21');
  const status = () =>
    pane(app)
      .getByRole('status')
      .filter({ hasText: /Match|No matches/ });
  const search = app.getByLabel('Search', { exact: true });

  await app.getByLabel('Search for').selectOption('hex');
  await search.fill('3b 54');
  await search.press('Enter');
  await expect(status()).toContainText('Match 1 of 2, at byte 5');

  await app.getByLabel('Search for').selectOption('text');
  await search.fill('temp=');
  await search.press('Enter');
  await expect(status()).toContainText('No matches');
  await app.getByLabel('Ignore case').check();
  await search.press('Enter');
  await expect(status()).toContainText('Match 1 of 2, at byte 6');

  await app.getByLabel('Search for').selectOption('regex');
  await app.getByLabel('Ignore case').uncheck();
  await search.fill('[A-Z]+=[0-9]{2}');
  await search.press('Enter');
  await expect(status()).toContainText('Match 1 of 2, at byte 0');
  await search.fill('(a+)+$');
  await search.press('Enter');
  await expect(status()).toContainText('No matches');
  await search.fill('(unclosed');
  await search.press('Enter');
  await expect(
    pane(app)
      .getByRole('status')
      .filter({ hasText: /pattern|regex|RE2/i }),
  ).toBeVisible();

  // This side sent everything: nothing was received, so a received-only search finds nothing.
  await search.fill('ID');
  await app.getByLabel('Direction').selectOption('in');
  await search.press('Enter');
  await expect(status()).toContainText('No matches');
  await app.getByLabel('Direction').selectOption('out');
  await search.press('Enter');
  await expect(status()).toContainText('Match 1 of 1, at byte 0');
});

test('copy all puts the capture on the clipboard as hex, a C array or base64', async ({
  app,
  context,
}) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  await send(app, 'OK\\r\\n');
  await expect(terminal(app)).toContainText('OK');

  const clipboard = (): Promise<string> => app.evaluate('navigator.clipboard.readText()');
  await app.getByLabel('Copy as').selectOption('hex');
  await app.getByRole('button', { name: 'Copy all' }).click();
  await expect(pane(app).getByRole('status').filter({ hasText: 'Copied 4 bytes' })).toBeVisible();
  expect(await clipboard()).toBe('4f 4b 0d 0a');

  await app.getByLabel('Copy as').selectOption('c');
  await app.getByRole('button', { name: 'Copy all' }).click();
  await expect.poll(clipboard).toContain('{ 0x4f, 0x4b, 0x0d, 0x0a }');

  await app.getByLabel('Copy as').selectOption('base64');
  await app.getByRole('button', { name: 'Copy all' }).click();
  await expect.poll(clipboard).toBe('T0sNCg==');
});
