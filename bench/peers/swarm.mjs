// Many peers in one process of their own, driven by JSON commands on stdin, one per line; each
// command is answered by one JSON line on stdout. The process leaves when stdin closes, so it
// cannot outlive the benchmark that started it.
//
//   {"cmd":"open","port":P,"count":N,"window":W}  hold N connections open (W connects in flight)
//   {"cmd":"closeAll"}                             FIN every held connection, wait until closed
//   {"cmd":"cycle","port":P,"count":N,"batch":B}   N connect/send/close cycles, B at a time
//
// Every connection sends one short greeting, so the receiver captures something per connection.
import net from 'node:net';
import readline from 'node:readline';

const COMMAND_TIMEOUT_MS = 120_000;
const held = [];

function reply(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Connects one socket; resolves with it (or null on error) once the handshake is done. */
function connectOne(port, index) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.write(`hello ${index}\n`);
      resolve(socket);
    });
    socket.once('error', () => resolve(null));
    socket.on('error', () => undefined);
    socket.resume();
  });
}

/** Runs `count` tasks with at most `window` in flight. */
async function pool(count, window, task) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
}

function closeGracefully(socket) {
  return new Promise((resolve) => {
    if (socket.closed) return resolve();
    socket.once('close', () => resolve());
    socket.end();
  });
}

async function open({ port, count, window = 256 }) {
  const started = performance.now();
  let errors = 0;
  await pool(count, window, async (i) => {
    const socket = await connectOne(port, i);
    if (socket) held.push(socket);
    else errors += 1;
  });
  return { opened: count - errors, errors, ms: performance.now() - started, held: held.length };
}

async function closeAll() {
  const started = performance.now();
  const sockets = held.splice(0);
  await Promise.all(sockets.map(closeGracefully));
  return { closed: sockets.length, ms: performance.now() - started };
}

async function cycle({ port, count, batch = 500 }) {
  const started = performance.now();
  let errors = 0;
  for (let done = 0; done < count; done += batch) {
    const size = Math.min(batch, count - done);
    const sockets = await Promise.all(
      Array.from({ length: size }, (_, i) => connectOne(port, done + i)),
    );
    errors += sockets.filter((s) => s === null).length;
    await Promise.all(sockets.filter((s) => s !== null).map(closeGracefully));
  }
  return { cycled: count - errors, errors, ms: performance.now() - started };
}

const handlers = { open, closeAll, cycle };

const lines = readline.createInterface({ input: process.stdin });
// Commands run one after another, in the order they were sent.
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      reply({ ok: false, error: `not JSON: ${line}` });
      return;
    }
    const handler = handlers[message.cmd];
    if (!handler) {
      reply({ ok: false, cmd: message.cmd, error: 'unknown command' });
      return;
    }
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), COMMAND_TIMEOUT_MS);
    });
    try {
      const result = await Promise.race([handler(message), timeout]);
      reply({ ok: true, cmd: message.cmd, ...result });
    } catch (error) {
      reply({ ok: false, cmd: message.cmd, error: String(error?.message ?? error) });
    } finally {
      clearTimeout(timer);
    }
  });
});
lines.on('close', () => {
  for (const socket of held) socket.destroy();
  process.exit(0);
});
reply({ ok: true, cmd: 'ready' });
