/**
 * Opening a capture read-only from the UI: a pcap file the test writes opens from the "Open
 * capture" form; its connection joins the sidebar marked as from a file, its terminal shows the
 * captured bytes, and nothing offers to send from it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exchange, writeCaptureFile } from '../support/pcap-writer';
import { expect, openTab, pane, row, terminal, test } from './fixtures';

test('a pcap file opens read-only with its bytes in the terminal', async ({ app: page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-e2e-pcap-'));
  try {
    const file = join(dir, 'trace.pcap');
    writeCaptureFile(file, 'pcap-le-us', 'ethernet-vlan', exchange('10.0.0.1', '10.0.0.2'));

    await openTab(page, 'Open capture');
    const path = page.getByLabel('Capture file or folder', { exact: true });
    await path.fill(file);
    await path.press('Enter');
    await expect(
      page.getByRole('status').filter({ hasText: 'Opened 2 endpoints from trace.pcap' }),
    ).toBeVisible();

    await expect(pane(page).getByRole('heading', { level: 2 })).toContainText('10.0.0.2:8080');
    await expect(
      pane(page)
        .getByRole('note')
        .filter({ hasText: `Read-only: opened from ${file}` }),
    ).toBeVisible();
    await expect(terminal(page)).toContainText('GET /x');
    await expect(terminal(page)).toContainText('body after FIN');
    // No composer, no socket controls: nothing can be sent from a file.
    await expect(page.getByLabel('Payload', { exact: true })).toHaveCount(0);
    await expect(pane(page).getByRole('button', { name: 'Send', exact: true })).toHaveCount(0);
    await expect(row(page, /10\.0\.0\.2:8080.*from file/)).toBeVisible();

    // A file that is not a capture: a clear error under the form.
    await openTab(page, 'Open capture');
    await path.fill(join(dir, 'missing.pcap'));
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await expect(page.getByRole('alert')).toContainText('there is no such file or folder');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
