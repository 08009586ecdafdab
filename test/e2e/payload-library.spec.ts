/**
 * The payload library in the UI, with a real peer: saved payloads go out byte-exact with one
 * click and with Alt+1, survive a reload (the engine keeps them), and travel through an exported
 * file; a bad file is refused with the field that is wrong and changes nothing.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import type { Page } from '@playwright/test';
import { expect, openTcpListener, pane, test } from './fixtures';

/** The composer's payload and format (exact names: other tools beside it have "… payload" fields). */
function payloadBox(page: Page) {
  return page.getByRole('textbox', { name: 'Payload', exact: true });
}
function formatSelect(page: Page) {
  return page.getByRole('combobox', { name: 'Format', exact: true });
}

/** The library section of the selected endpoint's pane, opened. */
async function openLibrary(page: Page) {
  const summary = pane(page).locator('summary').filter({ hasText: 'Library' });
  await summary.click();
  return pane(page).locator('details.library');
}

async function saveCurrent(
  page: Page,
  details: { name: string; folder?: string; tags?: string; hotkey?: string },
): Promise<void> {
  await pane(page).getByRole('button', { name: 'Save current payload' }).click();
  const form = pane(page).getByRole('form', { name: 'Save to the library' });
  await form.getByLabel('Name', { exact: true }).fill(details.name);
  if (details.folder) await form.getByLabel('Folder').fill(details.folder);
  if (details.tags) await form.getByLabel('Tags').fill(details.tags);
  if (details.hotkey) await form.getByLabel('Shortcut').selectOption({ label: details.hotkey });
  await form.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(pane(page).getByRole('listitem', { name: details.name })).toBeVisible();
}

test('saved payloads go out byte-exact by click and by Alt+1, and survive a reload', async ({
  app,
}) => {
  const port = await openTcpListener(app);
  const peer = net.connect({ host: '127.0.0.1', port });
  await once(peer, 'connect');
  const received: Buffer[] = [];
  peer.on('data', (data: Buffer) => received.push(data));
  const receivedHex = () => Buffer.concat(received).toString('hex');
  try {
    await app.getByRole('treeitem', { level: 2 }).click();
    await expect(pane(app).getByRole('heading', { level: 2 })).toContainText(/TCP/);
    const library = await openLibrary(app);
    await expect(library).toContainText('Nothing saved yet');
    // No payload in the composer: nothing to save, and the UI says why.
    await expect(library.getByRole('button', { name: 'Save current payload' })).toBeDisabled();
    await expect(library).toContainText('Type a valid payload in the composer to save it.');

    await payloadBox(app).fill('hi\\t\\x00\\r\\n');
    await saveCurrent(app, {
      name: 'Greeting',
      folder: 'demo',
      tags: 'text, crlf',
      hotkey: 'Alt+1',
    });
    await formatSelect(app).selectOption('hex');
    await payloadBox(app).fill('01 03 00 00 00 0a');
    await saveCurrent(app, { name: 'Modbus read', folder: 'modbus' });
    await payloadBox(app).fill('');

    await library.getByRole('button', { name: 'Send “Modbus read”' }).click();
    await expect.poll(receivedHex).toBe('01030000000a');
    await expect(library.getByRole('status')).toHaveText('Sent “Modbus read”: 6 bytes');
    await app.keyboard.press('Alt+1');
    await expect.poll(receivedHex).toBe(`01030000000a${Buffer.from('hi\t\0\r\n').toString('hex')}`);

    // Search covers names, folders, tags and data.
    await library.getByLabel('Search the library').fill('crlf');
    await expect(library.getByRole('listitem')).toHaveCount(1);
    await expect(library.getByRole('listitem', { name: 'Greeting' })).toBeVisible();
    await library.getByLabel('Search the library').fill('00 0a');
    await expect(library.getByRole('listitem', { name: 'Modbus read' })).toBeVisible();
    await expect(library.getByRole('listitem')).toHaveCount(1);

    // Load puts the saved payload into the composer with its format.
    await library.getByRole('button', { name: 'Load “Modbus read” into the composer' }).click();
    await expect(payloadBox(app)).toHaveValue('01 03 00 00 00 0a');
    await expect(formatSelect(app)).toHaveValue('hex');

    // The engine keeps the library: a reloaded page finds it.
    await app.reload();
    await expect(pane(app).getByRole('heading', { level: 2 })).toContainText(/TCP/);
    const reloaded = await openLibrary(app);
    await expect(reloaded.getByRole('listitem')).toHaveCount(2);
    await expect(reloaded.getByRole('region', { name: 'demo' })).toContainText('Greeting');
    await app.keyboard.press('Alt+1');
    await expect
      .poll(receivedHex)
      .toBe(`01030000000a${Buffer.from('hi\t\0\r\nhi\t\0\r\n').toString('hex')}`);
  } finally {
    peer.destroy();
  }
});

test('export, then import into an emptied library; a bad file changes nothing', async ({ app }) => {
  await openTcpListener(app);
  const library = await openLibrary(app);
  await payloadBox(app).fill('ping\\n');
  await saveCurrent(app, { name: 'Ping', tags: 'keepalive', hotkey: 'Alt+2' });
  await formatSelect(app).selectOption('base64');
  await payloadBox(app).fill('AAEC');
  await saveCurrent(app, { name: 'Three bytes', folder: 'raw' });

  const downloading = app.waitForEvent('download');
  await library.getByRole('button', { name: 'Export' }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('payloads.json');
  const exported = await readFile((await download.path()) ?? '', 'utf8');
  const file = JSON.parse(exported) as { format: string; version: number; items: unknown[] };
  expect(file).toMatchObject({ format: 'socket-workbench-payloads', version: 1 });
  expect(file.items).toHaveLength(2);

  await library.getByRole('button', { name: 'Delete “Ping”' }).click();
  await library.getByRole('button', { name: 'Delete “Three bytes”' }).click();
  await expect(library).toContainText('Nothing saved yet');

  await library.getByLabel('Import', { exact: true }).setInputFiles({
    name: 'payloads.json',
    mimeType: 'application/json',
    buffer: Buffer.from(exported),
  });
  await expect(library.getByRole('status')).toHaveText('Imported: 2 added, 0 replaced');
  await expect(library.getByRole('listitem', { name: 'Ping' })).toContainText('Alt+2');
  await expect(library.getByRole('region', { name: 'raw' })).toContainText('Three bytes');
  const exportedAgain = app.waitForEvent('download');
  await library.getByRole('button', { name: 'Export' }).click();
  expect(await readFile((await (await exportedAgain).path()) ?? '', 'utf8')).toBe(exported);

  // A bad item in the middle: refused whole, naming the field.
  const bad = JSON.parse(exported) as { items: { name: string; payload: { format: string } }[] };
  bad.items.unshift({ ...structuredClone(bad.items[0]!), name: 'New first' });
  bad.items[1]!.payload.format = 'morse';
  await library.getByLabel('Import', { exact: true }).setInputFiles({
    name: 'bad.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify(bad)),
  });
  await expect(library.getByRole('alert')).toContainText('items[1].payload.format');
  await expect(library.getByRole('listitem')).toHaveCount(2);
  await expect(library.getByRole('listitem', { name: 'New first' })).toHaveCount(0);
});

test('the library speaks Chinese in the zh-CN UI', async ({ app }) => {
  await app.getByLabel('Language').selectOption('zh-CN');
  await app.getByRole('button', { name: '开始监听' }).click();
  await pane(app).locator('summary').filter({ hasText: '载荷库' }).click();
  await app.getByRole('textbox', { name: '载荷', exact: true }).fill('hello');
  await pane(app).getByRole('button', { name: '保存当前载荷' }).click();
  const form = pane(app).getByRole('form', { name: '保存到载荷库' });
  await form.getByLabel('名称', { exact: true }).fill('Hello');
  await form.getByLabel('快捷键').selectOption({ label: 'Alt+3' });
  await form.getByRole('button', { name: '保存', exact: true }).click();
  const library = pane(app).locator('details.library');
  await expect(library.getByRole('button', { name: '发送“Hello”' })).toBeVisible();
  await expect(library.getByRole('status')).toHaveText('已保存“Hello”');
  // What is left once the user's own data is taken out: no English words but key names.
  const words = await library.evaluate((element) => {
    const copy = element.cloneNode(true) as HTMLElement;
    for (const data of copy.querySelectorAll('[data-no-translate], option')) data.remove();
    const labels = [...element.querySelectorAll('[aria-label], [placeholder]')].map(
      (e) => `${e.getAttribute('aria-label') ?? ''} ${e.getAttribute('placeholder') ?? ''}`,
    );
    return `${copy.textContent ?? ''} ${labels.join(' ')}`.match(/[A-Za-z][A-Za-z0-9_-]*/g) ?? [];
  });
  expect(words.filter((word) => !['Alt', 'Hello'].includes(word))).toEqual([]);
});
