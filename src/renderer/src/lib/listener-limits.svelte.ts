/**
 * The limits a listener form sets (tcp.listen and unix.listen take the same three): what the user
 * typed, its problems, and the values the engine gets. The idle time is typed in seconds, which is
 * how people think of it; the contract takes milliseconds.
 */
import {
  HALF_CLOSED_IDLE_MS_DEFAULT,
  KEEP_CLOSED_DEFAULT,
  MAX_CONNECTIONS_DEFAULT,
  type CommandInput,
} from '../../../shared/contract';
import { checkHalfClosedIdleSeconds, checkKeepClosed, checkMaxConnections } from './validate';

export type ListenerLimitValues = Required<
  Pick<CommandInput<'tcp.listen'>, 'maxConnections' | 'halfClosedIdleMs' | 'keepClosed'>
>;

export class ListenerLimitsInput {
  maxConnections = $state(String(MAX_CONNECTIONS_DEFAULT));
  idleSeconds = $state(String(HALF_CLOSED_IDLE_MS_DEFAULT / 1000));
  keepClosed = $state(String(KEEP_CLOSED_DEFAULT));

  readonly problems = $derived({
    maxConnections: checkMaxConnections(this.maxConnections),
    idleSeconds: checkHalfClosedIdleSeconds(this.idleSeconds),
    keepClosed: checkKeepClosed(this.keepClosed),
  });
  readonly valid = $derived(Object.values(this.problems).every((p) => p === null));

  /** What tcp.listen / unix.listen get; only meaningful while `valid`. */
  values(): ListenerLimitValues {
    return {
      maxConnections: Number(this.maxConnections),
      halfClosedIdleMs: Number(this.idleSeconds) * 1000,
      keepClosed: Number(this.keepClosed),
    };
  }
}
