/**
 * Issue 15 in the UI: the UDP form asks for a receive buffer (SO_RCVBUF), the pane says what the
 * kernel granted (and why, when it granted less than asked), and during a flood the counters
 * account for every datagram: received + dropped by the kernel = sent.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { formatByteSize } from '../../src/shared/byte-size';
import { expect, openTab, pane, test } from './fixtures';
import type { Page } from '@playwright/test';

const hasPython = spawnSync('sh', ['-c', 'command -v python3']).status === 0;

/** What the kernel grants a plain python3 socket that asks for `bytes`. */
function grantedToPlainSocket(bytes: number): number {
  const result = spawnSync(
    'python3',
    [
      '-c',
      [
        'import socket, sys',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        's.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(sys.argv[1]))',
        'print(s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))',
      ].join('\n'),
      String(bytes),
    ],
    { encoding: 'utf8' },
  );
  return Number(result.stdout.trim());
}

async function bindUdp(page: Page, receiveBuffer: string): Promise<number> {
  await openTab(page, 'UDP socket');
  await page.getByLabel('Receive buffer (SO_RCVBUF)', { exact: true }).fill(receiveBuffer);
  await page.getByRole('button', { name: 'Bind', exact: true }).click();
  const title = pane(page).getByRole('heading', { level: 2 });
  await expect(title).toContainText(/127\.0\.0\.1:[1-9]/);
  return Number(/:(\d+)/.exec(await title.innerText())?.[1]);
}

const count = (text: string) => Number(text.replace(/,/g, ''));

test('the UDP form asks for a receive buffer and the pane shows what the kernel granted', async ({
  app,
}) => {
  await openTab(app, 'UDP socket');
  const field = app.getByLabel('Receive buffer (SO_RCVBUF)', { exact: true });
  await expect(field).toHaveValue('');
  await expect(field).toHaveAccessibleDescription(/Empty: 4\.0 MiB/);
  // Out of bounds: said at the field, and nothing is opened.
  await field.fill('1 KiB');
  await expect(field).toHaveAccessibleDescription(/A size from 4 KiB to 64 MiB/);
  await expect(app.getByRole('button', { name: 'Bind', exact: true })).toBeDisabled();

  await bindUdp(app, '64 KiB');
  const granted = hasPython ? formatByteSize(grantedToPlainSocket(64 * 1024)) : '';
  await expect(pane(app)).toContainText(
    new RegExp(
      `Receive buffer \\(SO_RCVBUF\\):\\s*${granted.replace('.', '\\.')}.*granted by the kernel \\(64\\.0 KiB asked\\)`,
    ),
  );
  await expect(pane(app)).not.toContainText('less than the');

  // More than the kernel allows (Linux caps the ask at net.core.rmem_max): the pane says so.
  const biggest = 64 * 1024 * 1024;
  await bindUdp(app, '64 MiB');
  await expect(pane(app)).toContainText('(64.0 MiB asked)');
  if (hasPython && grantedToPlainSocket(biggest) < biggest) {
    const note = pane(app).getByRole('note').filter({ hasText: 'net.core.rmem_max' });
    await expect(note).toContainText(
      `The kernel granted ${formatByteSize(grantedToPlainSocket(biggest))}, less than the 64.0 MiB asked`,
    );
  }

  await app.getByLabel('Language').selectOption('zh-CN');
  await expect(pane(app)).toContainText('接收缓冲区（SO_RCVBUF）');
});

test('during a flood the counters account for every datagram: received + kernel drops = sent', async ({
  app,
}) => {
  test.skip(!hasPython || !fs.existsSync('/proc/net/udp'), 'needs python3 and /proc/net/udp');
  // The smallest buffer, so that a burst overflows it whatever the machine's speed.
  const port = await bindUdp(app, '4 KiB');
  const sent = 20_000;
  const flood = spawnSync('python3', [
    '-c',
    [
      'import socket, sys',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      'for i in range(int(sys.argv[2])):',
      "    s.sendto(b'x' * 64, ('127.0.0.1', int(sys.argv[1])))",
    ].join('\n'),
    String(port),
    String(sent),
  ]);
  expect(flood.status).toBe(0);
  const counters = pane(app).getByRole('group', { name: 'Counters' });
  const value = (term: string) =>
    counters.locator('div').filter({ has: app.getByRole('term').getByText(term, { exact: true }) });
  await expect
    .poll(async () => {
      const received = count(await value('Datagrams in').getByRole('definition').innerText());
      const dropped = count(
        await value('Dropped by the kernel (receive buffer full)')
          .getByRole('definition')
          .innerText(),
      );
      const behind = count(
        await value('Dropped (capture behind)').getByRole('definition').innerText(),
      );
      return received + dropped + behind;
    })
    .toBe(sent);
});
