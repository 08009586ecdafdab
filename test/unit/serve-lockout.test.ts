/**
 * A peer must not be able to lock the user out of browser mode. The serve command runs in a
 * child process with 1,024 descriptors (`ulimit -n 1024`); a python3 process (with its own,
 * higher limit) throws 1,100 connect-then-FIN peers at a TCP listener opened through the
 * WebSocket and 1,100 idle TCP connections at the HTTP port, and holds them all open. The page
 * must still load and a new listener must still open through a new WebSocket.
 *
 * Both halves matter: the HTTP server caps connections that have not shown the token
 * (src/main/serve/), and the engine keeps a descriptor reserve and a per-listener connection
 * limit (src/main/engine/descriptors.ts, listener.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointInfo } from '../../src/shared/contract';
import { exited, hasCommand } from '../support/peers';
import { Page } from '../support/serve-peers';
import { waitUntil } from '../support/wait';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PEERS = 1_100;

/** Connects `count` times to each port, FIN right away on the first, nothing on the second. */
const FLOOD = `
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
listener_port, http_port, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
held, connected, failed = [], {"fin": 0, "idle": 0}, 0
for _ in range(count):
    for port, kind in ((listener_port, "fin"), (http_port, "idle")):
        s = socket.socket()
        s.settimeout(10)
        try:
            s.connect(("127.0.0.1", port))
            if kind == "fin":
                s.shutdown(socket.SHUT_WR)
            connected[kind] += 1
            held.append(s)
        except OSError:
            failed += 1
            s.close()
print("ready", connected["fin"], connected["idle"], failed, flush=True)
time.sleep(3600)
`;

function httpStatus(port: number, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!hasCommand('python3'))('browser mode under a descriptor flood', () => {
  let serve: ChildProcess;
  let stderr = '';
  let server: { port: number; token: string };

  beforeAll(async () => {
    serve = spawn(
      'bash',
      [
        '-c',
        'ulimit -n 1024 && exec "$0" "$@"',
        process.execPath,
        '--import',
        'tsx',
        path.join(root, 'src/main/serve/index.ts'),
        '--port',
        '0',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } },
    );
    let stdout = '';
    serve.stdout?.on('data', (data: Buffer) => (stdout += data.toString()));
    serve.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
    const url = await waitUntil(
      'the serve process to print its URL',
      () => /http:\/\/127\.0\.0\.1:(\d+)\/\?token=([\w-]+)/.exec(stdout) ?? undefined,
      30_000,
    );
    server = { port: Number(url[1]), token: url[2] as string };
  });

  afterAll(async () => {
    serve.kill('SIGTERM');
    await exited(serve);
  });

  it('still serves the page and opens a new listener with 1,100 FIN peers and 1,100 idle HTTP connections held open', async () => {
    const page = await Page.open(server);
    const listener = await page.call<EndpointInfo>('tcp.listen', {
      host: '127.0.0.1',
      port: 0,
    });
    const listenerPort = listener.local && 'port' in listener.local ? listener.local.port : 0;

    const flood = spawn(
      'python3',
      ['-c', FLOOD, String(listenerPort), String(server.port), String(PEERS)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let floodOut = '';
    flood.stdout?.on('data', (data: Buffer) => (floodOut += data.toString()));
    flood.stderr?.on('data', (data: Buffer) => (floodOut += data.toString()));
    try {
      const ready = await waitUntil(
        'the peers to connect',
        () => {
          if (flood.exitCode !== null) throw new Error(`python3 exited: ${floodOut}`);
          return /^ready (\d+) (\d+) (\d+)\n/m.exec(floodOut) ?? undefined;
        },
        60_000,
      );
      // Every connection was accepted by the kernel: the flood really happened.
      expect(Number(ready[1]), floodOut).toBe(PEERS);
      expect(Number(ready[2]), floodOut).toBe(PEERS);

      const loaded = await httpStatus(server.port, `/?token=${server.token}`);
      expect(loaded.status, stderr).toBe(200);
      expect(loaded.body).toContain('<title>');

      // A reloaded page: a new WebSocket, and a new listener through it.
      const reloaded = await Page.open(server);
      const opened = await reloaded.call<EndpointInfo>('tcp.listen', {
        host: '127.0.0.1',
        port: 0,
      });
      expect(opened.state).toBe('listening');
      // The page that was open all along still answers too.
      expect(await page.call('engine.status', {})).toBeDefined();
      await reloaded.close();
    } finally {
      flood.kill('SIGKILL');
      await exited(flood);
      await page.close();
    }
    expect(serve.exitCode).toBeNull();
  }, 120_000);
});
