/**
 * Issue 12, items 3 and 6 in the UI: a checksum and a line ending appended on send (previewed,
 * marked, and received byte-exact by a real peer), the checksums of a selection in the traffic
 * view, and replying to a UDP sender picked from the senders the socket has seen.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import type { Page } from '@playwright/test';
import { connectTcp, expect, openTab, openTcpListener, pane, terminal, test } from './fixtures';

/** A node:net server that records every byte its one client sends. */
async function recordingServer(): Promise<{ port: number; received: () => string; close(): void }> {
  const parts: Buffer[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (data) => parts.push(data));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    received: () => Buffer.concat(parts).toString('hex'),
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

function preview(app: Page) {
  return pane(app).getByRole('status', { name: 'Preview' });
}

test('a CRC-16/MODBUS is appended low byte first, marked in the preview and sent', async ({
  app,
}) => {
  const peer = await recordingServer();
  await connectTcp(app, peer.port);
  await app.getByLabel('Format', { exact: true }).selectOption('hex');
  await app.getByLabel('Payload', { exact: true }).fill('01 03 00 00 00 0A');
  await expect(preview(app)).toContainText('6 bytes');

  await app.getByLabel('Checksum', { exact: true }).selectOption('crc16-modbus');
  // Choosing the model chooses its byte order: low byte first, as a device expects.
  await expect(app.getByLabel('Byte order', { exact: true })).toHaveValue('little');
  await expect(preview(app)).toContainText('8 bytes');
  await expect(preview(app)).toContainText('01 03 00 00 00 0a c5 cd');
  // The appended bytes are marked apart from the data's.
  await expect(preview(app).locator('mark')).toHaveText('c5 cd');
  await expect(preview(app).locator('mark')).toHaveAttribute('title', 'Checksum, appended');

  await app.getByRole('button', { name: 'Send', exact: true }).click();
  await expect(pane(app).getByRole('status').filter({ hasText: 'Sent 8 bytes' })).toBeVisible();
  await expect.poll(peer.received).toBe('01030000000ac5cd');
  peer.close();
});

test('an LRC as ASCII hex, then CR LF, ends a text payload; the history keeps both', async ({
  app,
}) => {
  const peer = await recordingServer();
  await connectTcp(app, peer.port);
  await app.getByLabel('Payload', { exact: true }).fill('ABC');
  await app.getByLabel('Checksum', { exact: true }).selectOption('lrc');
  await app.getByLabel('Append as', { exact: true }).selectOption('hex');
  await app.getByLabel('Line ending', { exact: true }).selectOption('crlf');
  // 41 + 42 + 43 = 0xc6; its two's complement is 0x3a, sent as the characters "3A".
  await expect(preview(app)).toContainText('41 42 43 33 41 0d 0a');
  await expect(preview(app).locator('mark')).toHaveText(['33 41', '0d 0a']);

  await app.getByRole('button', { name: 'Send', exact: true }).click();
  await expect.poll(peer.received).toBe(Buffer.from('ABC3A\r\n').toString('hex'));

  // A range outside the payload is said plainly and cannot be sent.
  await app.getByLabel('From byte', { exact: true }).fill('5');
  await expect(preview(app)).toContainText('outside the payload');
  await expect(app.getByRole('button', { name: 'Send', exact: true })).toBeDisabled();
  await app.getByLabel('From byte', { exact: true }).fill('x');
  await expect(pane(app)).toContainText('A byte position is a whole number');
  await expect(app.getByRole('button', { name: 'Send', exact: true })).toBeDisabled();

  // Back from the history: the checksum and the line ending come with the text.
  await app.getByLabel('Checksum', { exact: true }).selectOption('none');
  await app.getByLabel('Line ending', { exact: true }).selectOption('none');
  await app.getByLabel('History', { exact: true }).selectOption({ index: 1 });
  await expect(app.getByLabel('Checksum', { exact: true })).toHaveValue('lrc');
  await expect(app.getByLabel('Line ending', { exact: true })).toHaveValue('crlf');
  await expect(app.getByLabel('From byte', { exact: true })).toHaveValue('0');
  await expect(preview(app)).toContainText('41 42 43 33 41 0d 0a');
  peer.close();
});

test('the history keeps what was sent, even when the form changed before the engine answered', async ({
  page,
  serveUrl,
}) => {
  // Every engine message is held while `holding`, so the answer to Send arrives after the edit.
  let holding = false;
  const held: (string | Buffer)[] = [];
  let toPage: ((message: string | Buffer) => void) | undefined;
  await page.routeWebSocket(/\/ws/, (ws) => {
    const server = ws.connectToServer();
    toPage = (message) => ws.send(message);
    server.onMessage((message) => (holding ? held.push(message) : ws.send(message)));
  });
  await page.goto(serveUrl);
  const peer = await recordingServer();
  await connectTcp(page, peer.port);
  await page.getByLabel('Payload', { exact: true }).fill('ABC');
  await page.getByLabel('Checksum', { exact: true }).selectOption('lrc');
  await page.getByLabel('Append as', { exact: true }).selectOption('hex');

  holding = true;
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await expect.poll(peer.received).toBe(Buffer.from('ABC3A').toString('hex'));
  await page.getByLabel('From byte', { exact: true }).fill('1');
  await page.getByLabel('Payload', { exact: true }).fill('changed');
  holding = false;
  for (const message of held.splice(0)) toPage?.(message);
  await expect(pane(page).getByRole('status').filter({ hasText: 'Sent 5 bytes' })).toBeVisible();

  await page.getByLabel('History', { exact: true }).selectOption({ index: 1 });
  await expect(page.getByLabel('Payload', { exact: true })).toHaveValue('ABC');
  await expect(page.getByLabel('From byte', { exact: true })).toHaveValue('0');
  await expect(preview(page)).toContainText('41 42 43 33 41');
  peer.close();
});

test('a payload in a table encoding is previewed by the engine with its checksum', async ({
  app,
}) => {
  const port = await openTcpListener(app);
  await connectTcp(app, port);
  await app.getByLabel('Encoding', { exact: true }).selectOption('gbk');
  await app.getByLabel('Checksum', { exact: true }).selectOption('sum8');
  await app.getByLabel('Payload', { exact: true }).fill('你好');
  // c4 + e3 + ba + c3 = 0x324: the sum-8 is 24.
  await expect(preview(app)).toContainText('c4 e3 ba c3 24');
  await expect(preview(app).locator('mark')).toHaveText('24');
});

/** Where a character is drawn, found in xterm's DOM rows (as terminal-offsets.spec.ts does). */
async function charBox(app: Page, text: string, char: number) {
  const box = await app.evaluate(
    ({ text, char }) => {
      for (const row of Array.from(document.querySelectorAll('.xterm-rows > div'))) {
        const nodes: Text[] = [];
        const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node as Text);
        const at = nodes
          .map((node) => node.data)
          .join('')
          .indexOf(text);
        if (at < 0) continue;
        let rest = at + char;
        for (const node of nodes) {
          if (rest < node.data.length) {
            const range = document.createRange();
            range.setStart(node, rest);
            range.setEnd(node, rest + 1);
            const rect = range.getBoundingClientRect();
            return { left: rect.left, right: rect.right, top: rect.top, height: rect.height };
          }
          rest -= node.data.length;
        }
      }
      return null;
    },
    { text, char },
  );
  if (!box) throw new Error(`"${text}" is not on screen`);
  return box;
}

test('the checksums of a selected frame are listed in every model', async ({ app }) => {
  const port = await openTcpListener(app);
  const device = net.connect(port, '127.0.0.1');
  await once(device, 'connect');
  await app.getByRole('treeitem', { level: 2 }).click();
  // A Modbus RTU request as a device would send it: six bytes, then their CRC low byte first.
  device.write(Buffer.from('01030000000ac5cd', 'hex'));
  await app.getByLabel('Mode', { exact: true }).selectOption('hex');
  await expect(terminal(app)).toContainText('00000000  01 03 00 00 00 0a c5 cd');

  // Nothing selected yet: the panel says what to do.
  const checksums = app.getByRole('button', { name: 'Checksums', exact: true });
  await checksums.click();
  const panel = app.getByRole('region', { name: 'Checksums of the selection' });
  await expect(panel).toContainText('Select bytes in the traffic view first');

  // Drag from the first digit of 01 to the last of 0a: the frame without its CRC.
  const start = await charBox(app, '01 03 00', 0);
  const end = await charBox(app, '00 0a c5', 4);
  await app.mouse.move(start.left + 1, start.top + start.height / 2);
  await app.mouse.down();
  await app.mouse.move((start.left + end.right) / 2, end.top + end.height / 2, { steps: 4 });
  await app.mouse.move(end.right - 1, end.top + end.height / 2, { steps: 4 });
  await app.mouse.up();

  await checksums.click();
  await expect(panel).toContainText('6 bytes (offsets 0 to 5)');
  const modbus = panel.getByRole('row', { name: /CRC-16\/MODBUS/ });
  await expect(modbus).toContainText('CDC5');
  // Low byte first: what the frame carries after its data.
  await expect(modbus).toContainText('C5 CD');
  await expect(panel.getByRole('row')).toHaveCount(13);
  await expect(panel.getByRole('row', { name: /LRC/ })).toContainText('F2');

  // Keyboard: Escape closes it and gives the focus back to the button.
  await panel.getByRole('button', { name: 'Close' }).focus();
  await app.keyboard.press('Escape');
  await expect(panel).toBeHidden();
  await expect(checksums).toBeFocused();
  device.destroy();
});

/** A python3 UDP socket that sends one datagram to `port`, then prints what it gets back. */
function pythonSender(port: number): { child: ChildProcess; output: () => string } {
  const child = spawn(
    'python3',
    [
      '-c',
      [
        'import socket, sys',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        "s.bind(('127.0.0.1', 0))",
        "s.sendto(b'hello from python', ('127.0.0.1', int(sys.argv[1])))",
        "print('port', s.getsockname()[1], flush=True)",
        's.settimeout(60)',
        'data, _ = s.recvfrom(65535)',
        "print('got', data.hex(), flush=True)",
      ].join('\n'),
      String(port),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (data: Buffer) => (out += data.toString()));
  return { child, output: () => out };
}

async function senderPort(sender: { output: () => string }): Promise<number> {
  await expect.poll(sender.output).toMatch(/port \d+/);
  return Number(/port (\d+)/.exec(sender.output())?.[1]);
}

test('a UDP sender is one pick away from being the destination', async ({ app }) => {
  await openTab(app, 'UDP socket');
  await app.getByRole('button', { name: 'Bind' }).click();
  const title = pane(app).getByRole('heading', { level: 2 });
  await expect(title).toContainText(/127\.0\.0\.1:[1-9]/);
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(await title.innerText())?.[1]);
  const replyTo = app.getByLabel('Reply to', { exact: true });
  await expect(replyTo).toBeDisabled();

  // The first sender fills the empty destination by itself.
  const first = pythonSender(port);
  const firstPort = await senderPort(first);
  await expect(app.getByLabel('Destination', { exact: true })).toHaveValue(
    `127.0.0.1:${firstPort}`,
  );

  // A second sender is listed first; the destination stays what it was until the user picks.
  const second = pythonSender(port);
  const secondPort = await senderPort(second);
  await expect(replyTo.locator('option').nth(1)).toHaveText(
    new RegExp(`^127\\.0\\.0\\.1:${secondPort} · \\d+ s ago$`),
  );
  await expect(replyTo.locator('option').nth(2)).toContainText(`127.0.0.1:${firstPort}`);
  await expect(app.getByLabel('Destination', { exact: true })).toHaveValue(
    `127.0.0.1:${firstPort}`,
  );
  await replyTo.selectOption(`127.0.0.1:${secondPort}`);
  await expect(app.getByLabel('Destination', { exact: true })).toHaveValue(
    `127.0.0.1:${secondPort}`,
  );

  await app.getByLabel('Payload', { exact: true }).fill('pong');
  await app.getByRole('button', { name: 'Send', exact: true }).click();
  await expect.poll(second.output).toContain(`got ${Buffer.from('pong').toString('hex')}`);
  first.child.kill();
  second.child.kill();
});

test('the checksum and reply controls speak Chinese in the zh-CN UI', async ({ app }) => {
  await app.getByLabel('Language', { exact: true }).selectOption('zh-CN');
  await openTab(app, 'UDP 套接字');
  await app.getByRole('button', { name: '绑定' }).click();
  await expect(pane(app).getByRole('heading', { level: 2 })).toContainText(/127\.0\.0\.1:[1-9]/);
  await expect(app.getByLabel('回复给', { exact: true })).toContainText('尚无发送方');
  await expect(app.getByLabel('行尾', { exact: true })).toContainText('回车换行');
  await app.getByLabel('校验', { exact: true }).selectOption('crc16-modbus');
  await expect(app.getByLabel('字节序', { exact: true })).toHaveValue('little');
  await expect(pane(app)).not.toContainText('Modbus RTU 的 CRC 低字节在前');
  await app.getByLabel('字节序', { exact: true }).selectOption('big');
  await expect(pane(app)).toContainText('Modbus RTU 的 CRC 低字节在前：请选择小端。');
  await app.getByRole('button', { name: '校验值', exact: true }).click();
  await expect(app.getByRole('region', { name: '所选字节的校验值' })).toContainText(
    '请先在流量视图中选中字节',
  );
});
