/**
 * The auto-reply rule form's model: a rule as its fields hold it (delay as typed, both the
 * byte-match and the regex fields kept while the user switches modes), and back to a rule.
 */
import type {
  CommandInput,
  MatchMode,
  PayloadFormat,
  ReplyRule,
  TextEncoding,
} from '../../../shared/contract';
import type { MessageKey } from '../i18n/en';

export type RuleInput = CommandInput<'rules.set'>['rules'][number];

export interface RuleDraft {
  /** The rule's place in the list, or null for a new one. */
  index: number | null;
  id: string;
  enabled: boolean;
  name: string;
  mode: MatchMode;
  matchFormat: PayloadFormat;
  matchEncoding: TextEncoding;
  matchData: string;
  pattern: string;
  regexEncoding: TextEncoding;
  ignoreCase: boolean;
  replyFormat: PayloadFormat;
  replyEncoding: TextEncoding;
  replyData: string;
  delay: string;
}

export const matchModeKeys: Record<MatchMode, MessageKey> = {
  exact: 'rules.modeExact',
  contains: 'rules.modeContains',
  starts: 'rules.modeStarts',
  ends: 'rules.modeEnds',
  regex: 'rules.modeRegex',
};

export function newDraft(): RuleDraft {
  return {
    index: null,
    id: crypto.randomUUID(),
    enabled: true,
    name: '',
    mode: 'contains',
    matchFormat: 'text',
    matchEncoding: 'utf-8',
    matchData: '',
    pattern: '',
    regexEncoding: 'utf-8',
    ignoreCase: false,
    replyFormat: 'text',
    replyEncoding: 'utf-8',
    replyData: '',
    delay: '0',
  };
}

export function draftOf(rule: ReplyRule, index: number): RuleDraft {
  const draft: RuleDraft = {
    ...newDraft(),
    index,
    id: rule.id,
    enabled: rule.enabled,
    name: rule.name,
    mode: rule.match.mode,
    replyFormat: rule.reply.format,
    replyEncoding: rule.reply.encoding,
    replyData: rule.reply.data,
    delay: String(rule.delayMs),
  };
  if (rule.match.mode === 'regex') {
    draft.pattern = rule.match.pattern;
    draft.regexEncoding = rule.match.encoding;
    draft.ignoreCase = rule.match.ignoreCase;
  } else {
    draft.matchFormat = rule.match.payload.format;
    draft.matchEncoding = rule.match.payload.encoding;
    draft.matchData = rule.match.payload.data;
  }
  return draft;
}

export type DraftProblem = 'matchEmpty' | 'patternEmpty' | 'replyEmpty' | 'delayInvalid';

/**
 * The rule the draft stands for, or what is missing. `keep` is the rule being edited: what the
 * form does not show (a reply's checksum and line ending) stays as it was.
 */
export function ruleOf(
  draft: RuleDraft,
  keep: ReplyRule | undefined,
): { ok: true; rule: RuleInput } | { ok: false; problem: DraftProblem } {
  const delayText = draft.delay.trim();
  const delayMs = delayText === '' ? 0 : Number(delayText);
  if (!/^\d*$/.test(delayText) || !Number.isSafeInteger(delayMs)) {
    return { ok: false, problem: 'delayInvalid' };
  }
  if (draft.mode === 'regex' && draft.pattern === '') return { ok: false, problem: 'patternEmpty' };
  if (draft.mode !== 'regex' && draft.matchData === '') {
    return { ok: false, problem: 'matchEmpty' };
  }
  if (draft.replyData === '') return { ok: false, problem: 'replyEmpty' };
  const match: RuleInput['match'] =
    draft.mode === 'regex'
      ? {
          mode: 'regex',
          pattern: draft.pattern,
          encoding: draft.regexEncoding,
          ignoreCase: draft.ignoreCase,
        }
      : {
          mode: draft.mode,
          payload: {
            format: draft.matchFormat,
            encoding: draft.matchEncoding,
            data: draft.matchData,
          },
        };
  const { checksum, lineEnding } = keep?.reply ?? {};
  return {
    ok: true,
    rule: {
      id: draft.id,
      enabled: draft.enabled,
      name: draft.name.trim(),
      match,
      reply: {
        format: draft.replyFormat,
        encoding: draft.replyEncoding,
        data: draft.replyData,
        ...(checksum ? { checksum } : {}),
        ...(lineEnding ? { lineEnding } : {}),
      },
      delayMs,
    },
  };
}

/** A long text cut for a one-line summary. */
export function clip(text: string, max = 40): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
