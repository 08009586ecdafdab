/**
 * What every "open an endpoint" form shares: field problems shown once the user has typed or
 * tried to submit, one request at a time, and the engine's answer (the new endpoint selected,
 * or its error under the form).
 */
import type { UserError } from '../../../shared/errors';
import type { EndpointInfo } from '../../../shared/contract';
import type { MessageKey } from '../i18n/en';
import { t } from './i18n.svelte';
import type { Session } from './session.svelte';

type OpenResult = { ok: true; value: EndpointInfo } | { ok: false; error: UserError };

export class OpenForm {
  touched = $state(false);
  busy = $state(false);
  error = $state.raw<UserError | null>(null);

  constructor(private readonly session: Session) {}

  /** A field's problem, in words, once it is worth showing. */
  shown(problem: MessageKey | null): string | null {
    return this.touched && problem ? t(problem) : null;
  }

  async submit(event: SubmitEvent, valid: boolean, open: () => Promise<OpenResult>) {
    event.preventDefault();
    this.touched = true;
    if (!valid || this.busy) return;
    this.busy = true;
    this.error = null;
    const result = await open();
    this.busy = false;
    this.error = this.session.showOpened(result);
  }
}
