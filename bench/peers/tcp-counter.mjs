// A plain node:net receiver in its own process, the baseline a user would write: it accepts one
// connection on 127.0.0.1:0 and counts its bytes; with --file PATH it also appends every chunk
// to that file through fs.createWriteStream, pausing the socket while the stream is full.
// Forked with an IPC channel: it sends {"port"} once listening, and {"bytes", "seconds",
// "cpuMicros"} (from the connection's first byte to its end; its own CPU time, user + system,
// over the same span) once the peer has ended and the file, if any, is closed. Then it exits.
//
//   fork(tcp-counter.mjs, ['--file', PATH])   (--file: optional)
import fs from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { file: { type: 'string' } } });
if (!process.send) {
  process.stderr.write('tcp-counter.mjs runs forked, with an IPC channel\n');
  process.exit(2);
}

const server = net.createServer((socket) => {
  const file = values.file ? fs.createWriteStream(values.file) : null;
  let bytes = 0;
  let start = 0;
  let cpu = process.cpuUsage();
  socket.on('data', (data) => {
    if (bytes === 0) {
      start = performance.now();
      cpu = process.cpuUsage();
    }
    bytes += data.byteLength;
    if (file && !file.write(data)) {
      socket.pause();
      file.once('drain', () => socket.resume());
    }
  });
  socket.on('end', () => {
    const done = () => {
      const seconds = (performance.now() - start) / 1000;
      const used = process.cpuUsage(cpu);
      process.send({ bytes, seconds, cpuMicros: used.user + used.system }, () => process.exit(0));
    };
    socket.end();
    if (file) file.end(done);
    else done();
  });
});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('disconnect', () => process.exit(0));
