import type { WebSocketRoute } from '@playwright/test';
import { connectTcp, expect, openTcpListener, pane, row, send, terminal, test } from './fixtures';

test('a reloaded page shows every endpoint and its traffic again', async ({ app }) => {
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  await send(app, 'before reload');
  await expect(terminal(app)).toContainText('before reload');

  await app.reload();
  await expect(row(app, /TCP listener/)).toContainText('1 connection');
  await row(app, new RegExp(`^TCP 127\\.0\\.0\\.1:${port} open`)).click();
  await expect(terminal(app)).toContainText('before reload');
  await expect(pane(app)).toContainText('connect() → SYN');
});

test('a reload keeps the selected endpoint and the view mode, per tab', async ({ app }) => {
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  await send(app, 'kept\\r\\n');
  await app.getByLabel('Mode', { exact: true }).selectOption('both');
  await app.getByLabel('Decoding').selectOption('latin1');
  await app.getByLabel('Timestamps').check();
  await expect(terminal(app)).toContainText('6b 65 70 74 0d 0a');
  const client = new RegExp(`^TCP 127\\.0\\.0\\.1:${port} open`);

  await app.reload();
  // Restored once the snapshot is in: the same connection, shown the same way.
  await expect(row(app, client)).toHaveAttribute('aria-selected', 'true');
  await expect(pane(app).getByRole('heading', { level: 2 })).toContainText(`:${port}`);
  await expect(app.getByLabel('Mode', { exact: true })).toHaveValue('both');
  await expect(app.getByLabel('Decoding')).toHaveValue('latin1');
  await expect(app.getByLabel('Timestamps')).toBeChecked();
  await expect(terminal(app)).toContainText(/\d\d:\d\d:\d\d\.\d{3} → sent 6 bytes/);
  await expect(terminal(app)).toContainText('6b 65 70 74 0d 0a');

  // Another tab on the same engine has its own memory: nothing selected, the default view.
  const other = await app.context().newPage();
  await other.goto(app.url());
  await expect(row(other, client)).toHaveAttribute('aria-selected', 'false');
  await expect(other.getByRole('heading', { name: 'Nothing selected' })).toBeVisible();
  await row(other, client).click();
  await expect(other.getByLabel('Mode', { exact: true })).toHaveValue('text');
  await expect(terminal(other)).toContainText('kept\\r\\n');
  await other.close();

  // A remembered endpoint the engine no longer has is simply not selected.
  await app.evaluate(() => sessionStorage.setItem('socket-workbench.selected', 'gone-endpoint'));
  await app.reload();
  await expect(row(app, client)).toHaveAttribute('aria-selected', 'false');
  await expect(app.getByRole('heading', { name: 'Nothing selected' })).toBeVisible();
});

test('everything can be done from the keyboard', async ({ app }) => {
  await app.getByRole('tab', { name: 'TCP listener' }).focus();
  await app.keyboard.press('Tab'); // Host
  await app.keyboard.press('Tab'); // Port
  await app.keyboard.press('Tab'); // Backlog
  await app.keyboard.press('Tab');
  await expect(app.getByRole('button', { name: 'Connection limits' })).toBeFocused();
  await app.keyboard.press('Tab');
  await expect(app.getByRole('button', { name: 'Open listener' })).toBeFocused();
  await app.keyboard.press('Enter');
  await expect(row(app, /TCP listener/)).toHaveAttribute('aria-selected', 'true');
  const port = Number(/:(\d+)/.exec(await row(app, /TCP listener/).innerText())?.[1]);

  // Tabs move with the arrow keys; the form follows.
  await app.getByRole('tab', { name: 'TCP listener' }).focus();
  await app.keyboard.press('ArrowRight');
  await expect(app.getByRole('tab', { name: 'TCP client' })).toBeFocused();
  await app.keyboard.press('Tab');
  await app.keyboard.press('Tab');
  await app.keyboard.type(String(port));
  await app.keyboard.press('Enter');
  await expect(pane(app).getByRole('heading', { level: 2 })).toContainText(`:${port}`);

  // The tree: one tab stop, arrows move, Enter selects. The accepted connection's row may come
  // a moment after the client's: wait for it, or ArrowDown would land on the client.
  await expect(app.getByRole('treeitem')).toHaveCount(3);
  const selected = app.getByRole('treeitem', { selected: true });
  await selected.focus();
  await app.keyboard.press('Home');
  await expect(row(app, /TCP listener/)).toBeFocused();
  await app.keyboard.press('Enter');
  await expect(pane(app).getByRole('heading', { level: 2 })).toContainText('TCP listener');
  await app.keyboard.press('ArrowDown');
  await app.keyboard.press('Enter');
  await expect(pane(app)).toContainText('accept()');
});

test('the UI speaks Simplified Chinese and remembers the choice', async ({ page, serveUrl }) => {
  await page.goto(serveUrl);
  await page.getByLabel('Language').selectOption('zh-CN');
  await expect(page.getByRole('button', { name: '开始监听' })).toBeVisible();
  await page.getByRole('tab', { name: 'TCP 客户端' }).click();
  await page.getByLabel('端口', { exact: true }).fill('1');
  await page.getByRole('button', { name: '连接', exact: true }).click();
  await expect(page.getByRole('tabpanel').getByRole('alert')).toContainText(
    '连接被拒绝：目标地址上没有程序在监听 (ECONNREFUSED)',
  );

  await page.reload();
  await expect(page.getByLabel('语言')).toHaveValue('zh-CN');
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
});

test.describe('with a Chinese browser', () => {
  test.use({ locale: 'zh-CN' });
  test('the language follows navigator.language', async ({ page, serveUrl }) => {
    await page.goto(serveUrl);
    await expect(page.getByRole('heading', { name: 'Socket 工作台' })).toBeVisible();
  });
});

test('the page reconnects when its socket drops and catches up from the engine', async ({
  page,
  serveUrl,
}) => {
  const sockets: WebSocketRoute[] = [];
  await page.routeWebSocket(/\/ws/, (ws) => {
    sockets.push(ws);
    ws.connectToServer();
  });
  await page.goto(serveUrl);
  const port = await openTcpListener(page);
  await connectTcp(page, port);
  await send(page, 'first');
  await expect(terminal(page)).toContainText('first');

  await sockets.at(-1)?.close();
  await expect(page.getByRole('banner').getByRole('status')).toContainText(
    /Connection to the workbench lost|Reconnecting/,
  );
  await expect(page.getByRole('banner').getByRole('status')).toBeEmpty();
  expect(sockets.length).toBeGreaterThan(1);

  await expect(terminal(page)).toContainText('first');
  await send(page, 'second');
  await expect(terminal(page)).toContainText('firstsecond');
});
