/** What the fault tests need from the operating system: mounts, descriptor limits, handle counts. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './peers';

export interface Mounted {
  dir: string;
  unmount(): void;
}

function run(command: string, args: string[]): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`;
  return { ok: result.status === 0, output: output.trim() };
}

/** Unmounts even while something still has a file open there (lazily, as umount -l does). */
function unmount(dir: string): void {
  if (!run('umount', [dir]).ok) run('umount', ['-l', dir]);
}

/**
 * A tmpfs of `bytes` bytes: a real disk that fills up. Answers why not when mounting is not
 * permitted (a container without CAP_SYS_ADMIN, or not root).
 */
export function mountTmpfs(bytes: number): Mounted | string {
  const dir = tempDir();
  const result = run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  if (!result.ok) {
    fs.rmSync(dir, { recursive: true, force: true });
    return `mount -t tmpfs failed: ${result.output || 'no output'}`;
  }
  return {
    dir,
    unmount: () => {
      unmount(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Ext4Mount extends Mounted {
  /** Makes ext4 hit an error, which with errors=remount-ro turns the file system read-only. */
  failFileSystem(): void;
}

/**
 * A small ext4 file system on a loop device, mounted errors=remount-ro: ext4's
 * trigger_fs_error then makes it read-only under open files, the way a failing disk does.
 */
export function mountFailingExt4(bytes: number): Ext4Mount | string {
  const work = tempDir();
  const image = path.join(work, 'disk.img');
  const dir = path.join(work, 'mnt');
  fs.mkdirSync(dir);
  const cleanup = () => fs.rmSync(work, { recursive: true, force: true });
  fs.writeFileSync(image, '');
  fs.truncateSync(image, bytes);
  const made = run('mkfs.ext4', ['-q', '-F', image]);
  if (!made.ok) {
    cleanup();
    return `mkfs.ext4 failed: ${made.output || 'not installed'}`;
  }
  const mounted = run('mount', ['-o', 'loop,errors=remount-ro', image, dir]);
  if (!mounted.ok) {
    cleanup();
    return `mounting an ext4 image on a loop device failed: ${mounted.output || 'no output'}`;
  }
  const source = run('findmnt', ['-n', '-o', 'SOURCE', dir]).output;
  const trigger = `/sys/fs/ext4/${path.basename(source)}/trigger_fs_error`;
  const release = () => {
    unmount(dir);
    cleanup();
  };
  if (!fs.existsSync(trigger)) {
    release();
    return `${trigger} does not exist: this kernel cannot inject an ext4 error`;
  }
  return {
    dir,
    unmount: release,
    failFileSystem: () => fs.writeFileSync(trigger, '1'),
  };
}

/** The soft RLIMIT_NOFILE of this process, where /proc tells it. */
export function softFdLimit(): number {
  try {
    const limits = fs.readFileSync('/proc/self/limits', 'utf8');
    const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return Infinity;
  }
}

/** Open descriptors of a process (Linux), or undefined where /proc is not there. */
export function openFds(pid: number | 'self' = 'self'): number | undefined {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** What keeps the event loop alive, counted by kind (TCPSocketWrap, Timeout, FSReqCallback...). */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** The kinds whose counts differ between two snapshots, as `kind: before -> after`. */
export function resourceDifference(
  before: Record<string, number>,
  after: Record<string, number>,
): string[] {
  const kinds = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...kinds]
    .filter((kind) => (before[kind] ?? 0) !== (after[kind] ?? 0))
    .map((kind) => `${kind}: ${before[kind] ?? 0} -> ${after[kind] ?? 0}`);
}
