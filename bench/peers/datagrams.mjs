// A UDP peer in its own process: sends COUNT datagrams of SIZE bytes to 127.0.0.1:PORT, in
// bursts that leave the receiver a moment between them (a loopback receive buffer overflows
// otherwise, and what the kernel drops says nothing about the receiver), then prints {"sent"}.
//
//   node datagrams.mjs --port P --count N [--size S]
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    count: { type: 'string' },
    size: { type: 'string', default: '64' },
  },
});
const port = Number(values.port);
const count = Number(values.count);
const size = Number(values.size);
if (!(port > 0) || !(count > 0) || !(size >= 0)) {
  process.stderr.write('usage: node datagrams.mjs --port P --count N [--size S]\n');
  process.exit(2);
}

const BURST = 32;
const socket = dgram.createSocket('udp4');
const payload = Buffer.alloc(size, 0x5a);
let sent = 0;
function burst() {
  let pending = 0;
  for (let i = 0; i < BURST && sent < count; i++, sent++) {
    pending += 1;
    socket.send(payload, port, '127.0.0.1', () => {
      pending -= 1;
      if (pending > 0) return;
      if (sent < count) setImmediate(burst);
      else {
        process.stdout.write(`${JSON.stringify({ sent })}\n`);
        socket.close();
      }
    });
  }
}
burst();
setTimeout(() => process.exit(3), 300_000).unref();
