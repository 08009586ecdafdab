/**
 * Issue 9 in the UI: the open forms warn, before anything is opened, when a listener or UDP socket
 * would be reachable from other machines; the composer shows a connection's send queue against
 * its limit, and a send past it is refused with the queued bytes named; a UDP socket's counters
 * show what the kernel dropped.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { expect, openTab, openTcpListener, pane, test } from './fixtures';

test('the Host field warns when a listener or UDP socket would be reachable from other machines', async ({
  app,
}) => {
  await openTab(app, 'TCP listener');
  const host = app.getByLabel('Host', { exact: true });
  await expect(host).toHaveValue('127.0.0.1');
  await expect(host).toHaveAccessibleDescription('');

  await host.fill('0');
  await expect(host).toHaveAccessibleDescription(
    /Reachable from other machines: 0 means every interface of this machine/,
  );
  await expect(
    app.getByText('Reachable from other machines: 0 means every interface'),
  ).toBeVisible();
  for (const everyInterface of ['0.0.0.0', '::']) {
    await host.fill(everyInterface);
    await expect(host).toHaveAccessibleDescription(
      new RegExp(`${everyInterface.replace(/\./g, '\\.')} means every interface.*host 0`),
    );
  }
  await host.fill('192.168.1.20');
  await expect(host).toHaveAccessibleDescription(/192\.168\.1\.20 is not a loopback address/);
  await host.fill('localhost');
  await expect(host).toHaveAccessibleDescription('');

  // A client connecting to 0 exposes nothing: no warning there.
  await openTab(app, 'TCP client');
  await app.getByLabel('Host', { exact: true }).fill('0');
  await expect(app.getByLabel('Host', { exact: true })).toHaveAccessibleDescription('');

  await openTab(app, 'UDP socket');
  await app.getByLabel('Host', { exact: true }).fill('0.0.0.0');
  await expect(app.getByLabel('Host', { exact: true })).toHaveAccessibleDescription(
    /Reachable from other machines: 0\.0\.0\.0 means every interface/,
  );

  // The same warning in Chinese.
  await app.getByLabel('Language').selectOption('zh-CN');
  await expect(app.getByLabel('主机', { exact: true })).toHaveAccessibleDescription(
    /其他机器可以访问：0\.0\.0\.0 表示本机的所有网络接口（主机 0/,
  );
});

test('the composer shows the send queue of a peer that does not read, and refuses past its limit', async ({
  app,
}) => {
  // Five sends of 16 MiB through the page, the engine and the capture take a while.
  test.slow();
  const port = await openTcpListener(app);
  // A peer that never reads: the kernel's buffers fill, then the engine queues.
  const peer = net.connect({ host: '127.0.0.1', port });
  peer.pause();
  await once(peer, 'connect');
  await app.getByRole('treeitem', { level: 2 }).click();
  await expect(pane(app).getByRole('heading', { level: 2 })).toContainText('TCP');

  const queue = pane(app).getByRole('meter', { name: 'Send queue' });
  await expect(queue).toHaveCount(0);
  // 16 MiB, the largest payload, made in the page as a paste would bring it: fill() would carry
  // it through the DevTools protocol for seconds.
  await app.getByLabel('Payload', { exact: true }).evaluate((textarea: HTMLTextAreaElement) => {
    textarea.value = 'x'.repeat(16 * 1024 * 1024);
    textarea.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await expect(pane(app).getByRole('status', { name: 'Preview' })).toContainText(
    '16,777,216 bytes',
  );
  const sendButton = app.getByRole('button', { name: 'Send', exact: true });
  const refusal = pane(app).getByRole('alert').filter({ hasText: 'The peer is not reading' });
  for (let sends = 0; sends < 10 && !(await refusal.isVisible()); sends += 1) {
    await sendButton.click();
    await expect(sendButton).toBeEnabled();
  }
  await expect(refusal).toContainText(/The peer is not reading: [\d,]+ bytes already queued/);
  await expect(queue).toBeVisible();
  await expect(pane(app)).toContainText(/MiB of 64\.0 MiB waiting for the peer to read/);

  // The peer reads: the queue drains and the meter goes.
  peer.on('data', () => undefined);
  peer.resume();
  await expect(queue).toHaveCount(0, { timeout: 20_000 });
  peer.destroy();
});

test('a UDP socket shows what the kernel dropped beside what the engine dropped', async ({
  app,
}) => {
  await openTab(app, 'UDP socket');
  await app.getByRole('button', { name: 'Bind', exact: true }).click();
  const title = pane(app).getByRole('heading', { level: 2 });
  await expect(title).toContainText(/127\.0\.0\.1:[1-9]/);
  const port = Number(/:(\d+)/.exec(await title.innerText())?.[1]);
  const counters = pane(app).getByRole('group', { name: 'Counters' });
  const kernelDrops = counters.getByRole('definition').nth(4);
  await expect(counters.getByRole('term').nth(4)).toHaveText(
    'Dropped by the kernel (receive buffer full)',
  );
  await expect(kernelDrops).toHaveText('0');
  await expect(counters).toContainText('Dropped (capture behind)');

  if (procUdpRow(port)) {
    // A burst from python3, faster than the engine reads: the UI ends up saying what /proc says.
    const flood = spawnSync('python3', [
      '-c',
      [
        'import socket, sys',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        'for i in range(200000):',
        "    s.sendto(b'x' * 16, ('127.0.0.1', int(sys.argv[1])))",
      ].join('\n'),
      String(port),
    ]);
    expect(flood.status).toBe(0);
    await expect
      .poll(async () => {
        const row = procUdpRow(port);
        const shown = Number((await kernelDrops.innerText()).replace(/,/g, ''));
        return row && row.rxQueue === 0 && shown === row.drops;
      })
      .toBe(true);
  }

  await app.getByLabel('Language').selectOption('zh-CN');
  await expect(pane(app).getByRole('group', { name: '计数' })).toContainText(
    '内核丢弃（接收缓冲区已满）',
  );
});

/** The kernel's own word on the UDP socket bound to this port (Linux), read independently. */
function procUdpRow(port: number): { drops: number; rxQueue: number } | undefined {
  if (!fs.existsSync('/proc/net/udp')) return undefined;
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of fs.readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(`:${portHex}`)) {
      return { drops: Number(fields[12]), rxQueue: parseInt(fields[4]?.split(':')[1] ?? '0', 16) };
    }
  }
  return undefined;
}
