/**
 * Every failure that crosses the contract is a plain `{ code, message }` value: a stable code for
 * programs and tests, a sentence for people. The engine throws `WorkbenchError`; the router turns
 * it (or any Node system error) into a `UserError`.
 */
import { z } from 'zod';

export const errorCodes = [
  // Input rejected by the router before it reaches the engine.
  'UNKNOWN_COMMAND',
  'INVALID_INPUT',
  'PORT_OUT_OF_RANGE',
  'INVALID_HOST',
  'INVALID_PATH',
  'INVALID_ID',
  'BAD_HEX',
  'BAD_ESCAPE',
  'BAD_BASE64',
  'UNENCODABLE_TEXT',
  'PAYLOAD_TOO_LARGE',
  // A browser-mode frame refused before parsing: nested too deep, or too many values.
  'FRAME_TOO_DEEP',
  'FRAME_TOO_MANY_VALUES',
  // Engine state.
  'UNKNOWN_ENDPOINT',
  'WRONG_ENDPOINT_KIND',
  'NOT_OPEN',
  'NOT_WRITABLE',
  'STALE_SOCKET_FILE',
  // A connection's send queue is at its limit: the peer is not reading.
  'SEND_QUEUE_FULL',
  // Capture: bytes deleted by the capture limit; capture stopped by the free-space floor.
  'CAPTURE_GONE',
  'CAPTURE_FLOOR',
  // Feeds and capture queries: a number already in use or unknown; a query the user stopped; a
  // regex RE2 cannot take.
  'FEED_IN_USE',
  'TOO_MANY_FEEDS',
  'TOO_MANY_QUERIES',
  'CANCELLED',
  'BAD_PATTERN',
  // Automation: a checksum range outside the payload; an unknown send job; an unknown saved
  // payload; a library file that is not one.
  'BAD_CHECKSUM',
  'UNKNOWN_JOB',
  'REPLY_RATE_LIMIT',
  'UNKNOWN_ITEM',
  'BAD_LIBRARY_FILE',
  // Workspaces, exports and opened captures: a workspace file that is not one (or is from a
  // newer app); a file that would be overwritten and is not ours; a capture file or folder that
  // cannot be opened; an opened capture cannot send.
  'BAD_WORKSPACE_FILE',
  'WORKSPACE_TOO_NEW',
  'WOULD_OVERWRITE',
  'BAD_CAPTURE_FILE',
  'READ_ONLY',
  // Operating-system errors, named after their errno.
  'EADDRINUSE',
  'EADDRNOTAVAIL',
  'EACCES',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOENT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EMFILE',
  'ENAMETOOLONG',
  'EINVAL',
  'EMSGSIZE',
  'ENOSPC',
  'EDQUOT',
  'EFBIG',
  'EROFS',
  'EIO',
  'EPERM',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export const userErrorSchema = z.object({
  code: z.enum(errorCodes),
  message: z.string(),
  /** Where in the user's input the problem is (0-based character index), for payload errors. */
  position: z.number().optional(),
});
export type UserError = z.infer<typeof userErrorSchema>;

export class WorkbenchError extends Error {
  readonly code: ErrorCode;
  readonly position: number | undefined;

  constructor(code: ErrorCode, message: string, position?: number) {
    super(message);
    this.name = 'WorkbenchError';
    this.code = code;
    this.position = position;
  }

  toUserError(): UserError {
    return this.position === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, position: this.position };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (errorCodes as readonly string[]).includes(value);
}

/** Where a system error happened, so the sentence can name the address or path. */
export interface ErrorContext {
  address?: string;
  operation?: 'listen' | 'connect' | 'bind' | 'send' | 'write' | 'read';
}

/**
 * Turns a Node system error (`err.code` = errno name) into a sentence a person understands,
 * e.g. "Nothing is listening on 127.0.0.1:9 (ECONNREFUSED)".
 */
export function describeSystemError(
  errno: string | undefined,
  fallback: string,
  context: ErrorContext = {},
): UserError {
  const where = context.address ?? 'that address';
  const sentences: Partial<Record<ErrorCode, string>> = {
    EADDRINUSE: `${where} is already in use by another socket`,
    EADDRNOTAVAIL: `${where} is not an address of this machine`,
    EACCES:
      context.operation === 'listen' || context.operation === 'bind'
        ? `${where} needs elevated privileges (ports below 1024 or a protected path)`
        : `Permission denied for ${where}`,
    ECONNREFUSED: `Nothing is listening on ${where}`,
    ECONNRESET: `The peer reset the connection`,
    ETIMEDOUT: `No answer from ${where} in time`,
    ENOENT: `No socket exists at ${where}`,
    ENOTFOUND: `The host name in ${where} could not be resolved`,
    EHOSTUNREACH: `No route to the host of ${where}`,
    ENETUNREACH: `The network of ${where} is unreachable`,
    EPIPE: `The peer is no longer reading (broken pipe)`,
    EMFILE: `The process has run out of file descriptors`,
    ENAMETOOLONG: `The socket path is too long for this system`,
    EINVAL: `The operating system rejected the arguments for ${where}`,
    EMSGSIZE: `The datagram is too large to send to ${where}`,
    ENOSPC: `The disk holding ${where} is full`,
    EDQUOT: `The disk quota for ${where} is used up`,
    EFBIG: `${where} has reached the largest file size allowed`,
    EROFS: `The file system holding ${where} is read-only`,
    EIO: `The disk reported an input/output error for ${where}`,
    EPERM: `The operating system does not permit this on ${where}`,
  };
  if (errno && isErrorCode(errno)) {
    const sentence = sentences[errno];
    if (sentence) return { code: errno, message: `${sentence} (${errno})` };
  }
  return { code: 'INTERNAL', message: errno ? `${fallback} (${errno})` : fallback };
}
