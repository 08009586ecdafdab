/**
 * Browser mode's entry, built as out/main/serve.js: the whole workbench in any browser, with
 * the built renderer over HTTP and the router over WebSocket on one port. Run as a program it
 * reads the command line (cli.ts); imported, it offers the server to tests and benchmarks.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { runCommandLine } from './cli';

export {
  formatHost,
  generateToken,
  isLoopbackHost,
  MIN_TOKEN_BITS,
  tokenStrength,
  weakTokenReason,
} from './access';
export { defaultRendererDir, parseCommandLine } from './cli';
export {
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_SERVE_LIMITS,
  startServer,
  type RunningServer,
  type ServeLimits,
  type ServerOptions,
  type ServerStats,
} from './server';
export { MAX_FRAME_BYTES } from './transport';

function isEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntry()) void runCommandLine();
