/**
 * Scripted activities for workflow tests: they record every call and let a
 * test decide what each job does (succeed, lose its host, fail, hang).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { NotifyInput } from '../../activities/notify';
import { resolveActivities } from '../../activities/resolve';
import type { Activities, HostLostDetails, JobResult, PromoteInput, RunJobInput } from '../../activities/types';
import type { HostLease } from '../../src/hosts/provider';
import type { GateOutcome } from '../../src/eval/gate';
import type { RunMetrics } from '../../src/eval/metrics';

export type JobScript = (input: RunJobInput) => Promise<JobResult>;

export interface Recorder {
  provisioned: HostLease[];
  released: string[];
  jobs: RunJobInput['job'][];
  /** Each gate outcome the workflow recorded (recordGate). */
  gates: GateOutcome[];
  promoted: string[];
  promoteInputs: PromoteInput[];
  /** Each notification the workflow scheduled (a test that needs delivery passes the real notifyWebhook). */
  notified: NotifyInput[];
}

export function succeed(stepsDone = 10, resumedFromStep = 0): JobScript {
  return async ({ job }) => ({
    jobId: job.job_id,
    stage: job.stage,
    output: { key: `runs/${job.run_id}/stages/${job.stage}/output/${job.stage === 'sft' ? 'adapter' : 'model'}`, fingerprint: `sha256:${job.stage}` },
    metrics: {},
    stepsDone,
    resumedFromStep,
    seconds: 1,
  });
}

export function loseHost(lastStep: number, lastCheckpointStep: number | null): JobScript {
  return async ({ lease }) => {
    const details: HostLostDetails = { hostId: lease.hostId, reason: 'process gone', preempted: false, lastStep, lastCheckpointStep };
    throw ApplicationFailure.create({ type: 'HostLost', message: 'host lost', nonRetryable: true, details: [details] });
  };
}

export function failAs(type: string, message: string): JobScript {
  return async () => {
    throw ApplicationFailure.create({ type, message, nonRetryable: true });
  };
}

/** Blocks until cancelled (heartbeating so the cancellation is delivered). */
export const blockUntilCancelled: JobScript = async () => {
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat();
    await ctx.sleep(200);
  }
};

/**
 * `hosts.bootS`: each host's agent first heartbeats that many seconds after its insert (the
 * lease's provisionedAt -> readyAt), so the workflow bills a boot; without it a lease carries no
 * boot and is billed from when the workflow got it.
 */
export function scriptedActivities(
  scripts: Partial<Record<string, JobScript[]>>,
  metrics: RunMetrics = {
    primaryMetric: 'tool_call_match',
    n: 10,
    models: { base: { tool_call_match: 0 }, sft: { tool_call_match: 0.8 }, dpo: { tool_call_match: 0.82 } },
  },
  hosts: { bootS?: number } = {},
): { activities: Activities; recorder: Recorder } {
  const recorder: Recorder = { provisioned: [], released: [], jobs: [], gates: [], promoted: [], promoteInputs: [], notified: [] };
  const activities: Activities = {
    // The real one: it is pure, and a bad config must fail as it does in production.
    ...resolveActivities(),
    async prepareRun({ runId, config }) {
      return {
        config,
        storeUri: 'file:///tmp/store',
        inputs: {
          base_model: `runs/${runId}/inputs/base-model`,
          sft_data: `runs/${runId}/data/sft.jsonl`,
          preference_data: `runs/${runId}/data/preferences.jsonl`,
          eval_data: `runs/${runId}/data/eval.jsonl`,
        },
      };
    },
    async provisionHost({ runId, hostIndex }) {
      const lease: HostLease = {
        provider: 'local',
        hostId: `${runId}-h${hostIndex}`,
        runId,
        hostIndex,
        details: { pid: 1000 + hostIndex },
        provisionedAt: new Date(hosts.bootS === undefined ? 0 : Date.now() - hosts.bootS * 1000).toISOString(),
        ...(hosts.bootS === undefined ? {} : { readyAt: new Date().toISOString() }),
      };
      recorder.provisioned.push(lease);
      return lease;
    },
    async runJob(input) {
      recorder.jobs.push(input.job);
      const queue = scripts[input.job.stage];
      const script = queue && queue.length > 0 ? queue.shift()! : succeed();
      return script(input);
    },
    async releaseHost(lease) {
      recorder.released.push(lease.hostId);
    },
    async scoreRun() {
      return metrics;
    },
    async recordGate({ gate }) {
      recorder.gates.push(gate);
    },
    async promoteModel(input) {
      const { runId, fromKey, outputUri } = input;
      recorder.promoted.push(fromKey);
      recorder.promoteInputs.push(input);
      // A Hub promotion answers with the commit that holds the model, as activities/promote.ts does.
      if (outputUri?.startsWith('hf:')) return { uri: outputUri, commit: 'f00d'.repeat(10), repoUrl: `https://huggingface.co/${outputUri.slice(3)}`, committed: true };
      return { uri: `file:///tmp/store/models/${runId}/model#${fromKey}` };
    },
    async notifyWebhook(input) {
      recorder.notified.push(input);
      return { delivered: true, attempts: 1 };
    },
  };
  return { activities, recorder };
}
