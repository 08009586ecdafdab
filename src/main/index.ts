/**
 * The Electron entry: one window, the security checklist, and the router bound to IPC. Every
 * decision that can be a pure function lives in security.ts / window-options.ts, under test.
 */
import {
  app,
  BrowserWindow,
  ipcMain,
  protocol,
  session,
  type IpcMainInvokeEvent,
  type WebContents,
} from 'electron';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandName, CommandResult } from '../shared/contract';
import { parseCaptureSettings } from './engine/capture-folder';
import { Engine } from './engine/engine';
import { createRouter, type ViewSession } from './router';
import {
  APP_PAGE_URL,
  APP_SCHEME,
  appAsset,
  appPageUrl,
  contentSecurityPolicy,
  isAppUrl,
  isTrustedSender,
  type ExpectedSender,
  type IpcSender,
} from './security';
import { windowOptions } from './window-options';

const INVOKE_CHANNEL = 'workbench:invoke';
const EVENT_CHANNEL = 'workbench:event';

const outDir = fileURLToPath(new URL('..', import.meta.url));
const preloadPath = join(outDir, 'preload', 'index.cjs');
const rendererDir = join(outDir, 'renderer');
// The dev server only while developing: a packaged app never trusts an environment variable.
const devServerUrl = app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL;
const appPage = devServerUrl
  ? appPageUrl(join(rendererDir, 'index.html'), devServerUrl)
  : APP_PAGE_URL;
const csp = contentSecurityPolicy();

const untrusted: CommandResult<CommandName> = {
  ok: false,
  error: { code: 'INVALID_INPUT', message: 'IPC from an untrusted frame' },
};

// The same variables as browser mode's --capture-dir/--capture-limit/--capture-floor; the UI
// changes the limit and floor while the app runs. A bad value is said once and left at default.
const captureSettings = parseCaptureSettings(
  process.env['SOCKET_WORKBENCH_CAPTURE_LIMIT'] || undefined,
  process.env['SOCKET_WORKBENCH_CAPTURE_FLOOR'] || undefined,
);
if (typeof captureSettings === 'string') console.error(`Socket Workbench: ${captureSettings}`);
const engine = new Engine({
  captureDir: process.env['SOCKET_WORKBENCH_CAPTURE_DIR'] || undefined,
  capture: typeof captureSettings === 'string' ? {} : captureSettings,
});
const router = createRouter(engine);
let mainWindow: BrowserWindow | null = null;
let mainView: ViewSession | null = null;

/** The sending frame as plain values, for isTrustedSender (security.ts, unit-tested). */
function senderOf(event: IpcMainInvokeEvent): IpcSender | null {
  try {
    const frame = event.senderFrame;
    if (!frame || frame.detached) return null;
    const main = event.sender.mainFrame;
    return {
      webContentsId: event.sender.id,
      frameUrl: frame.url,
      isMainFrame:
        frame.parent === null &&
        frame.processId === main.processId &&
        frame.routingId === main.routingId,
    };
  } catch {
    // A frame disposed while the message was in flight throws on access: nobody to trust.
    return null;
  }
}

function expectedSender(): ExpectedSender | null {
  const win = mainWindow;
  if (!win || win.isDestroyed()) return null;
  return { webContentsId: win.webContents.id, appPage };
}

/** The built renderer over APP_SCHEME, with the CSP as a header (see security.ts). */
function serveRenderer(): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const asset = appAsset(rendererDir, request.url);
    if (asset) {
      try {
        return new Response(await readFile(asset.file), {
          headers: {
            'Content-Type': asset.contentType,
            'Content-Security-Policy': csp,
            'X-Content-Type-Options': 'nosniff',
          },
        });
      } catch {
        // Missing file: the same answer as a refused path.
      }
    }
    return new Response('Not found', { status: 404, headers: { 'Content-Type': 'text/plain' } });
  });
}

/** Applied to every WebContents, including any we did not create ourselves. */
function hardenWebContents(contents: WebContents): void {
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  contents.on('will-navigate', (event) => {
    if (!isAppUrl(event.url, appPage)) event.preventDefault();
  });
  contents.on('will-frame-navigate', (event) => {
    if (!isAppUrl(event.url, appPage)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => {
    if (!isAppUrl(event.url, appPage)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

function hardenSession(): void {
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.setDevicePermissionHandler(() => false);
  // The header covers the dev server; serveRenderer() sets it on the app scheme's responses.
  ses.webRequest.onHeadersReceived((details, callback) => {
    const responseHeaders = { ...details.responseHeaders };
    for (const name of Object.keys(responseHeaders)) {
      if (name.toLowerCase() === 'content-security-policy') delete responseHeaders[name];
    }
    responseHeaders['Content-Security-Policy'] = [csp];
    callback({ responseHeaders });
  });
}

function createWindow(): void {
  const win = new BrowserWindow(windowOptions(preloadPath));
  mainWindow = win;
  // One flow-controlled view per loaded page: a reload starts with no watch list and no
  // outstanding credit, just as a new browser tab does in serve mode.
  const subscribe = (): ViewSession =>
    router.subscribe(
      (event) => {
        if (!win.isDestroyed()) win.webContents.send(EVENT_CHANNEL, event);
      },
      { flowControl: true },
    );
  mainView = subscribe();
  win.webContents.on('did-navigate', () => {
    mainView?.unsubscribe();
    mainView = subscribe();
  });
  win.once('ready-to-show', () => win.show());
  win.on('closed', () => {
    if (mainWindow !== win) return;
    mainView?.unsubscribe();
    mainView = null;
    mainWindow = null;
  });
  void win.loadURL(devServerUrl ?? APP_PAGE_URL);
}

if (!app.requestSingleInstanceLock()) {
  // Another instance owns the window and the engine; it is focused instead (see below).
  app.quit();
} else {
  app.enableSandbox();
  // Before 'ready', as Electron requires. Not corsEnabled: no other origin may read the files.
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);

  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });

  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents));

  ipcMain.handle(INVOKE_CHANNEL, (event, command: unknown, input: unknown) =>
    isTrustedSender(senderOf(event), expectedSender()) && mainView
      ? router.invoke(command, input, mainView)
      : untrusted,
  );

  app.on('window-all-closed', () => {
    // macOS keeps the app (and its sockets) alive until Quit; the engine's state survives.
    if (process.platform !== 'darwin') app.quit();
  });

  app.on('activate', () => {
    if (app.isReady() && BrowserWindow.getAllWindows().length === 0) createWindow();
  });

  let disposed = false;
  app.on('will-quit', (event) => {
    if (disposed) return;
    // Close every socket before exit, so peers see FIN/RST now rather than at process teardown.
    event.preventDefault();
    engine
      .dispose()
      .catch((error: unknown) => console.error('Socket Workbench: closing sockets failed', error))
      .finally(() => {
        disposed = true;
        app.quit();
      });
  });

  void app.whenReady().then(() => {
    hardenSession();
    serveRenderer();
    createWindow();
  });
}
