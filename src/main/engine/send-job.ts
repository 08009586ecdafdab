/**
 * What every send job shares: its state machine (running ⇄ paused → done | stopped | failed), its
 * counters and its JobInfo. The kinds (timed-jobs.ts, file-sender.ts) only say how they send.
 */
import { performance } from 'node:perf_hooks';
import type { EndpointInfo, JobInfo } from '../../shared/contract';
import { WorkbenchError, type UserError } from '../../shared/errors';
import type { AutomationHost, ValidSendTarget } from './automation-host';

export type JobKind = JobInfo['kind'];
export type JobState = JobInfo['state'];

/** How a job tells the registry (send-jobs.ts) what happened. */
export interface JobHooks {
  /** State changed (started, paused, resumed): tell the views now. */
  changed(job: SendJob): void;
  /** Counters moved: the views hear of it with the next progress round (a few a second). */
  progressed(job: SendJob): void;
  /** The job ended (done, stopped, failed). */
  ended(job: SendJob): void;
}

export interface JobSetup {
  id: string;
  kind: JobKind;
  target: ValidSendTarget;
  label: string;
  planned: number | null;
  host: AutomationHost;
  hooks: JobHooks;
}

export abstract class SendJob {
  readonly id: string;
  readonly kind: JobKind;
  readonly target: ValidSendTarget;
  readonly label: string;
  protected readonly host: AutomationHost;
  private readonly hooks: JobHooks;
  state: JobState = 'running';
  protected done = 0;
  protected planned: number | null;
  protected skipped = 0;
  protected bytesSent = 0;
  private readonly startedAt = Date.now();
  private endedAt: number | null = null;
  private error: UserError | null = null;
  /** Monotonic clock: running time excludes pauses so the rate is what the job achieved. */
  private readonly startedMono = performance.now();
  private pausedMs = 0;
  private pausedAtMono: number | null = null;
  private endedMono: number | null = null;

  constructor(setup: JobSetup) {
    this.id = setup.id;
    this.kind = setup.kind;
    this.target = setup.target;
    this.label = setup.label;
    this.planned = setup.planned;
    this.host = setup.host;
    this.hooks = setup.hooks;
  }

  /** The endpoint it sends from: the connection, the listener (broadcast) or the UDP socket. */
  get endpointId(): string {
    return this.target.id;
  }

  get isActive(): boolean {
    return this.state === 'running' || this.state === 'paused';
  }

  info(): JobInfo {
    const now = this.endedMono ?? this.pausedAtMono ?? performance.now();
    const seconds = (now - this.startedMono - this.pausedMs) / 1000;
    return {
      id: this.id,
      kind: this.kind,
      endpointId: this.endpointId,
      target: this.target,
      label: this.label,
      state: this.state,
      done: this.done,
      planned: this.planned,
      skipped: this.skipped,
      bytesSent: this.bytesSent,
      rate: seconds > 0 ? this.done / seconds : 0,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      error: this.error,
    };
  }

  /** Begins sending; called once, after the registry has listed the job. */
  abstract start(): void;
  /** Clears every timer and wakes every wait: nothing may be sent after this returns. */
  protected abstract halt(): void;
  /** Goes on after a pause (the timers were halted). */
  protected abstract carryOn(): void;

  pause(): void {
    if (this.state !== 'running') return;
    this.state = 'paused';
    this.pausedAtMono = performance.now();
    this.halt();
    this.hooks.changed(this);
  }

  resume(): void {
    if (this.state !== 'paused' || this.pausedAtMono === null) return;
    this.pausedMs += performance.now() - this.pausedAtMono;
    this.pausedAtMono = null;
    this.state = 'running';
    this.carryOn();
    this.hooks.changed(this);
  }

  stop(): void {
    this.end('stopped');
  }

  protected progressed(): void {
    this.hooks.progressed(this);
  }

  protected fail(error: unknown): void {
    this.end('failed', toUserError(error));
  }

  protected end(state: 'done' | 'stopped' | 'failed', error: UserError | null = null): void {
    if (!this.isActive) return;
    const now = performance.now();
    if (this.pausedAtMono !== null) this.pausedMs += now - this.pausedAtMono;
    this.pausedAtMono = null;
    this.endedMono = now;
    this.endedAt = Date.now();
    this.state = state;
    this.error = error;
    this.halt();
    this.hooks.ended(this);
  }
}

export function toUserError(error: unknown): UserError {
  if (error instanceof WorkbenchError) return error.toUserError();
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

/** Whether a send failed only because the target's queue was full: a skip, not the end. */
export function isQueueFull(error: unknown): boolean {
  return error instanceof WorkbenchError && error.code === 'SEND_QUEUE_FULL';
}

const targetKinds: Record<ValidSendTarget['kind'], readonly EndpointInfo['kind'][]> = {
  connection: ['tcp-connection', 'unix-connection'],
  broadcast: ['tcp-listener', 'unix-listener'],
  datagram: ['udp-socket'],
};

/** A job's target must exist and be the right kind now, so a wrong one fails the command. */
export function checkTarget(host: AutomationHost, target: ValidSendTarget): void {
  const endpoint = host.describe(target.id);
  if (!endpoint) throw new WorkbenchError('UNKNOWN_ENDPOINT', `No endpoint with id ${target.id}`);
  if (!targetKinds[target.kind].includes(endpoint.kind)) {
    throw new WorkbenchError(
      'WRONG_ENDPOINT_KIND',
      `${target.id} is a ${endpoint.kind}; a ${target.kind} send needs a ` +
        targetKinds[target.kind].join(' or '),
    );
  }
}

/** A short, language-free label from a payload's text: its start, cut at `max` characters. */
export function preview(text: string, max = 32): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * A timer that can be cancelled from outside and tells whether it ran out or was cancelled, so
 * a loop awaiting it (file-sender.ts) ends at once on stop.
 */
export class Sleeper {
  private timer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;

  sleep(ms: number): Promise<void> {
    this.cancel();
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.wake = null;
        resolve();
      }, ms);
    });
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
