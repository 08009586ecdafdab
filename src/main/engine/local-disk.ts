/**
 * Whether a folder is on one of the file systems a machine keeps its own disks on, where a write
 * into the page cache usually returns in microseconds. Not always: a frozen file system
 * (`fsfreeze`, some backup and snapshot tools) or a dying disk can hold one for much longer, so
 * the capture log writes only small batches inline and watches how long they take
 * (InlineWriteGuard). A network or user-space file system (NFS, SMB, FUSE, 9p, virtiofs…) can
 * hang writes for minutes as a matter of course, and removable media (vfat, exFAT) are slow:
 * their writes always go to the thread pool.
 */
import fs from 'node:fs';

/** statfs(2) f_type magic numbers of Linux's local disk file systems (linux/magic.h). */
const LOCAL_FILE_SYSTEMS = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0xf2f52010, // f2fs
  0x01021994, // tmpfs
  0x794c7630, // overlayfs (containers)
  0x2fc12fc1, // zfs
]);

/** Linux only: elsewhere statfs's types are not these numbers, so the answer is "not known". */
export function isLocalDisk(folder: string): boolean {
  if (process.platform !== 'linux') return false;
  try {
    return LOCAL_FILE_SYSTEMS.has(fs.statfsSync(folder).type);
  } catch {
    return false;
  }
}
