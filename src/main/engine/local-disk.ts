/**
 * Whether a folder is on a disk of this machine, where a write into the page cache returns in
 * microseconds or, under pressure, in a bounded time. A network or user-space file system (NFS,
 * SMB, FUSE…) can hang a write for minutes, so its writes must never run on the engine's thread.
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
  0x4d44, // vfat
  0x5346544e, // ntfs
  0x7366746e, // ntfs3
  0x2011bab0, // exfat
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
