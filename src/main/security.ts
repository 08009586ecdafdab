/**
 * Security decisions as pure functions of plain values, so they are unit-tested without the
 * Electron binary. index.ts (Electron) and serve/ (browser mode) apply them.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { contentTypeOf } from './content-types';

/**
 * The packaged app serves its renderer from this privileged scheme instead of file://: the
 * GrantFileProtocolExtraPrivileges fuse is off (electron-builder.yml), and without it Chromium
 * refuses module scripts from file:// pages. The page also gets a real origin, so the CSP's
 * 'self' means the renderer's own files and nothing else on disk.
 */
export const APP_SCHEME = 'app';
export const APP_HOST = 'workbench';
export const APP_PAGE_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

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
  if (expected.protocol === 'file:' || expected.protocol === `${APP_SCHEME}:`) {
    return (
      candidate.protocol === expected.protocol &&
      candidate.host === expected.host &&
      candidate.pathname === expected.pathname
    );
  }
  if (expected.protocol === 'http:' || expected.protocol === 'https:') {
    return candidate.origin === expected.origin;
  }
  return false;
}

/** What index.ts knows about the frame behind an IPC message, as plain values. */
export interface IpcSender {
  /** The id of the WebContents that sent it. */
  webContentsId: number;
  /** The sending frame's URL; undefined when the frame is gone or could not be read. */
  frameUrl: string | undefined;
  /** Whether the sender is the top-level frame of that WebContents (not an iframe). */
  isMainFrame: boolean;
}

/** Who may drive the engine: our window's WebContents, showing our own page. */
export interface ExpectedSender {
  webContentsId: number;
  appPage: string;
}

/**
 * Whether an IPC message comes from the app's own page. A frame inside the page (an iframe
 * showing anything, even our own URL), a page that navigated elsewhere, another window, or
 * any message while there is no window is refused: only the preload of the top frame of the
 * app page holds the API, and the engine can open sockets on the user's behalf.
 */
export function isTrustedSender(
  sender: IpcSender | null | undefined,
  expected: ExpectedSender | null | undefined,
): boolean {
  if (!sender || !expected) return false;
  if (!Number.isInteger(sender.webContentsId) || sender.webContentsId !== expected.webContentsId) {
    return false;
  }
  if (sender.isMainFrame !== true) return false;
  if (typeof sender.frameUrl !== 'string') return false;
  return isAppUrl(sender.frameUrl, expected.appPage);
}

/**
 * The file under `root` that a URL path names (`/`, `''` and a trailing `/` name index.html), or
 * null when the path tries to leave it. Each segment is decoded before it is checked, so `%2e%2e`
 * and `..%2f` are caught as well as a literal `..`; encoded separators, NUL, drive letters and
 * empty segments are refused rather than guessed at. Browser mode's static files and the app
 * protocol both read files through this.
 */
export function resolveUnder(root: string, urlPath: string): string | null {
  const segments: string[] = [];
  for (const raw of urlPath.split('/').slice(1)) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (segment === '.' || segment === '..' || /[/\\\0:]/.test(segment)) return null;
    segments.push(segment);
  }
  if (segments.length === 0 || segments[segments.length - 1] === '') {
    segments[Math.max(segments.length - 1, 0)] = 'index.html';
  }
  if (segments.some((s) => s === '')) return null;
  const base = resolve(root);
  const file = resolve(base, ...segments);
  const inside = relative(base, file);
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    return null;
  }
  return file;
}

/**
 * The file under `rendererDir` that an APP_SCHEME request names, with its Content-Type (module
 * scripts are refused without a JavaScript type), or null for anything else: another scheme or
 * host, or a path that resolveUnder refuses.
 */
export function appAsset(
  rendererDir: string,
  requestUrl: string,
): { file: string; contentType: string } | null {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    return null;
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return null;
  const file = resolveUnder(rendererDir, url.pathname);
  return file === null ? null : { file, contentType: contentTypeOf(file) };
}
