/**
 * Runs one benchmark part in this (fresh) process: `node --import tsx --expose-gc bench/part.ts
 * NAME [OPTIONS_JSON]`. Progress goes to stderr; the result is the one stdout line that starts
 * with RESULT_PREFIX. A fresh process per part keeps one part's heap and handles out of the
 * next part's figures.
 */
export const RESULT_PREFIX = 'BENCH_RESULT ';

const parts = {
  throughput: () => import('./throughput'),
  scale: () => import('./scale'),
  memory: () => import('./memory'),
  datagrams: () => import('./datagrams'),
  ui: () => import('./ui'),
  'serve-fairness': () => import('./serve-fairness'),
  search: () => import('./search'),
  autoreply: () => import('./autoreply'),
  repeat: () => import('./repeat'),
  export: () => import('./export'),
  kernel: () => import('./kernel'),
  workspace: () => import('./workspace'),
} as const;

export type PartName = keyof typeof parts;
export const partNames = Object.keys(parts) as PartName[];

async function main(): Promise<void> {
  const [name, optionsJson] = process.argv.slice(2);
  if (!name || !Object.hasOwn(parts, name)) {
    process.stderr.write(`usage: bench/part.ts ${partNames.join('|')} [OPTIONS_JSON]\n`);
    process.exit(2);
  }
  const part = await parts[name as PartName]();
  const result = await part.run(JSON.parse(optionsJson ?? '{}'));
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
  // Exit at once: a part must not hang on a handle it forgot, and its figures are in.
  process.exit(0);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
    process.exit(1);
  });
}
