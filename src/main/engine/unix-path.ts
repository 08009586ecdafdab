/**
 * A Unix-domain socket's name lives in sockaddr_un.sun_path, a fixed-size array: 108 bytes on
 * Linux, 104 on macOS and the BSDs, the terminating NUL included. libuv cuts a longer path to
 * fit without a word, so a listener binds a shorter name than the one asked for, and a connect to
 * a *different* long name that shares those first bytes reaches it. The contract's schema stays
 * platform-neutral; the engine knows the platform and refuses such a path with the limit named.
 */
import { WorkbenchError } from '../../shared/errors';

/** sizeof(sockaddr_un.sun_path) in bytes, NUL included, where it is known. */
const sunPathBytes: Partial<Record<NodeJS.Platform, number>> = {
  linux: 108,
  android: 108,
  sunos: 108,
  darwin: 104,
  freebsd: 104,
  openbsd: 104,
  netbsd: 104,
  aix: 1023,
};

const platformNames: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'Linux',
  android: 'Android',
  sunos: 'Solaris',
  darwin: 'macOS',
  freebsd: 'FreeBSD',
  openbsd: 'OpenBSD',
  netbsd: 'NetBSD',
  aix: 'AIX',
};

/**
 * The longest socket path this platform takes, in bytes (UTF-8, without the NUL); null where
 * paths are not sun_path names (Windows named pipes) or the size is not known.
 */
export function unixPathLimitBytes(platform: NodeJS.Platform = process.platform): number | null {
  const size = sunPathBytes[platform];
  // Linux also takes a name that fills all 108 bytes without a NUL, but unix(7) advises against
  // it and other programs cannot name it: the portable limit leaves room for the NUL.
  return size === undefined ? null : size - 1;
}

/** Throws ENAMETOOLONG, naming the limit, for a path the kernel would not take whole. */
export function checkUnixSocketPath(
  path: string,
  operation: 'listen' | 'connect',
  platform: NodeJS.Platform = process.platform,
): void {
  const limit = unixPathLimitBytes(platform);
  if (limit === null) return;
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes <= limit) return;
  const consequence =
    operation === 'listen'
      ? 'the listener would bind a shorter name than this one'
      : 'the connection could reach a different socket whose name starts the same way';
  throw new WorkbenchError(
    'ENAMETOOLONG',
    `The socket path is ${bytes} bytes long (UTF-8); ${platformNames[platform] ?? platform} ` +
      `allows at most ${limit} bytes (sun_path holds ${limit + 1} with the terminating NUL). ` +
      `Cut short, ${consequence}: choose a shorter path (ENAMETOOLONG)`,
  );
}
