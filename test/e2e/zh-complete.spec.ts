/// <reference lib="dom" />
/**
 * The Simplified Chinese UI leaves no English behind: every visible string, accessible name,
 * placeholder and tooltip on the main screens comes from the zh-CN catalog. Socket and protocol
 * vocabulary (connect(), FIN, TCP_NODELAY, UTF-8…) is the same in both languages and allowed.
 */
import net from 'node:net';
import { once } from 'node:events';
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';

/** Words that are names, not English: system calls, TCP flags, options, encodings, units. */
const allowed = new Set(
  (
    'Socket TCP UDP Unix IPv4 IPv6 SYN ACK FIN RST SYN-ACK ECONNRESET ECONNREFUSED EADDRINUSE ' +
    'socket bind listen accept connect read write shutdown close SHUT_WR TCP_NODELAY SO_KEEPALIVE ' +
    'allowHalfOpen backlog UTF-8 Latin-1 ISO-8859-1 GBK GB18030 Big5 Shift_JIS EUC-KR ASCII UTF-16LE UTF-16BE ' +
    'Base64 base64 hex Hex localhost Ctrl Enter Alt ms KB MB GB KiB MiB GiB B C ' +
    // A language menu names each language in its own language.
    'English ' +
    // Proper names: Nagle's algorithm is 'Nagle 算法' in Chinese texts too; file formats and the
    // program that reads them.
    'Nagle pcap pcapng Wireshark tshark ss JSON ' +
    // TCP states as RFC 9293 and the kernel name them, and the kernel's own socket vocabulary.
    'LISTEN SYN-SENT SYN-RECEIVED ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 CLOSE-WAIT CLOSING LAST-ACK ' +
    'TIME-WAIT CLOSED CLOSE SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 CLOSE_WAIT LAST_ACK TIME_WAIT ' +
    'Recv-Q Send-Q SO_RCVBUF SO_SNDBUF RTT MSS MSL RFC'
  ).split(/\s+/),
);

async function englishLeft(page: Page): Promise<string[]> {
  const texts = await page.evaluate(() => {
    const found: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || parent.closest('.xterm, [data-no-translate]')) continue;
      if (parent.closest('[aria-hidden="true"]') && !parent.closest('option')) continue;
      const style = getComputedStyle(parent);
      if (style.display === 'none' || style.visibility === 'hidden') continue;
      found.push(node.textContent ?? '');
    }
    for (const element of document.querySelectorAll('[aria-label], [title], [placeholder]')) {
      if (element.closest('.xterm')) continue;
      for (const name of ['aria-label', 'title', 'placeholder']) {
        const value = element.getAttribute(name);
        if (value) found.push(value);
      }
    }
    return found;
  });
  const words = new Set<string>();
  for (const text of texts) {
    // Addresses, paths and numbers are data, not UI text.
    const cleaned = text
      .replace(/\[?[0-9a-f:.]+\]?:\d+/gi, ' ')
      .replace(/\/[\w./-]+/g, ' ')
      .replace(/\b[a-z]+\(\)/g, ' ')
      .replace(/\\(x[0-9A-Fa-f]{2}|xHH|[a-z0\\])/g, ' ');
    for (const word of cleaned.match(/[A-Za-z][A-Za-z0-9_-]*/g) ?? []) {
      if (!allowed.has(word) && !/^\d/.test(word)) words.add(word);
    }
  }
  return [...words].sort();
}

test('the zh-CN UI shows no English string', async ({ app }) => {
  await app.getByLabel('Language').selectOption('zh-CN');
  await expect(app.locator('html')).toHaveAttribute('lang', 'zh-CN');
  expect(await englishLeft(app)).toEqual([]);

  // A listener with a peer that talked and half-closed: the busiest screen there is.
  await app.getByRole('button', { name: '开始监听' }).click();
  const title = app.getByRole('article').getByRole('heading', { level: 2 });
  await expect(title).toContainText(/:[1-9]\d*/);
  const port = Number(/:(\d+)/.exec(await title.innerText())?.[1]);
  const peer = net.connect({ host: '127.0.0.1', port });
  await once(peer, 'connect');
  peer.write('hello\r\n');
  expect(await englishLeft(app)).toEqual([]);

  await app.getByRole('treeitem', { level: 2 }).click();
  await expect(app.locator('.xterm-rows')).toContainText('hello');
  peer.end();
  await expect(app.getByRole('article')).toContainText('FIN');
  expect(await englishLeft(app)).toEqual([]);

  for (const tab of await app.getByRole('tab').all()) {
    await tab.click();
    expect(await englishLeft(app)).toEqual([]);
  }
  peer.destroy();
});
