/**
 * How an auto-reply rule looks at one received chunk: bytes (exact, contains, starts, ends) or an
 * RE2 pattern over the chunk decoded in the rule's encoding. RE2 (re2js) runs in linear time, so
 * a pattern that would backtrack for ever in a JavaScript RegExp costs O(chunk) here too.
 */
import { RE2JS, RE2JSException } from 're2js';
import type { ReplyRule, TextEncoding } from '../../shared/contract';
import type { StreamTextDecoder } from '../../shared/format';
import { WorkbenchError } from '../../shared/errors';
import { decodedByteLength, utf8ByteLength } from './decoded-text';
import { createEngineTextDecoder } from './encodings';

/** What matched: the bytes ($0) and a regex's groups ($1…$9), as received. */
export interface RuleHit {
  /** The bytes of group `n` (0: the whole match); empty for a group that did not take part. */
  group(n: number): Uint8Array;
}

/** A chunk's text in an encoding, decoded once however many regex rules ask for it. */
export type ChunkText = (encoding: TextEncoding) => string;

export interface RuleMatcher {
  /** Groups a template may use: 0 for byte modes, the pattern's group count for a regex. */
  readonly groups: number;
  test(bytes: Uint8Array, text: ChunkText): RuleHit | null;
}

/** One-shot decoders (stream: false) hold nothing between chunks, so one per encoding serves. */
const decoders = new Map<TextEncoding, StreamTextDecoder>();

/** The chunk's text in each encoding asked for, decoded on the first ask. */
export function chunkText(bytes: Uint8Array): ChunkText {
  let texts: Map<TextEncoding, string> | null = null;
  return (encoding) => {
    texts ??= new Map();
    let text = texts.get(encoding);
    if (text === undefined) {
      let decoder = decoders.get(encoding);
      if (!decoder) {
        decoder = createEngineTextDecoder(encoding);
        decoders.set(encoding, decoder);
      }
      text = decoder.decode(bytes, false);
      texts.set(encoding, text);
    }
    return text;
  };
}

type ByteMode = 'exact' | 'contains' | 'starts' | 'ends';

/** A byte rule: `needle` comes from the rule's payload (encoded by the engine). */
export function byteMatcher(mode: ByteMode, needle: Uint8Array): RuleMatcher {
  const wanted = Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength);
  const length = wanted.byteLength;
  const hitAt = (bytes: Uint8Array, at: number): RuleHit => ({
    group: (n) => (n === 0 ? bytes.subarray(at, at + length) : new Uint8Array(0)),
  });
  return {
    groups: 0,
    test(bytes) {
      const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (chunk.byteLength < length) return null;
      switch (mode) {
        case 'exact':
          return chunk.byteLength === length && chunk.equals(wanted) ? hitAt(bytes, 0) : null;
        case 'starts':
          return chunk.compare(wanted, 0, length, 0, length) === 0 ? hitAt(bytes, 0) : null;
        case 'ends': {
          const at = chunk.byteLength - length;
          return chunk.compare(wanted, 0, length, at, at + length) === 0 ? hitAt(bytes, at) : null;
        }
        case 'contains': {
          const at = chunk.indexOf(wanted);
          return at >= 0 ? hitAt(bytes, at) : null;
        }
      }
    },
  };
}

/** Compiles an RE2 pattern; BAD_PATTERN says why RE2 will not take it. */
export function compileRulePattern(pattern: string, ignoreCase: boolean): RE2JS {
  try {
    return RE2JS.compile(pattern, ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (error) {
    if (!(error instanceof RE2JSException)) throw error;
    const message = error.message.replace(/^error parsing regexp: /, '');
    throw new WorkbenchError('BAD_PATTERN', `not a pattern RE2 takes: ${message}`);
  }
}

/** A regex rule: the first match in the chunk's text; groups map back to the bytes they came from. */
export function regexMatcher(pattern: RE2JS, encoding: TextEncoding): RuleMatcher {
  const groups = pattern.groupCount();
  return {
    groups,
    test(bytes, decoded) {
      const text = decoded(encoding);
      const matcher = pattern.matcher(text);
      if (!matcher.find()) return null;
      // Character positions now (the matcher is reused); bytes only when a template asks.
      const spans: Array<[number, number]> = [];
      for (let n = 0; n <= groups; n++) spans.push([matcher.start(n), matcher.end(n)]);
      const byteAt = (char: number): number =>
        encoding === 'utf-8'
          ? utf8ByteLength(text, 0, char, bytes, 0)
          : decodedByteLength(text, 0, char, encoding);
      return {
        group(n) {
          const span = spans[n];
          if (!span || span[0] < 0) return new Uint8Array(0);
          return bytes.subarray(byteAt(span[0]), byteAt(span[1]));
        },
      };
    },
  };
}

/** The matcher a rule's match spec describes; `encode` turns a payload spec into its bytes. */
export function ruleMatcher(
  match: ReplyRule['match'],
  encode: (payload: Extract<ReplyRule['match'], { payload: unknown }>['payload']) => Uint8Array,
): RuleMatcher {
  if (match.mode === 'regex') {
    return regexMatcher(compileRulePattern(match.pattern, match.ignoreCase), match.encoding);
  }
  const needle = encode(match.payload);
  if (needle.byteLength === 0) {
    throw new WorkbenchError('INVALID_INPUT', 'the bytes to match are empty');
  }
  return byteMatcher(match.mode, needle);
}
