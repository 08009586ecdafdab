/**
 * The capture history: any page of a connection's capture, and the bytes the live view skipped
 * when it fell behind, shown exactly as the peer sent them.
 */
import net from 'node:net';
import { once } from 'node:events';
import type { Locator, Page } from '@playwright/test';
import { hexDumpLines } from '../../src/shared/format';
import { expect, openTcpListener, pane, terminal, test } from './fixtures';

/** Byte i of what the peer sends: a cycle of a prime length, so no page looks like another. */
function pattern(from: number, to: number): Uint8Array {
  const bytes = new Uint8Array(to - from);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (from + i) % 251;
  return bytes;
}

function history(page: Page): Locator {
  return page.getByRole('region', { name: 'Capture history' });
}

/** The hex-dump lines the history page shows, in order. */
async function dumpLines(page: Page): Promise<string[]> {
  const text = await history(page).getByRole('document').innerText();
  return text.split('\n').filter((line) => /^[0-9a-f]{8} {2}/.test(line));
}

async function expectPage(page: Page, from: number, to: number): Promise<void> {
  const expected = hexDumpLines(pattern(from, to), from);
  await expect.poll(() => dumpLines(page)).toEqual(expected);
}

/** A hex-dump row of the terminal: the capture offsets it covers, [start, end). */
function dumpRow(text: string): { start: number; end: number } | null {
  const line = /^([0-9a-f]{8,}) {2}([0-9a-f ]+?) *\|/.exec(text.replace(/\s/g, ' '));
  if (!line) return null;
  const start = parseInt(line[1] ?? '', 16);
  return { start, end: start + (line[2]?.match(/[0-9a-f]{2}/g)?.length ?? 0) };
}

/**
 * Scrolls the terminal up from the bottom to the latest "not shown" note and gives it with the
 * dump rows just before and after it.
 */
async function rowsAroundGapNote(page: Page) {
  const rows = page.locator('.xterm-rows > div');
  await page.locator('.xterm-screen').hover();
  const found: {
    view?: {
      note: string;
      before: ReturnType<typeof dumpRow>;
      after: ReturnType<typeof dumpRow>;
    };
  } = {};
  await expect
    .poll(
      async () => {
        const texts = await rows.allInnerTexts();
        const at = texts.findLastIndex((text) => text.includes('bytes not shown here'));
        const before = texts.slice(0, Math.max(0, at)).findLast((text) => dumpRow(text));
        const after = texts.slice(at + 1).find((text) => dumpRow(text));
        if (at >= 0 && before && after) {
          found.view = { note: texts[at] ?? '', before: dumpRow(before), after: dumpRow(after) };
          return true;
        }
        // Not on screen (or not with a row on each side) yet: scroll up a little and look again.
        await page.mouse.wheel(0, at >= 0 ? -40 : -300);
        return false;
      },
      // Minutes of hex rows may lie between the bottom and the note on a loaded machine.
      { timeout: 100_000, intervals: [50] },
    )
    .toBe(true);
  if (!found.view) throw new Error('no gap note on screen');
  return found.view;
}

/** A peer connected to a fresh listener, with its accepted connection shown. */
async function acceptedPeer(page: Page): Promise<net.Socket> {
  const port = await openTcpListener(page);
  const peer = net.connect({ host: '127.0.0.1', port });
  await once(peer, 'connect');
  await page.getByRole('treeitem', { level: 2 }).click();
  return peer;
}

test('the history pages through the whole capture as a hex dump or text', async ({ app }) => {
  const peer = await acceptedPeer(app);
  peer.write(pattern(0, 20_000));

  await app.getByRole('button', { name: 'History', exact: true }).click();
  const panel = history(app);
  await expect(panel).toBeVisible();
  await panel.getByLabel('Show as').selectOption('hex');
  const status = panel.getByRole('status');
  // Last page reads the capture's size again, so this also waits until all of it arrived.
  await expect(async () => {
    await panel.getByRole('button', { name: 'Last page' }).click();
    await expect(status).toHaveText('Bytes 16,384–19,999 of 20,000', { timeout: 500 });
  }).toPass();
  await expectPage(app, 16_384, 20_000);
  await expect(panel.getByRole('button', { name: 'Next page' })).toBeDisabled();
  await expect(panel.getByText('← received 3,616 bytes')).toBeVisible();

  await panel.getByRole('button', { name: 'First page' }).click();
  await expect(status).toHaveText('Bytes 0–4,095 of 20,000');
  await expectPage(app, 0, 4096);
  await expect(panel.getByRole('button', { name: 'Previous page' })).toBeDisabled();

  await panel.getByRole('button', { name: 'Next page' }).click();
  await expect(panel.getByLabel('Offset')).toHaveValue('4096');
  await expect(status).toHaveText('Bytes 4,096–8,191 of 20,000');
  await expectPage(app, 4096, 8192);
  await panel.getByRole('button', { name: 'Next page' }).click();
  await expectPage(app, 8192, 12_288);

  // Any offset, not only page boundaries: the dump's offsets are the capture's.
  const offset = panel.getByLabel('Offset');
  await offset.fill('1000');
  await offset.press('Enter');
  await expect(status).toHaveText('Bytes 1,000–5,095 of 20,000');
  await expectPage(app, 1000, 5096);

  await panel.getByLabel('Page size').selectOption('1 KiB');
  await expect(status).toHaveText('Bytes 1,000–2,023 of 20,000');
  await expectPage(app, 1000, 2024);
  await panel.getByRole('button', { name: 'Previous page' }).click();
  await expect(status).toHaveText('Bytes 0–1,023 of 20,000');

  await panel.getByLabel('Show as').selectOption('text');
  await expect(panel.getByRole('document')).toContainText('\\x00\\x01\\x02\\x03');

  await panel.getByRole('button', { name: 'Close history' }).click();
  await expect(panel).toBeHidden();
  peer.destroy();
});

test('bytes the live view skipped are announced and shown exactly in the history', async ({
  app,
}) => {
  test.setTimeout(240_000);
  const total = 64 * 1024 * 1024;
  const data = pattern(0, total);
  const peer = await acceptedPeer(app);
  await app.getByLabel('Mode', { exact: true }).selectOption('hex');
  // Something on screen first: then the view is watching before the flood starts.
  peer.write(data.subarray(0, 16));
  await expect(terminal(app)).toContainText(hexDumpLines(data.subarray(0, 16), 0)[0] ?? '');
  await new Promise<void>((resolve, reject) =>
    peer.write(data.subarray(16), (error) => (error ? reject(error) : resolve())),
  );

  const notice = pane(app).getByRole('status').filter({ hasText: 'bytes skipped in live view' });
  await expect(notice).toBeVisible({ timeout: 60_000 });
  // Once the view has caught up with everything, no further skip can replace the notice.
  await expect(app.locator(`.xterm[data-view-end="${total}"]`)).toBeAttached({ timeout: 90_000 });

  const said =
    /([\d,]+) bytes skipped in live view \(kept in capture\): bytes ([\d,]+)–([\d,]+)/.exec(
      await notice.innerText(),
    );
  expect(said).not.toBeNull();
  const [count, from, to] = (said ?? []).slice(1).map((n) => Number(n.replaceAll(',', '')));
  expect(from).toBeGreaterThan(0);
  expect(to).toBeLessThan(total);
  expect(count).toBe((to ?? 0) - (from ?? 0) + 1);
  // Exactly what the view did not show: after catching up it shows the flood's last 16 KiB (a
  // sixteenth of a second of hex at its live rate), and the range ends just before them.
  expect((to ?? 0) + 1).toBe(total - 16 * 1024);
  // On screen: the last bytes before the range, the note for exactly that count, then the bytes
  // right after the range.
  const around = await rowsAroundGapNote(app);
  expect(around.note).toContain(`… ${count?.toLocaleString('en-US')} bytes not shown here`);
  expect(around.before?.end).toBe(from);
  expect(around.after?.start).toBe((to ?? 0) + 1);

  await notice.getByRole('button', { name: 'Show skipped bytes' }).click();
  const panel = history(app);
  await expect(panel.getByLabel('Offset')).toHaveValue(String(from));
  await panel.getByLabel('Show as').selectOption('hex');
  const start = from ?? 0;
  await expect
    .poll(async () => (await dumpLines(app))[0])
    .toBe(hexDumpLines(data.subarray(start, start + 16), start)[0]);
  await expectPage(app, start, Math.min(start + 4096, total));
  peer.destroy();
});

test('clearing the view in the middle of a flood never stalls it: it still reaches the last byte', async ({
  app,
}) => {
  test.setTimeout(120_000);
  const piece = 512 * 1024;
  const total = 64 * piece;
  const data = pattern(0, total);
  const peer = await acceptedPeer(app);
  await app.getByLabel('Mode', { exact: true }).selectOption('hex');
  const clear = app.getByRole('button', { name: 'Clear', exact: true });
  // Clears land while bytes are still arriving: between the pieces of the flood.
  for (let from = 0; from < total; from += piece) {
    await new Promise<void>((resolve, reject) =>
      peer.write(data.subarray(from, from + piece), (error) => (error ? reject(error) : resolve())),
    );
    if ((from / piece) % 8 === 7 && from + piece < total) await clear.click();
  }
  await expect(app.locator(`.xterm[data-view-end="${total}"]`)).toBeAttached({ timeout: 90_000 });
  // The dump's rows start where the chunks the view got start, so the last row's address
  // depends on them: read it, and check its bytes are the stream's last ones, exactly.
  const text = (await terminal(app).textContent()) ?? '';
  const rows = [...text.matchAll(/([0-9a-f]{8}) {2}((?:[0-9a-f]{2} {1,2})+)/g)];
  const last = rows.at(-1);
  const start = parseInt(last?.[1] ?? '', 16);
  const bytes = (last?.[2] ?? '')
    .trim()
    .split(/\s+/)
    .map((pair) => parseInt(pair, 16));
  expect(start + bytes.length).toBe(total);
  expect(Buffer.from(bytes).equals(data.subarray(start, total))).toBe(true);
  peer.destroy();
});

test('the history panel speaks Chinese in the zh-CN UI', async ({ app }) => {
  const peer = await acceptedPeer(app);
  peer.write('hello\r\n');
  await expect(terminal(app)).toContainText('hello');
  await app.getByLabel('Language').selectOption('zh-CN');
  await app.getByRole('button', { name: '历史', exact: true }).click();
  const panel = app.getByRole('region', { name: '抓包历史' });
  await expect(panel.getByRole('status')).toHaveText('第 0–6 字节，共 7 字节');
  for (const name of ['第一页', '上一页', '下一页', '最后一页', '关闭历史']) {
    await expect(panel.getByRole('button', { name, exact: true })).toBeVisible();
  }
  await expect(panel.getByRole('document')).toContainText('hello');
  const words = await panel.evaluate((element) => {
    const ui = element.cloneNode(true) as HTMLElement;
    for (const data of ui.querySelectorAll('[data-no-translate]')) data.remove();
    const texts = [ui.textContent ?? ''];
    for (const e of ui.querySelectorAll('[aria-label], option')) {
      texts.push(e.getAttribute('aria-label') ?? e.textContent ?? '');
    }
    return texts.join(' ').match(/[A-Za-z]{2,}/g) ?? [];
  });
  // Units are the same in both languages.
  expect(words.filter((w) => w !== 'KiB')).toEqual([]);
  peer.destroy();
});
