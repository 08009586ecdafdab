/**
 * What the composer offers the tools beside it (the payload library, repeat send): the payload
 * as it stands, where it would go, and a way to put a payload into it.
 */
import type { PayloadSpec, SendTarget } from '../../../shared/contract';
import type { FullSpec } from './encode';

export interface ComposerTools {
  /** The composer's payload when it is one (encodes without error and is not empty), else null. */
  readonly payload: FullSpec | null;
  /** Where Send would send it: the connection, a listener's broadcast, or a UDP destination. */
  readonly target: SendTarget | null;
  /** Puts a payload into the composer (format, encoding, data, checksum, line ending). */
  load(payload: PayloadSpec): void;
}
