/**
 * Security decisions as pure functions of plain values, so they are unit-tested without the
 * Electron binary. index.ts (Electron) and serve.ts (browser mode) apply them.
 */
import { pathToFileURL } from 'node:url';

/**
 * The Content-Security-Policy for the renderer. Browser mode adds the WebSocket origin to
 * connect-src explicitly: not every browser treats ws: as covered by 'self'.
 */
export function contentSecurityPolicy(websocketOrigin?: string): string {
  const connect = websocketOrigin ? `'self' ${websocketOrigin}` : `'self'`;
  return [
    `default-src 'self'`,
    `script-src 'self'`,
    // Svelte transitions and xterm.js set inline styles.
    `style-src 'self' 'unsafe-inline'`,
    `connect-src ${connect}`,
    `img-src 'self' data:`,
    `object-src 'none'`,
    `base-uri 'none'`,
    `frame-ancestors 'none'`,
  ].join('; ');
}

/**
 * The URL of the app's own page: the electron-vite dev server while developing, otherwise the
 * built index.html on disk.
 */
export function appPageUrl(rendererIndexPath: string, devServerUrl?: string): string {
  if (devServerUrl) return new URL(devServerUrl).href;
  return pathToFileURL(rendererIndexPath).href;
}

/**
 * Whether `url` is the app's own page, for IPC sender and navigation checks. A dev server page is
 * matched by origin (Vite serves the page and its modules from many paths); a file page only by
 * its exact path, so no other file on disk counts as the app.
 */
export function isAppUrl(url: string, appPage: string): boolean {
  let candidate: URL;
  let expected: URL;
  try {
    candidate = new URL(url);
    expected = new URL(appPage);
  } catch {
    return false;
  }
  if (expected.protocol === 'file:') {
    return (
      candidate.protocol === 'file:' &&
      candidate.host === expected.host &&
      candidate.pathname === expected.pathname
    );
  }
  if (expected.protocol === 'http:' || expected.protocol === 'https:') {
    return candidate.origin === expected.origin;
  }
  return false;
}
