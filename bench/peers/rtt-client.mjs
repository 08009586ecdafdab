// A peer in its own process for the auto-reply benchmark: connects to 127.0.0.1:PORT, then N
// times writes MESSAGE and waits for REPLY_BYTES bytes back, timing each round trip. Prints one
// JSON line, {"us":[…]}: each round trip in microseconds, warm-up rounds left out. The same
// client times the workbench's rule and a python3 echo server, so the two are measured alike.
//
//   node rtt-client.mjs --port P --count N --warmup W --message TEXT --reply-bytes B
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    count: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '200' },
    message: { type: 'string', default: 'PING\n' },
    'reply-bytes': { type: 'string', default: '5' },
  },
});
const port = Number(values.port);
const count = Number(values.count);
const warmup = Number(values.warmup);
const message = Buffer.from(values.message);
const replyBytes = Number(values['reply-bytes']);

const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
socket.on('error', (error) => {
  process.stderr.write(`rtt-client: ${error.message}\n`);
  process.exit(1);
});
await new Promise((resolve) => socket.once('connect', resolve));

const us = [];
let pending = 0;
let started = 0n;
let round = 0;
let done;
const finished = new Promise((resolve) => (done = resolve));

function next() {
  if (round === warmup + count) return done();
  pending = replyBytes;
  started = process.hrtime.bigint();
  socket.write(message);
}

socket.on('data', (data) => {
  pending -= data.length;
  if (pending > 0) return;
  const elapsed = Number(process.hrtime.bigint() - started) / 1000;
  if (round >= warmup) us.push(elapsed);
  round += 1;
  next();
});
next();
await finished;
process.stdout.write(`${JSON.stringify({ us })}\n`);
socket.end();
process.exit(0);
