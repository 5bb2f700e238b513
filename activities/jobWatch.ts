/**
 * Watching one posted job through the store until it ends. A JobWatch holds
 * what it has seen of the job (its last step and checkpoint, when it last
 * moved, where it resumed from, its first new step); each poll finds the job
 * in one of these states:
 *
 * - ended: its status.json is written: a result, its failure, or HostLost when
 *   the stage stopped on a preemption notice;
 * - host gone: HostLost, once the status the stage may still be writing has
 *   had its chance (a preempted VM's 30 s notice);
 * - agent silent: HostLost, when agent.json is older than monitor.agent_stale_s;
 * - hung: StageHung, with the log tails, after monitor.hang_timeout_s without progress;
 * - running: polled again after monitor.poll_interval_s.
 */
import { ApplicationFailure, type Context } from '@temporalio/activity';
import { agentKey, stageKey, type AgentHeartbeat, type JobSpec, type StageProgressFile, type StageStatusFile } from '../src/jobs/contract';
import { FAILURES, FAILURE_TYPES, HOST_LOST } from '../src/jobs/failures';
import { GCE_PREEMPTION_NOTICE_S, type HostLease, type HostProvider } from '../src/hosts/provider';
import type { PipelineConfig } from '../src/config/schema';
import type { Logger } from '../src/log';
import type { PipelineMetrics } from '../src/metrics';
import type { Store } from '../src/store/store';
import type { HostLostDetails, JobProgress, JobResult } from './types';

/** How long a failed stage's status may wait for its agent to add the log tail. */
const AGENT_AMEND_MS = 10_000;

/** What a job is watched through, and where what is seen goes. */
export interface JobWatchIo {
  ctx: Context;
  store: Store;
  provider: HostProvider;
  lease: HostLease;
  job: JobSpec;
  monitor: PipelineConfig['monitor'];
  log: Logger;
  metrics: PipelineMetrics;
  /** Tells the workflow of the job's progress (its jobProgress signal). */
  report(progress: JobProgress): Promise<void>;
}

type Poll =
  | { state: 'ended'; status: StageStatusFile }
  | { state: 'host gone'; reason: string; preempted: boolean }
  | { state: 'agent silent'; seconds: number }
  | { state: 'hung' }
  | { state: 'running' };

export class JobWatch {
  private lastStep = 0;
  private lastCheckpointStep: number | null = null;
  private lastProgressAt = Date.now();
  /** progress.json's updated_at when last read: a new one is new progress. */
  private progressStamp = '';
  private lastReport = 0;
  private resumedFromStep: number | null = null;
  /** The first new step after a resume, and when it was seen: the job's own step rate starts there. */
  private firstStep: { step: number; at: number } | null = null;

  constructor(private readonly io: JobWatchIo) {}

  /** Polls until the job ends: its result, or the failure that says why it did not finish. */
  async untilEnded(): Promise<JobResult> {
    const { ctx, monitor } = this.io;
    for (;;) {
      const seen = await this.poll();
      switch (seen.state) {
        case 'ended':
          return await this.ended(seen.status);
        case 'host gone':
          return await this.hostGone(seen.reason, seen.preempted);
        case 'agent silent':
          throw await this.lost(`agent silent for ${Math.round(seen.seconds)} s (agent.json not updated)`);
        case 'hung':
          throw await this.hung();
        case 'running':
          await ctx.sleep(monitor.poll_interval_s * 1000);
      }
    }
  }

  private async poll(): Promise<Poll> {
    const { ctx, store, provider, lease, job, monitor } = this.io;
    const status = await this.status();
    if (status) return { state: 'ended', status };
    const progress = await store.getJson<StageProgressFile>(stageKey(job.run_id, job.stage, 'progress.json'));
    if (progress?.job_id === job.job_id && progress.updated_at !== this.progressStamp) await this.progressed(progress);
    ctx.heartbeat({ jobId: job.job_id, step: this.lastStep });
    const host = await provider.state(lease);
    if (host.kind === 'gone') return { state: 'host gone', reason: host.reason, preempted: host.preempted ?? false };
    const silence = await agentSilence(store, job, lease);
    if (silence !== null && silence > monitor.agent_stale_s) return { state: 'agent silent', seconds: silence };
    if (Date.now() - this.lastProgressAt > monitor.hang_timeout_s * 1000) return { state: 'hung' };
    return { state: 'running' };
  }

  /** The job's status.json when this job wrote it, else null. */
  private async status(): Promise<StageStatusFile | null> {
    const { store, job } = this.io;
    const status = await store.getJson<StageStatusFile>(stageKey(job.run_id, job.stage, 'status.json'));
    return status?.job_id === job.job_id ? status : null;
  }

  /** New progress: its speed and newly committed checkpoint recorded, and the workflow told when due. */
  private async progressed(progress: StageProgressFile): Promise<void> {
    const { store, job, monitor, log, metrics } = this.io;
    const seconds = (Date.parse(progress.updated_at) - Date.parse(this.progressStamp)) / 1000;
    if (seconds > 0 && progress.step > this.lastStep) metrics.stepsPerSecond(job.stage, (progress.step - this.lastStep) / seconds);
    if (progress.last_checkpoint_step !== null && progress.last_checkpoint_step !== this.lastCheckpointStep) {
      const committed = await store.getJson<{ upload_seconds?: number }>(stageKey(job.run_id, job.stage, `checkpoints/checkpoint-${progress.last_checkpoint_step}/COMMITTED.json`));
      if (committed?.upload_seconds !== undefined) metrics.checkpointUpload(job.stage, committed.upload_seconds);
      log.info({ step: progress.last_checkpoint_step, uploadSeconds: committed?.upload_seconds }, 'checkpoint committed');
    }
    this.progressStamp = progress.updated_at;
    this.lastProgressAt = Date.now();
    this.lastStep = progress.step;
    this.lastCheckpointStep = progress.last_checkpoint_step;
    this.resumedFromStep = progress.resumed_from_step;
    // The first new step after a resume is reported at once: the workflow times recovery by it.
    const firstNew = this.firstStep === null && progress.step > progress.resumed_from_step;
    if (firstNew) this.firstStep = { step: progress.step, at: this.lastProgressAt };
    const due = Date.now() - this.lastReport >= monitor.progress_interval_s * 1000;
    if (due || firstNew || progress.step >= progress.total_steps) {
      this.lastReport = Date.now();
      await this.io.report(toJobProgress(progress, job.host_id)).catch(() => undefined);
    }
  }

  /**
   * The agent may have written the final status just before its host went. A preempted VM
   * is STOPPING for up to 30 s while its stage commits a checkpoint on SIGTERM: wait for
   * that status, so the loss is counted at the step the stage really reached.
   */
  private async hostGone(reason: string, preempted: boolean): Promise<JobResult> {
    const { ctx, job, monitor } = this.io;
    const waitUntil = Date.now() + (preempted ? GCE_PREEMPTION_NOTICE_S * 1000 : 0);
    for (;;) {
      const last = await this.status();
      if (last) return await this.ended(last);
      if (Date.now() >= waitUntil) break;
      ctx.heartbeat({ jobId: job.job_id, step: this.lastStep });
      await ctx.sleep(Math.min(1000, monitor.poll_interval_s * 1000));
    }
    throw await this.lost(reason, preempted);
  }

  private async ended(status: StageStatusFile): Promise<JobResult> {
    const { ctx, provider, lease, log } = this.io;
    if (status.state === 'interrupted') {
      // The stage committed a checkpoint at steps_done as it stopped; progress.json may lag behind it.
      if (status.steps_done !== null && status.steps_done >= this.lastStep) {
        this.lastStep = status.steps_done;
        this.lastCheckpointStep = status.steps_done;
      }
      throw await this.lost(`stage interrupted on ${lease.hostId} (SIGTERM, preemption notice); checkpoint committed`, true);
    }
    // A stage that classified its own failure writes its status before it exits; its agent
    // then adds the log tail and exit code. Wait briefly for that, or the UI shows no log.
    for (const until = Date.now() + AGENT_AMEND_MS; status.state === 'failed' && status.log_tail.length === 0 && Date.now() < until;) {
      await ctx.sleep(250);
      status = (await this.status()) ?? status;
    }
    try {
      // A failed stage carries the host's console too (a VM's serial port: boot, driver, agent).
      const hostTail = status.state === 'failed' ? await provider.logTail(lease, 10).catch(() => []) : [];
      const result = finished(status, lease, hostTail);
      log.info({ stepsDone: result.stepsDone, resumedFromStep: result.resumedFromStep, seconds: result.seconds }, 'job finished');
      return result;
    } catch (err) {
      log.error({ failureClass: status.failure_class, exitCode: status.exit_code, message: status.message }, 'job failed');
      throw err;
    }
  }

  /** HostLost, with the step the lost job reached and the rate it went at, for the workflow to count what was redone. */
  private async lost(reason: string, preempted = false): Promise<ApplicationFailure> {
    const { store, lease, job, log, metrics } = this.io;
    // The lost job's last word: progress.json may hold steps the polls had not seen yet.
    const final = await store.getJson<StageProgressFile>(stageKey(job.run_id, job.stage, 'progress.json')).catch(() => null);
    if (final?.job_id === job.job_id && final.step >= this.lastStep) {
      if (final.updated_at !== this.progressStamp) this.lastProgressAt = Math.min(Date.now(), Date.parse(final.updated_at));
      this.lastStep = final.step;
      this.lastCheckpointStep = final.last_checkpoint_step;
      this.resumedFromStep = final.resumed_from_step;
    }
    const { lastStep, lastCheckpointStep, firstStep } = this;
    const rate = firstStep && lastStep > firstStep.step ? (this.lastProgressAt - firstStep.at) / 1000 / (lastStep - firstStep.step) : null;
    const details: HostLostDetails = {
      hostId: lease.hostId,
      reason,
      preempted,
      lastStep,
      lastCheckpointStep,
      jobId: job.job_id,
      resumedFromStep: this.resumedFromStep,
      lastProgressAt: new Date(this.lastProgressAt).toISOString(),
      secondsPerStep: rate,
    };
    log.warn({ reason, preempted, lastStep, lastCheckpointStep }, 'host lost');
    metrics.hostLost(job.stage, preempted);
    return ApplicationFailure.create({
      type: HOST_LOST,
      message: `host ${lease.hostId} lost during ${job.stage} at step ${lastStep}: ${reason}`,
      nonRetryable: true,
      details: [details],
    });
  }

  /** StageHung, with the end of the stage's log and of the host's console. */
  private async hung(): Promise<ApplicationFailure> {
    const { store, provider, lease, job, monitor } = this.io;
    const tail = await stageLogTail(store, job, 40);
    tail.push(...(await provider.logTail(lease, 10)).map((line) => `[host] ${line}`));
    return ApplicationFailure.create({
      type: FAILURE_TYPES.StageHung.type,
      message: `${job.stage} made no progress for ${monitor.hang_timeout_s} s (last step ${this.lastStep}). ${FAILURE_TYPES.StageHung.advice}`,
      nonRetryable: true,
      details: [{ failureClass: 'hang', lastStep: this.lastStep, logTail: tail }],
    });
  }
}

/** The end of the stage's own log, which the agent uploads while the job runs. */
async function stageLogTail(store: Store, job: JobSpec, lines: number): Promise<string[]> {
  const log = await store.getBytes(stageKey(job.run_id, job.stage, `logs/${job.job_id}.log`)).catch(() => null);
  if (!log) return [];
  const all = log.toString('utf8').split('\n');
  if (all.at(-1) === '') all.pop();
  return all.slice(-lines);
}

async function agentSilence(store: Store, job: JobSpec, lease: HostLease): Promise<number | null> {
  const agent = await store.getJson<AgentHeartbeat>(agentKey(job.run_id, lease.hostId));
  if (!agent) return null;
  return (Date.now() - Date.parse(agent.updated_at)) / 1000;
}

function toJobProgress(p: StageProgressFile, hostId: string): JobProgress {
  return {
    jobId: p.job_id,
    stage: p.stage,
    hostId,
    step: p.step,
    totalSteps: p.total_steps,
    loss: p.loss,
    lastCheckpointStep: p.last_checkpoint_step,
    resumedFromStep: p.resumed_from_step,
  };
}

/** The job's result when it succeeded; else the failure its class names, with the evidence and the advice. */
function finished(status: StageStatusFile, lease: HostLease, hostTail: string[]): JobResult {
  if (status.state === 'succeeded') {
    return {
      jobId: status.job_id,
      stage: status.stage,
      output: status.output,
      metrics: status.metrics,
      // A stage without training steps (preflight, merge, generate) writes null: none trained.
      stepsDone: status.steps_done ?? 0,
      // Only the agent's own failure status leaves it null; a stage's status always has it.
      resumedFromStep: status.resumed_from_step ?? 0,
      seconds: (Date.parse(status.finished_at) - Date.parse(status.started_at)) / 1000,
    };
  }
  const kind = FAILURES[status.failure_class ?? 'error'] ?? FAILURES.error;
  throw ApplicationFailure.create({
    type: kind.type,
    message: `${status.stage} failed on ${lease.hostId} (${status.failure_class ?? 'error'}): ${status.message}. ${kind.advice}`,
    nonRetryable: true,
    details: [
      {
        failureClass: status.failure_class,
        exitCode: status.exit_code,
        signal: status.signal,
        logTail: [...status.log_tail, ...hostTail.map((line) => `[host] ${line}`)],
        // The evidence a stage attached (e.g. DPO's metric history when it collapsed).
        metrics: status.metrics,
      },
    ],
  });
}
