/**
 * The kernel panel during a paused-reading flow with a python3 peer: the receive queue fills
 * (gauge and figures), the state diagram shows ESTABLISHED, and after our close it follows the
 * teardown the kernel still holds (FIN_WAIT2 or TIME_WAIT); zoomed out, the graph sums the whole
 * life from the capture. Collapsed, it asks nothing. A listener's connections are read all at
 * once on demand.
 */
import { once } from 'node:events';
import net from 'node:net';
import { startPythonPeer } from '../support/engine-helpers';
import { expect, openTcpListener, pane, test } from './fixtures';

const TOTAL = 16 * 1024 * 1024;

/**
 * Connects, then on "go" writes without blocking until the kernel's buffers are full; on a second
 * "go" writes the rest; then reads until our FIN and closes its side too.
 */
const writer = `
import socket, sys
TOTAL = ${TOTAL}
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
print('connected', flush=True)
sys.stdin.readline()
s.setblocking(False)
block = b'x' * 65536
sent = 0
try:
    while sent < TOTAL:
        sent += s.send(block[: min(len(block), TOTAL - sent)])
except BlockingIOError:
    pass
print('stalled', sent, flush=True)
sys.stdin.readline()
s.setblocking(True)
while sent < TOTAL:
    sent += s.send(block[: min(len(block), TOTAL - sent)])
print('done', sent, flush=True)
while s.recv(65536):
    pass
print('fin', flush=True)
s.close()
`;

test('the kernel panel shows a filled receive queue, then the teardown', async ({ app }) => {
  const sampleCalls: string[] = [];
  app.on('websocket', (socket) => {
    socket.on('framesent', ({ payload }) => {
      if (typeof payload === 'string' && payload.includes('"kernel.sample"')) {
        sampleCalls.push(payload);
      }
    });
  });
  // The page's socket opened before the listener above: reload so it is observed from the start.
  await app.reload();

  const port = await openTcpListener(app);
  await expect(
    pane(app).getByRole('meter', { name: 'Accept queue against the backlog' }),
  ).toHaveAttribute('aria-valuetext', /accept queue: 0 waiting of \d+ \(backlog\)/);
  await expect(pane(app).getByRole('img', { name: /TCP state diagram/ })).toHaveAttribute(
    'aria-label',
    /Now: LISTEN\./,
  );

  const { child: python, lines, exited } = startPythonPeer(writer, [port]);

  await app.getByRole('treeitem', { level: 2 }).click();
  await app.getByRole('button', { name: 'Pause reading' }).click();
  await expect(pane(app)).toContainText('reading paused');
  await expect.poll(() => lines.includes('connected')).toBe(true);
  python.stdin?.write('go\n');
  await expect.poll(() => lines.some((line) => line.startsWith('stalled'))).toBe(true);

  const diagram = pane(app).getByRole('img', { name: /TCP state diagram/ });
  await expect(diagram).toHaveAttribute('aria-label', /Now: ESTABLISHED\./);
  await expect(diagram).toHaveAttribute('aria-label', /LISTEN → SYN-RECEIVED → ESTABLISHED/);
  await expect(diagram.locator('[data-state="ESTABLISHED"]')).toHaveClass(/current/);
  await expect(pane(app)).toContainText('ESTABLISHED — the connection is open');

  // The kernel holds what the paused workbench did not read: the gauge shows it.
  const recvGauge = pane(app).getByRole('meter', { name: 'Recv-Q against SO_RCVBUF' });
  await expect
    .poll(async () => Number(await recvGauge.getAttribute('aria-valuenow')))
    .toBeGreaterThan(0);
  await expect(recvGauge).toHaveAttribute('aria-valuetext', /\d.* of .*\(SO_RCVBUF\)/);
  await expect(pane(app).getByRole('meter', { name: 'Send-Q against SO_SNDBUF' })).toBeVisible();

  await app.getByRole('button', { name: 'Resume reading' }).click();
  python.stdin?.write('go\n');
  await expect.poll(() => lines.includes(`done ${TOTAL}`)).toBe(true);
  await expect(pane(app).getByRole('group', { name: 'Counters' })).toContainText(
    `Bytes in ${TOTAL.toLocaleString('en-US')}`,
  );
  await expect.poll(async () => Number(await recvGauge.getAttribute('aria-valuenow'))).toBe(0);

  // We close first: the kernel keeps the connection in FIN_WAIT2, or TIME_WAIT once the peer
  // closed too, and the panel keeps following it after the endpoint itself is closed.
  await pane(app).getByRole('button', { name: 'Close', exact: true }).click();
  await expect(diagram).toHaveAttribute('aria-label', /Now: (FIN-WAIT-2|TIME-WAIT)\./);
  await expect(diagram).toHaveAttribute('aria-label', /ESTABLISHED → FIN-WAIT-1 → FIN-WAIT-2/);
  await expect(pane(app).getByRole('list', { name: 'Path so far' })).toContainText(
    'close(): FIN →',
  );
  const code = await exited;
  expect(code).toBe(0);
  expect(lines).toContain('fin');
  await expect(diagram).toHaveAttribute('aria-label', /Now: TIME-WAIT\./);
  await expect(diagram.locator('[data-state="TIME_WAIT"]')).toHaveClass(/current/);
  await expect(pane(app)).toContainText(
    /TIME_WAIT — waiting 2 MSL so late segments die; \d+ s left/,
  );

  // Zoomed out, the graph covers the connection's whole life, summed from its capture.
  const graph = pane(app).getByRole('img', { name: /Whole life|Last 60 s/ });
  await pane(app).getByRole('button', { name: 'Whole life', exact: true }).click();
  await expect(pane(app).getByRole('button', { name: 'Whole life', exact: true })).toHaveAttribute(
    'aria-pressed',
    'true',
  );
  await expect(graph).toHaveAttribute('aria-label', /^Whole life: 16\.0 MiB in, 0 B out\.$/);
  await expect(pane(app)).toContainText(/Traffic over the whole life, \d+ s per point/);
  await pane(app).getByRole('button', { name: 'Last minute', exact: true }).click();
  await expect(graph).toHaveAttribute('aria-label', /^Last 60 s\./);

  // Collapsed, the panel asks the kernel nothing.
  await pane(app).getByText('Kernel', { exact: true }).click();
  await expect(diagram).toHaveCount(0);
  // An answer may still be on its way: wait for the count to settle, then see it stays.
  let settled = -1;
  await expect
    .poll(async () => {
      const before = sampleCalls.length;
      await app.waitForTimeout(600);
      settled = sampleCalls.length;
      return settled === before;
    })
    .toBe(true);
  await app.waitForTimeout(1000);
  expect(sampleCalls.length).toBe(settled);
  expect(settled).toBeGreaterThan(0);
});

test("a listener's connections as the kernel holds them, read on demand", async ({ app }) => {
  const port = await openTcpListener(app);
  const peers: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const socket = net.connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    peers.push(socket);
  }
  await expect(app.getByRole('treeitem', { level: 2 })).toHaveCount(3);
  // One peer half-closes: our side, left open (half-open allowed), sits in CLOSE_WAIT.
  peers[0]!.end();
  await expect(
    app.getByRole('treeitem', { level: 2 }).filter({ hasText: 'half-closed' }),
  ).toHaveCount(1);

  await app.getByRole('treeitem', { level: 1 }).click();
  const table = pane(app).getByRole('region', {
    name: 'Its connections, as the kernel holds them',
  });
  await table.getByRole('button', { name: 'Read all' }).click();
  await expect(table.getByRole('table')).toBeVisible();
  await expect(table).toContainText('3 connections, read at');
  await expect(table).toContainText(/ESTABLISHED 2 · CLOSE_WAIT 1|CLOSE_WAIT 1 · ESTABLISHED 2/);
  await expect(table.getByRole('row')).toHaveCount(4);
  await expect(table.getByRole('row').filter({ hasText: 'CLOSE_WAIT' })).toHaveCount(1);

  // The peers leave: read again, and the table follows the kernel.
  for (const socket of peers) socket.destroy();
  await expect
    .poll(async () => {
      await table.getByRole('button', { name: 'Read again' }).click();
      return table.getByRole('row').filter({ hasText: 'ESTABLISHED' }).count();
    })
    .toBe(0);
});
