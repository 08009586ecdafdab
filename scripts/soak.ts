/**
 * npm run soak -- --seconds N [--seed S] [--rate MiB/s] [--connections N] [--capture-limit SIZE]
 *
 * Peers connect to the engine and the engine to them, and both send, half-close, reset and
 * vanish at random for N seconds, with hostile peers mixed in (connect-then-FIN floods against a
 * limited listener, a peer that never reads, over-long Unix socket paths, UDP bursts); then every
 * byte, handle and listener count must agree with what they did (test/soak/soak.ts). Prints what
 * happened and exits 1 on any disagreement. CI runs short soaks inside `npm test`
 * (test/unit/fault-soak.test.ts).
 *
 * --capture-limit (bytes, or a size such as 8MiB): run the capture as a ring under that limit and
 * check ring semantics instead of a capture that holds every byte.
 */
import { parseArgs } from 'node:util';
import { parseByteSize } from '../src/shared/byte-size';
import { MIN_CAPTURE_LIMIT } from '../src/shared/contract';
import { runSoak } from '../test/soak/soak';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    rate: { type: 'string', default: '8' },
    connections: { type: 'string', default: '24' },
    'capture-limit': { type: 'string' },
  },
});

function positive(name: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${name} needs a positive number, not ${text}`);
    process.exit(2);
  }
  return value;
}

function captureLimit(text: string | undefined): number | null {
  if (text === undefined) return null;
  const bytes = parseByteSize(text);
  if (bytes === null || bytes < MIN_CAPTURE_LIMIT) {
    console.error(
      `--capture-limit needs a size of at least ${MIN_CAPTURE_LIMIT} bytes, not ${text}`,
    );
    process.exit(2);
  }
  return bytes;
}

const report = await runSoak({
  seconds: positive('seconds', values.seconds),
  seed: values.seed === undefined ? undefined : Math.trunc(positive('seed', values.seed)),
  bytesPerSecond: positive('rate', values.rate) * 1024 * 1024,
  maxConnections: Math.trunc(positive('connections', values.connections)),
  captureLimitBytes: captureLimit(values['capture-limit']),
  log: (line) => console.log(line),
});

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
console.log(
  `\n${report.connections} connections, ${mib(report.bytesIn)} in, ${mib(report.bytesOut)} out, ` +
    `${report.datagramsIn} datagrams in, ${report.datagramsOut} out`,
);
if (report.capture.limitBytes !== null) {
  console.log(
    `capture limit ${mib(report.capture.limitBytes)}: folder peaked at ` +
      `${mib(report.capture.peakFolderBytes)}, ${mib(report.capture.deletedBytes)} deleted`,
  );
}
for (const [what, times] of Object.entries(report.happened).sort()) {
  console.log(`  ${String(times).padStart(6)}  ${what}`);
}
if (report.problems.length > 0) {
  console.log(`\n${report.problems.length} problems (seed ${report.seed}, --seed replays it):`);
  for (const problem of report.problems) console.log(`  - ${problem}`);
  process.exit(1);
}
console.log(`\nNo problems (seed ${report.seed}).`);
