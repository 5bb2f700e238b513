/**
 * runJob: posts a job to a host's mailbox and watches it through the store
 * until it ends. A retried runJob (worker crash) posts the same job id, which
 * the agent dedupes, and so re-attaches instead of starting a second process.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { openStore } from '../src/store/open';
import type { Store } from '../src/store/store';
import { agentKey, jobKey, stageKey, type AgentHeartbeat, type JobSpec, type StageProgressFile, type StageStatusFile } from '../src/jobs/contract';
import { FAILURES, HOST_LOST } from '../src/jobs/failures';
import type { HostLease } from '../src/hosts/provider';
import type { ActivityDeps } from './deps';
import { hostProvider } from './hosts';
import type { HostLostDetails, JobProgress, JobResult, RunJobInput } from './types';
import { runLog } from '../src/log';
import { pipelineMetrics } from '../src/metrics';

/** GCE gives a preempted VM this long between the ACPI soft-off and the hard stop. */
const PREEMPTION_NOTICE_MS = 30_000;
/** How long a failed stage's status may wait for its agent to add the log tail. */
const AGENT_AMEND_MS = 10_000;

export function jobActivities(deps: ActivityDeps) {
  return {
    async runJob(input: RunJobInput): Promise<JobResult> {
      const { job, lease, monitor } = input;
      const ctx = Context.current();
      const store = openStore(input.storeUri);
      const provider = hostProvider(deps, { provider: lease.provider as 'local' });
      const workflowId = ctx.info.workflowExecution?.workflowId ?? job.run_id;

      const posted = await store.getJson<JobSpec>(jobKey(job.run_id, job.host_id));
      if (posted?.job_id !== job.job_id) await store.putJson(jobKey(job.run_id, job.host_id), job);
      const jlog = runLog({ runId: job.run_id, stage: job.stage, hostId: job.host_id, jobId: job.job_id });
      const metrics = pipelineMetrics(ctx.metricMeter);
      jlog.info({ resume: job.resume, reattached: posted?.job_id === job.job_id, attempt: ctx.info.attempt }, 'job started');

      let lastStep = 0;
      let lastCheckpointStep: number | null = null;
      let lastProgressAt = Date.now();
      let lastProgressStamp = '';
      let lastReport = 0;
      let resumedFromStep: number | null = null;
      let firstStep: { step: number; at: number } | null = null;
      const lost = async (reason: string, preempted = false): Promise<ApplicationFailure> => {
        // The lost job's last word: progress.json may hold steps this loop had not polled yet.
        const final = await store.getJson<StageProgressFile>(stageKey(job.run_id, job.stage, 'progress.json')).catch(() => null);
        if (final?.job_id === job.job_id && final.step >= lastStep) {
          if (final.updated_at !== lastProgressStamp) lastProgressAt = Math.min(Date.now(), Date.parse(final.updated_at));
          lastStep = final.step;
          lastCheckpointStep = final.last_checkpoint_step;
          resumedFromStep = final.resumed_from_step;
        }
        const rate = firstStep && lastStep > firstStep.step ? (lastProgressAt - firstStep.at) / 1000 / (lastStep - firstStep.step) : null;
        const details: HostLostDetails = {
          hostId: lease.hostId,
          reason,
          preempted,
          lastStep,
          lastCheckpointStep,
          jobId: job.job_id,
          resumedFromStep,
          lastProgressAt: new Date(lastProgressAt).toISOString(),
          secondsPerStep: rate,
        };
        jlog.warn({ reason, preempted, lastStep, lastCheckpointStep }, 'host lost');
        metrics.hostLost(job.stage, preempted);
        return ApplicationFailure.create({
          type: HOST_LOST,
          message: `host ${lease.hostId} lost during ${job.stage} at step ${lastStep}: ${reason}`,
          nonRetryable: true,
          details: [details],
        });
      };

      for (;;) {
        const status = await store.getJson<StageStatusFile>(stageKey(job.run_id, job.stage, 'status.json'));
        if (status?.job_id === job.job_id) return await ended(status);

        const progress = await store.getJson<StageProgressFile>(stageKey(job.run_id, job.stage, 'progress.json'));
        if (progress?.job_id === job.job_id && progress.updated_at !== lastProgressStamp) {
          const seconds = (Date.parse(progress.updated_at) - Date.parse(lastProgressStamp)) / 1000;
          if (seconds > 0 && progress.step > lastStep) metrics.stepsPerSecond(job.stage, (progress.step - lastStep) / seconds);
          if (progress.last_checkpoint_step !== null && progress.last_checkpoint_step !== lastCheckpointStep) {
            const committed = await store.getJson<{ upload_seconds?: number }>(
              stageKey(job.run_id, job.stage, `checkpoints/checkpoint-${progress.last_checkpoint_step}/COMMITTED.json`),
            );
            if (committed?.upload_seconds !== undefined) metrics.checkpointUpload(job.stage, committed.upload_seconds);
            jlog.info({ step: progress.last_checkpoint_step, uploadSeconds: committed?.upload_seconds }, 'checkpoint committed');
          }
          lastProgressStamp = progress.updated_at;
          lastProgressAt = Date.now();
          lastStep = progress.step;
          lastCheckpointStep = progress.last_checkpoint_step;
          resumedFromStep = progress.resumed_from_step;
          // The first new step after a resume is reported at once: the workflow times recovery by it.
          const firstNew = firstStep === null && progress.step > progress.resumed_from_step;
          if (firstNew) firstStep = { step: progress.step, at: lastProgressAt };
          const due = Date.now() - lastReport >= monitor.progress_interval_s * 1000;
          if (due || firstNew || progress.step >= progress.total_steps) {
            lastReport = Date.now();
            await deps.reportProgress(workflowId, toJobProgress(progress, job.host_id)).catch(() => undefined);
          }
        }
        ctx.heartbeat({ jobId: job.job_id, step: lastStep });

        const state = await provider.state(lease);
        if (state.kind === 'gone') {
          // The agent may have written the final status just before it went. A preempted VM
          // is STOPPING for up to 30 s while its stage commits a checkpoint on SIGTERM: wait
          // for that status, so the loss is counted at the step the stage really reached.
          const waitUntil = Date.now() + (state.preempted ? PREEMPTION_NOTICE_MS : 0);
          for (;;) {
            const last = await store.getJson<StageStatusFile>(stageKey(job.run_id, job.stage, 'status.json'));
            if (last?.job_id === job.job_id) return await ended(last);
            if (Date.now() >= waitUntil) break;
            ctx.heartbeat({ jobId: job.job_id, step: lastStep });
            await ctx.sleep(Math.min(1000, monitor.poll_interval_s * 1000));
          }
          throw await lost(state.reason, state.preempted ?? false);
        }
        const silence = await agentSilence(store, job, lease);
        if (silence !== null && silence > monitor.agent_stale_s) {
          throw await lost(`agent silent for ${Math.round(silence)} s (agent.json not updated)`);
        }
        if (Date.now() - lastProgressAt > monitor.hang_timeout_s * 1000) {
          const tail = await stageLogTail(store, job, 40);
          tail.push(...(await provider.logTail(lease, 10)).map((line) => `[host] ${line}`));
          throw ApplicationFailure.create({
            type: FAILURES.hang.type,
            message: `${job.stage} made no progress for ${monitor.hang_timeout_s} s (last step ${lastStep}). ${FAILURES.hang.advice}`,
            nonRetryable: true,
            details: [{ failureClass: 'hang', lastStep, logTail: tail }],
          });
        }
        await ctx.sleep(monitor.poll_interval_s * 1000);
      }

      async function ended(status: StageStatusFile): Promise<JobResult> {
        if (status.state === 'interrupted') {
          // The stage committed a checkpoint at steps_done as it stopped; progress.json may lag behind it.
          if (status.steps_done !== null && status.steps_done >= lastStep) {
            lastStep = status.steps_done;
            lastCheckpointStep = status.steps_done;
          }
          throw await lost(`stage interrupted on ${lease.hostId} (SIGTERM, preemption notice); checkpoint committed`, true);
        }
        // A stage that classified its own failure writes its status before it exits; its agent
        // then adds the log tail and exit code. Wait briefly for that, or the UI shows no log.
        for (const until = Date.now() + AGENT_AMEND_MS; status.state === 'failed' && status.log_tail.length === 0 && Date.now() < until;) {
          await ctx.sleep(250);
          const amended = await store.getJson<StageStatusFile>(stageKey(job.run_id, job.stage, 'status.json'));
          if (amended?.job_id === job.job_id) status = amended;
        }
        try {
          // A failed stage carries the host's console too (a VM's serial port: boot, driver, agent).
          const hostTail = status.state === 'failed' ? await provider.logTail(lease, 10).catch(() => []) : [];
          const result = finished(status, lease, hostTail);
          jlog.info({ stepsDone: result.stepsDone, resumedFromStep: result.resumedFromStep, seconds: result.seconds }, 'job finished');
          return result;
        } catch (err) {
          if ((err as ApplicationFailure).type !== HOST_LOST) {
            jlog.error({ failureClass: status.failure_class, exitCode: status.exit_code, message: status.message }, 'job failed');
          }
          throw err;
        }
      }
    },
  };
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
