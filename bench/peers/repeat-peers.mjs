// Peers for bench/repeat.ts, each in its own process. Plain JavaScript so they start fast.
//
//   node repeat-peers.mjs receive
//       listen on 127.0.0.1:0, print {"port":P}; count bytes from every connection; when stdin
//       closes print {"bytes":N} and leave
//   node repeat-peers.mjs send-interval --port P --ms 1 --seconds S --size B
//       what a user writes without a workbench: setInterval(write, ms) for S seconds to
//       127.0.0.1:P, B bytes each time; print {"sends":N,"planned":M}
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    port: { type: 'string' },
    ms: { type: 'string', default: '1' },
    seconds: { type: 'string' },
    size: { type: 'string', default: '8' },
  },
});
const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

if (positionals[0] === 'receive') {
  let bytes = 0;
  const server = net.createServer((socket) => {
    socket.on('data', (data) => (bytes += data.byteLength));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1', () => say({ port: server.address().port }));
  process.stdin.resume();
  process.stdin.on('end', () => {
    say({ bytes });
    process.exit(0);
  });
} else if (positionals[0] === 'send-interval') {
  const ms = Number(values.ms);
  const seconds = Number(values.seconds);
  const payload = Buffer.alloc(Number(values.size), 0x61);
  const socket = net.connect({ host: '127.0.0.1', port: Number(values.port) }, () => {
    let sends = 0;
    const timer = setInterval(() => {
      socket.write(payload);
      sends += 1;
    }, ms);
    setTimeout(() => {
      clearInterval(timer);
      socket.end(() => {
        say({ sends, planned: Math.round((seconds * 1000) / ms) });
        process.exit(0);
      });
    }, seconds * 1000);
  });
} else {
  process.stderr.write(
    'usage: node repeat-peers.mjs receive | send-interval --port P --seconds S\n',
  );
  process.exit(2);
}
