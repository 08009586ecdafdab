// A plain node:dgram receiver in its own process, the baseline a user would write: it binds
// 127.0.0.1:0 and counts datagrams, nothing else. Forked with an IPC channel: it sends
// {"port", "recvBufferSize"} once bound, and answers each "count" with {"received",
// "cpuMicros"} (its own CPU time, user + system, since it started).
//
//   fork(udp-counter.mjs, ['--recv-buffer', BYTES])   (--recv-buffer: optional SO_RCVBUF ask)
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { 'recv-buffer': { type: 'string' }, keep: { type: 'boolean', default: false } },
});
const ask = values['recv-buffer'] === undefined ? undefined : Number(values['recv-buffer']);
if (!process.send) {
  process.stderr.write('udp-counter.mjs runs forked, with an IPC channel\n');
  process.exit(2);
}

const socket = dgram.createSocket(
  ask === undefined ? 'udp4' : { type: 'udp4', recvBufferSize: ask },
);
let received = 0;
if (values.keep) {
  // Slabs of 1 MiB with the times and ports of their datagrams; the oldest 64 are reused, so a
  // long run keeps the last 64 MiB, as a capture keeps a bounded window in memory.
  const SLAB_BYTES = 1 << 20;
  const SLABS = 64;
  const slabs = Array.from({ length: SLABS }, () => ({
    bytes: Buffer.allocUnsafe(SLAB_BYTES),
    sizes: new Uint32Array(SLAB_BYTES / 16),
    times: new Float64Array(SLAB_BYTES / 16),
    ports: new Uint16Array(SLAB_BYTES / 16),
    used: 0,
    rows: 0,
  }));
  let slabIndex = 0;
  let slab = slabs[0];
  socket.on('message', (message, rinfo) => {
    received += 1;
    const size = message.byteLength;
    if (slab.used + size > SLAB_BYTES || slab.rows === slab.sizes.length) {
      slabIndex = (slabIndex + 1) % SLABS;
      slab = slabs[slabIndex];
      slab.used = 0;
      slab.rows = 0;
    }
    message.copy(slab.bytes, slab.used);
    slab.used += size;
    slab.sizes[slab.rows] = size;
    slab.times[slab.rows] = performance.now();
    slab.ports[slab.rows] = rinfo.port;
    slab.rows += 1;
  });
} else {
  socket.on('message', () => {
    received += 1;
  });
}
socket.bind(0, '127.0.0.1', () => {
  process.send({ port: socket.address().port, recvBufferSize: socket.getRecvBufferSize() });
});
process.on('message', (message) => {
  if (message !== 'count') return;
  const cpu = process.cpuUsage();
  process.send({ received, cpuMicros: cpu.user + cpu.system });
});
process.on('disconnect', () => process.exit(0));
