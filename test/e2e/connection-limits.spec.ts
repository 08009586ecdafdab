/**
 * A listener's connection limit as the user meets it: set in the listener form, and past it the
 * listener's entry says how many connections were refused, in English and in Chinese.
 */
import net from 'node:net';
import { once } from 'node:events';
import { expect, openTab, pane, row, test } from './fixtures';

test('a listener refuses connections past its limit and its entry says how many', async ({
  app,
}) => {
  await openTab(app, 'TCP listener');
  await app.getByRole('button', { name: 'Connection limits' }).click();
  await app.getByLabel('Connection limit', { exact: true }).fill('2');
  await app.getByLabel('Close idle half-closed connections after (s)').fill('0');
  await expect(app.getByLabel('Closed connections kept')).toHaveValue('1000');
  await app.getByRole('button', { name: 'Open listener' }).click();

  const title = pane(app).getByRole('heading', { level: 2 });
  await expect(title).toContainText(/TCP listener\s*127\.0\.0\.1:[1-9]\d*/);
  const port = Number(/:(\d+)/.exec(await title.innerText())?.[1]);
  await expect(pane(app)).toContainText(
    'Limits: up to 2 connections open · half-closed connections are kept',
  );

  const peers: net.Socket[] = [];
  for (let i = 0; i < 5; i++) {
    const peer = net.connect({ host: '127.0.0.1', port });
    peer.on('error', () => undefined);
    peers.push(peer);
    await once(peer, 'connect');
  }
  try {
    await expect(row(app, /TCP listener.*2 connections.*3 refused/)).toBeVisible();
    await expect(pane(app)).toContainText('3 refused: limit of 2 connections reached');

    await app.getByLabel('Language').selectOption('zh-CN');
    await expect(row(app, /已拒绝 3 个/)).toBeVisible();
    await expect(pane(app)).toContainText('已拒绝 3 个：已达到 2 个连接的上限');
  } finally {
    for (const peer of peers) peer.destroy();
  }
});
