/**
 * Repeat send and file send from the UI (issue 12, items 2 and 5), checked by a node:net peer
 * that counts the exact bytes it receives.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { expect, openTcpListener, pane, row, test } from './fixtures';

/** A node:net client of the listener at `port` that keeps what it receives. */
async function peerOf(port: number): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const parts: Buffer[] = [];
  socket.on('data', (data: Buffer) => parts.push(data));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received: () => Buffer.concat(parts) };
}

/** Opens a listener, connects a peer and selects the connection it accepted. */
async function acceptedPeer(app: Page) {
  const port = await openTcpListener(app);
  const peer = await peerOf(port);
  await row(app, new RegExp(`127\\.0\\.0\\.1:${peer.socket.localPort}`)).click();
  await expect(pane(app).getByRole('heading', { level: 2 })).toContainText(
    `127.0.0.1:${peer.socket.localPort}`,
  );
  return peer;
}

async function openTools(app: Page): Promise<void> {
  await pane(app).getByText('Repeat send and file send').click();
}

test('repeats a payload 20 times, then until stopped with the Stop button', async ({ app }) => {
  const peer = await acceptedPeer(app);
  try {
    await app.getByRole('textbox', { name: 'Payload', exact: true }).fill('ping\\n');
    await openTools(app);
    await app.getByLabel('Repeat every (ms)').fill('5');
    await app.getByLabel('Number of times').fill('20');
    await app.getByRole('button', { name: 'Start repeat' }).click();

    const jobs = pane(app).getByRole('region', { name: 'Send jobs' });
    const first = jobs.getByRole('listitem').first();
    await expect(first).toContainText('20 / 20');
    await expect(first).toContainText('done');
    await expect.poll(() => peer.received().toString()).toBe('ping\n'.repeat(20));

    // Until stopped: the count stays empty.
    await app.getByLabel('Number of times').fill('');
    await app.getByRole('button', { name: 'Start repeat' }).click();
    const second = jobs.getByRole('listitem').nth(1);
    await expect(second).toContainText('until stopped');
    await expect.poll(() => peer.received().byteLength).toBeGreaterThan(200);
    await second.getByRole('button', { name: 'Stop' }).click();
    await expect(second).toContainText('stopped');
    const settled = async () => {
      const before = peer.received().byteLength;
      await new Promise((resolve) => setTimeout(resolve, 300));
      return peer.received().byteLength === before;
    };
    await expect.poll(settled).toBe(true);
    // What arrived is whole payloads only, and no more come.
    expect(peer.received().byteLength % 5).toBe(0);
    expect(await settled()).toBe(true);

    // The lifecycle says what automation did, in order, with each job's counts.
    const timeline = pane(app).getByRole('region', { name: 'Lifecycle' });
    const automation = timeline.getByRole('listitem').filter({ hasText: 'send job' });
    await expect(automation).toHaveCount(4);
    await expect(automation.nth(0)).toContainText('send job started');
    await expect(automation.nth(0)).toContainText('repeat "ping\\n" ×20');
    await expect(automation.nth(1)).toContainText('send job done');
    await expect(automation.nth(1)).toContainText('20/20');
    await expect(automation.nth(3)).toContainText('send job stopped');

    // A finished job goes from the list with Remove.
    await first.getByRole('button', { name: 'Remove' }).click();
    await expect(jobs.getByRole('listitem')).toHaveCount(1);
  } finally {
    peer.socket.destroy();
  }
});

test('sends a file by its path, byte for byte', async ({ app }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-e2e-file-'));
  const file = path.join(dir, 'frame.bin');
  const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
  fs.writeFileSync(file, bytes);
  const peer = await acceptedPeer(app);
  try {
    await openTools(app);
    await app.getByLabel('File path').fill(path.join(dir, 'missing.bin'));
    await app.getByRole('button', { name: 'Send file' }).click();
    await expect(pane(app).getByRole('alert')).toContainText('missing.bin');

    await app.getByLabel('File path').fill(file);
    await app.getByRole('button', { name: 'Send file' }).click();
    await expect.poll(() => peer.received().byteLength).toBe(bytes.byteLength);
    expect(peer.received().equals(bytes)).toBe(true);
    const job = pane(app).getByRole('listitem', { name: /frame\.bin/ });
    await expect(job).toContainText('done');
  } finally {
    peer.socket.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('sends a sequence of steps in order, the list twice', async ({ app }) => {
  const peer = await acceptedPeer(app);
  try {
    await openTools(app);
    await app.getByLabel('Step 1 payload').fill('one\\n');
    await app.getByRole('button', { name: 'Add step' }).click();
    await app.getByLabel('Step 2 delay (ms)').fill('5');
    await app.getByLabel('Step 2 payload').fill('two\\n');
    await app.getByLabel('Send the list (times)').fill('2');
    await app.getByRole('button', { name: 'Start sequence' }).click();
    await expect.poll(() => peer.received().toString()).toBe('one\ntwo\n'.repeat(2));
    const job = pane(app).getByRole('region', { name: 'Send jobs' }).getByRole('listitem');
    await expect(job).toContainText('4 / 4');
    await expect(job).toContainText('done');
  } finally {
    peer.socket.destroy();
  }
});
