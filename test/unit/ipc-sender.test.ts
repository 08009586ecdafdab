/**
 * Which frames may drive the engine over Electron IPC. index.ts turns each IPC event into plain
 * values (senderOf) and asks isTrustedSender; this checks that decision without the Electron
 * binary. Only the top frame of our own window, showing our own page, is trusted: the engine can
 * open sockets on the user's behalf, so anything else that reaches the channel is refused.
 */
import { describe, expect, it } from 'vitest';
import {
  APP_PAGE_URL,
  appPageUrl,
  isTrustedSender,
  type ExpectedSender,
  type IpcSender,
} from '../../src/main/security';

const WINDOW = 7;
const packaged: ExpectedSender = { webContentsId: WINDOW, appPage: APP_PAGE_URL };

function from(frameUrl: string | undefined, overrides: Partial<IpcSender> = {}): IpcSender {
  return { webContentsId: WINDOW, frameUrl, isMainFrame: true, ...overrides };
}

describe('the packaged app (app://workbench/index.html)', () => {
  it('trusts the top frame of our window showing our page, with a fragment or query', () => {
    expect(APP_PAGE_URL).toBe('app://workbench/index.html');
    expect(isTrustedSender(from(APP_PAGE_URL), packaged)).toBe(true);
    expect(isTrustedSender(from(`${APP_PAGE_URL}#/conn-1`), packaged)).toBe(true);
    expect(isTrustedSender(from(`${APP_PAGE_URL}?view=hex`), packaged)).toBe(true);
  });

  it('refuses our own page loaded in a subframe', () => {
    expect(isTrustedSender(from(APP_PAGE_URL, { isMainFrame: false }), packaged)).toBe(false);
  });

  it('refuses another WebContents (a second window, a devtools host, a webview)', () => {
    for (const id of [WINDOW + 1, 0, -1, Number.NaN]) {
      expect(isTrustedSender(from(APP_PAGE_URL, { webContentsId: id }), packaged), `${id}`).toBe(
        false,
      );
    }
  });

  it.each([
    ['about:blank', 'about:blank'],
    ['about:srcdoc', 'about:srcdoc'],
    ['another file of the app', 'app://workbench/assets/index.js'],
    ['a sibling path', 'app://workbench/index.html.evil'],
    ['the app root without index.html', 'app://workbench/'],
    ['another host on our scheme', 'app://evil/index.html'],
    ['the built page as file://', 'file:///app/out/renderer/index.html'],
    ['another file on disk', 'file:///etc/passwd'],
    ['devtools', 'devtools://devtools/bundled/devtools_app.html'],
    ['chrome:', 'chrome://gpu'],
    ['a data: page', 'data:text/html,<script>1</script>'],
    ['a blob: page', 'blob:app://workbench/0d1c2e3f-aaaa-bbbb-cccc-000000000000'],
    ['javascript:', 'javascript:alert(1)'],
    ['a web page', 'https://evil.example/index.html'],
    ['the dev server', 'http://localhost:5173/'],
    ['an empty URL', ''],
    ['something that is not a URL', 'not a url'],
  ])('refuses %s in the top frame of our window (%s)', (_what, url) => {
    expect(isTrustedSender(from(url), packaged)).toBe(false);
    // And of course in a subframe.
    expect(isTrustedSender(from(url, { isMainFrame: false }), packaged)).toBe(false);
  });

  it('refuses a frame whose URL could not be read (already disposed)', () => {
    expect(isTrustedSender(from(undefined), packaged)).toBe(false);
    expect(isTrustedSender(null, packaged)).toBe(false);
  });

  it('refuses everything while there is no window', () => {
    expect(isTrustedSender(from(APP_PAGE_URL), null)).toBe(false);
    expect(isTrustedSender(from(APP_PAGE_URL), undefined)).toBe(false);
  });

  it('refuses a sender that only looks like one (isMainFrame must be exactly true)', () => {
    const loose = { ...from(APP_PAGE_URL), isMainFrame: 1 } as unknown as IpcSender;
    expect(isTrustedSender(loose, packaged)).toBe(false);
  });
});

describe('a file:// page (an app that loads its page from disk)', () => {
  const expected: ExpectedSender = {
    webContentsId: WINDOW,
    appPage: appPageUrl('/app/out/renderer/index.html'),
  };

  it('trusts exactly that file, in the top frame', () => {
    expect(isTrustedSender(from('file:///app/out/renderer/index.html'), expected)).toBe(true);
    expect(
      isTrustedSender(
        from('file:///app/out/renderer/index.html', { isMainFrame: false }),
        expected,
      ),
    ).toBe(false);
  });

  it('refuses any other file, even next to it', () => {
    for (const url of [
      'file:///app/out/renderer/other.html',
      'file:///app/out/renderer/../renderer/evil.html',
      'file:///tmp/index.html',
      'file://evil-host/app/out/renderer/index.html',
    ]) {
      expect(isTrustedSender(from(url), expected), url).toBe(false);
    }
  });
});

describe('the dev server (npm run dev, never a packaged app)', () => {
  const expected: ExpectedSender = {
    webContentsId: WINDOW,
    appPage: appPageUrl('/app/out/renderer/index.html', 'http://localhost:5173'),
  };

  it('trusts the dev server origin in the top frame only', () => {
    expect(isTrustedSender(from('http://localhost:5173/'), expected)).toBe(true);
    expect(isTrustedSender(from('http://localhost:5173/', { isMainFrame: false }), expected)).toBe(
      false,
    );
  });

  it('refuses another port, scheme or host, and the packaged page', () => {
    for (const url of [
      'http://localhost:5174/',
      'https://localhost:5173/',
      'http://localhost.evil.example:5173/',
      'http://127.0.0.1:5173/',
      APP_PAGE_URL,
    ]) {
      expect(isTrustedSender(from(url), expected), url).toBe(false);
    }
  });
});
