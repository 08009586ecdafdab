/**
 * Search over an endpoint's whole capture: text (escapes allowed: \r\n, \x00) encoded the way
 * the view decodes, found as bytes, then shown by scrolling the terminal to each match.
 */
import type { TextEncoding } from '../../../shared/contract';
import type { UserError } from '../../../shared/errors';
import { decodeText, toPrintableText } from '../../../shared/format';
import { searchCapture, type Cancel } from './capture-read';
import type { SearchMatch } from './capture-view';
import { formatCount } from './display';
import { encodeSpec } from './encode';
import { describeError, t } from './i18n.svelte';
import type { Session } from './session.svelte';

export interface SearchTarget {
  endpointId: string;
  decoding: TextEncoding;
}

interface Results {
  /** What was searched: results for another endpoint, decoding or query are stale. */
  key: string;
  matches: number[];
  length: number;
  text: string;
  truncated: boolean;
}

export class CaptureSearch {
  query = $state('');
  private results = $state.raw<Results | null>(null);
  private index = $state(0);
  private visible = $state(true);
  private busy = $state(false);
  private error = $state.raw<UserError | null>(null);
  private cancel: Cancel = { cancelled: false };
  private readonly session: Session;
  private readonly target: () => SearchTarget;
  private readonly locate: (match: SearchMatch) => boolean;

  constructor(
    session: Session,
    target: () => SearchTarget,
    locate: (match: SearchMatch) => boolean,
  ) {
    this.session = session;
    this.target = target;
    this.locate = locate;
  }

  private readonly key = $derived.by(() => {
    const { endpointId, decoding } = this.target();
    return `${endpointId}\n${decoding}\n${this.query}`;
  });

  readonly status = $derived.by(() => {
    if (this.busy) return t('search.searching');
    if (this.error) return describeError(this.error).text;
    const results = this.results;
    if (!results || results.key !== this.key) return '';
    const total = results.matches.length;
    if (total === 0) return t('search.none');
    let text = t('search.position', {
      index: this.index + 1,
      total: `${formatCount(total)}${results.truncated ? '+' : ''}`,
      offset: formatCount(results.matches[this.index] ?? 0),
    });
    if (!this.visible) text += ` ${t('search.notInView')}`;
    return text;
  });

  /** Goes to the next (1) or previous (-1) match, searching first if the query changed. */
  async find(step: 1 | -1): Promise<void> {
    let results = this.results;
    if (!results || results.key !== this.key) {
      results = await this.run();
      this.results = results;
      this.index = step === 1 ? 0 : Math.max(0, (results?.matches.length ?? 1) - 1);
    } else if (results.matches.length > 0) {
      this.index = (this.index + step + results.matches.length) % results.matches.length;
    }
    const offset = results?.matches[this.index];
    if (!results || offset === undefined) return;
    this.visible = this.locate({
      offset,
      length: results.length,
      text: results.text,
      all: results.matches,
    });
  }

  private async run(): Promise<Results | null> {
    this.cancel.cancelled = true;
    const mine: Cancel = { cancelled: false };
    this.cancel = mine;
    this.error = null;
    if (this.query.length === 0) return null;
    const key = this.key;
    const { endpointId, decoding } = this.target();
    this.busy = true;
    try {
      const encoded = await encodeSpec(this.session, {
        format: 'text',
        data: this.query,
        encoding: decoding,
      });
      if (mine.cancelled) return null;
      if (!encoded.ok) {
        this.error = encoded.error;
        return null;
      }
      if (encoded.bytes.length === 0) return null;
      const found = await searchCapture(this.session, endpointId, encoded.bytes, mine);
      if (mine.cancelled) return null;
      this.error = found.error;
      return {
        key,
        matches: found.matches,
        length: encoded.bytes.length,
        text: toPrintableText(decodeText(encoded.bytes, decoding), { keepLineBreaks: true }),
        truncated: found.truncated,
      };
    } finally {
      if (!mine.cancelled) this.busy = false;
    }
  }
}
