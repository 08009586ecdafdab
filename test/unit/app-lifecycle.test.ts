/**
 * The clean quit and the second start (src/main/app-lifecycle.ts), driven with fakes for the
 * Electron objects: quitting closes every socket and flushes the capture first, exactly once, and
 * never hangs; starting the app again brings the running window back instead of a second one.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  bringToFront,
  createQuitGuard,
  QUIT_TIMEOUT_MS,
  type FrontWindow,
} from '../../src/main/app-lifecycle';

/** A 'before-quit' event: records whether the listener held the quit back. */
function quitEvent(): { preventDefault: () => void; prevented: boolean } {
  const event = {
    prevented: false,
    preventDefault() {
      event.prevented = true;
    },
  };
  return event;
}

/** A dispose() the test finishes by hand. */
function pending(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('createQuitGuard', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds the quit back until the engine is disposed, then quits', async () => {
    const disposal = pending();
    const dispose = vi.fn(() => disposal.promise);
    const quit = vi.fn();
    const guard = createQuitGuard({ dispose, quit });

    const first = quitEvent();
    guard.onBeforeQuit(first);
    expect(first.prevented).toBe(true);
    expect(guard.phase).toBe('closing');
    await vi.advanceTimersByTimeAsync(0);
    expect(dispose).toHaveBeenCalledTimes(1);
    expect(quit).not.toHaveBeenCalled();

    disposal.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(quit).toHaveBeenCalledTimes(1);
    expect(guard.phase).toBe('closed');

    // The quit it asked for goes through untouched.
    const again = quitEvent();
    guard.onBeforeQuit(again);
    expect(again.prevented).toBe(false);
    expect(dispose).toHaveBeenCalledTimes(1);
  });

  it('holds back a second quit request while closing, without disposing twice', async () => {
    const disposal = pending();
    const dispose = vi.fn(() => disposal.promise);
    const quit = vi.fn();
    const guard = createQuitGuard({ dispose, quit });

    guard.onBeforeQuit(quitEvent());
    await vi.advanceTimersByTimeAsync(0);
    // Cmd+Q pressed again, then the last window closes: both held back, nothing new started.
    for (let i = 0; i < 2; i++) {
      const event = quitEvent();
      guard.onBeforeQuit(event);
      expect(event.prevented).toBe(true);
    }
    await vi.advanceTimersByTimeAsync(100);
    expect(dispose).toHaveBeenCalledTimes(1);
    expect(quit).not.toHaveBeenCalled();

    disposal.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(quit).toHaveBeenCalledTimes(1);
  });

  it('quits anyway, and says so, when disposing fails', async () => {
    const report = vi.fn();
    const quit = vi.fn();
    const failure = new Error('capture disk gone');
    const guard = createQuitGuard({ dispose: () => Promise.reject(failure), quit, report });
    guard.onBeforeQuit(quitEvent());
    await vi.advanceTimersByTimeAsync(0);
    expect(quit).toHaveBeenCalledTimes(1);
    expect(report).toHaveBeenCalledWith(expect.stringMatching(/failed/), failure);
  });

  it('quits anyway when dispose throws instead of rejecting', async () => {
    const quit = vi.fn();
    const guard = createQuitGuard({
      dispose: () => {
        throw new Error('thrown at once');
      },
      quit,
      report: () => {},
    });
    const event = quitEvent();
    guard.onBeforeQuit(event);
    expect(event.prevented).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(quit).toHaveBeenCalledTimes(1);
  });

  it('gives closing a bounded time, then quits anyway, once', async () => {
    const disposal = pending();
    const report = vi.fn();
    const quit = vi.fn();
    const guard = createQuitGuard({ dispose: () => disposal.promise, quit, report });
    guard.onBeforeQuit(quitEvent());

    await vi.advanceTimersByTimeAsync(QUIT_TIMEOUT_MS - 1);
    expect(quit).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(quit).toHaveBeenCalledTimes(1);
    expect(report).toHaveBeenCalledWith(expect.stringMatching(/longer than 5 s/));
    expect(QUIT_TIMEOUT_MS).toBe(5_000);

    // The engine finishing late does not ask to quit a second time.
    disposal.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(quit).toHaveBeenCalledTimes(1);
  });

  it('takes its time limit from the options', async () => {
    const quit = vi.fn();
    const guard = createQuitGuard({
      dispose: () => new Promise<void>(() => {}),
      quit,
      timeoutMs: 200,
      report: () => {},
    });
    guard.onBeforeQuit(quitEvent());
    await vi.advanceTimersByTimeAsync(199);
    expect(quit).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(quit).toHaveBeenCalledTimes(1);
  });
});

describe('bringToFront', () => {
  function fakeWindow(state: { minimized?: boolean; visible?: boolean; destroyed?: boolean }) {
    const calls: string[] = [];
    const win: FrontWindow = {
      isDestroyed: () => state.destroyed ?? false,
      isMinimized: () => state.minimized ?? false,
      restore: () => calls.push('restore'),
      isVisible: () => state.visible ?? true,
      show: () => calls.push('show'),
      focus: () => calls.push('focus'),
    };
    return { win, calls };
  }

  it('restores a minimised window and focuses it', () => {
    const { win, calls } = fakeWindow({ minimized: true });
    expect(bringToFront(win)).toBe(true);
    expect(calls).toEqual(['restore', 'focus']);
  });

  it('shows a hidden window and focuses it', () => {
    const { win, calls } = fakeWindow({ visible: false });
    expect(bringToFront(win)).toBe(true);
    expect(calls).toEqual(['show', 'focus']);
  });

  it('focuses a window that is already shown', () => {
    const { win, calls } = fakeWindow({});
    expect(bringToFront(win)).toBe(true);
    expect(calls).toEqual(['focus']);
  });

  it('reports that there is no window to bring back (macOS, all windows closed)', () => {
    expect(bringToFront(null)).toBe(false);
    const { win, calls } = fakeWindow({ destroyed: true });
    expect(bringToFront(win)).toBe(false);
    expect(calls).toEqual([]);
  });
});
