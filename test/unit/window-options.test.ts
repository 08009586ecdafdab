/**
 * The Electron security settings, as pure values: these run without the Electron binary.
 */
import { describe, expect, it } from 'vitest';
import { appPageUrl, contentSecurityPolicy, isAppUrl } from '../../src/main/security';
import { windowOptions } from '../../src/main/window-options';

describe('windowOptions', () => {
  const options = windowOptions('/app/out/preload/index.cjs');
  const prefs = options.webPreferences ?? {};

  it('isolates and sandboxes the page, with the bundled preload', () => {
    expect(prefs.preload).toBe('/app/out/preload/index.cjs');
    expect(prefs.contextIsolation).toBe(true);
    expect(prefs.sandbox).toBe(true);
    expect(prefs.nodeIntegration).toBe(false);
    expect(prefs.nodeIntegrationInWorker).toBe(false);
    expect(prefs.nodeIntegrationInSubFrames).toBe(false);
    expect(prefs.webSecurity).toBe(true);
    expect(prefs.allowRunningInsecureContent).toBe(false);
    expect(prefs.webviewTag).toBe(false);
  });

  it('waits for the first paint before showing the window', () => {
    expect(options.show).toBe(false);
  });

  it('has no DevTools unless a development build asks for them', () => {
    expect(prefs.devTools).toBe(false);
    expect(windowOptions('/p.cjs', { devTools: true }).webPreferences?.devTools).toBe(true);
  });

  it('opens at the default size, centred, when there is no remembered place', () => {
    expect(options).toMatchObject({ width: 1280, height: 800, center: true });
    expect(options.x).toBeUndefined();
    expect(options.icon).toBeUndefined();
  });

  it('opens where window-state.ts placed it, with the app icon, never below the minimum size', () => {
    const placed = windowOptions('/p.cjs', {
      bounds: { x: -1500, y: 40, width: 1000, height: 700 },
      icon: '/app/out/main/chunks/icon.png',
    });
    expect(placed).toMatchObject({
      x: -1500,
      y: 40,
      width: 1000,
      height: 700,
      minWidth: 720,
      minHeight: 480,
      icon: '/app/out/main/chunks/icon.png',
    });
    expect(placed.center).toBeUndefined();
    // The security settings do not depend on where the window is.
    expect(placed.webPreferences).toEqual({ ...prefs, preload: '/p.cjs' });
  });
});

describe('isAppUrl for a built app (file://)', () => {
  const page = appPageUrl('/app/out/renderer/index.html');

  it('is the file URL of the built index.html', () => {
    expect(page).toBe('file:///app/out/renderer/index.html');
  });

  it('accepts the page itself, with a query or fragment', () => {
    expect(isAppUrl('file:///app/out/renderer/index.html', page)).toBe(true);
    expect(isAppUrl('file:///app/out/renderer/index.html#/conn-1', page)).toBe(true);
    expect(isAppUrl('file:///app/out/renderer/index.html?x=1', page)).toBe(true);
  });

  it('refuses every other file and every other scheme', () => {
    for (const url of [
      'file:///etc/passwd',
      'file:///app/out/renderer/other.html',
      'file:///app/out/renderer/index.html.evil',
      'file:///app/out/renderer/',
      'file://evil-host/app/out/renderer/index.html',
      'http://127.0.0.1/app/out/renderer/index.html',
      'https://evil.example/',
      'javascript:alert(1)',
      'data:text/html,<script>1</script>',
      'about:blank',
      'not a url',
      '',
    ]) {
      expect(isAppUrl(url, page), url).toBe(false);
    }
  });

  it('matches a path with spaces however it is encoded by the URL parser', () => {
    const spaced = appPageUrl('/my apps/out/renderer/index.html');
    expect(isAppUrl('file:///my%20apps/out/renderer/index.html', spaced)).toBe(true);
    expect(isAppUrl('file:///my apps/out/renderer/index.html', spaced)).toBe(true);
  });
});

describe('isAppUrl for the dev server', () => {
  const page = appPageUrl('/app/out/renderer/index.html', 'http://localhost:5173');

  it('accepts any path on the dev server origin', () => {
    expect(isAppUrl('http://localhost:5173/', page)).toBe(true);
    expect(isAppUrl('http://localhost:5173/src/main.ts', page)).toBe(true);
  });

  it('refuses another port, scheme or host, and the built file', () => {
    expect(isAppUrl('http://localhost:5174/', page)).toBe(false);
    expect(isAppUrl('https://localhost:5173/', page)).toBe(false);
    expect(isAppUrl('http://localhost.evil.example:5173/', page)).toBe(false);
    expect(isAppUrl('file:///app/out/renderer/index.html', page)).toBe(false);
  });
});

describe('contentSecurityPolicy', () => {
  it('allows only the app itself to run scripts and connect', () => {
    const csp = contentSecurityPolicy();
    expect(csp).toContain(`script-src 'self'`);
    expect(csp).toContain(`connect-src 'self';`);
    expect(csp).toContain(`object-src 'none'`);
    expect(csp).toContain(`base-uri 'none'`);
    expect(csp).toContain(`frame-ancestors 'none'`);
    expect(csp).not.toMatch(/unsafe-eval/);
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
  });

  it('names the WebSocket origin in browser mode', () => {
    expect(contentSecurityPolicy('ws://127.0.0.1:7357')).toContain(
      `connect-src 'self' ws://127.0.0.1:7357;`,
    );
  });
});
