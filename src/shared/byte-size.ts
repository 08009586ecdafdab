/**
 * Sizes as people write them: "4GiB", "512 MB", "1.5g", "1048576". Binary multiples throughout
 * (a "GB" here is 1024³ bytes, as in most disk tools' limits); decimal points allowed.
 */
const multipliers: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Whole bytes, or null when the text is not a size. */
export function parseByteSize(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) return null;
  const multiplier = multipliers[(match[2] as string).toLowerCase()];
  if (multiplier === undefined) return null;
  const bytes = Math.round(Number(match[1]) * multiplier);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Compact sizes, "30.0 MiB", "512 B", "4.0 GiB": read back exactly enough by parseByteSize. */
export function formatByteSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}
