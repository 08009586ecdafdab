/**
 * The desktop app itself, driven through Playwright's Electron support: open a listener from the
 * GUI and see a real peer's bytes; the security settings as the running app has them; one
 * instance; a window that comes back where it was. Runs where the Electron binary and a display
 * exist (a user's machine, a CI with internet); elsewhere it reports itself skipped with the
 * reason.
 */
/// <reference lib="dom" />
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  _electron as electron,
  expect,
  test,
  type ElectronApplication,
  type Page,
} from '@playwright/test';
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

const root = fileURLToPath(new URL('../../', import.meta.url));
const INVOKE_CHANNEL = 'workbench:invoke';
const UNTRUSTED = {
  ok: false,
  error: { code: 'INVALID_INPUT', message: 'IPC from an untrusted frame' },
};

/**
 * Switches for every start of the app under test. Its own data folder: the single-instance lock
 * and the window state live there, so a test never lands in (or is turned away by) a Socket
 * Workbench the user has open, and starts with nothing remembered. On Linux with an X display,
 * X11 rather than Wayland: a Wayland client cannot place its window or read its position, which
 * the window-state test needs.
 */
function appArgs(userDataDir: string): string[] {
  const x11 = process.platform === 'linux' && process.env.DISPLAY ? ['--ozone-platform=x11'] : [];
  return [...x11, `--user-data-dir=${userDataDir}`, root];
}

/** The environment for the app: never as plain Node (some shells and CI images set this). */
function appEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && key !== 'ELECTRON_RUN_AS_NODE') env[key] = value;
  }
  return env;
}

function dataDir(): string {
  return mkdtempSync(join(tmpdir(), 'swb-electron-'));
}

async function launch(userDataDir: string): Promise<ElectronApplication> {
  return electron.launch({
    executablePath: found.path as string,
    args: appArgs(userDataDir),
    cwd: root,
    env: appEnv(),
  });
}

/** The app's window, once its page (and the preload's API) has loaded. */
async function appWindow(app: ElectronApplication): Promise<Page> {
  const page = await app.firstWindow();
  await page.waitForLoadState('load');
  await expect
    .poll(() => page.evaluate(() => typeof (globalThis as { workbench?: unknown }).workbench))
    .toBe('object');
  return page;
}

/** Runs `body` with a fresh app (its own data folder), and always closes both. */
async function withApp(body: (app: ElectronApplication, page: Page) => Promise<void>) {
  const dir = dataDir();
  const app = await launch(dir);
  try {
    await body(app, await appWindow(app));
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test(`open a listener, connect a peer, see its bytes ${title}`, async () => {
  await withApp(async (_app, page) => {
    await page.getByRole('tab', { name: 'TCP listener', exact: true }).click();
    await page.getByRole('button', { name: 'Open listener' }).click();
    const heading = page.getByRole('article').getByRole('heading', { level: 2 });
    await expect(heading).toContainText(/127\.0\.0\.1:[1-9]\d*/);
    const port = Number(/:(\d+)/.exec(await heading.innerText())?.[1]);

    const peer = net.connect({ host: '127.0.0.1', port });
    await new Promise((resolve) => peer.once('connect', resolve));
    peer.write('hello from a peer\r\n');
    await page.getByRole('treeitem', { name: /open/ }).first().click();
    await expect(page.locator('.xterm-rows')).toContainText('hello from a peer');
    peer.destroy();
  });
});

test(`the page has no Node: context isolation and the sandbox are on ${title}`, async () => {
  await withApp(async (app, page) => {
    const globals = await page.evaluate(() => {
      const scope = globalThis as Record<string, unknown>;
      return {
        process: typeof scope.process,
        require: typeof scope.require,
        module: typeof scope.module,
        Buffer: typeof scope.Buffer,
        // contextBridge refuses to expose anything without context isolation: the API being
        // there, with exactly the contract's two functions, shows isolation is on.
        api: Object.keys(scope.workbench as object).sort(),
      };
    });
    expect(globals).toEqual({
      process: 'undefined',
      require: 'undefined',
      module: 'undefined',
      Buffer: 'undefined',
      api: ['invoke', 'on'],
    });

    const renderer = await app.evaluate(({ app: electronApp, BrowserWindow }) => {
      const contents = BrowserWindow.getAllWindows()[0]!.webContents;
      const pid = contents.getOSProcessId();
      const metric = electronApp.getAppMetrics().find((entry) => entry.pid === pid);
      return { type: metric?.type, sandboxed: metric?.sandboxed, platform: process.platform };
    });
    expect(renderer.type).toBe('Tab');
    // Electron reports the OS sandbox on macOS and Windows only. On Linux Playwright itself
    // starts Electron with --no-sandbox (it may run as root), so there is nothing to read there.
    if (renderer.platform !== 'linux') expect(renderer.sandboxed).toBe(true);
  });
});

test(`IPC from an iframe is refused ${title}`, async () => {
  await withApp(async (app, page) => {
    // A frame inside the app's own page (same origin, allowed by the CSP): it gets no preload,
    // so it has no API of its own.
    await page.evaluate(() => {
      const frame = document.createElement('iframe');
      frame.title = 'probe';
      document.body.append(frame);
    });
    await expect.poll(() => page.frames().length).toBe(2);
    const child = page.frames().find((frame) => frame !== page.mainFrame())!;
    expect(
      await child.evaluate(() => typeof (globalThis as { workbench?: unknown }).workbench),
    ).toBe('undefined');
    await expect
      .poll(() =>
        app.evaluate(
          ({ BrowserWindow }) =>
            BrowserWindow.getAllWindows()[0]!.webContents.mainFrame.frames.length,
        ),
      )
      .toBe(1);

    // Should a subframe reach the channel anyway, main refuses it. The message is delivered to
    // the app's own handler as Electron would (its registered invoke handler, with the real
    // WebFrameMain as the sender): from the iframe, and, as a control, from the top frame.
    // `_invokeHandlers` is Electron's internal map behind ipcMain.handle (since Electron 7); the
    // test says so plainly if a later version renames it.
    const answers = await app.evaluate(async ({ BrowserWindow, ipcMain }, channel) => {
      type Handler = (event: unknown, ...args: unknown[]) => unknown;
      const handlers = (ipcMain as unknown as { _invokeHandlers?: Map<string, Handler> })
        ._invokeHandlers;
      const handler = handlers?.get(channel);
      const contents = BrowserWindow.getAllWindows()[0]!.webContents;
      const iframe = contents.mainFrame.frames[0];
      if (!handler || !iframe) {
        return { missing: handler ? 'the iframe' : `ipcMain's handler for ${channel}` };
      }
      const ask = (senderFrame: Electron.WebFrameMain) =>
        new Promise<unknown>((resolve, reject) => {
          const event = {
            sender: contents,
            senderFrame,
            processId: senderFrame.processId,
            frameId: senderFrame.routingId,
            // Older Electron wrapped handlers and answered through these.
            _reply: resolve,
            _throw: reject,
          };
          Promise.resolve(handler(event, 'session.snapshot', {})).then((value) => {
            if (value !== undefined) resolve(value);
          }, reject);
        });
      return { fromIframe: await ask(iframe), fromTop: await ask(contents.mainFrame) };
    }, INVOKE_CHANNEL);
    expect(answers).not.toHaveProperty('missing');
    expect(answers).toMatchObject({ fromIframe: UNTRUSTED, fromTop: { ok: true } });
  });
});

test(`navigation away and new windows are refused ${title}`, async () => {
  await withApp(async (app, page) => {
    const appUrl = page.url();
    // Listening after the app's own 'will-navigate' handler (added when the WebContents was
    // created), this sees the app's decision on the event.
    await app.evaluate(({ BrowserWindow }) => {
      const seen: Array<{ url: string; prevented: boolean }> = [];
      (globalThis as { navigationsSeen?: typeof seen }).navigationsSeen = seen;
      BrowserWindow.getAllWindows()[0]!.webContents.on('will-navigate', (event) => {
        seen.push({ url: event.url, prevented: event.defaultPrevented });
      });
    });
    await page.evaluate(() => {
      location.href = 'https://example.invalid/';
    });
    await expect
      .poll(() =>
        app.evaluate(
          () =>
            (globalThis as { navigationsSeen?: Array<{ url: string; prevented: boolean }> })
              .navigationsSeen,
        ),
      )
      .toEqual([{ url: 'https://example.invalid/', prevented: true }]);
    expect(page.url()).toBe(appUrl);
    expect(await page.evaluate(() => location.href)).toBe(appUrl);
    expect(
      await page.evaluate(() => typeof (globalThis as { workbench?: unknown }).workbench),
    ).toBe('object');

    expect(await page.evaluate(() => window.open('https://example.invalid/') === null)).toBe(true);
    expect(await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length)).toBe(1);
  });
});

test(`a second start brings the first window back and exits ${title}`, async () => {
  const dir = dataDir();
  const first = await launch(dir);
  try {
    await appWindow(first);
    const visible = (): Promise<boolean> =>
      first.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]!.isVisible());
    // Hidden rather than minimised: show() works with or without a window manager, while a
    // bare X server (xvfb-run) has no one to minimise a window to.
    await first.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]!.hide());
    expect(await visible()).toBe(false);

    // What `npm start` or a launcher does: the same binary, app and data folder. Playwright adds
    // --no-sandbox on Linux for the first; the second gets the same (it may run as root too).
    const sandboxArgs = process.platform === 'linux' ? ['--no-sandbox'] : [];
    const second = spawn(found.path as string, [...sandboxArgs, ...appArgs(dir)], {
      cwd: root,
      env: appEnv(),
      stdio: 'ignore',
    });
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      second.once('error', reject);
      second.once('exit', (code) => resolve(code));
    });
    expect(exitCode).toBe(0);

    await expect.poll(visible).toBe(true);
    expect(await first.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length)).toBe(
      1,
    );
  } finally {
    await first.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`the window opens where it was left ${title}`, async () => {
  const dir = dataDir();
  const stateFile = join(dir, 'window-state.json');
  const readState = (): unknown => {
    try {
      return JSON.parse(readFileSync(stateFile, 'utf8'));
    } catch {
      return null;
    }
  };
  try {
    const first = await launch(dir);
    let placed: { x: number; y: number; width: number; height: number };
    try {
      await appWindow(first);
      const bounds = (): Promise<typeof placed> =>
        first.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]!.getNormalBounds());
      const opened = JSON.stringify(await bounds());
      // Somewhere other than the centred default, well inside the primary display.
      await first.evaluate(({ BrowserWindow, screen }) => {
        const area = screen.getPrimaryDisplay().workArea;
        BrowserWindow.getAllWindows()[0]!.setBounds({
          x: area.x + 40,
          y: area.y + 30,
          width: Math.min(900, area.width - 80),
          height: Math.min(600, area.height - 60),
        });
      });
      // Where the window really is once it has moved and settled (a window manager may adjust
      // the request).
      let previous = '';
      await expect
        .poll(
          async () => {
            const now = JSON.stringify(await bounds());
            const settled = now === previous && now !== opened;
            previous = now;
            return settled;
          },
          { intervals: [250] },
        )
        .toBe(true);
      placed = JSON.parse(previous) as typeof placed;
    } finally {
      await first.close();
    }
    expect(readState()).toMatchObject({ ...placed, maximized: false });

    const second = await launch(dir);
    try {
      await appWindow(second);
      const reopened = await second.evaluate(({ BrowserWindow }) => {
        const win = BrowserWindow.getAllWindows()[0]!;
        return { ...win.getNormalBounds(), maximized: win.isMaximized() };
      });
      expect(reopened).toEqual({ ...placed, maximized: false });
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
