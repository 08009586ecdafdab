/**
 * Auto-reply rules: when data an endpoint receives matches a rule, the engine replies (a
 * listener's rules apply to every connection it accepted, each answered on its own; a UDP
 * socket answers the datagram's sender).
 *
 * Rules look at each read (received chunk) as it arrives: a message split across reads is not
 * matched as one. Matching runs inside the socket's receive path, so it costs O(chunk) per rule
 * (byte search, or RE2) and never sends from there: replies go out in a microtask once the read
 * is done (or after the rule's delay), and a reply that fails is recorded on the rule, never thrown.
 */
import type { CaptureChunk, ReplyRule, RulesInfo, ValidInput } from '../../shared/contract';
import { WorkbenchError, isErrorCode, type UserError } from '../../shared/errors';
import type { AutomationHost, ValidSendTarget } from './automation-host';
import type { Endpoint } from './endpoint';
import { bytesToKeep } from './read-slabs';
import { preview } from './send-job';
import { compileReplyTemplate, type ReplyTemplate } from './reply-template';
import { chunkText, ruleMatcher, type RuleMatcher } from './rule-match';

/** rules.hits (the counters, without the rules) goes out at most this often per endpoint. */
const HIT_UPDATE_MS = 250;
/** Replies waiting (for their delay, or for the read to finish) at most: past it one is dropped. */
export const PENDING_REPLIES_MAX = 10_000;
/** Bytes those replies may hold at most (a {{$0}} reply copies what it matched). */
export const PENDING_REPLY_BYTES_MAX = 64 * 1024 * 1024;
/**
 * Replies one rule may send in a second to another endpoint of this same engine. Two of its
 * endpoints whose rules answer each other would otherwise loop for ever as fast as the sockets
 * go; past this, the rule turns itself off. (A loop through another program cannot be told from
 * a fast peer: that one the user stops by turning the rule off.)
 */
export const RULE_REPLIES_PER_SECOND = 1_000;

type RuleState = RulesInfo['states'][number];

interface CompiledRule {
  rule: ReplyRule;
  matcher: RuleMatcher;
  reply: ReplyTemplate;
  state: RuleState;
  /** Replies sent in the current second, and when that second began. */
  rate: { count: number; since: number; ownPeerChecked: boolean };
}

interface RuleSet {
  mode: RulesInfo['mode'];
  rules: CompiledRule[];
}

interface PendingReply {
  owner: string;
  state: RuleState;
  target: ValidSendTarget;
  bytes: Uint8Array;
}

export class AutoReply {
  /** Rules by the endpoint they were set on (a listener, a UDP socket, a client). */
  private readonly sets = new Map<string, RuleSet>();
  /** Replies due as soon as the read that matched has been handled, sent together. */
  private ready: PendingReply[] = [];
  private readyScheduled = false;
  /** Replies waiting for their rule's delay, by owner, so forget() can drop them. */
  private readonly delayed = new Map<string, Map<NodeJS.Timeout, number>>();
  private delayedCount = 0;
  /** Bytes held by replies waiting to be sent. */
  private pendingBytes = 0;
  /** Owners whose hit counters changed since their last rules.hits. */
  private readonly dirty = new Set<string>();
  private updateTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly host: AutomationHost,
    private readonly repliesPerSecond = RULE_REPLIES_PER_SECOND,
  ) {}

  get(id: string): RulesInfo {
    this.ownerOf(id);
    return this.info(id);
  }

  /** Compiles every rule first: one bad rule refuses the whole list and keeps the old one. */
  set(input: ValidInput<'rules.set'>): RulesInfo {
    this.ownerOf(input.id);
    const old = this.sets.get(input.id);
    const oldStates = new Map(old?.rules.map((c) => [c.rule.id, c.state]));
    const seen = new Set<string>();
    const rules = input.rules.map((rule, index) => {
      if (seen.has(rule.id)) {
        throw new WorkbenchError(
          'INVALID_INPUT',
          `${ruleLabel(rule, index)}: its id is used twice`,
        );
      }
      seen.add(rule.id);
      const compiled = this.compile(rule, index);
      const rate = { count: 0, since: 0, ownPeerChecked: false };
      const state = oldStates.get(rule.id) ?? {
        id: rule.id,
        hits: 0,
        lastHitAt: null,
        lastError: null,
      };
      return { ...compiled, state, rate };
    });
    const enabledBefore = this.enabledOn(input.id);
    this.sets.set(input.id, { mode: input.mode, rules });
    if (this.enabledOn(input.id) !== enabledBefore) this.host.touch(input.id);
    this.dirty.delete(input.id);
    const info = this.info(input.id);
    this.host.emit({ event: 'rules.updated', payload: info });
    return info;
  }

  /** Whether `received` looks at this endpoint's data: its rules (or its listener's) exist. */
  watches(endpoint: Endpoint): boolean {
    return this.ruleSetOf(endpoint) !== null;
  }

  /** Data arrived on an endpoint (after it was captured). */
  received(endpoint: Endpoint, chunk: CaptureChunk): void {
    const found = this.ruleSetOf(endpoint);
    if (!found) return;
    const { owner, set } = found;
    const target = replyTarget(endpoint, chunk.peer);
    if (!target) return;
    // A reply may keep a part of the bytes (a regex group) past this call.
    const bytes = bytesToKeep(chunk);
    const text = chunkText(bytes);
    for (const compiled of set.rules) {
      if (!compiled.rule.enabled) continue;
      const hit = compiled.matcher.test(bytes, text);
      if (!hit) continue;
      const { state, rule, rate } = compiled;
      const now = Date.now();
      state.hits += 1;
      state.lastHitAt = now;
      this.changed(owner);
      if (now - rate.since >= 1000) {
        rate.since = now;
        rate.count = 0;
        rate.ownPeerChecked = false;
      }
      // A fast peer asking and a rule answering is what rules are for; only a rule answering
      // another of this engine's own endpoints that fast is taken for a loop.
      if (this.loops(rate, target)) {
        // Two of this engine's endpoints answering each other: the rule turns itself off and
        // says why; the user turns it on again.
        compiled.rule = { ...rule, enabled: false };
        state.lastError = {
          code: 'REPLY_RATE_LIMIT',
          message: `Over ${this.repliesPerSecond.toLocaleString('en-US')} replies in a second to another endpoint of this workbench: the rule was turned off (two rules answering each other?)`,
        };
        this.host.note(owner, 'rule-off', {
          detail: ruleName(rule),
          error: state.lastError,
        });
        this.host.touch(owner);
        // Rare, and the rule itself changed: the whole list goes out at once.
        this.host.emit({ event: 'rules.updated', payload: this.info(owner) });
        if (set.mode === 'first') break;
        continue;
      }
      try {
        const bytes = compiled.reply.bytes({ group: hit.group, counter: state.hits, now });
        this.schedule({ owner, state, target, bytes }, rule.delayMs);
      } catch (error) {
        state.lastError = asUserError(error);
      }
      if (set.mode === 'first') break;
    }
  }

  /** The rules that answer an endpoint: its own, or else its listener's; null if there are none. */
  private ruleSetOf(endpoint: Endpoint): { owner: string; set: RuleSet } | null {
    let owner = endpoint.id;
    let set = this.sets.get(owner);
    if (!set && endpoint.parentId !== null) {
      owner = endpoint.parentId;
      set = this.sets.get(owner);
    }
    return set && set.rules.length > 0 ? { owner, set } : null;
  }

  /** Counts a reply; true when it is one too many of a loop between this engine's endpoints. */
  private loops(rate: CompiledRule['rate'], target: ValidSendTarget): boolean {
    rate.count += 1;
    if (rate.count <= this.repliesPerSecond || rate.ownPeerChecked) return false;
    // Looked at once a second, when the rate is crossed: it goes through every endpoint.
    rate.ownPeerChecked = true;
    return this.host.isOwnPeer(target);
  }

  /** Enabled rules on an endpoint. */
  enabledOn(id: string): number {
    return this.sets.get(id)?.rules.filter((c) => c.rule.enabled).length ?? 0;
  }

  /** The endpoint is gone: its rules and the replies they were waiting to send go too. */
  forget(id: string): void {
    this.sets.delete(id);
    this.dirty.delete(id);
    for (const [timer, bytes] of this.delayed.get(id) ?? []) {
      clearTimeout(timer);
      this.pendingBytes -= bytes;
    }
    this.delayedCount -= this.delayed.get(id)?.size ?? 0;
    this.delayed.delete(id);
    const kept = this.ready.filter((reply) => reply.owner !== id);
    for (const reply of this.ready)
      if (reply.owner === id) this.pendingBytes -= reply.bytes.byteLength;
    this.ready = kept;
  }

  dispose(): void {
    for (const id of [...this.sets.keys()]) this.forget(id);
    for (const id of [...this.delayed.keys()]) this.forget(id);
    if (this.updateTimer) clearTimeout(this.updateTimer);
    this.updateTimer = null;
    this.ready = [];
  }

  /** The endpoint rules may be set on; throws for one that is gone or is an accepted connection. */
  private ownerOf(id: string): void {
    const info = this.host.describe(id);
    if (!info) throw new WorkbenchError('UNKNOWN_ENDPOINT', `No endpoint with id ${id}`);
    if (info.role === 'accepted') {
      throw new WorkbenchError(
        'WRONG_ENDPOINT_KIND',
        `${id} was accepted by ${info.parentId ?? 'a listener'}: set its rules on the listener`,
      );
    }
  }

  private compile(rule: ReplyRule, index: number): Omit<CompiledRule, 'state' | 'rate'> {
    try {
      const matcher = ruleMatcher(rule.match, (payload) => this.host.encodePayload(payload));
      const reply = compileReplyTemplate(rule.reply, matcher.groups, (payload) =>
        this.host.encodePayload(payload),
      );
      return { rule, matcher, reply };
    } catch (error) {
      const { code, message } = asUserError(error);
      throw new WorkbenchError(code, `${ruleLabel(rule, index)}: ${message}`);
    }
  }

  private info(id: string): RulesInfo {
    const set = this.sets.get(id);
    return {
      id,
      mode: set?.mode ?? 'first',
      rules: set?.rules.map((c) => c.rule) ?? [],
      states: set?.rules.map((c) => ({ ...c.state })) ?? [],
    };
  }

  private schedule(reply: PendingReply, delayMs: number): void {
    if (
      this.ready.length + this.delayedCount >= PENDING_REPLIES_MAX ||
      this.pendingBytes + reply.bytes.byteLength > PENDING_REPLY_BYTES_MAX
    ) {
      reply.state.lastError = {
        code: 'SEND_QUEUE_FULL',
        message: 'Too many replies are already waiting to be sent: this one was dropped',
      };
      return;
    }
    this.pendingBytes += reply.bytes.byteLength;
    if (delayMs === 0) {
      // Never from inside the receive path, but right after it: a microtask runs once the
      // socket's data callback (capture, counters, views) has returned, before the next I/O.
      this.ready.push(reply);
      if (!this.readyScheduled) {
        this.readyScheduled = true;
        queueMicrotask(() => this.sendReady());
      }
      return;
    }
    let timers = this.delayed.get(reply.owner);
    if (!timers) {
      timers = new Map();
      this.delayed.set(reply.owner, timers);
    }
    const owned = timers;
    const timer = setTimeout(() => {
      owned.delete(timer);
      this.delayedCount -= 1;
      this.send(reply);
    }, delayMs);
    owned.set(timer, reply.bytes.byteLength);
    this.delayedCount += 1;
  }

  private sendReady(): void {
    const ready = this.ready;
    this.ready = [];
    this.readyScheduled = false;
    for (const reply of ready) this.send(reply);
  }

  private send({ owner, state, target, bytes }: PendingReply): void {
    this.pendingBytes -= bytes.byteLength;
    const failed = (error: unknown): void => {
      state.lastError = asUserError(error);
      this.changed(owner);
    };
    try {
      this.host.sendBytes(target, bytes).then(() => {
        if (state.lastError === null) return;
        state.lastError = null;
        this.changed(owner);
      }, failed);
    } catch (error) {
      failed(error);
    }
  }

  /** Hit counters changed: one rules.hits per owner within HIT_UPDATE_MS. */
  private changed(owner: string): void {
    this.dirty.add(owner);
    this.updateTimer ??= setTimeout(() => {
      this.updateTimer = null;
      const owners = [...this.dirty];
      this.dirty.clear();
      for (const id of owners) {
        if (!this.sets.has(id)) continue;
        this.host.emit({ event: 'rules.hits', payload: { id, states: this.info(id).states } });
      }
    }, HIT_UPDATE_MS);
  }
}

/** Where a reply to this chunk goes: the connection it came on, or the datagram's sender. */
function replyTarget(endpoint: Endpoint, peer: CaptureChunk['peer']): ValidSendTarget | null {
  if (endpoint.role === 'udp') {
    return peer ? { kind: 'datagram', id: endpoint.id, host: peer.host, port: peer.port } : null;
  }
  if (endpoint.role === 'listener') return null;
  return { kind: 'connection', id: endpoint.id };
}

function ruleLabel(rule: ReplyRule, index: number): string {
  return rule.name.trim() ? `Rule "${rule.name.trim()}"` : `Rule ${index + 1}`;
}

/** Anything a send or an encode throws, as the contract's error (no stack). */
function asUserError(error: unknown): UserError {
  if (error instanceof WorkbenchError) return error.toUserError();
  if (error instanceof Error) {
    const errno = (error as NodeJS.ErrnoException).code;
    return { code: isErrorCode(errno) ? errno : 'INTERNAL', message: error.message };
  }
  return { code: 'INTERNAL', message: String(error) };
}

/** How a rule reads on a timeline: its name, or how it matches when it has none. */
function ruleName(rule: ReplyRule): string {
  if (rule.name) return `"${preview(rule.name)}"`;
  const match = rule.match;
  return match.mode === 'regex'
    ? `regex /${preview(match.pattern)}/`
    : `${match.mode} "${preview(match.payload.data)}"`;
}
