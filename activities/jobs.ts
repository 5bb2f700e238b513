/**
 * runJob: posts a job to a host's mailbox and watches it through the store
 * until it ends (activities/jobWatch.ts). A retried runJob (worker crash) posts
 * the same job id, which the agent dedupes, and so re-attaches instead of
 * starting a second process.
 */
import { Context } from '@temporalio/activity';
import { openStore } from '../src/store/open';
import { jobKey, type JobSpec } from '../src/jobs/contract';
import type { ActivityDeps } from './deps';
import { hostProvider } from './hosts';
import { JobWatch } from './jobWatch';
import type { JobProgress, JobResult, RunJobInput } from './types';
import { runLog } from '../src/log';
import { withCurrentKnobs } from '../src/config/stageParams';
import { pipelineMetrics } from '../src/metrics';

export function jobActivities(deps: ActivityDeps) {
  return {
    async runJob(input: RunJobInput): Promise<JobResult> {
      const { lease, monitor } = input;
      const knobs = withCurrentKnobs(input.job.stage, input.job.params);
      const job: JobSpec = { ...input.job, params: knobs.params };
      const ctx = Context.current();
      const store = openStore(input.storeUri);
      const provider = hostProvider(deps, { provider: lease.provider as 'local' });
      const workflowId = ctx.info.workflowExecution?.workflowId ?? job.run_id;

      const posted = await store.getJson<JobSpec>(jobKey(job.run_id, job.host_id));
      if (posted?.job_id !== job.job_id) await store.putJson(jobKey(job.run_id, job.host_id), job);
      const log = runLog({ runId: job.run_id, stage: job.stage, hostId: job.host_id, jobId: job.job_id });
      const metrics = pipelineMetrics(ctx.metricMeter);
      log.info({ resume: job.resume, reattached: posted?.job_id === job.job_id, attempt: ctx.info.attempt }, 'job started');
      if (knobs.added.length) log.info({ knobs: knobs.added }, "knobs newer than the run's config, posted with their defaults");

      const report = (progress: JobProgress) => deps.reportProgress(workflowId, progress);
      return await new JobWatch({ ctx, store, provider, lease, job, monitor, log, metrics, report }).untilEnded();
    },
  };
}
