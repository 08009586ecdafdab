/**
 * Pure helpers for the send-job views (Jobs.svelte, RepeatSend.svelte): keeping a job list in
 * step with job.updated / job.removed, and reading the numbers the forms take.
 */
import { INTERVAL_MS_MAX, type JobInfo } from '../../../shared/contract';

/** The list with `job` put in (replacing its older self), in the order jobs were started. */
export function upsertJob(jobs: readonly JobInfo[], job: JobInfo): JobInfo[] {
  const index = jobs.findIndex((j) => j.id === job.id);
  if (index === -1) return [...jobs, job].sort(byStart);
  const next = jobs.slice();
  next[index] = job;
  return next;
}

export function removeJob(jobs: readonly JobInfo[], id: string): JobInfo[] {
  return jobs.filter((job) => job.id !== id);
}

/** job-2 before job-10: ids are numbered in the order the engine started them. */
function byStart(a: JobInfo, b: JobInfo): number {
  return jobNumber(a.id) - jobNumber(b.id);
}

function jobNumber(id: string): number {
  return Number(id.slice(id.lastIndexOf('-') + 1)) || 0;
}

export function isActive(job: JobInfo): boolean {
  return job.state === 'running' || job.state === 'paused';
}

/** A whole number typed into a form, within bounds; null when it is not one. */
export function parseWhole(text: string, min: number, max: number): number | null {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return null;
  const n = Number(trimmed);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : null;
}

/** An interval in ms, 1 ms to a day. */
export function parseInterval(text: string): number | null {
  return parseWhole(text, 1, INTERVAL_MS_MAX);
}

/** An optional count: empty means "until stopped" (null); otherwise 1 or more. */
export function parseCount(text: string): { ok: true; count: number | null } | { ok: false } {
  if (text.trim() === '') return { ok: true, count: null };
  const count = parseWhole(text, 1, 1_000_000_000);
  return count === null ? { ok: false } : { ok: true, count };
}

/** One row of the sequence editor, as typed. */
export interface StepDraft {
  data: string;
  delay: string;
}

/**
 * The steps of the sequence editor for send.sequence, or the first row that is not one (its
 * index and why): every step needs a payload and a delay of 0 ms or more.
 */
export function parseSteps(
  drafts: readonly StepDraft[],
  format: 'text' | 'hex',
):
  | {
      ok: true;
      steps: Array<{ payload: { format: 'text' | 'hex'; data: string }; delayMs: number }>;
    }
  | { ok: false; index: number; problem: 'empty' | 'delay' } {
  const steps = [];
  for (const [index, draft] of drafts.entries()) {
    if (draft.data.length === 0) return { ok: false, index, problem: 'empty' };
    const delayMs = parseWhole(draft.delay, 0, INTERVAL_MS_MAX);
    if (delayMs === null) return { ok: false, index, problem: 'delay' };
    steps.push({ payload: { format, data: draft.data }, delayMs });
  }
  return { ok: true, steps };
}
