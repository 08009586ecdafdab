/**
 * The workbench against peers it did not write (node:net in this process, socat, python3),
 * driven by role and label as a person would.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { expect, openTab, openTcpListener, pane, row, terminal, test } from './fixtures';

interface Peer {
  socket: net.Socket;
  port: number;
  received: () => Buffer;
}

async function peerTo(port: number): Promise<Peer> {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const parts: Buffer[] = [];
  socket.on('data', (data) => parts.push(data));
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return { socket, port: socket.localPort ?? 0, received: () => Buffer.concat(parts) };
}

/** The accepted connection whose remote end is this peer. */
function acceptedRow(page: Page, peer: Peer) {
  return row(page, new RegExp(`127\\.0\\.0\\.1:${peer.port}\\b`));
}

async function sendFromComposer(page: Page, format: string, data: string, encoding?: string) {
  await page.getByLabel('Format', { exact: true }).selectOption(format);
  if (encoding) await page.getByLabel('Encoding', { exact: true }).selectOption(encoding);
  await page.getByLabel('Payload', { exact: true }).fill(data);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
}

test('a peer connects and sends hello: its address, state and bytes as text and hex', async ({
  app,
}) => {
  const port = await openTcpListener(app);
  const peer = await peerTo(port);
  const accepted = acceptedRow(app, peer);
  await expect(accepted).toContainText('open');
  await accepted.click();
  await expect(pane(app)).toContainText(`remote 127.0.0.1:${peer.port}`);

  peer.socket.write('hello\r\n');
  await expect(terminal(app)).toContainText('hello');
  await app.getByLabel('Mode', { exact: true }).selectOption('hex');
  await expect(terminal(app)).toContainText('68 65 6c 6c 6f 0d 0a');
  peer.socket.destroy();
});

test('hex and GBK text from the composer arrive at the peer as exactly those bytes', async ({
  app,
}) => {
  const port = await openTcpListener(app);
  const peer = await peerTo(port);
  await acceptedRow(app, peer).click();

  await sendFromComposer(app, 'hex', 'de ad be ef');
  await expect.poll(() => peer.received().toString('hex')).toBe('deadbeef');

  await sendFromComposer(app, 'text', '你好', 'gbk');
  await expect.poll(() => peer.received().toString('hex')).toBe('deadbeefc4e3bac3');
  peer.socket.destroy();
});

test('half-close from either side, then close; reset; the timeline shows each step', async ({
  app,
}) => {
  const port = await openTcpListener(app);
  const peer = await peerTo(port);
  await acceptedRow(app, peer).click();
  const lifecycle = pane(app);

  peer.socket.end(); // the peer's FIN
  await expect(lifecycle).toContainText('half-closed (peer sent FIN)');
  await expect(lifecycle).toContainText('← FIN (read returns 0)');
  // We can still send after the peer's FIN.
  await sendFromComposer(app, 'text', 'still here');
  await expect.poll(() => peer.received().toString()).toBe('still here');

  const peerSawFin = once(peer.socket, 'end');
  await app.getByRole('button', { name: 'Half-close' }).click();
  await peerSawFin;
  await expect(lifecycle).toContainText('shutdown(SHUT_WR) → FIN');
  // Our FIN is the second: the timeline says the teardown is complete, and who waits.
  await expect(lifecycle).toContainText("We answer the peer's FIN with ours");
  await expect(acceptedRow(app, peer)).toContainText('closed');

  // A second connection is reset instead.
  const other = await peerTo(port);
  await acceptedRow(app, other).click();
  const peerError = once(other.socket, 'error');
  await app.getByRole('button', { name: 'Reset' }).click();
  const [error] = (await peerError) as [NodeJS.ErrnoException];
  expect(error.code).toBe('ECONNRESET');
  await expect(lifecycle).toContainText('RST →');

  // And a third one is closed by the user.
  const third = await peerTo(port);
  await acceptedRow(app, third).click();
  const thirdEnded = once(third.socket, 'end');
  await app.getByRole('button', { name: 'Close', exact: true }).click();
  await thirdEnded;
  await expect(acceptedRow(app, third)).toContainText('closed');
  third.socket.destroy();
});

test('broadcast reaches three peers', async ({ app }) => {
  const port = await openTcpListener(app);
  const peers = [await peerTo(port), await peerTo(port), await peerTo(port)];
  for (const peer of peers) await expect(acceptedRow(app, peer)).toBeVisible();
  await row(app, /TCP listener/).click();
  await app.getByLabel('Payload', { exact: true }).fill('to all three\\n');
  await app.getByRole('button', { name: 'Broadcast to all 3 connections' }).click();
  for (const peer of peers) {
    await expect.poll(() => peer.received().toString()).toBe('to all three\n');
    peer.socket.destroy();
  }
});

test('a Unix-socket round trip with socat', async ({ app }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-e2e-'));
  const socketPath = path.join(dir, 'device.sock');
  await openTab(app, 'Unix listener');
  await app.getByLabel('Path', { exact: true }).fill(socketPath);
  await app.getByRole('button', { name: 'Open listener' }).click();
  await expect(pane(app).getByRole('heading', { level: 2 })).toContainText(socketPath);

  const socat = spawn('socat', ['-', `UNIX-CONNECT:${socketPath}`], { stdio: 'pipe' });
  let output = '';
  socat.stdout.on('data', (data: Buffer) => (output += data.toString()));
  socat.stdin.write('from socat\n');
  await app.getByRole('treeitem', { level: 2, name: /^Unix / }).click();
  await expect(terminal(app)).toContainText('from socat');
  await sendFromComposer(app, 'text', 'to socat\\n');
  await expect.poll(() => output).toBe('to socat\n');
  socat.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a UDP round trip with python3', async ({ app }) => {
  await openTab(app, 'UDP socket');
  await app.getByRole('button', { name: 'Bind' }).click();
  const title = pane(app).getByRole('heading', { level: 2 });
  await expect(title).toContainText(/127\.0\.0\.1:[1-9]/);
  const port = Number(/:(\d+)/.exec(await title.innerText())?.[1]);

  const python = spawn('python3', [
    '-c',
    [
      'import socket, sys',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      "s.bind(('127.0.0.1', 0))",
      "s.sendto(b'ping', ('127.0.0.1', int(sys.argv[1])))",
      'data, addr = s.recvfrom(100)',
      'print(data.decode(), flush=True)',
    ].join('\n'),
    String(port),
  ]);
  let output = '';
  python.stdout.on('data', (data: Buffer) => (output += data.toString()));
  await expect(terminal(app)).toContainText('ping');
  const sender = /received (127\.0\.0\.1:\d+)/.exec(await terminal(app).innerText())?.[1] ?? '';
  expect(sender).not.toBe('');
  await app.getByLabel('Destination', { exact: true }).fill(sender);
  await sendFromComposer(app, 'text', 'pong');
  await expect.poll(() => output.trim()).toBe('pong');
});
