/**
 * The built renderer over HTTP: GET and HEAD of files under one folder, with the security
 * headers, after the Host and token checks of access.ts. The scripts and styles the page loads
 * (the build's assets folder) are public; everything else, the page above all, needs the token.
 */
import { realpath, readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { resolve, sep } from 'node:path';
import { contentTypeOf } from '../content-types';
import { contentSecurityPolicy, resolveUnder } from '../security';
import type { Access } from './access';

function securityHeaders(websocketOrigin: string): OutgoingHttpHeaders {
  return {
    'Content-Security-Policy': contentSecurityPolicy(websocketOrigin),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: OutgoingHttpHeaders = {},
): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * Answers HTTP requests with the files under `rendererDir`, which must already be a real path
 * (no symbolic link in it), so that a file's real path can be checked to stay inside it.
 */
export function staticFileHandler(
  rendererDir: string,
  access: Access,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  /**
   * An allowlist, because a name compared with the page's would miss other spellings of it
   * (`/INDEX.HTML` on a case-insensitive disk).
   */
  const publicDir = resolve(rendererDir, 'assets') + sep;

  return async (req, res) => {
    const hostHeader = access.checkHost(req);
    if (hostHeader !== null && access.hasToken(new URL(req.url ?? '/', `http://${hostHeader}`))) {
      access.unauthenticated.authenticate(req.socket);
    }
    // Whoever has not shown the token gets one answer per connection, then it is closed.
    if (access.unauthenticated.isUnauthenticated(req.socket)) {
      res.setHeader('Connection', 'close');
    }
    if (hostHeader === null) {
      sendText(res, 421, 'Socket Workbench: this server only answers to its own address.');
      return;
    }
    const headers = securityHeaders(`ws://${hostHeader}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'Socket Workbench: only GET and HEAD are served.', {
        ...headers,
        Allow: 'GET, HEAD',
      });
      return;
    }
    const rawUrl = req.url ?? '/';
    const url = new URL(rawUrl, `http://${hostHeader}`);
    // The raw path, not url.pathname: the URL parser would already have folded away `..`.
    const rawPath = rawUrl.split(/[?#]/, 1)[0] ?? '/';
    const file = rawPath.startsWith('/') ? resolveUnder(rendererDir, rawPath) : null;
    if (file === null) {
      sendText(res, 400, 'Socket Workbench: that path is not allowed.', headers);
      return;
    }
    if (!file.startsWith(publicDir) && !access.hasToken(url)) {
      sendText(
        res,
        401,
        'Socket Workbench needs its access token. Open the full URL printed when the server ' +
          'started (http://HOST:PORT/?token=...).',
        headers,
      );
      return;
    }
    let body: Buffer;
    try {
      const real = await realpath(file);
      if (!real.startsWith(rendererDir + sep) || !(await stat(real)).isFile()) throw new Error();
      body = await readFile(real);
    } catch {
      // Browsers ask for a favicon unprompted; an empty answer keeps the console clean.
      if (rawPath === '/favicon.ico') {
        res.writeHead(204, headers);
        res.end();
        return;
      }
      sendText(res, 404, 'Socket Workbench: not found.', headers);
      return;
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': contentTypeOf(file),
      'Content-Length': body.length,
      'Cache-Control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
