/**
 * The app's lifecycle decisions as plain functions over small structural types, so the unit
 * tests drive them with fakes instead of the Electron binary: the clean quit (close every socket
 * and flush the capture before the process goes) and bringing the running window to the front
 * when the app is started a second time. index.ts wires them to Electron's events.
 */

/** What Electron's 'before-quit' event offers that the guard needs. */
export interface PreventableEvent {
  preventDefault(): void;
}

export type QuitPhase = 'running' | 'closing' | 'closed';

export interface QuitGuardOptions {
  /** Closes every socket and flushes the capture (Engine.dispose). */
  dispose: () => Promise<void>;
  /** Asks the app to quit again once closing is over (app.quit). */
  quit: () => void;
  /**
   * How long closing may take before the app quits anyway: a peer that never acknowledges, or a
   * capture disk that hangs, must not leave a window that refuses to go away.
   */
  timeoutMs?: number;
  /** Where a failure or a timeout is said (the console); never throws. */
  report?: (message: string, error?: unknown) => void;
}

export const QUIT_TIMEOUT_MS = 5_000;

export interface QuitGuard {
  /** The 'before-quit' listener. */
  onBeforeQuit(event: PreventableEvent): void;
  readonly phase: QuitPhase;
}

/**
 * The first quit request is held back while the engine closes; requests made meanwhile (a second
 * Cmd+Q, the last window closing) are held back too but start nothing new; once closing is over,
 * or after `timeoutMs`, the guard asks to quit again and lets that request through.
 */
export function createQuitGuard(options: QuitGuardOptions): QuitGuard {
  const timeoutMs = options.timeoutMs ?? QUIT_TIMEOUT_MS;
  const report = options.report ?? (() => {});
  let phase: QuitPhase = 'running';

  const finish = (): void => {
    if (phase === 'closed') return;
    phase = 'closed';
    options.quit();
  };

  const close = (): void => {
    const timer = setTimeout(() => {
      report(`Closing the sockets took longer than ${timeoutMs / 1000} s; quitting anyway.`);
      finish();
    }, timeoutMs);
    // Started from a resolved promise so a dispose() that throws at once is a rejection too.
    Promise.resolve()
      .then(() => options.dispose())
      .catch((error: unknown) => report('Closing the sockets failed; quitting anyway.', error))
      .finally(() => {
        clearTimeout(timer);
        finish();
      });
  };

  return {
    onBeforeQuit(event) {
      if (phase === 'closed') return;
      event.preventDefault();
      if (phase === 'closing') return;
      phase = 'closing';
      close();
    },
    get phase() {
      return phase;
    },
  };
}

/** The window methods needed to bring it to the user's attention. */
export interface FrontWindow {
  isDestroyed(): boolean;
  isMinimized(): boolean;
  restore(): void;
  isVisible(): boolean;
  show(): void;
  focus(): void;
}

/**
 * Restores, shows and focuses the running window (a second start of the app lands here). Returns
 * false when there is no window to show (macOS keeps the app running with none), so the caller
 * can open one.
 */
export function bringToFront(win: FrontWindow | null | undefined): boolean {
  if (!win || win.isDestroyed()) return false;
  if (win.isMinimized()) win.restore();
  if (!win.isVisible()) win.show();
  win.focus();
  return true;
}
