// A peer in its own process: connects to 127.0.0.1:PORT and writes as fast as the socket takes
// bytes, then sends FIN. Plain JavaScript, so that it starts in ~40 ms without a loader.
//
//   node flood.mjs --port P --bytes N            write N bytes, FIN, leave when the peer closes
//   node flood.mjs --port P --bytes N --tail T   the same, and the text T after the N bytes
//   node flood.mjs --port P --seconds S --wait --hold
//       print {"connected":localPort}, wait for a line on stdin, write for S seconds, print
//       {"sent","ms","endedAt"}, keep the connection open until stdin closes (a view can then catch up)
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    bytes: { type: 'string' },
    seconds: { type: 'string' },
    chunk: { type: 'string', default: String(256 * 1024) },
    wait: { type: 'boolean', default: false },
    hold: { type: 'boolean', default: false },
    tail: { type: 'string' },
  },
});
const port = Number(values.port);
const total = values.bytes === undefined ? Infinity : Number(values.bytes);
const durationMs = values.seconds === undefined ? Infinity : Number(values.seconds) * 1000;
const chunkSize = Number(values.chunk);
if (!(port > 0) || !(chunkSize > 0) || (total === Infinity && durationMs === Infinity)) {
  process.stderr.write(
    'usage: node flood.mjs --port P (--bytes N | --seconds S) [--wait] [--hold]\n',
  );
  process.exit(2);
}

// One buffer written again and again: the payload's content does not matter to TCP, and
// allocating 1 GiB would measure the allocator, not the socket.
const chunk = Buffer.alloc(chunkSize);
for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;

const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

function flood(socket) {
  const started = performance.now();
  const deadline = started + durationMs;
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      // Checking the clock every 256 KiB costs nothing next to the write itself.
      if (performance.now() >= deadline) break;
      const size = Math.min(chunkSize, total - sent);
      sent += size;
      if (!socket.write(size === chunkSize ? chunk : chunk.subarray(0, size))) {
        socket.once('drain', pump);
        return;
      }
    }
    // Report once the kernel has taken every byte (writes complete in order). `endedAt` is wall
    // time in ms (sub-ms precision), comparable with the same clock in another process.
    const report = () =>
      say({
        sent,
        ms: performance.now() - started,
        endedAt: performance.timeOrigin + performance.now(),
      });
    const last = values.tail === undefined ? Buffer.alloc(0) : Buffer.from(values.tail);
    if (values.hold) socket.write(last, report);
    else socket.end(last, report);
  };
  pump();
}

const socket = net.connect({ host: '127.0.0.1', port });
socket.on('error', (error) => {
  process.stderr.write(`flood peer: ${error.message}\n`);
  process.exit(1);
});
socket.on('connect', () => {
  if (!values.wait) {
    flood(socket);
    return;
  }
  say({ connected: socket.localPort });
  process.stdin.once('data', () => flood(socket));
});
// The receiver closes its side after our FIN; leave once both directions are done.
socket.on('close', () => process.exit(0));
socket.resume();
if (values.hold) process.stdin.on('end', () => process.exit(0));
// Never outlive a benchmark that died without closing its side.
setTimeout(() => process.exit(3), 300_000).unref();
