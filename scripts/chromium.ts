/**
 * How this project starts Chromium (tests, benchmarks, screenshot): Debian's build, never a
 * downloaded one, with the flags that work headless and as root on these machines.
 */
export const chromiumExecutable = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
