/**
 * Every test gets its own engine: a fresh `serve` process on a free port, so endpoints from one
 * test never show up in another's sidebar. Helpers find controls the way a person does: by role
 * and by the label they read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test as base, type Locator, type Page } from '@playwright/test';

export { expect };

async function startServe(dataDir: string): Promise<{ url: string; process: ChildProcess }> {
  // Its own data folder: a test never sees another's saved payloads, nor the user's own.
  const child = spawn(
    process.execPath,
    ['out/main/serve.js', '--port', '0', '--data-dir', dataDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (data: Buffer) => {
      output += data.toString();
      const match = /(http:\/\/\S+\?token=\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.stderr?.on('data', (data: Buffer) => (output += data.toString()));
    child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${output}`)));
  });
  return { url, process: child };
}

export const test = base.extend<{ serveUrl: string; app: Page }>({
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's dependencies here
  serveUrl: async ({}, use) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sw-e2e-data-'));
    const server = await startServe(dataDir);
    await use(server.url);
    const exited = once(server.process, 'exit');
    server.process.kill();
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  },
  app: async ({ page, serveUrl }, use) => {
    await page.goto(serveUrl);
    await expect(page.getByRole('navigation', { name: 'Endpoints' })).toContainText(
      'Nothing open yet',
    );
    await use(page);
  },
});

/** The selected endpoint's pane. */
export function pane(page: Page): Locator {
  return page.getByRole('article');
}

/** What the traffic terminal shows (xterm's DOM renderer). */
export function terminal(page: Page): Locator {
  return page.locator('.xterm-rows');
}

export async function openTab(page: Page, name: string): Promise<void> {
  await page.getByRole('tab', { name, exact: true }).click();
}

/** Opens a TCP listener on 127.0.0.1 and a free port; returns the port the engine picked. */
export async function openTcpListener(page: Page): Promise<number> {
  await openTab(page, 'TCP listener');
  await page.getByRole('button', { name: 'Open listener' }).click();
  const title = pane(page).getByRole('heading', { level: 2 });
  await expect(title).toContainText(/TCP listener\s*127\.0\.0\.1:[1-9]\d*/);
  return Number(/:(\d+)/.exec(await title.innerText())?.[1]);
}

export async function connectTcp(
  page: Page,
  port: number,
  { expectOpen = true }: { expectOpen?: boolean } = {},
): Promise<void> {
  await openTab(page, 'TCP client');
  await page.getByLabel('Host', { exact: true }).fill('127.0.0.1');
  await page.getByLabel('Port', { exact: true }).fill(String(port));
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  if (!expectOpen) return;
  // The new connection takes over the pane; typing before that would go to the old composer.
  await expect(pane(page).getByRole('heading', { level: 2 })).toHaveText(
    new RegExp(`^\\s*TCP\\s+127\\.0\\.0\\.1:${port}\\s*$`),
  );
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel('Payload', { exact: true }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
}

/** A sidebar row by what it says, e.g. row(page, /TCP 127\.0\.0\.1:\d+ open/). */
export function row(page: Page, name: RegExp | string): Locator {
  return page.getByRole('treeitem', { name });
}
