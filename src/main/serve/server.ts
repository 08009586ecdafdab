/**
 * One port for browser mode: the HTTP server that carries the static files and, on upgrade, the
 * WebSocket transport, with the limits both are held to. The engine is the caller's or its own.
 */
import { realpath } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { resolve } from 'node:path';
import type { CaptureSettings } from '../engine/capture-folder';
import { Engine } from '../engine/engine';
import { createRouter } from '../router';
import {
  allowedHostHeaders,
  formatHost,
  generateToken,
  stripBrackets,
  tokenCheck,
  UnauthenticatedSockets,
  weakTokenReason,
  type Access,
} from './access';
import { downloadHandler, isDownloadRequest } from './downloads';
import { sendText, staticFileHandler } from './static-files';
import { webSocketTransport } from './transport';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7357;

/**
 * What the server holds back from hostile or broken clients. Each has a default, chosen below
 * and listed in docs/security.md with what the user sees and the test that covers it.
 */
export interface ServeLimits {
  /**
   * Connections that have not presented the token yet (idle, or sending a request without it).
   * Past this many the oldest is closed, so idle connections can neither use up the process's
   * descriptors nor keep the user's own browser out. Pages and WebSockets that presented the
   * token are not counted.
   */
  maxUnauthenticatedSockets: number;
  /** Such a connection that sends nothing for this long is closed. */
  unauthenticatedIdleMs: number;
  /** Node's http timeouts: the whole header block, the whole request, an idle keep-alive. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /**
   * All pages together: frames still arriving, replies being assembled, and everything queued
   * to send but not yet taken by the kernel. Past it the page holding the most is disconnected.
   */
  pageMemoryBudgetBytes: number;
  /** A page's next capture.read waits while this much is queued for it and unsent. */
  replyHighWaterBytes: number;
}

export const DEFAULT_SERVE_LIMITS: Readonly<ServeLimits> = {
  // A browser opens at most six connections to a host; 32 leaves room for a few tabs and stays
  // well inside the 64 descriptors the engine keeps in reserve for everything but its sockets.
  maxUnauthenticatedSockets: 32,
  unauthenticatedIdleMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  // Four frames of the largest size at once; the issue saw 20 stalled ones hold 1.26 GB.
  pageMemoryBudgetBytes: 256 * 1024 * 1024,
  replyHighWaterBytes: 8 * 1024 * 1024,
};

export interface ServerOptions {
  host?: string;
  /** Any of DEFAULT_SERVE_LIMITS to override (tests use small ones). */
  limits?: Partial<ServeLimits>;
  port?: number;
  /** The built renderer: index.html and its assets (out/renderer). */
  rendererDir: string;
  token?: string;
  /** Share an engine the caller owns; otherwise the server makes one and disposes it on close. */
  engine?: Engine;
  /** Where the engine it makes keeps its capture (default: a private temporary directory). */
  captureDir?: string;
  /** The capture limit and free-space floor of the engine it makes. */
  capture?: Partial<CaptureSettings>;
  /** The data folder of the engine it makes (the payload library); unset: in memory only. */
  dataDir?: string;
  /** The workspace file the engine it makes opens (docs/workspaces.md); unset: the last one. */
  workspace?: string;
}

export interface RunningServer {
  /** The URL to open, token included. */
  url: string;
  host: string;
  port: number;
  token: string;
  /** What the limits are holding right now: for tests, benchmarks and diagnostics. */
  stats(): ServerStats;
  /**
   * What the workspace opened at start reachable from other machines ("TCP listener
   * 0.0.0.0:8080"): the command line says so, since no form warned before these binds.
   */
  exposedAtStart: string[];
  close(): Promise<void>;
}

export interface ServerStats {
  /** Connections that have not presented the token (at most maxUnauthenticatedSockets). */
  unauthenticatedSockets: number;
  /** Open page WebSockets. */
  pages: number;
  /** What the pages hold against pageMemoryBudgetBytes. */
  pageMemoryBytes: number;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = stripBrackets(options.host ?? DEFAULT_HOST);
  const limits: ServeLimits = { ...DEFAULT_SERVE_LIMITS, ...options.limits };
  const chosenToken = options.token !== undefined && options.token.length > 0;
  const weakToken = chosenToken ? weakTokenReason(options.token as string) : null;
  if (weakToken !== null) throw new Error(weakToken);
  const token = chosenToken ? (options.token as string) : generateToken();
  const rendererDir = await realpath(resolve(options.rendererDir));
  const ownsEngine = options.engine === undefined;
  const engine =
    options.engine ??
    new Engine({
      captureDir: options.captureDir,
      capture: options.capture,
      dataDir: options.dataDir ?? null,
    });
  // Before the first page: it sees the workspace opened (or why it could not be).
  if (ownsEngine) {
    await engine.workspace.start(
      options.workspace === undefined ? {} : { path: options.workspace },
    );
  }
  const router = createRouter(engine);

  // Filled in once listening: with port 0 the port is only known then.
  let allowedHosts = new Set<string>();
  const access: Access = {
    checkHost: (req) => {
      const value = req.headers.host?.toLowerCase();
      return value !== undefined && allowedHosts.has(value) ? value : null;
    },
    hasToken: tokenCheck(token),
    unauthenticated: new UnauthenticatedSockets(limits),
  };
  const serveFile = staticFileHandler(rendererDir, access);
  const serveDownload = downloadHandler(engine.downloads, access);
  const transport = webSocketTransport(router, access, limits);

  const server = createServer(
    {
      // How often Node looks for requests past headersTimeout / requestTimeout (default 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, limits.headersTimeoutMs / 4)),
    },
    (req, res) => {
      const handle = isDownloadRequest(req) ? serveDownload : serveFile;
      handle(req, res).catch(() => {
        if (!res.headersSent) sendText(res, 500, 'Socket Workbench: internal error.');
        else res.destroy();
      });
    },
  );
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Every connection starts unauthenticated, counted and on the idle clock.
  server.on('connection', (socket: Socket) => access.unauthenticated.admit(socket));
  server.on('upgrade', transport.upgrade);

  try {
    await new Promise<void>((resolveListen, rejectListen) => {
      server.once('error', rejectListen);
      server.listen(options.port ?? DEFAULT_PORT, host, () => {
        server.off('error', rejectListen);
        resolveListen();
      });
    });
  } catch (error) {
    if (ownsEngine) await engine.dispose();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  allowedHosts = allowedHostHeaders(host, port);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await transport.close();
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      if (ownsEngine) await engine.dispose();
    })();
    return closing;
  };

  return {
    url: `http://${formatHost(host)}:${port}/?token=${encodeURIComponent(token)}`,
    host,
    port,
    token,
    stats: () => ({
      unauthenticatedSockets: access.unauthenticated.size,
      pages: transport.pages,
      pageMemoryBytes: transport.pageMemoryBytes(),
    }),
    exposedAtStart: ownsEngine ? (engine.workspace.state().lastOpen?.exposed ?? []) : [],
    close,
  };
}
