/**
 * The main window's options, kept pure (a type-only Electron import) so a unit test can check
 * the security settings without the Electron binary.
 */
import type { BrowserWindowConstructorOptions, NativeImage, Rectangle } from 'electron';
import { DEFAULT_WINDOW_SIZE, MIN_WINDOW_SIZE } from './window-state';

export interface WindowSetup {
  /** Where the window opens (window-state.ts); absent: the default size, centred by the OS. */
  bounds?: Rectangle;
  /** The window and taskbar icon (Windows, Linux; macOS takes the app bundle's). */
  icon?: NativeImage | string;
  /**
   * Only a development build may open DevTools: with this false, Electron refuses every way in
   * (menu role, shortcut, a call from main), so a packaged page cannot be inspected or
   * driven from a console.
   */
  devTools?: boolean;
}

export function windowOptions(
  preloadPath: string,
  setup: WindowSetup = {},
): BrowserWindowConstructorOptions {
  const placement = setup.bounds
    ? {
        x: setup.bounds.x,
        y: setup.bounds.y,
        width: setup.bounds.width,
        height: setup.bounds.height,
      }
    : { ...DEFAULT_WINDOW_SIZE, center: true };
  return {
    ...placement,
    minWidth: MIN_WINDOW_SIZE.width,
    minHeight: MIN_WINDOW_SIZE.height,
    title: 'Socket Workbench',
    ...(setup.icon ? { icon: setup.icon } : {}),
    // Shown on 'ready-to-show', so the user never sees an empty white frame.
    show: false,
    backgroundColor: '#1e1e1e',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      // Off unless asked for: forgetting to pass it must never ship an inspectable window.
      devTools: setup.devTools === true,
    },
  };
}
