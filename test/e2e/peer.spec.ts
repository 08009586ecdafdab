/**
 * A peer the workbench did not write: python3's socket module on the other end of the wire.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connectTcp, expect, openTcpListener, pane, send, terminal, test } from './fixtures';

const client = `
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')
data = b''
while not data.endswith(b'bye'):
    chunk = s.recv(100)
    if not chunk: break
    data += chunk
print(data.decode(), flush=True)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
`;

test('a python3 client talks to a workbench listener', async ({ app }) => {
  const port = await openTcpListener(app);
  const python = spawn('python3', ['-c', client, String(port)]);
  const exited = once(python, 'exit');
  let output = '';
  python.stdout.on('data', (data: Buffer) => (output += data.toString()));

  await app.getByRole('treeitem', { level: 2 }).click();
  await expect(terminal(app)).toContainText('GET / HTTP/1.0\\r\\n');
  await send(app, 'hello from the workbench, bye');
  await expect(pane(app)).toContainText('← FIN (read returns 0)');
  await app.getByRole('button', { name: 'Close', exact: true }).click();
  const [code] = await exited;
  expect(code).toBe(0);
  expect(output.trim()).toBe('hello from the workbench, bye');
});

const server = `
import socket
l = socket.socket()
l.bind(('127.0.0.1', 0))
l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
data = c.recv(100)
c.sendall(data.upper())
c.close()
`;

test('a workbench client talks to a python3 server', async ({ app }) => {
  const python = spawn('python3', ['-c', server]);
  const exited = once(python, 'exit');
  const [line] = (await once(python.stdout, 'data')) as [Buffer];
  await connectTcp(app, Number(line.toString().trim()));
  await send(app, 'shout this');
  await expect(terminal(app)).toContainText('SHOUT THIS');
  await expect(pane(app)).toContainText('half-closed (peer sent FIN)');
  const [code] = await exited;
  expect(code).toBe(0);
});
