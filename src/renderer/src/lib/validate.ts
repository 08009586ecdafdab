/**
 * Form checks that mirror the contract's schemas, so a mistake is pointed at the field before the
 * command is sent. The router still validates everything; these only make the UI faster to use.
 * Each check returns a catalog key (or null when the value is fine).
 */
import {
  HALF_CLOSED_IDLE_MS_MAX,
  KEEP_CLOSED_MAX,
  MAX_CONNECTIONS_MAX,
  RECEIVE_BUFFER_MAX,
  RECEIVE_BUFFER_MIN,
  hostSchema,
} from '../../../shared/contract';
import { parseByteSize } from '../../../shared/byte-size';
import {
  BACKLOG_MAX,
  HOST_LENGTH_MAX,
  PORT_MAX,
  SOCKET_PATH_LENGTH_MAX,
  TIMEOUT_MS_MAX,
  TIMEOUT_MS_MIN,
} from '../../../shared/domain';
import type { MessageKey } from '../i18n/en';

/** The contract decides what a host is; this only picks the sentence that says why not. */
export function checkHost(host: string): MessageKey | null {
  if (host.trim().length === 0) return 'validate.hostEmpty';
  if (host.length > HOST_LENGTH_MAX) return 'validate.hostTooLong';
  if (!hostSchema.safeParse(host).success) return 'validate.hostChars';
  return null;
}

function wholeNumber(text: string): number | null {
  if (!/^\s*\d+\s*$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/** Listeners may ask for port 0 (any free port); a destination may not. */
export function checkPort(text: string, allowZero: boolean): MessageKey | null {
  const n = wholeNumber(text);
  const min = allowZero ? 0 : 1;
  if (n === null || n < min || n > PORT_MAX)
    return allowZero ? 'validate.portRangeListen' : 'validate.portRangeConnect';
  return null;
}

export function checkBacklog(text: string): MessageKey | null {
  const n = wholeNumber(text);
  return n === null || n > BACKLOG_MAX ? 'validate.backlog' : null;
}

export function checkTimeout(text: string): MessageKey | null {
  const n = wholeNumber(text);
  return n === null || n < TIMEOUT_MS_MIN || n > TIMEOUT_MS_MAX ? 'validate.timeout' : null;
}

/** A listener's limits, as the contract bounds them; the idle time is typed in seconds. */
export function checkMaxConnections(text: string): MessageKey | null {
  const n = wholeNumber(text);
  return n === null || n < 1 || n > MAX_CONNECTIONS_MAX ? 'validate.maxConnections' : null;
}

export function checkHalfClosedIdleSeconds(text: string): MessageKey | null {
  const n = wholeNumber(text);
  return n === null || n * 1000 > HALF_CLOSED_IDLE_MS_MAX ? 'validate.halfClosedIdle' : null;
}

export function checkKeepClosed(text: string): MessageKey | null {
  const n = wholeNumber(text);
  return n === null || n > KEEP_CLOSED_MAX ? 'validate.keepClosed' : null;
}

/** A UDP socket's SO_RCVBUF ask: bytes or a size such as "8 MiB"; empty is the default. */
export function checkReceiveBuffer(text: string): MessageKey | null {
  if (text.trim() === '') return null;
  const n = parseByteSize(text);
  return n === null || n < RECEIVE_BUFFER_MIN || n > RECEIVE_BUFFER_MAX
    ? 'validate.receiveBuffer'
    : null;
}

export function checkPath(path: string): MessageKey | null {
  if (path.length === 0) return 'validate.pathEmpty';
  if (path.length > SOCKET_PATH_LENGTH_MAX) return 'validate.pathTooLong';
  if (path.includes('\0')) return 'validate.pathNul';
  return null;
}
