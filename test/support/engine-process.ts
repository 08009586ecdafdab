/**
 * An Engine behind its router in a process of its own, so a test can starve it of file
 * descriptors or kill it without touching the test runner. It speaks the browser-mode framing
 * (src/shared/wire.ts) over stdio, one message a line: calls on stdin, results on stdout.
 * Closing stdin disposes the engine and ends the process.
 *
 * Run with tsx: node --import tsx test/support/engine-process.ts
 */
import readline from 'node:readline';
import { Engine, type EngineOptions } from '../../src/main/engine/engine';
import { createRouter } from '../../src/main/router';
import {
  decodeWire,
  encodeWire,
  type ClientMessage,
  type ServerMessage,
} from '../../src/shared/wire';

// Anything else a test wants its engine made with (startEngineProcess's `engine`), as JSON.
const testOptions = JSON.parse(
  process.env['SOCKET_WORKBENCH_TEST_ENGINE'] || '{}',
) as EngineOptions;
const engine = new Engine({
  ...testOptions,
  // The same variable as the desktop app's: a test that reads the capture folder names it.
  captureDir: process.env['SOCKET_WORKBENCH_CAPTURE_DIR'] || undefined,
});
const router = createRouter(engine);

function send(message: ServerMessage | { t: 'ready'; pid: number }): void {
  process.stdout.write(`${encodeWire(message as ServerMessage)}\n`);
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const message = decodeWire(line) as ClientMessage;
  if (message.t !== 'call') return;
  void router.invoke(message.command, message.input).then((result) => {
    send({ t: 'result', id: message.id, result });
  });
});
lines.on('close', () => {
  void engine.dispose().then(() => process.exit(0));
});
send({ t: 'ready', pid: process.pid });
