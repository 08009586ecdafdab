/**
 * npm run screenshot: the README's picture of the real app. Starts browser mode on a free port,
 * opens a listener, connects two real peers that talk to it, and photographs the workbench in
 * Debian's Chromium (CHROMIUM_PATH to use another). Writes docs/screenshot.png (or argv[2]).
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { chromium } from '@playwright/test';
import { chromiumArgs, chromiumExecutable } from './chromium';

const output = path.resolve(process.argv[2] ?? 'docs/screenshot.png');
const colorScheme = process.env.SCREENSHOT_THEME === 'dark' ? 'dark' : 'light';

async function startServe(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['scripts/serve.js', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (data: Buffer) => {
      text += data.toString();
      const match = /(http:\/\/\S+\?token=\S+)/.exec(text);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return { url, stop: () => child.kill() };
}

const server = await startServe();
const browser = await chromium.launch({
  executablePath: chromiumExecutable,
  args: chromiumArgs,
});
const peers: net.Socket[] = [];
try {
  const page = await browser.newPage({
    viewport: { width: 1440, height: 900 },
    colorScheme,
    locale: 'en-US',
  });
  await page.goto(server.url);
  await page.getByRole('tab', { name: 'TCP listener', exact: true }).click();
  await page.getByRole('button', { name: 'Open listener' }).click();
  const title = page.getByRole('article').getByRole('heading', { level: 2 });
  await title.filter({ hasText: /:[1-9]\d*/ }).waitFor();
  const port = Number(/:(\d+)/.exec(await title.innerText())?.[1]);

  for (const greeting of ['GET /status HTTP/1.1\r\nHost: device.local\r\n\r\n', 'AT+CSQ\r\n']) {
    const peer = net.connect({ host: '127.0.0.1', port });
    await new Promise((resolve) => peer.once('connect', resolve));
    peer.on('data', () => undefined);
    peer.write(greeting);
    peers.push(peer);
  }
  await page.getByRole('treeitem', { level: 2 }).first().click();
  await page.getByLabel('Mode', { exact: true }).selectOption('both');
  await page
    .getByLabel('Payload', { exact: true })
    .fill('HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  peers[0]?.end();
  await page.getByText('← FIN', { exact: false }).first().waitFor();
  // A Modbus request, its CRC appended by the composer (the preview marks it).
  await page.getByLabel('Payload', { exact: true }).fill('01 03 00 00 00 0a');
  await page.getByLabel('Format', { exact: true }).selectOption('hex');
  await page.getByLabel('Checksum', { exact: true }).selectOption({ label: 'CRC-16/MODBUS' });
  await page.getByLabel('Byte order', { exact: true }).selectOption({ label: 'Little-endian' });
  await page.waitForTimeout(300);
  await page.screenshot({ path: output });
  console.log(`Wrote ${path.relative(process.cwd(), output)}`);
} finally {
  for (const peer of peers) peer.destroy();
  await browser.close();
  server.stop();
}
