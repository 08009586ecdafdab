/**
 * What automation (send jobs, auto-reply rules) may do with the engine's endpoints: the same
 * sends a user makes, a backpressure check, and telling the views. Automation modules get this,
 * never the Engine itself, so what they can touch is written down here.
 */
import type { AnyEvent } from '../../shared/api';
import type {
  AutomationTransition,
  EndpointInfo,
  SendTarget,
  ValidInput,
} from '../../shared/contract';
import type { UserError } from '../../shared/errors';
import type { ValidPayload } from '../../shared/payload';

/** A send target after validation. */
export type ValidSendTarget = ValidInput<'send.repeat'>['target'];
export type { SendTarget };

export interface AutomationHost {
  /**
   * Sends bytes to a target now, exactly as a user's send would (captured, counted, same errors:
   * NOT_WRITABLE, SEND_QUEUE_FULL, UNKNOWN_ENDPOINT…). Answers the bytes sent (for a broadcast,
   * to each connection).
   */
  sendBytes(target: ValidSendTarget, bytes: Uint8Array): Promise<number>;
  /**
   * Whether the target can take `bytes` more now without piling up in this process: false while
   * a connection's peer is not reading (its queue holds more than a little) or, for a broadcast,
   * while any connection's does.
   */
  canTake(target: ValidSendTarget, bytes: number): boolean;
  /** The bytes a payload spec gives (text with escapes, hex, base64; checksum; line ending). */
  encodePayload(payload: ValidPayload): Uint8Array;
  /** An endpoint's info, or undefined once it is gone. */
  describe(id: string): EndpointInfo | undefined;
  /** An endpoint's automation changed: its info goes out again (endpoint.updated). */
  touch(id: string): void;
  /**
   * Writes what automation did on an endpoint's timeline (a job began or ended, a rule turned
   * itself off); nothing if the endpoint is gone.
   */
  note(
    id: string,
    event: AutomationTransition,
    facts: { detail?: string; error?: UserError },
  ): void;
  /** An event for every view (job.updated, rules.updated, rules.hits, library.changed). */
  emit(event: AnyEvent): void;
  /**
   * Whether the target's other end is one of this engine's own endpoints (a client of its own
   * listener, a datagram to its own UDP socket): two rules answering each other there loop.
   */
  isOwnPeer(target: ValidSendTarget): boolean;
}
