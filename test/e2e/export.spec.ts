/**
 * Exporting a capture from the UI: a peer on a plain node:net socket and the workbench talk both
 * ways, then the dialog writes pcapng (read back by tshark) and raw bytes (compared byte for
 * byte) to a temporary folder; an existing file is not replaced unless asked.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Locator, Page } from '@playwright/test';
import { expect, openTcpListener, pane, send, terminal, test } from './fixtures';

const run = promisify(execFile);

const FROM_PEER_1 = Buffer.from('hello from the peer\n');
const FROM_WORKBENCH = 'reply from the workbench';
const FROM_PEER_2 = Buffer.from([0x00, 0x41, 0x42, 0x0a, 0xff]);

let folder = '';
test.beforeEach(async ({ context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  folder = mkdtempSync(join(tmpdir(), 'sw-e2e-export-'));
});
test.afterEach(() => {
  rmSync(folder, { recursive: true, force: true });
});

/** A peer connected to a workbench listener; the pane shows its connection. */
async function connectedPeer(app: Page): Promise<{ socket: Socket; received: () => Buffer }> {
  const port = await openTcpListener(app);
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (data: Buffer) => chunks.push(data));
  await once(socket, 'connect');
  await app.getByRole('treeitem', { level: 2 }).click();
  await expect(pane(app).getByRole('heading', { level: 2 })).toContainText('TCP');
  return { socket, received: () => Buffer.concat(chunks) };
}

/** Both directions, in order: peer, workbench, peer. Returns every byte as it went. */
async function exchange(app: Page): Promise<{ socket: Socket; bytes: Buffer[] }> {
  const { socket, received } = await connectedPeer(app);
  socket.write(FROM_PEER_1);
  await expect(terminal(app)).toContainText('hello from the peer');
  await send(app, FROM_WORKBENCH);
  await expect.poll(() => received().toString()).toContain(FROM_WORKBENCH);
  socket.write(FROM_PEER_2);
  await expect(terminal(app)).toContainText('\\x00AB\\n');
  return { socket, bytes: [FROM_PEER_1, received(), FROM_PEER_2] };
}

function exportDialog(app: Page): Locator {
  return app.getByRole('dialog', { name: 'Export capture' });
}

/** Opens the dialog from the pane, chooses a format and a path, and exports. */
async function exportTo(
  app: Page,
  format: string,
  path: string,
  { overwrite = false }: { overwrite?: boolean } = {},
): Promise<Locator> {
  await pane(app).getByRole('button', { name: 'Export…', exact: true }).click();
  const dialog = exportDialog(app);
  await expect(dialog).toBeVisible();
  await dialog.getByRole('radio', { name: format, exact: true }).check();
  await dialog.getByLabel('Save to', { exact: true }).fill(path);
  if (overwrite) await dialog.getByLabel('Overwrite if it exists', { exact: true }).check();
  await dialog.getByRole('button', { name: 'Export', exact: true }).click();
  return dialog;
}

/** What `tshark -qz follow,tcp,raw,0` shows of each side of the first TCP stream, as hex. */
async function followStream(file: string): Promise<string[]> {
  const { stdout } = await run('tshark', ['-r', file, '-qz', 'follow,tcp,raw,0']);
  const lines = stdout.split('\n').filter((line) => /^\t?[0-9a-f]+$/.test(line));
  const first = lines.filter((line) => !line.startsWith('\t')).join('');
  const second = lines
    .filter((line) => line.startsWith('\t'))
    .map((line) => line.slice(1))
    .join('');
  return [first, second];
}

test('exports a connection as pcapng for tshark and as raw bytes', async ({ app }) => {
  const { socket, bytes } = await exchange(app);
  const [peer1, workbench, peer2] = bytes as [Buffer, Buffer, Buffer];

  const pcapng = join(folder, 'connection.pcapng');
  let dialog = await exportTo(app, 'pcapng (for Wireshark)', pcapng);
  await expect(dialog.getByRole('status').filter({ hasText: 'Wrote' })).toContainText(`1 endpoint`);
  await expect(dialog.getByRole('status').filter({ hasText: 'Wrote' })).toContainText(pcapng);
  // pcapng holds both directions: the direction choice is not offered.
  await expect(dialog.getByRole('radio', { name: 'Received only' })).toBeDisabled();
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await expect(dialog).toBeHidden();
  expect((await followStream(pcapng)).sort()).toEqual(
    [Buffer.concat([peer1, peer2]).toString('hex'), workbench.toString('hex')].sort(),
  );

  const raw = join(folder, 'connection.bin');
  dialog = await exportTo(app, 'Raw bytes', raw);
  await expect(dialog.getByRole('status').filter({ hasText: 'Wrote' })).toContainText(raw);
  expect(readFileSync(raw)).toEqual(Buffer.concat([peer1, workbench, peer2]));
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  socket.destroy();
});

test('one direction, a selection, and a listener with its connections', async ({ app }) => {
  const { socket, bytes } = await exchange(app);
  const [peer1, workbench, peer2] = bytes as [Buffer, Buffer, Buffer];

  const received = join(folder, 'received.bin');
  await pane(app).getByRole('button', { name: 'Export…', exact: true }).click();
  let dialog = exportDialog(app);
  await dialog.getByRole('radio', { name: 'Raw bytes', exact: true }).check();
  await dialog.getByRole('radio', { name: 'Received only', exact: true }).check();
  await dialog.getByLabel('Save to', { exact: true }).fill(received);
  await dialog.getByRole('button', { name: 'Export', exact: true }).click();
  await expect(dialog.getByRole('status').filter({ hasText: 'Wrote' })).toBeVisible();
  expect(readFileSync(received)).toEqual(Buffer.concat([peer1, peer2]));
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();

  // A search selects its match in the terminal: "from the" is bytes 6 to 14 of the capture.
  const search = app.getByLabel('Search', { exact: true });
  await search.fill('from the');
  await search.press('Enter');
  await expect(
    pane(app)
      .getByRole('status')
      .filter({ hasText: /Match 1 of \d/ }),
  ).toBeVisible();
  await pane(app).getByRole('button', { name: 'Export selection…', exact: true }).click();
  dialog = exportDialog(app);
  await expect(
    dialog.getByRole('radio', { name: 'The selection only (8 bytes)', exact: true }),
  ).toBeChecked();
  const selection = join(folder, 'selection.bin');
  await dialog.getByRole('radio', { name: 'Raw bytes', exact: true }).check();
  await dialog.getByLabel('Save to', { exact: true }).fill(selection);
  await dialog.getByRole('button', { name: 'Export', exact: true }).click();
  await expect(dialog.getByRole('status').filter({ hasText: 'Wrote' })).toBeVisible();
  expect(readFileSync(selection).toString()).toBe('from the');
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();

  // The listener brings its connection along.
  await app.getByRole('treeitem', { level: 1 }).click();
  const listenerFile = join(folder, 'listener.pcapng');
  dialog = await exportTo(app, 'pcapng (for Wireshark)', listenerFile);
  await expect(dialog.getByLabel('Include its connections', { exact: true })).toBeChecked();
  await expect(dialog.getByRole('status').filter({ hasText: 'Wrote' })).toContainText(listenerFile);
  expect((await followStream(listenerFile)).sort()).toEqual(
    [Buffer.concat([peer1, peer2]).toString('hex'), workbench.toString('hex')].sort(),
  );
  socket.destroy();
});

test('an existing file is kept unless "Overwrite" is ticked; Esc closes', async ({ app }) => {
  const { socket, bytes } = await exchange(app);
  const existing = join(folder, 'existing.bin');
  writeFileSync(existing, 'keep me');

  // The first export from this browser has no folder to start from: the engine needs one.
  await pane(app).getByRole('button', { name: 'Export…', exact: true }).click();
  const dialog = exportDialog(app);
  const path = dialog.getByLabel('Save to', { exact: true });
  await expect(path).toHaveValue(/^socket-workbench-127\.0\.0\.1_\d+-\d{8}-\d{6}\.pcapng$/);
  await expect(dialog).toContainText('Give the full path');
  await expect(dialog.getByRole('button', { name: 'Export', exact: true })).toBeDisabled();
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();

  await exportTo(app, 'Raw bytes', existing);
  await expect(dialog.getByRole('alert')).not.toBeEmpty();
  await expect(dialog).toContainText('A file is already there');
  expect(readFileSync(existing, 'utf8')).toBe('keep me');

  await dialog.getByLabel('Overwrite if it exists', { exact: true }).check();
  await dialog.getByRole('button', { name: 'Export', exact: true }).click();
  await expect(dialog.getByRole('status').filter({ hasText: 'Wrote' })).toContainText(existing);
  expect(readFileSync(existing)).toEqual(Buffer.concat(bytes));

  // A folder that does not exist is named as such.
  await dialog.getByLabel('Save to', { exact: true }).fill(join(folder, 'missing', 'x.bin'));
  await dialog.getByRole('button', { name: 'Export', exact: true }).click();
  await expect(dialog.getByRole('alert')).not.toBeEmpty();

  await app.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(pane(app).getByRole('button', { name: 'Export…', exact: true })).toBeFocused();

  // The next export starts in the folder of the last one written.
  await pane(app).getByRole('button', { name: 'Export…', exact: true }).click();
  await expect(path).toHaveValue(new RegExp(`^${folder}/socket-workbench-.*\\.pcapng$`));
  await app.keyboard.press('Escape');
  socket.destroy();
});

test('"Export all…" in the sidebar writes every endpoint to one file', async ({ app }) => {
  const { socket, bytes } = await exchange(app);
  const [peer1, workbench, peer2] = bytes as [Buffer, Buffer, Buffer];
  await app.getByRole('button', { name: 'Export all…', exact: true }).click();
  const dialog = exportDialog(app);
  await expect(dialog).toContainText('Every endpoint (2)');
  // Several endpoints: no terminal selection to offer.
  await expect(dialog.getByRole('group', { name: 'Range' })).toHaveCount(0);
  const file = join(folder, 'all.pcapng');
  await dialog.getByLabel('Save to', { exact: true }).fill(file);
  await dialog.getByRole('button', { name: 'Export', exact: true }).click();
  await expect(dialog.getByRole('status').filter({ hasText: 'Wrote' })).toContainText(file);
  expect((await followStream(file)).sort()).toEqual(
    [Buffer.concat([peer1, peer2]).toString('hex'), workbench.toString('hex')].sort(),
  );
  await dialog.getByRole('button', { name: 'Copy path', exact: true }).click();
  await expect(dialog.getByRole('status').filter({ hasText: 'Path copied.' })).toBeVisible();
  socket.destroy();
});

test('in browser mode the export comes to the browser as a download', async ({ app }) => {
  const { socket, bytes } = await exchange(app);
  await pane(app).getByRole('button', { name: 'Export…', exact: true }).click();
  const dialog = exportDialog(app);
  await dialog.getByRole('radio', { name: 'Raw bytes', exact: true }).check();
  await dialog.getByRole('radio', { name: 'Received only', exact: true }).check();
  await dialog.getByLabel('Save to', { exact: true }).fill('/anywhere/from-the-peer.bin');
  const downloading = app.waitForEvent('download');
  await dialog.getByRole('button', { name: 'Download', exact: true }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('from-the-peer.bin');
  const file = join(folder, 'downloaded.bin');
  await download.saveAs(file);
  expect(readFileSync(file).equals(Buffer.concat([bytes[0] as Buffer, bytes[2] as Buffer]))).toBe(
    true,
  );
  await expect(dialog.getByRole('status').first()).toContainText(
    'Downloading from-the-peer.bin: 25 B',
  );
  socket.destroy();
});
