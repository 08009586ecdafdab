/**
 * npm run soak -- --seconds N [--seed S] [--rate MiB/s] [--connections N]
 *
 * Peers connect to the engine and the engine to them, and both send, half-close, reset and
 * vanish at random for N seconds; then every byte, handle and listener count must agree with what
 * they did (test/soak/soak.ts). Prints what happened and exits 1 on any disagreement. CI runs a
 * short soak inside `npm test` (test/unit/fault-soak.test.ts).
 */
import { parseArgs } from 'node:util';
import { runSoak } from '../test/soak/soak';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    rate: { type: 'string', default: '8' },
    connections: { type: 'string', default: '24' },
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

const report = await runSoak({
  seconds: positive('seconds', values.seconds),
  seed: values.seed === undefined ? undefined : Math.trunc(positive('seed', values.seed)),
  bytesPerSecond: positive('rate', values.rate) * 1024 * 1024,
  maxConnections: Math.trunc(positive('connections', values.connections)),
  log: (line) => console.log(line),
});

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
console.log(
  `\n${report.connections} connections, ${mib(report.bytesIn)} in, ${mib(report.bytesOut)} out, ` +
    `${report.datagramsIn} datagrams in, ${report.datagramsOut} out`,
);
for (const [what, times] of Object.entries(report.happened).sort()) {
  console.log(`  ${String(times).padStart(6)}  ${what}`);
}
if (report.problems.length > 0) {
  console.log(`\n${report.problems.length} problems (seed ${report.seed}, --seed replays it):`);
  for (const problem of report.problems) console.log(`  - ${problem}`);
  process.exit(1);
}
console.log(`\nNo problems (seed ${report.seed}).`);
