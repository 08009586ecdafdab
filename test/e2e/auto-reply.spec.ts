/**
 * Auto-reply rules from the UI: a rule added in a listener's pane answers a python3 client with
 * the exact bytes, counts its hits, and a regex rule fills in its groups.
 */
import { spawn } from 'node:child_process';
import type { Locator, Page } from '@playwright/test';
import { expect, openTcpListener, pane, test } from './fixtures';

/** The rules panel of the selected endpoint. */
function rules(page: Page): Locator {
  return pane(page).getByRole('region', { name: 'Auto-reply rules' });
}

async function addRule(
  page: Page,
  rule: { name: string; mode: string; match: string; reply: string },
): Promise<void> {
  await rules(page).getByRole('button', { name: 'Add rule' }).click();
  const form = rules(page).getByRole('form', { name: 'New rule' });
  await form.getByLabel('Rule name (optional)').fill(rule.name);
  await form.getByLabel('Match', { exact: true }).selectOption({ label: rule.mode });
  if (rule.mode === 'Regex') await form.getByLabel('Pattern', { exact: true }).fill(rule.match);
  else await form.getByLabel('Bytes to match').fill(rule.match);
  await form.getByLabel('Reply', { exact: true }).fill(rule.reply);
  await form.getByRole('button', { name: 'Save rule' }).click();
  await expect(form).toBeHidden();
}

/**
 * A python3 client: sends each message, reads until the reply so far is as long as expected,
 * then prints everything it received as hex.
 */
function pythonClient(port: number, messages: string[], replyBytes: number): Promise<string> {
  const script = [
    'import socket, sys',
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))",
    's.settimeout(10)',
    "got = b''",
    'msgs = sys.argv[3:]',
    'want = int(sys.argv[2])',
    'for i, m in enumerate(msgs):',
    '    s.sendall(m.encode())',
    // Each message waits for its reply, so each is a read of its own at the workbench.
    '    while len(got) < want * (i + 1) // len(msgs):',
    '        got += s.recv(100)',
    'print(got.hex(), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', script, String(port), String(replyBytes), ...messages]);
  let out = '';
  let err = '';
  child.stdout.on('data', (data: Buffer) => (out += data.toString()));
  child.stderr.on('data', (data: Buffer) => (err += data.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`python3 exited ${code}: ${err}`)),
    ),
  );
}

test('a contains rule answers a python3 client and counts its hits', async ({ app }) => {
  const port = await openTcpListener(app);
  await expect(rules(app)).toContainText('a message split across reads is not matched as one');
  await addRule(app, {
    name: 'ping',
    mode: 'Contains',
    match: 'PING',
    reply: 'PONG {{counter}}\\r\\n',
  });
  const rule = rules(app).getByRole('listitem', { name: 'ping' });
  await expect(rule).toContainText('Hits: 0');

  const hex = await pythonClient(port, ['PING', 'PING'], 'PONG 1\r\nPONG 2\r\n'.length);
  expect(Buffer.from(hex, 'hex').toString('latin1')).toBe('PONG 1\r\nPONG 2\r\n');
  await expect(rule).toContainText('Hits: 2');
});

test('a regex rule replies with its groups; a disabled rule stays quiet', async ({ app }) => {
  const port = await openTcpListener(app);
  await addRule(app, {
    name: 'set',
    mode: 'Regex',
    match: 'SET (\\w+)=(\\d+)',
    reply: 'OK {{$1}} is {{$2}}\\n',
  });
  await addRule(app, { name: 'other', mode: 'Contains', match: 'SET', reply: 'never' });
  // Only the first matching rule replies by default; switch the second off as well.
  await rules(app).getByRole('checkbox', { name: 'Enabled: other' }).uncheck();
  await expect(rules(app).getByRole('checkbox', { name: 'Enabled: other' })).not.toBeChecked();

  const reply = 'OK speed is 42\n';
  const hex = await pythonClient(port, ['SET speed=42'], reply.length);
  expect(Buffer.from(hex, 'hex').toString('latin1')).toBe(reply);
  await expect(rules(app).getByRole('listitem', { name: 'set' })).toContainText('Hits: 1');
  await expect(rules(app).getByRole('listitem', { name: 'other' })).toContainText('Hits: 0');

  // A pattern RE2 does not take is refused in the form, naming the rule.
  await rules(app).getByRole('button', { name: 'Edit rule set' }).click();
  const form = rules(app).getByRole('form', { name: 'Edit rule' });
  await form.getByLabel('Pattern', { exact: true }).fill('SET (');
  await form.getByRole('button', { name: 'Save rule' }).click();
  await expect(form.getByRole('alert')).toContainText('Rule "set"');
});
