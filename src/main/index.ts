/**
 * The Electron entry: one window, the security checklist, the router bound to IPC, and the
 * desktop behaviour (one instance, a remembered window, the menu, a clean quit). Every decision
 * that can be a pure function lives in security.ts / window-options.ts / window-state.ts /
 * app-menu.ts / app-lifecycle.ts, under test; this file only wires them to Electron.
 */
import {
  app,
  BrowserWindow,
  ipcMain,
  Menu,
  nativeImage,
  powerMonitor,
  protocol,
  screen,
  session,
  type IpcMainEvent,
  type IpcMainInvokeEvent,
  type WebContents,
} from 'electron';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Compiled into the main bundle as a data: URL (assets.d.ts). A ?asset import would point into
// resources/ at runtime (electron-vite's public folder for main), and electron-builder does not
// pack resources/ (its buildResources) into the app: a packaged window would have no icon.
import appIconDataUrl from '../../resources/icon.png?inline';
import type { CommandName, CommandResult } from '../shared/contract';
import { bringToFront, createQuitGuard, type QuitGuard } from './app-lifecycle';
import { aboutPanelOptions, appMenuTemplate, type AppMenuOptions } from './app-menu';
import { parseCaptureSettings } from './engine/capture-folder';
import { Engine } from './engine/engine';
import { createRouter, type Router, type View } from './router';
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
import { windowOptions, type WindowSetup } from './window-options';
import {
  createStateSaver,
  readWindowStateFile,
  restoreWindowState,
  WINDOW_STATE_FILE,
  writeWindowStateFile,
  type WindowPlacement,
} from './window-state';

const APP_NAME = 'Socket Workbench';
const INVOKE_CHANNEL = 'workbench:invoke';
const EVENT_CHANNEL = 'workbench:event';
const NOTIFY_CHANNEL = 'workbench:notify';

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

const quitting: CommandResult<CommandName> = {
  ok: false,
  error: { code: 'NOT_OPEN', message: 'Socket Workbench is quitting' },
};

function hasDebuggingSwitch(): boolean {
  return ['remote-debugging-port', 'remote-debugging-pipe', 'remote-debugging-address'].some(
    (name) => app.commandLine.hasSwitch(name),
  );
}

let mainWindow: BrowserWindow | null = null;
let mainView: View | null = null;

/** The sending frame as plain values, for isTrustedSender (security.ts, unit-tested). */
function senderOf(event: IpcMainInvokeEvent | IpcMainEvent): IpcSender | null {
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

/**
 * The engine, made only by the instance that holds the single-instance lock: a second start must
 * not open a capture folder it would never close.
 */
function createEngine(): Engine {
  // The same variables as browser mode's --capture-dir/--capture-limit/--capture-floor; the UI
  // changes the limit and floor while the app runs. A bad value is said once and left at default.
  const captureSettings = parseCaptureSettings(
    process.env['SOCKET_WORKBENCH_CAPTURE_LIMIT'] || undefined,
    process.env['SOCKET_WORKBENCH_CAPTURE_FLOOR'] || undefined,
  );
  if (typeof captureSettings === 'string') console.error(`Socket Workbench: ${captureSettings}`);
  return new Engine({
    captureDir: process.env['SOCKET_WORKBENCH_CAPTURE_DIR'] || undefined,
    capture: typeof captureSettings === 'string' ? {} : captureSettings,
    dataDir: app.getPath('userData'),
  });
}

/** Where the window opens: the saved state checked against today's displays (window-state.ts). */
function windowPlacement(stateFile: string): WindowPlacement {
  return restoreWindowState(
    readWindowStateFile(stateFile),
    screen.getAllDisplays().map((display) => display.workArea),
    screen.getPrimaryDisplay().workArea,
  );
}

let stateWriteFailed = false;

/** Saves the window's normal bounds and maximised state when it stops moving, and on close. */
function rememberWindowState(win: BrowserWindow, stateFile: string): void {
  const saver = createStateSaver(() => {
    if (win.isDestroyed()) return;
    // The normal bounds, so a maximised window comes back maximised over its own restore size.
    const error = writeWindowStateFile(stateFile, {
      ...win.getNormalBounds(),
      maximized: win.isMaximized(),
    });
    if (error && !stateWriteFailed) {
      // Said once: a read-only data folder would otherwise repeat it on every drag.
      stateWriteFailed = true;
      console.error(`Socket Workbench: cannot remember the window position: ${error.message}`);
    }
  });
  win.on('move', () => saver.schedule());
  win.on('resize', () => saver.schedule());
  win.on('maximize', () => saver.schedule());
  win.on('unmaximize', () => saver.schedule());
  win.on('close', () => saver.flush(true));
  win.on('closed', () => saver.cancel());
}

function createWindow(router: Router, stateFile: string): void {
  const placement = windowPlacement(stateFile);
  const setup: WindowSetup = {
    bounds: placement,
    icon: nativeImage.createFromDataURL(appIconDataUrl),
    devTools: !app.isPackaged,
  };
  const win = new BrowserWindow(windowOptions(preloadPath, setup));
  mainWindow = win;
  rememberWindowState(win, stateFile);
  // One view per loaded page: a reload starts with no feeds and no outstanding credit, just as
  // a new browser tab does in serve mode.
  const openView = (): View =>
    router.openView((event) => {
      if (!win.isDestroyed()) win.webContents.send(EVENT_CHANNEL, event);
    });
  mainView = openView();
  win.webContents.on('did-navigate', () => {
    mainView?.close();
    mainView = openView();
  });
  win.once('ready-to-show', () => {
    // maximize() shows the window too; show() then focuses it.
    if (placement.maximized) win.maximize();
    win.show();
  });
  win.on('session-end', () => app.quit());
  win.on('closed', () => {
    if (mainWindow !== win) return;
    mainView?.close();
    mainView = null;
    mainWindow = null;
  });
  void win.loadURL(devServerUrl ?? APP_PAGE_URL);
}

function installMenu(): void {
  const options: AppMenuOptions = {
    platform: process.platform,
    isPackaged: app.isPackaged,
    appName: APP_NAME,
    version: app.getVersion(),
  };
  // The 'about' role shows this panel: natively on macOS, app.showAboutPanel() elsewhere.
  app.setAboutPanelOptions(aboutPanelOptions(options, process.versions));
  Menu.setApplicationMenu(Menu.buildFromTemplate(appMenuTemplate(options)));
}

/** Everything the instance that holds the single-instance lock does. */
function startPrimary(): void {
  const engine = createEngine();
  // Opens the workspace in use last time; a file it cannot use is reported to the page, never
  // thrown (docs/workspaces.md).
  engine.workspace.start().catch((error: unknown) => {
    console.error('Socket Workbench: the workspace could not be opened', error);
  });
  const router = createRouter(engine);
  // Read after the lock: userData is where the lock lives, and a --user-data-dir switch moves both.
  const stateFile = join(app.getPath('userData'), WINDOW_STATE_FILE);
  const quitGuard: QuitGuard = createQuitGuard({
    // Closes every socket (peers see FIN/RST now, not at process teardown) and flushes the capture.
    dispose: () => engine.dispose(),
    quit: () => app.quit(),
    report: (message, error) => {
      if (error === undefined) console.error(`Socket Workbench: ${message}`);
      else console.error(`Socket Workbench: ${message}`, error);
    },
  });
  const openWindow = (): void => {
    if (app.isReady() && quitGuard.phase === 'running') createWindow(router, stateFile);
  };

  app.enableSandbox();
  // Before 'ready', as Electron requires. Not corsEnabled: no other origin may read the files.
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);

  app.on('second-instance', () => {
    // A second start (npm start again, the launcher icon) lands here and then exits by itself.
    if (quitGuard.phase !== 'running') return;
    // macOS does not activate an app because one of its windows asked for focus.
    if (process.platform === 'darwin') app.focus({ steal: true });
    if (!bringToFront(mainWindow)) openWindow();
  });

  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents));

  ipcMain.handle(INVOKE_CHANNEL, (event, command: unknown, input: unknown) => {
    if (!isTrustedSender(senderOf(event), expectedSender()) || !mainView) return untrusted;
    // While quitting, a listener opened now would escape the engine's dispose().
    if (quitGuard.phase !== 'running') return quitting;
    return router.invoke(command, input, mainView);
  });
  // One-way: a feed's ack, a query's cancel. Nothing answers, so a bad one is simply dropped.
  ipcMain.on(NOTIFY_CHANNEL, (event, name: unknown, input: unknown) => {
    if (!isTrustedSender(senderOf(event), expectedSender()) || !mainView) return;
    router.notify(name, input, mainView);
  });

  app.on('window-all-closed', () => {
    // macOS keeps the app (and its sockets) alive until Quit; the engine's state survives.
    if (process.platform !== 'darwin') app.quit();
  });

  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) openWindow();
  });

  app.on('before-quit', (event) => quitGuard.onBeforeQuit(event));

  void app.whenReady().then(() => {
    // An OS shutdown sends no before-quit: quit through it, so the sockets close and the capture
    // is flushed (Windows' log-off and shutdown come as the window's 'session-end').
    powerMonitor.on('shutdown', () => app.quit());
    hardenSession();
    serveRenderer();
    installMenu();
    // A packaged app's Dock icon comes from its bundle; a development run would show Electron's.
    if (process.platform === 'darwin' && !app.isPackaged)
      app.dock?.setIcon(nativeImage.createFromDataURL(appIconDataUrl));
    openWindow();
  });
}

if (app.isPackaged && hasDebuggingSwitch()) {
  // The DevTools window is off in a packaged build; a debugger attached through these switches
  // would bypass that (the fuses already refuse --inspect and NODE_OPTIONS).
  console.error('Socket Workbench: remote debugging switches are refused in a packaged build.');
  app.exit(1);
} else if (app.requestSingleInstanceLock()) {
  startPrimary();
} else {
  // Another instance owns the window and the engine; its 'second-instance' handler brings its
  // window to the front, and this process exits without opening anything.
  app.quit();
}
