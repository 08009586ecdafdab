/**
 * xterm's DOM renderer re-renders every row when its selection service asks for a selection
 * redraw, and it asks after every scroll, even with nothing selected (xterm.js issue 4633): a
 * flood made every frame render the screen twice. The workbench lets through only the redraws
 * that change something (src/renderer/src/lib/xterm-redraws.ts). Measured here as a person's
 * terminal sees it: rows re-rendered per incoming line with and without a selection, and the
 * selection still drawn while lines arrive, and gone once cleared.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { Page } from '@playwright/test';
import { expect, openTcpListener, terminal, test } from './fixtures';

/** Starts counting row re-renders: each row element whose children were replaced. */
async function countRowRenders(page: Page): Promise<void> {
  await page.evaluate(() => {
    const rows = document.querySelector('.xterm-rows');
    if (!rows) throw new Error('no terminal rows');
    const state = window as unknown as { __rowRenders: number; __rowObserver?: MutationObserver };
    state.__rowObserver?.disconnect();
    state.__rowRenders = 0;
    state.__rowObserver = new MutationObserver((records) => {
      for (const record of records) if (record.target.parentElement === rows) state.__rowRenders++;
    });
    state.__rowObserver.observe(rows, { childList: true, subtree: true });
  });
}

async function rowRenders(page: Page): Promise<number> {
  return page.evaluate(() => (window as unknown as { __rowRenders: number }).__rowRenders);
}

async function framesPass(page: Page, count: number): Promise<void> {
  await page.evaluate(
    (n) =>
      new Promise<void>((resolve) => {
        const step = (left: number) =>
          left === 0 ? resolve() : requestAnimationFrame(() => step(left - 1));
        step(n);
      }),
    count,
  );
}

/** Sends `count` numbered lines one at a time, each shown before the next is sent. */
async function linesOneByOne(page: Page, peer: net.Socket, tag: string, count: number) {
  for (let i = 0; i < count; i++) {
    peer.write(`${tag} ${i}\n`);
    await expect(terminal(page)).toContainText(`${tag} ${i}`);
    await framesPass(page, 3);
  }
}

test('a scrolling terminal renders its rows once per line unless a selection must move', async ({
  app,
}) => {
  const port = await openTcpListener(app);
  const peer = net.connect(port, '127.0.0.1');
  await once(peer, 'connect');
  await app.getByRole('treeitem', { level: 2 }).click();
  // More lines than the screen holds: every new line scrolls it.
  peer.write(Array.from({ length: 120 }, (_, i) => `filler line ${i}\n`).join(''));
  await expect(terminal(app)).toContainText('filler line 119');
  await framesPass(app, 5);

  await countRowRenders(app);
  await linesOneByOne(app, peer, 'plain', 6);
  const withoutSelection = await rowRenders(app);

  // Select two lines by dragging across them, as a person would.
  // Lines near the bottom, so that six more lines move them up but keep them on screen.
  const lines = terminal(app).locator(':scope > div');
  const shown = await lines.count();
  expect(shown).toBeGreaterThan(10);
  const first = await lines.nth(shown - 3).boundingBox();
  const last = await lines.nth(shown - 2).boundingBox();
  if (!first || !last) throw new Error('terminal rows are not laid out');
  await app.mouse.move(first.x + 2, first.y + first.height / 2);
  await app.mouse.down();
  await app.mouse.move(last.x + 60, last.y + last.height / 2, { steps: 4 });
  await app.mouse.up();
  const selection = app.locator('.xterm-selection > div');
  await expect(selection.first()).toBeVisible();

  await countRowRenders(app);
  await linesOneByOne(app, peer, 'selected', 6);
  const withSelection = await rowRenders(app);
  // Still drawn, moved up with its lines.
  await expect(selection.first()).toBeVisible();

  // With a selection every scroll re-renders the rows twice (the frame's render and the
  // selection's); with none, once.
  expect(withoutSelection).toBeGreaterThan(0);
  expect(withoutSelection).toBeLessThan(withSelection * 0.75);

  // A click clears the selection, and its drawing goes.
  await app.mouse.click(first.x + 2, first.y + first.height / 2);
  await expect(selection).toHaveCount(0);
  peer.destroy();
});
