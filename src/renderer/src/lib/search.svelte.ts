/**
 * Search over an endpoint's whole capture, run by the engine as a capture query (capture.find),
 * page by page. The page holds only the match offsets, never the capture; each match is then
 * shown by scrolling the terminal to it.
 */
import {
  FIND_PAGE_MAX,
  type CaptureDirection,
  type CommandResult,
  type FindQuery,
  type TextEncoding,
} from '../../../shared/contract';
import type { UserError } from '../../../shared/errors';
import { formatByteSize } from '../../../shared/byte-size';
import { formatCount } from './display';
import { describeError, t } from './i18n.svelte';
import { nextQueryNumber } from './query-number';
import type { Session } from './session.svelte';

export const searchKinds = ['text', 'hex', 'regex'] as const;
export type SearchKind = (typeof searchKinds)[number];

export interface SearchTarget {
  endpointId: string;
  decoding: TextEncoding;
}

export interface SearchMatch {
  offset: number;
  end: number;
}

/** Where the results stop: enough to step through, and bounded in memory. */
export const MATCH_LIMIT = 10_000;

interface Results {
  /** What was searched: results for another endpoint, decoding or query are stale. */
  key: string;
  matches: SearchMatch[];
  truncated: boolean;
}

export class CaptureSearch {
  query = $state('');
  kind = $state<SearchKind>('text');
  ignoreCase = $state(false);
  direction = $state<CaptureDirection>('both');
  private results = $state.raw<Results | null>(null);
  private index = $state(0);
  private visible = $state(true);
  private busy = $state(false);
  /** How far the running search has got, and how far it goes. */
  private progress = $state.raw<{ searched: number; total: number } | null>(null);
  private error = $state.raw<UserError | null>(null);
  private running: AbortController | null = null;

  constructor(
    private readonly session: Session,
    private readonly target: () => SearchTarget,
    private readonly locate: (match: SearchMatch) => boolean | Promise<boolean>,
  ) {}

  private readonly key = $derived.by(() => {
    const { endpointId, decoding } = this.target();
    return [endpointId, decoding, this.kind, this.ignoreCase, this.direction, this.query].join(
      '\n',
    );
  });

  get searching(): boolean {
    return this.busy;
  }

  readonly status = $derived.by(() => {
    if (this.busy) {
      const progress = this.progress;
      return progress && progress.total > 0
        ? t('search.searchingProgress', {
            searched: formatByteSize(progress.searched),
            total: formatByteSize(progress.total),
          })
        : t('search.searching');
    }
    if (this.error) return describeError(this.error).text;
    const results = this.results;
    if (!results || results.key !== this.key) return '';
    const total = results.matches.length;
    if (total === 0) return t('search.none');
    let text = t('search.position', {
      index: this.index + 1,
      total: `${formatCount(total)}${results.truncated ? '+' : ''}`,
      offset: formatCount(results.matches[this.index]?.offset ?? 0),
    });
    if (!this.visible) text += ` ${t('search.notInView')}`;
    return text;
  });

  /** Goes to the next (1) or previous (-1) match, searching first if the query changed. */
  async find(step: 1 | -1): Promise<void> {
    let results = this.results;
    if (!results || results.key !== this.key) {
      results = await this.run();
      if (!results) return;
      this.results = results;
      this.index = step === 1 ? 0 : Math.max(0, results.matches.length - 1);
    } else if (results.matches.length > 0) {
      this.index = (this.index + step + results.matches.length) % results.matches.length;
    }
    const match = results.matches[this.index];
    if (match) this.visible = await this.locate(match);
  }

  /** Stops a running search; what it found so far is kept. */
  stop(): void {
    this.running?.abort();
  }

  private buildQuery(): FindQuery {
    const { decoding } = this.target();
    if (this.kind === 'regex') {
      return {
        kind: 'regex',
        pattern: this.query,
        encoding: decoding,
        ignoreCase: this.ignoreCase,
      };
    }
    return {
      kind: 'payload',
      payload: { format: this.kind, data: this.query, encoding: decoding },
      ignoreCase: this.ignoreCase,
    };
  }

  private async run(): Promise<Results | null> {
    this.running?.abort();
    const controller = new AbortController();
    this.running = controller;
    const { signal } = controller;
    this.error = null;
    if (this.query.length === 0) return null;
    // What is searched is fixed when the search starts: a change of endpoint or query meanwhile
    // ends this search (below) instead of mixing two searches' pages.
    const key = this.key;
    const endpointId = this.target().endpointId;
    const find = this.buildQuery();
    const direction = this.direction;
    const query = nextQueryNumber();
    const cancel = (): void => this.session.api.notify('capture.cancel', { query });
    signal.addEventListener('abort', cancel, { once: true });
    const matches: SearchMatch[] = [];
    let truncated = false;
    this.busy = true;
    this.progress = null;
    try {
      for (let from: number | null = 0; from !== null && !truncated;) {
        const page: CommandResult<'capture.find'> = await this.session.invoke('capture.find', {
          query,
          id: endpointId,
          find,
          direction,
          from,
          maxMatches: Math.min(FIND_PAGE_MAX, MATCH_LIMIT - matches.length),
        });
        if (signal.aborted && this.running !== controller) return null;
        if (this.key !== key) {
          controller.abort();
          return null;
        }
        if (!page.ok) {
          // Stopped by the user: show what was found; anything else is the search's error.
          if (page.error.code !== 'CANCELLED') this.error = page.error;
          break;
        }
        matches.push(...page.value.matches);
        truncated = matches.length >= MATCH_LIMIT && page.value.next !== null;
        this.progress = { searched: page.value.searchedTo, total: page.value.totalBytes };
        from = signal.aborted ? null : page.value.next;
      }
      return { key, matches, truncated };
    } finally {
      signal.removeEventListener('abort', cancel);
      if (this.running === controller) {
        this.running = null;
        this.busy = false;
        this.progress = null;
      }
    }
  }
}
