import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * The tests drive the built app (out/), so build it first: a stale build would test yesterday's
 * code. E2E_SKIP_BUILD=1 skips this when the caller has just built.
 */
export default function globalSetup(): void {
  if (process.env.E2E_SKIP_BUILD === '1' && existsSync('out/main/serve.js')) return;
  execFileSync(process.execPath, ['node_modules/electron-vite/bin/electron-vite.js', 'build'], {
    stdio: 'inherit',
  });
}
