/**
 * The terminal knows the capture offset of every cell it drew: copying a selection copies the
 * bytes those cells show (by offset, formatted by the engine), and a search match is selected on
 * screen by its offsets. A peer on a plain node:net socket sends text with multi-byte UTF-8,
 * control characters and bytes that are not UTF-8.
 */
import { connect, type Socket } from 'node:net';
import type { Page } from '@playwright/test';
import { expect, openTcpListener, pane, terminal, test } from './fixtures';

/** "héllo 世界\r\n", then 00 01 ff 5c 41 0d 0a: `\x00\x01�\\A\r\n` in text mode. */
const PAYLOAD = Buffer.concat([
  Buffer.from('héllo 世界\r\n', 'utf8'),
  Buffer.from([0x00, 0x01, 0xff, 0x5c, 0x41, 0x0d, 0x0a]),
]);
const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
const bytesOf = (from: number, to: number): string => hex(PAYLOAD.subarray(from, to));

/** A peer connected to the workbench's listener, which shows its connection. */
async function peerSends(app: Page, bytes: Buffer): Promise<Socket> {
  const port = await openTcpListener(app);
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  await app.getByRole('treeitem', { level: 2 }).click();
  await expect(pane(app).getByRole('heading', { level: 2 })).toContainText('TCP');
  socket.write(bytes);
  return socket;
}

/** A character on screen: the `char`th (from 0) of the `nth` occurrence of `text`. */
interface Spot {
  text: string;
  char?: number;
  nth?: number;
}

/** Where a character is drawn, found in xterm's DOM rows (which hold each row's text). */
async function charBox(
  app: Page,
  spot: Spot,
): Promise<{ left: number; right: number; top: number; height: number }> {
  const box = await app.evaluate(
    ({ text, char, nth }) => {
      let seen = 0;
      for (const row of Array.from(document.querySelectorAll('.xterm-rows > div'))) {
        const nodes: Text[] = [];
        const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node as Text);
        const full = nodes.map((node) => node.data).join('');
        for (let at = full.indexOf(text); at >= 0; at = full.indexOf(text, at + 1)) {
          if (seen++ !== nth) continue;
          let rest = at + Array.from(text).slice(0, char).join('').length;
          for (const node of nodes) {
            if (rest < node.data.length) {
              const range = document.createRange();
              range.setStart(node, rest);
              range.setEnd(node, rest + ((node.data.codePointAt(rest) ?? 0) > 0xffff ? 2 : 1));
              const rect = range.getBoundingClientRect();
              return { left: rect.left, right: rect.right, top: rect.top, height: rect.height };
            }
            rest -= node.data.length;
          }
        }
      }
      return null;
    },
    { text: spot.text, char: spot.char ?? 0, nth: spot.nth ?? 0 },
  );
  if (!box) throw new Error(`"${spot.text}" is not on screen`);
  return box;
}

/** Drags the mouse from the left edge of one character to the right edge of another. */
async function dragSelect(app: Page, from: Spot, to: Spot): Promise<void> {
  const start = await charBox(app, from);
  const end = await charBox(app, to);
  await app.mouse.move(start.left + 1, start.top + start.height / 2);
  await app.mouse.down();
  await app.mouse.move((start.left + end.right) / 2, end.top + end.height / 2, { steps: 4 });
  await app.mouse.move(end.right - 1, end.top + end.height / 2, { steps: 4 });
  await app.mouse.up();
}

/** Presses "Copy selection" (as hex) and returns what it put on the clipboard. */
async function copySelection(app: Page): Promise<string> {
  const clipboard = (): Promise<string> => app.evaluate('navigator.clipboard.readText()');
  await app.evaluate('navigator.clipboard.writeText("")');
  await app.getByRole('button', { name: 'Copy selection' }).click();
  await expect(
    pane(app)
      .getByRole('status')
      .filter({ hasText: /Copied the selection: \d+ bytes?|Select something/ }),
  ).toBeVisible();
  await expect.poll(clipboard).not.toBe('');
  return clipboard();
}

test.beforeEach(async ({ context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
});

test('copying a text selection copies the bytes its cells show', async ({ app }) => {
  const socket = await peerSends(app, PAYLOAD);
  await expect(terminal(app)).toContainText('héllo 世界\\r\\n');
  await expect(terminal(app)).toContainText('\\x00\\x01\uFFFD\\\\A\\r\\n');
  await app.getByLabel('Copy as').selectOption('hex');

  // Multi-byte characters: é is c3 a9, 世界 e4 b8 96 e7 95 8c.
  await dragSelect(app, { text: 'é' }, { text: '界' });
  expect(await copySelection(app)).toBe(bytesOf(1, 13));
  // From the `x` of `\x00` to the first `\` of `\\`: whole marks, so whole bytes (00 to 5c).
  await dragSelect(app, { text: 'x00' }, { text: '\\\\A' });
  expect(await copySelection(app)).toBe(bytesOf(15, 19));
  // Over a line break: from 界 to the A on the next line.
  await dragSelect(app, { text: '界' }, { text: 'A' });
  expect(await copySelection(app)).toBe(bytesOf(10, 20));
  socket.destroy();
});

test('copying a hex dump selection copies the bytes of the cells', async ({ app }) => {
  const socket = await peerSends(app, PAYLOAD);
  await app.getByLabel('Mode', { exact: true }).selectOption('hex');
  await expect(terminal(app)).toContainText(
    '00000000  68 c3 a9 6c 6c 6f 20 e4  b8 96 e7 95 8c 0d 0a 00',
  );
  await expect(terminal(app)).toContainText('00000010  01 ff 5c 41 0d 0a');
  await app.getByLabel('Copy as').selectOption('hex');

  // From the second digit of c3 to the first of ff on the next line.
  await dragSelect(app, { text: 'c3 a9', char: 1 }, { text: '01 ff', char: 3 });
  expect(await copySelection(app)).toBe(bytesOf(1, 18));
  // In the character column only: "llo" is bytes 3 to 5.
  await dragSelect(app, { text: 'llo' }, { text: 'llo', char: 2 });
  expect(await copySelection(app)).toBe(bytesOf(3, 6));
  socket.destroy();
});

test('a search match is scrolled to and selected, in text and in hex', async ({ app }) => {
  const socket = await peerSends(app, PAYLOAD);
  await expect(terminal(app)).toContainText('héllo 世界');
  await app.getByLabel('Copy as').selectOption('hex');
  const search = app.getByLabel('Search', { exact: true });
  await search.fill('世界');
  await search.press('Enter');
  await expect(pane(app).getByRole('status').filter({ hasText: 'Match 1 of 1' })).toContainText(
    'at byte 7',
  );
  expect(await copySelection(app)).toBe(bytesOf(7, 13));

  await app.getByLabel('Mode', { exact: true }).selectOption('hex');
  await expect(terminal(app)).toContainText('00000010  01 ff');
  await app.getByLabel('Search for').selectOption('hex');
  await search.fill('0a 00 01');
  await search.press('Enter');
  await expect(pane(app).getByRole('status').filter({ hasText: 'Match 1 of 1' })).toContainText(
    'at byte 14',
  );
  expect(await copySelection(app)).toBe(bytesOf(14, 17));
  socket.destroy();
});

test('headers and the text of the mixed view map to bytes too', async ({ app }) => {
  const socket = await peerSends(app, PAYLOAD);
  await expect(terminal(app)).toContainText('héllo 世界');
  await app.getByLabel('Copy as').selectOption('hex');

  // A selection that starts in a record's header covers the record's first byte on.
  await app.getByLabel('Timestamps').check();
  await expect(terminal(app)).toContainText(/\d\d:\d\d:\d\d\.\d{3} ← héllo/);
  await dragSelect(app, { text: '←' }, { text: 'é' });
  expect(await copySelection(app)).toBe(bytesOf(0, 3));

  // Header, text, then the dump: the text's cells and the dump's cells.
  await app.getByLabel('Mode', { exact: true }).selectOption('both');
  await expect(terminal(app)).toContainText('00000010  01 ff');
  await dragSelect(app, { text: 'llo' }, { text: '世' });
  expect(await copySelection(app)).toBe(bytesOf(3, 10));
  await dragSelect(app, { text: '96 e7', char: 3 }, { text: '5c 41', char: 1 });
  expect(await copySelection(app)).toBe(bytesOf(10, 19));
  socket.destroy();
});

test('a character split across two records maps to the record that draws it', async ({ app }) => {
  // 世 is e4 b8 96: e4 ends the first chunk, b8 96 begin the second.
  const socket = await peerSends(app, Buffer.from([0x61, 0xe4]));
  await app.getByLabel('Timestamps').check();
  await app.getByLabel('Copy as').selectOption('hex');
  await expect(terminal(app)).toContainText(/← a/);
  socket.write(Buffer.from([0xb8, 0x96, 0x62]));
  await expect(terminal(app)).toContainText(/← 世b/);

  await dragSelect(app, { text: '世b' }, { text: '世b', char: 1 });
  expect(await copySelection(app)).toBe('b8 96 62');

  const search = app.getByLabel('Search', { exact: true });
  await search.fill('世b');
  await search.press('Enter');
  await expect(pane(app).getByRole('status').filter({ hasText: 'Match 1 of 1' })).not.toContainText(
    'no longer shown',
  );
  expect(await copySelection(app)).toBe('b8 96 62');
  socket.destroy();
});

test('a match the view no longer shows is said to be out of view', async ({ app }) => {
  const socket = await peerSends(app, PAYLOAD);
  await expect(terminal(app)).toContainText('héllo 世界');
  await app.getByRole('button', { name: 'Clear', exact: true }).click();
  await expect(terminal(app)).not.toContainText('héllo');
  const search = app.getByLabel('Search', { exact: true });
  await search.fill('héllo');
  await search.press('Enter');
  await expect(pane(app).getByRole('status').filter({ hasText: 'Match 1 of 1' })).toContainText(
    'no longer shown in the view',
  );
  // What comes after the clear is shown, and found there.
  socket.write('héllo again\r\n');
  await expect(terminal(app)).toContainText('héllo again');
  await search.fill('héllo again');
  await search.press('Enter');
  const found = pane(app).getByRole('status').filter({ hasText: 'Match 1 of 1' });
  await expect(found).toContainText('at byte 22');
  await expect(found).not.toContainText('no longer shown');
  socket.destroy();
});

/** A peer that has sent `bytes` before the workbench shows its connection (so it is replayed). */
async function peerSent(app: Page, bytes: Buffer): Promise<Socket> {
  const port = await openTcpListener(app);
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.write(bytes, () => resolve());
  });
  // The engine reads it at once; the view then replays it from the capture.
  await app.waitForTimeout(500);
  await app.getByRole('treeitem', { level: 2 }).click();
  return socket;
}

test('lines gone from the scrollback are out of view; the rest still map', async ({ app }) => {
  const lines = Array.from({ length: 30_000 }, (_, i) => `L${String(i).padStart(5, '0')}\n`);
  const bytes = Buffer.from(lines.join(''));
  const socket = await peerSent(app, bytes);
  await expect(terminal(app)).toContainText('L29999\\n');
  await app.getByLabel('Copy as').selectOption('hex');
  const at = (line: number): number => line * 7;

  // Across lines, each of them selected whole in between.
  await dragSelect(app, { text: 'L29990' }, { text: 'L29995', char: 5 });
  expect(await copySelection(app)).toBe(hex(bytes.subarray(at(29_990), at(29_995) + 6)));

  const search = app.getByLabel('Search', { exact: true });
  await search.fill('L29000');
  await search.press('Enter');
  const status = pane(app).getByRole('status').filter({ hasText: 'Match 1 of 1' });
  await expect(status).toContainText(`at byte ${at(29_000).toLocaleString('en-US')}`);
  await expect(status).not.toContainText('no longer shown');
  expect(await copySelection(app)).toBe(hex(bytes.subarray(at(29_000), at(29_000) + 6)));

  // 30,000 lines do not fit in 20,000 lines of scrollback.
  await search.fill('L00010');
  await search.press('Enter');
  await expect(status).toContainText('no longer shown in the view');
  socket.destroy();
});

test('a line longer than the scrollback maps from its end', async ({ app }) => {
  // A million NULs draw as `\x00`, four cells each: far more rows than the scrollback holds.
  const bytes = Buffer.concat([Buffer.alloc(1_000_000), Buffer.from('XYZ')]);
  const socket = await peerSent(app, bytes);
  await expect(terminal(app)).toContainText('\\x00XYZ', { timeout: 30_000 });
  await expect(terminal(app)).not.toContainText('not shown');
  await app.getByLabel('Copy as').selectOption('hex');

  await dragSelect(app, { text: '0XYZ' }, { text: 'XYZ', char: 1 });
  expect(await copySelection(app)).toBe('00 58 59');

  const search = app.getByLabel('Search', { exact: true });
  await search.fill('YZ');
  await search.press('Enter');
  const status = pane(app).getByRole('status').filter({ hasText: 'Match 1 of 1' });
  await expect(status).not.toContainText('no longer shown');
  expect(await copySelection(app)).toBe('59 5a');
  socket.destroy();
});
