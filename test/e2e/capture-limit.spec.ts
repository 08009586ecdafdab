/**
 * The capture limit as a user meets it: set in the header's Capture panel, a flood past it, and
 * the endpoint saying how many of its oldest bytes are gone while the newest stay readable.
 */
import net from 'node:net';
import { once } from 'node:events';
import { expect, openTcpListener, pane, terminal, test } from './fixtures';

test('the capture limit is set in the Capture panel, and an endpoint says what it deleted', async ({
  app,
}) => {
  const port = await openTcpListener(app);
  await app.getByText(/^Capture: /).click();
  const limit = app.getByLabel('Capture limit');
  await expect(limit).toHaveValue(/GiB|MiB/);
  await limit.fill('10 KiB');
  await expect(app.getByText('Enter a size of at least 1.0 MiB, such as 4 GiB')).toBeVisible();
  await limit.fill('2 MiB');
  await app.getByRole('button', { name: 'Apply' }).click();
  await expect(app.getByText('Applied.')).toBeVisible();
  await expect(app.getByText(/^Capture: .* of 2\.0 MiB$/)).toBeVisible();

  // The last bytes differ from the rest, so the terminal shows the newest were kept.
  const peer = net.connect({ host: '127.0.0.1', port });
  await once(peer, 'connect');
  const flood = Buffer.alloc(12 * 1024 * 1024, 'x');
  flood.write('THE-NEWEST-BYTES', flood.length - 16);
  peer.write(flood);
  try {
    await app.getByText(/^Capture: /).click(); // close the panel
    await app.getByRole('treeitem', { level: 2 }).first().click();
    await expect(pane(app)).toContainText(/The oldest [\d,]+ bytes of this endpoint are gone/, {
      timeout: 20_000,
    });
    await expect(terminal(app)).toContainText('THE-NEWEST-BYTES', { timeout: 20_000 });
    await app.getByRole('button', { name: 'History' }).click();
    await expect(app.getByText(/Bytes before offset [\d,]+ are gone/)).toBeVisible();
    await app.getByRole('button', { name: 'Go to the oldest kept byte' }).click();
    await expect(app.getByText(/Bytes before offset [\d,]+ are gone/)).toBeHidden();

    await app.getByLabel('Language').selectOption('zh-CN');
    await expect(pane(app)).toContainText(/此端点最早的 [\d,]+ 字节已不在/);
    await app.getByText(/^抓包：/).click();
    await expect(app.getByLabel('抓包上限')).toHaveValue('2.0 MiB');
    await expect(app.getByText('已保存', { exact: true })).toBeVisible();
  } finally {
    peer.destroy();
  }
});
