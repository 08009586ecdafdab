/**
 * The desktop app itself, driven through Playwright's Electron support: open a listener from the
 * GUI, connect a real peer, see its bytes. Runs where the Electron binary exists (a user's machine,
 * a CI with internet); elsewhere it reports itself skipped with the reason.
 */
import net from 'node:net';
import { _electron as electron, expect, test } from '@playwright/test';
// @ts-expect-error -- plain JS module shared with `npm start`; it has no type declarations.
import { findElectron, missingDisplay } from '../../scripts/start.js';

const found = findElectron() as { path?: string; missing?: string };
const noDisplay = missingDisplay() as string | null;
const skipReason = found.missing
  ? `Electron binary unavailable: ${found.missing}`
  : noDisplay
    ? `No display: ${noDisplay} (run under xvfb-run)`
    : '';

test.skip(skipReason !== '', skipReason);

// The reason is in the title too, because line and list reporters do not print skip reasons.
const title = skipReason ? `(skipped: ${skipReason})` : '';

test(`open a listener, connect a peer, see its bytes ${title}`, async () => {
  const app = await electron.launch({
    executablePath: found.path as string,
    args: ['.'],
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '' },
  });
  try {
    const window = await app.firstWindow();
    // The renderer sees only the preload's contract API, never Node.
    expect(await window.evaluate(() => typeof (globalThis as { require?: unknown }).require)).toBe(
      'undefined',
    );
    await window.getByRole('tab', { name: 'TCP listener', exact: true }).click();
    await window.getByRole('button', { name: 'Open listener' }).click();
    const title = window.getByRole('article').getByRole('heading', { level: 2 });
    await expect(title).toContainText(/127\.0\.0\.1:[1-9]\d*/);
    const port = Number(/:(\d+)/.exec(await title.innerText())?.[1]);

    const peer = net.connect({ host: '127.0.0.1', port });
    await new Promise((resolve) => peer.once('connect', resolve));
    peer.write('hello from a peer\r\n');
    await window.getByRole('treeitem', { name: /open/ }).first().click();
    await expect(window.locator('.xterm-rows')).toContainText('hello from a peer');
    peer.destroy();
  } finally {
    await app.close();
  }
});
