/**
 * Real faults against a running pipeline, shared by the recovery tests and
 * `npm run bench:recovery`: SIGKILL a host's process group, SIGTERM its
 * agent (a preemption notice), freeze a host (SIGSTOP of its group: its
 * agent goes silent), kill the worker
 * process, restart the Temporal server, kill a host in the middle of a
 * checkpoint upload. Each fault waits for its trigger in the store, strikes,
 * then measures the recovery from what lands in the store: the step the
 * faulted job had reached, the step the next job resumed from, and the time
 * from the fault to that job's first new step.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentHeartbeat, StageName, StageProgressFile, StageStatusFile } from '../../src/jobs/contract';
import type { Store } from '../../src/store/store';
import { progressQuery } from '../../workflows/messages';
import type { RunProgress } from '../../workflows/progress';

export type FaultKind = 'sigterm' | 'sigkill' | 'worker_kill' | 'kill_during_upload' | 'baseline_restart' | 'host_freeze' | 'server_restart';

export interface FaultPlan {
  kind: FaultKind;
  stage: StageName;
  /** Strike once a job of the stage not yet faulted reports this step (kill_during_upload: the first upload at or after it). */
  atStep: number;
}

/** One fault and its recovery, as bench/results/recovery.json records it. */
export interface Trial {
  fault: FaultKind;
  stage: StageName;
  job_id: string;
  host_id: string | null;
  /** The step the plan named (kill_during_upload: the first upload at or after it). */
  planned_step: number;
  /** The last step the faulted job completed. */
  step_at_fault: number;
  resumed_from_step: number | null;
  steps_redone: number | null;
  /** From the fault to the first new step after it (worker_kill: to a retried runJob re-attaching; server_restart: to the workflow hearing of progress again). */
  seconds_to_resume: number | null;
  completed: boolean;
  /** kill_during_upload: the step of the checkpoint whose upload was cut short. */
  uncommitted_step?: number;
  /** sigterm: seconds from the signal to the interrupted status. */
  seconds_to_stop?: number;
  /**
   * seconds_to_resume split where a new job ran (sigkill, sigterm, host_freeze, kill_during_upload,
   * baseline_restart): the fault until the workflow recorded the host loss, until the next job's
   * process started on a host, until that job had loaded its model and checkpoint (its first
   * progress.json), and until its first new step. Each phase is null when it was not seen.
   */
  phases?: { detection_s: number | null; new_host_s: number | null; model_load_s: number | null; first_step_s: number | null };
}

/** Faults whose strike step can be held for (FINETUNE_TEST_HOLD_AT): those that stop the job at once. */
export const HELD_FAULTS: readonly FaultKind[] = ['sigkill', 'sigterm', 'baseline_restart', 'host_freeze'];

/**
 * The trainer's test hold (trainer/durable_finetune/training.py HoldAtStep) for these plans:
 * the environment a host's trainer reads, so that each held fault strikes at its planned step.
 */
export function holdEnv(plans: FaultPlan[], markerDir: string): Record<string, string> {
  const at = plans.filter((p) => HELD_FAULTS.includes(p.kind)).map((p) => `${p.stage}:${p.atStep}`);
  return at.length ? { FINETUNE_TEST_HOLD_AT: at.join(','), FINETUNE_TEST_HOLD_DIR: markerDir } : {};
}

export interface FaultEnv {
  store: Store;
  runId: string;
  handle: WorkflowHandle;
  /** Kills the worker process and starts a new one (worker_kill). */
  replaceWorker?(): Promise<void>;
  /** Stops the Temporal server and starts it again on its database (server_restart). */
  restartServer?(): Promise<void>;
  log?(line: string): void;
}

const stageKey = (runId: string, stage: string, rest: string): string => `runs/${runId}/stages/${stage}/${rest}`;

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function progressOf(store: Store, runId: string, stage: string): Promise<StageProgressFile | undefined> {
  return store.getJson<StageProgressFile>(stageKey(runId, stage, 'progress.json'));
}

/** The agent running the given job, from the hosts' heartbeats in the store. */
export async function agentRunning(store: Store, runId: string, jobId: string): Promise<AgentHeartbeat | undefined> {
  const keys = (await store.list(`runs/${runId}/hosts/`)).filter((k) => k.endsWith('/agent.json'));
  for (const key of keys) {
    const beat = await store.getJson<AgentHeartbeat>(key);
    if (beat?.job_id === jobId && beat.state === 'running') return beat;
  }
  return undefined;
}

/** How many stage processes each job started, from the agents' start records: one each, always. */
export async function startsPerJob(store: Store, runId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const key of await store.list(`runs/${runId}/stages/`)) {
    const m = /\/stages\/[^/]+\/starts\/([^/]+)\/[^/]+\.json$/.exec(key);
    if (m) counts[m[1]] = (counts[m[1]] ?? 0) + 1;
  }
  return counts;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Runs the plans one after another against a running pipeline; returns a trial per plan. */
export async function injectFaults(env: FaultEnv, plans: FaultPlan[]): Promise<Trial[]> {
  const faulted = new Set<string>();
  const trials: Trial[] = [];
  for (const plan of plans) {
    const trial = await inject(env, plan, faulted);
    env.log?.(
      `${plan.kind} in ${plan.stage}: ${trial.job_id} at step ${trial.step_at_fault}, resumed from ${trial.resumed_from_step}, ` +
        `${trial.steps_redone} steps redone, ${trial.seconds_to_resume} s to resume`,
    );
    trials.push(trial);
  }
  return trials;
}

async function inject(env: FaultEnv, plan: FaultPlan, faulted: Set<string>): Promise<Trial> {
  const { store, runId } = env;
  const { stage } = plan;
  const ckptPrefix = stageKey(runId, stage, 'checkpoints/');

  // The trigger: a job not faulted before, at the planned step (or mid-upload of a checkpoint).
  let uncommitted: number | undefined;
  const target = await until(
    `${plan.kind} trigger in ${stage} at step ${plan.atStep}`,
    900_000,
    async () => {
      const p = await progressOf(store, runId, stage);
      if (!p || faulted.has(p.job_id)) return null;
      if (plan.kind === 'kill_during_upload') {
        const folders = new Map<number, string[]>();
        for (const key of await store.list(ckptPrefix)) {
          const m = /checkpoint-(\d+)\/(.+)$/.exec(key);
          if (m) folders.set(Number(m[1]), [...(folders.get(Number(m[1])) ?? []), m[2]]);
        }
        for (const [step, files] of folders) {
          if (step >= plan.atStep && step > p.resumed_from_step && !files.includes('COMMITTED.json') && files.some((f) => f.endsWith('.safetensors'))) {
            uncommitted = step;
            return p;
          }
        }
        return null;
      }
      return p.step >= plan.atStep ? p : null;
    },
    50,
  );
  const jobId = target.job_id;
  // A worker kill or a server restart leaves the job running: a later fault may strike it again.
  if (plan.kind !== 'worker_kill' && plan.kind !== 'server_restart') faulted.add(jobId);
  const agent = await agentRunning(store, runId, jobId);
  const faultAt = Date.now();
  const trial: Trial = {
    fault: plan.kind,
    stage,
    job_id: jobId,
    host_id: agent?.host_id ?? null,
    planned_step: uncommitted ?? plan.atStep,
    step_at_fault: target.step,
    resumed_from_step: null,
    steps_redone: null,
    seconds_to_resume: null,
    completed: false,
  };

  if (plan.kind === 'worker_kill' || plan.kind === 'server_restart') {
    if (plan.kind === 'worker_kill') await env.replaceWorker!();
    else await env.restartServer!();
    // The job never stopped; what the fault costs is the control plane's blind time: until a retried
    // runJob re-attaches (worker_kill), or the workflow hears of new progress (server_restart).
    const seen = await until(
      `the workflow to see ${stage} progress after ${plan.kind}`,
      600_000,
      async () => {
        const p = (await env.handle.query(progressQuery)) as RunProgress;
        if (p.stage !== stage || p.stages[stage].state === 'succeeded') return p;
        if (plan.kind === 'server_restart') return p.step > target.step ? p : null;
        const pending = (await env.handle.describe()).raw.pendingActivities ?? [];
        return pending.some((a) => a.activityType?.name === 'runJob' && (a.attempt ?? 1) > 1 && a.state === 2) ? p : null;
      },
      250,
    );
    const finalJob = (await progressOf(store, runId, stage))?.job_id;
    trial.seconds_to_resume = round((Date.now() - faultAt) / 1000);
    trial.resumed_from_step = finalJob === jobId ? target.step : null;
    trial.steps_redone = finalJob === jobId ? 0 : null;
    env.log?.(`  (${plan.kind}: the workflow saw progress again in stage ${seen.stage} at step ${seen.step})`);
    return trial;
  }

  if (!agent) throw new Error(`no agent is running ${jobId}`);
  if (plan.kind === 'sigterm') signal(agent.pid, 'SIGTERM');
  else if (plan.kind === 'host_freeze')
    signal(-agent.pid, 'SIGSTOP'); // release's SIGTERM + SIGCONT wakes it to commit
  else signal(-agent.pid, 'SIGKILL'); // sigkill, kill_during_upload, baseline_restart: the host is gone
  if (uncommitted !== undefined) trial.uncommitted_step = uncommitted;

  if (plan.kind === 'sigterm' || plan.kind === 'host_freeze') {
    const status = await until(`${jobId} to stop with a committed checkpoint`, 120_000, async () => {
      const s = await store.getJson<StageStatusFile>(stageKey(runId, stage, 'status.json'));
      return s?.job_id === jobId ? s : null;
    });
    if (plan.kind === 'sigterm') trial.seconds_to_stop = round((Date.now() - faultAt) / 1000);
    trial.step_at_fault = status.state === 'interrupted' ? (status.steps_done ?? trial.step_at_fault) : trial.step_at_fault;
  } else {
    await sleep(300);
    const last = await progressOf(store, runId, stage);
    if (last?.job_id === jobId) trial.step_at_fault = last.step;
    // The job had finished the step whose checkpoint it was uploading; progress.json says so only after the commit.
    if (uncommitted !== undefined) trial.step_at_fault = Math.max(trial.step_at_fault, uncommitted);
    if (plan.kind === 'baseline_restart') await store.deletePrefix(ckptPrefix);
  }

  const lossesBefore = ((await env.handle.query(progressQuery)) as RunProgress).losses.length;
  const seen: { detection?: number; newHost?: number; loaded?: number } = {};
  const since = (): number => round((Date.now() - faultAt) / 1000);
  const watchDetection = (async () => {
    while (seen.detection === undefined && !seen.loaded) {
      const p = (await env.handle.query(progressQuery).catch(() => null)) as RunProgress | null;
      if (p && p.losses.length > lossesBefore) seen.detection = since();
      else await sleep(100);
    }
  })();
  const resumed = await until(
    `the next ${stage} job's first new step after ${plan.kind}`,
    600_000,
    async () => {
      if (seen.newHost === undefined) {
        const starts = await store.list(stageKey(runId, stage, 'starts/'));
        if (starts.some((k) => !k.includes(`/starts/${jobId}/`))) seen.newHost = since();
      }
      const p = await progressOf(store, runId, stage);
      if (p && p.job_id !== jobId && seen.loaded === undefined) seen.loaded = since();
      return p && p.job_id !== jobId && p.step > p.resumed_from_step ? p : null;
    },
    50,
  );
  trial.seconds_to_resume = since();
  await watchDetection;
  trial.phases = phasesOf({ ...seen, resumed: trial.seconds_to_resume });
  trial.resumed_from_step = resumed.resumed_from_step;
  trial.steps_redone = Math.max(0, trial.step_at_fault - resumed.resumed_from_step);
  return trial;
}

const round = (x: number): number => Math.round(x * 10) / 10;

/**
 * The phases of a recovery from the seconds after the fault at which each milestone was seen:
 * the workflow recorded the loss (detection, polled through a query), a new job started
 * (newHost, from the store), its progress came (loaded), its first new step (resumed). The
 * milestones are polled by different means, so a later one can be seen before an earlier one
 * (a query is slower than a store read): each milestone is then bounded by the next one seen,
 * so the phases never go negative and still add up to the time to resume. A milestone never
 * seen is bounded the same way; a phase is null only when nothing bounds it.
 */
export function phasesOf(m: { detection?: number; newHost?: number; loaded?: number; resumed: number }): NonNullable<Trial['phases']> {
  const loaded = Math.min(m.loaded ?? m.resumed, m.resumed);
  const newHost = Math.min(m.newHost ?? loaded, loaded);
  const detection = m.detection === undefined ? undefined : Math.min(m.detection, newHost);
  return {
    detection_s: detection === undefined ? null : round(detection),
    new_host_s: round(newHost - (detection ?? 0)),
    model_load_s: round(loaded - newHost),
    first_step_s: round(m.resumed - loaded),
  };
}
