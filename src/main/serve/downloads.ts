/**
 * `GET /download/<id>?token=…`: hands an export the page asked for (capture.download) to the
 * browser, once. Like the page itself it needs this server's Host header and the token; the id is
 * random and good for one fetch, and the file is deleted once sent.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { DOWNLOAD_KEEP_MS, type Downloads } from '../engine/downloads';
import type { Access } from './access';
import { sendText } from './static-files';

export const DOWNLOAD_PATH_PREFIX = '/download/';
const DOWNLOAD_ID = /^[A-Za-z0-9_-]{32}$/;

/** A Content-Disposition that every browser reads: an ASCII fallback and the UTF-8 name. */
function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export function isDownloadRequest(req: IncomingMessage): boolean {
  return (req.url ?? '').startsWith(DOWNLOAD_PATH_PREFIX);
}

export function downloadHandler(
  downloads: Downloads,
  access: Access,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const hostHeader = access.checkHost(req);
    if (hostHeader === null) {
      sendText(res, 421, 'Socket Workbench: this server only answers to its own address.');
      return;
    }
    const url = new URL(req.url ?? '/', `http://${hostHeader}`);
    if (!access.hasToken(url)) {
      res.setHeader('Connection', 'close');
      sendText(res, 401, 'Socket Workbench: a download needs the token of the page that asked.');
      return;
    }
    access.unauthenticated.authenticate(req.socket);
    // Only GET: a HEAD would use up the one fetch without the file.
    if (req.method !== 'GET') {
      sendText(res, 405, 'Socket Workbench: downloads are fetched with GET.', { Allow: 'GET' });
      return;
    }
    const id = url.pathname.slice(DOWNLOAD_PATH_PREFIX.length);
    const download = DOWNLOAD_ID.test(id) ? downloads.take(id) : undefined;
    if (!download) {
      sendText(
        res,
        404,
        `Socket Workbench: this download was already fetched, or nobody fetched it for ` +
          `${DOWNLOAD_KEEP_MS / 60_000} minutes and it was deleted. Export it again.`,
      );
      return;
    }
    try {
      const { size } = await stat(download.path);
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': size,
        'Content-Disposition': attachment(download.name),
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Content-Security-Policy': "default-src 'none'; sandbox",
        'Referrer-Policy': 'no-referrer',
        'Cross-Origin-Resource-Policy': 'same-origin',
      });
      await pipeline(createReadStream(download.path), res);
    } finally {
      await downloads.sent(download);
    }
  };
}
