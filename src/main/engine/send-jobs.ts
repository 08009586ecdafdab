/**
 * Send jobs the engine runs on its own timers (never the renderer's): repeat a payload every N
 * ms, send a sequence of payloads with delays, send a file. A send the socket cannot take now is
 * skipped and counted, never piled up. This registry numbers the jobs, tells the views about
 * them (job.updated a few times a second at most, job.removed) and keeps the finished ones a
 * while so the user sees how they ended.
 */
import type { JobInfo, ValidInput } from '../../shared/contract';
import { WorkbenchError } from '../../shared/errors';
import type { AutomationHost } from './automation-host';
import { FileJob, fileLabel, openFile } from './file-sender';
import { checkTarget, preview, type JobHooks, type JobSetup, type SendJob } from './send-job';
import { RepeatJob, SequenceJob } from './timed-jobs';

/** Progress goes out at most this often per job while it runs (plus at start, pause and end). */
export const JOB_PROGRESS_MS = 250;
/** Finished jobs kept listed (oldest forgotten first) until the user removes them. */
export const FINISHED_JOBS_KEPT = 50;

export class SendJobs {
  private readonly jobs = new Map<string, SendJob>();
  private nextId = 1;
  /** Jobs whose counters moved since the last progress round. */
  private readonly dirty = new Set<SendJob>();
  private progressTimer: NodeJS.Timeout | null = null;
  private readonly hooks: JobHooks = {
    changed: (job) => this.publish(job),
    progressed: (job) => {
      this.dirty.add(job);
      this.progressTimer ??= setInterval(() => this.progressRound(), JOB_PROGRESS_MS);
    },
    ended: (job) => {
      this.dirty.delete(job);
      this.publish(job);
      const { state, error } = job.info();
      const event =
        state === 'failed' ? 'job-failed' : state === 'done' ? 'job-done' : 'job-stopped';
      this.host.note(job.endpointId, event, {
        detail: jobSummary(job),
        ...(error ? { error } : {}),
      });
      this.host.touch(job.endpointId);
      this.trimFinished();
    },
  };

  constructor(private readonly host: AutomationHost) {}

  repeat(input: ValidInput<'send.repeat'>): JobInfo {
    checkTarget(this.host, input.target);
    const bytes = this.encode(input.payload);
    const job = new RepeatJob(
      this.setup('repeat', input.target, preview(input.payload.data), input.count),
      bytes,
      input.intervalMs,
      input.count,
    );
    return this.begin(job);
  }

  sequence(input: ValidInput<'send.sequence'>): JobInfo {
    checkTarget(this.host, input.target);
    const steps = input.steps.map((step) => ({
      bytes: this.encode(step.payload),
      delayMs: step.delayMs,
    }));
    const label = preview(input.steps.map((step) => step.payload.data).join(' → '));
    const planned = input.repeat === null ? null : steps.length * input.repeat;
    return this.begin(
      new SequenceJob(this.setup('sequence', input.target, label, planned), steps, planned),
    );
  }

  async file(input: ValidInput<'send.file'>): Promise<JobInfo> {
    checkTarget(this.host, input.target);
    const file = await openFile(input.path);
    // The target may have gone while the file was opening.
    try {
      checkTarget(this.host, input.target);
    } catch (error) {
      await file.handle.close();
      throw error;
    }
    const setup = this.setup('file', input.target, fileLabel(input.path), file.size);
    return this.begin(
      new FileJob(setup, {
        file,
        path: input.path,
        chunkBytes: input.chunkBytes ?? null,
        intervalMs: input.intervalMs,
      }),
    );
  }

  list(): JobInfo[] {
    return [...this.jobs.values()].map((job) => job.info());
  }

  pause(id: string): JobInfo {
    const job = this.get(id);
    job.pause();
    return job.info();
  }

  resume(id: string): JobInfo {
    const job = this.get(id);
    job.resume();
    return job.info();
  }

  /** Stops a running or paused job at once; a finished one is forgotten (job.removed). */
  stop(id: string): JobInfo {
    const job = this.get(id);
    if (job.isActive) {
      job.stop();
      return job.info();
    }
    this.remove(job);
    return job.info();
  }

  /** Jobs running or paused on an endpoint. */
  activeOn(endpointId: string): number {
    let active = 0;
    for (const job of this.jobs.values()) {
      if (job.isActive && job.endpointId === endpointId) active += 1;
    }
    return active;
  }

  /** The endpoint is gone: its jobs stop and are forgotten. */
  forget(endpointId: string): void {
    for (const job of [...this.jobs.values()]) {
      if (job.endpointId !== endpointId) continue;
      job.stop();
      this.remove(job);
    }
  }

  dispose(): void {
    for (const job of this.jobs.values()) job.stop();
    if (this.progressTimer) clearInterval(this.progressTimer);
    this.progressTimer = null;
    this.dirty.clear();
  }

  private encode(payload: ValidInput<'send.repeat'>['payload']): Uint8Array {
    const bytes = this.host.encodePayload(payload);
    if (bytes.byteLength === 0) {
      throw new WorkbenchError('INVALID_INPUT', 'Nothing to send: the payload is empty');
    }
    return bytes;
  }

  private setup(
    kind: JobInfo['kind'],
    target: ValidInput<'send.repeat'>['target'],
    label: string,
    planned: number | null,
  ): JobSetup {
    return {
      id: `job-${this.nextId++}`,
      kind,
      target,
      label,
      planned,
      host: this.host,
      hooks: this.hooks,
    };
  }

  private begin(job: SendJob): JobInfo {
    this.jobs.set(job.id, job);
    this.host.touch(job.endpointId);
    this.host.note(job.endpointId, 'job-started', { detail: jobSummary(job) });
    job.start();
    // A job can end within start() (a count of 1, an empty file): ended() has published it.
    if (job.isActive) this.publish(job);
    return job.info();
  }

  private get(id: string): SendJob {
    const job = this.jobs.get(id);
    if (!job) throw new WorkbenchError('UNKNOWN_JOB', `No send job ${id}`);
    return job;
  }

  private remove(job: SendJob): void {
    if (!this.jobs.delete(job.id)) return;
    this.dirty.delete(job);
    this.host.emit({ event: 'job.removed', payload: { id: job.id } });
  }

  private publish(job: SendJob): void {
    if (!this.jobs.has(job.id)) return;
    this.host.emit({ event: 'job.updated', payload: job.info() });
  }

  private progressRound(): void {
    for (const job of this.dirty) this.publish(job);
    this.dirty.clear();
    let running = false;
    for (const job of this.jobs.values()) if (job.state === 'running') running = true;
    if (!running && this.progressTimer) {
      clearInterval(this.progressTimer);
      this.progressTimer = null;
    }
  }

  private trimFinished(): void {
    const finished = [...this.jobs.values()].filter((job) => !job.isActive);
    for (const job of finished.slice(0, Math.max(0, finished.length - FINISHED_JOBS_KEPT))) {
      this.remove(job);
    }
  }
}

/**
 * How a job reads on a timeline: `job-3 repeat "hello" ×100` when it starts,
 * `job-3 repeat "hello" 97/100, 3 skipped` when it ends (a file counts bytes).
 */
function jobSummary(job: SendJob): string {
  const { id, kind, label, planned, done, skipped } = job.info();
  const unit = kind === 'file' ? ' B' : '';
  const head = `${id} ${kind} "${label}"`;
  if (job.isActive) return planned === null ? head : `${head} ×${planned}${unit}`;
  const progress = `${done}/${planned ?? '∞'}${unit}`;
  return skipped > 0 ? `${head} ${progress}, ${skipped} skipped` : `${head} ${progress}`;
}
