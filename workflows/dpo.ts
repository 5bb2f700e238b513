/**
 * DPO with the collapse guard's retries. The trainer stops a collapsing DPO
 * run (DpoCollapsed, with its metric history); each retry starts again from
 * the merged SFT model (the same inputs: never from the collapsed weights)
 * with gentler settings, up to dpo.max_attempts. If every attempt collapses,
 * the run ships the SFT model and says so. Deterministic: workflow code only.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import type { JobResult } from '../activities/types';
import type { DpoConfig } from '../src/config/schema';
import { FAILURE_TYPES } from '../src/jobs/failures';

export const DPO_COLLAPSED = FAILURE_TYPES.DpoCollapsed.type;

export interface DpoSettings {
  beta: number;
  learning_rate: number;
}

export interface DpoAttempt extends DpoSettings {
  attempt: number;
  /** The job id prefix of this attempt; its jobs are `<jobTag>-<host attempt>`. */
  jobTag: string;
  outcome: 'running' | 'succeeded' | 'collapsed';
  /** Why the guard stopped it (the trainer's message). */
  reason: string | null;
}

export interface DpoSummary {
  /** Which model the run ships in place of DPO's: 'dpo', or 'sft' when every attempt collapsed. */
  shipped: 'dpo' | 'sft';
  attempts: DpoAttempt[];
  note: string;
}

export interface DpoOutcome extends DpoSummary {
  /** The succeeded attempt's job, or null when every attempt collapsed. */
  result: JobResult | null;
}

/** Runs one DPO job (on whatever host the pool gives) with these params and job id prefix. */
export type RunDpoJob = (params: Record<string, unknown>, jobTag: string) => Promise<JobResult>;

/**
 * The settings of each attempt: the config's for the first; for attempt n > 1 the
 * previous attempt's with retry_schedule[n - 2] applied, or beta doubled (at most 10)
 * and learning_rate quartered where the schedule says nothing.
 */
export function attemptSettings(cfg: Pick<DpoConfig, 'beta' | 'learning_rate' | 'retry_schedule'>, attempt: number): DpoSettings {
  let s: DpoSettings = { beta: cfg.beta, learning_rate: cfg.learning_rate };
  for (let n = 2; n <= attempt; n++) {
    const step = cfg.retry_schedule[n - 2];
    s = {
      beta: step?.beta ?? Math.min(10, s.beta * 2),
      learning_rate: step?.learning_rate ?? s.learning_rate / 4,
    };
  }
  return s;
}

export async function runDpo(cfg: DpoConfig, params: Record<string, unknown>, run: RunDpoJob, onChange: (summary: DpoSummary) => void = () => undefined): Promise<DpoOutcome> {
  // The retry knobs are the workflow's; the trainer gets the rest.
  const { max_attempts: _maxAttempts, retry_schedule: _schedule, ...trainerParams } = params;
  const attempts: DpoAttempt[] = [];
  const summary = (shipped: 'dpo' | 'sft', note: string): DpoSummary => ({ shipped, attempts, note });
  for (let attempt = 1; attempt <= cfg.max_attempts; attempt++) {
    const settings = attemptSettings(cfg, attempt);
    const jobTag = attempt === 1 ? 'dpo' : `dpo.r${attempt}`;
    const current: DpoAttempt = { attempt, jobTag, ...settings, outcome: 'running', reason: null };
    attempts.push(current);
    onChange(summary('dpo', attempt === 1 ? '' : retryNote(attempts)));
    try {
      const result = await run({ ...trainerParams, ...settings }, jobTag);
      current.outcome = 'succeeded';
      const note = attempt === 1 ? 'dpo succeeded on the first attempt' : `dpo succeeded on attempt ${attempt} of ${cfg.max_attempts}: ${retryNote(attempts)}`;
      const done = summary('dpo', note);
      onChange(done);
      return { ...done, result };
    } catch (err) {
      const reason = collapseReason(err);
      if (reason === null) throw err;
      current.outcome = 'collapsed';
      current.reason = reason;
    }
  }
  const note = `every DPO attempt collapsed (${cfg.max_attempts}); shipping the SFT model instead: ${retryNote(attempts)}`;
  const gaveUp = summary('sft', note);
  onChange(gaveUp);
  return { ...gaveUp, result: null };
}

export function dpoSummary(o: DpoOutcome): DpoSummary {
  return { shipped: o.shipped, attempts: o.attempts, note: o.note };
}

function retryNote(attempts: DpoAttempt[]): string {
  return attempts.map((a) => `#${a.attempt} beta ${a.beta} lr ${a.learning_rate}: ${a.outcome}${a.reason ? ` (${a.reason})` : ''}`).join('; ');
}

/** The guard's message when err is a DpoCollapsed stage failure, else null. */
function collapseReason(err: unknown): string | null {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type === DPO_COLLAPSED) return cause.message.slice(0, 300);
  return null;
}
