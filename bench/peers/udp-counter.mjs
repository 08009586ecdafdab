// A plain node:dgram receiver in its own process, the baseline a user would write: it binds
// 127.0.0.1:0 and counts datagrams, nothing else. Forked with an IPC channel: it sends
// {"port", "recvBufferSize"} once bound, and answers each "count" with {"received",
// "cpuMicros"} (its own CPU time, user + system, since it started).
//
//   fork(udp-counter.mjs, ['--recv-buffer', BYTES])   (--recv-buffer: optional SO_RCVBUF ask)
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { 'recv-buffer': { type: 'string' } } });
const ask = values['recv-buffer'] === undefined ? undefined : Number(values['recv-buffer']);
if (!process.send) {
  process.stderr.write('udp-counter.mjs runs forked, with an IPC channel\n');
  process.exit(2);
}

const socket = dgram.createSocket(
  ask === undefined ? 'udp4' : { type: 'udp4', recvBufferSize: ask },
);
let received = 0;
socket.on('message', () => {
  received += 1;
});
socket.bind(0, '127.0.0.1', () => {
  process.send({ port: socket.address().port, recvBufferSize: socket.getRecvBufferSize() });
});
process.on('message', (message) => {
  if (message !== 'count') return;
  const cpu = process.cpuUsage();
  process.send({ received, cpuMicros: cpu.user + cpu.system });
});
process.on('disconnect', () => process.exit(0));
