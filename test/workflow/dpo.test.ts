/**
 * DPO's collapse retries on the time-skipping server with scripted activities:
 * a collapse then a success with gentler settings from the merged SFT model,
 * and every attempt collapsing so that the SFT model ships.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { fineTunePipeline } from '../../workflows';
import { attemptSettings } from '../../workflows/dpo';
import { progressQuery } from '../../workflows/messages';
import { failAs, scriptedActivities, succeed, type JobScript } from '../support/scriptedActivities';
import { testConfig } from '../support/config';
import { timeSkippingSuite } from '../support/temporal';
import type { PipelineConfigInput } from '../../src/config/schema';
import type { RunMetrics } from '../../src/eval/metrics';

const suite = timeSkippingSuite();
let n = 0;

async function run(scripts: Partial<Record<string, JobScript[]>>, config: PipelineConfigInput, metrics?: RunMetrics) {
  const taskQueue = `dpo-test-${++n}`;
  const { activities, recorder } = scriptedActivities(scripts, metrics);
  const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
  const outcome = await worker.runUntil(async () => {
    const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: `dpo-run-${n}`, args: [config] });
    try {
      return { result: await handle.result(), error: null, progress: await handle.query(progressQuery).catch(() => null) };
    } catch (error) {
      return { result: null, error: error as WorkflowFailedError, progress: null };
    }
  });
  return { ...outcome, recorder };
}

const collapse = () => failAs('DpoCollapsed', 'dpo failed on h1 (dpo_collapsed): DPO collapsed at step 6: logps/chosen fell from -3.10 to -80.20');
const dpoConfig = (extra: object = {}) => testConfig({ dpo: { beta: 0.1, learning_rate: 4e-4, ...extra } });

describe('DPO collapse retries', () => {
  it('retries a collapsed DPO from the merged SFT model with gentler settings, then ships DPO', async () => {
    const { result, recorder, progress } = await run({ dpo: [collapse(), succeed(40)] }, dpoConfig());
    assert.ok(result);
    const dpoJobs = recorder.jobs.filter((j) => j.stage === 'dpo');
    assert.deepEqual(
      dpoJobs.map((j) => j.job_id),
      ['dpo-1', 'dpo.r2-1'],
    );
    // Both start from the merged SFT model (never the collapsed one), fresh (no resume).
    for (const j of dpoJobs) {
      assert.equal(j.inputs.model, `runs/dpo-run-${n}/stages/merge/output/model`);
      assert.equal(j.inputs.model_fingerprint, 'sha256:merge');
      assert.equal(j.resume, false);
      assert.ok(j.inputs.eval_data, 'the guard probes the task metric on eval prompts');
      assert.equal(j.params.max_attempts, undefined);
    }
    assert.deepEqual([dpoJobs[0].params.beta, dpoJobs[0].params.learning_rate], [0.1, 4e-4]);
    assert.deepEqual([dpoJobs[1].params.beta, dpoJobs[1].params.learning_rate], [0.2, 1e-4]);
    assert.equal(result.dpo.shipped, 'dpo');
    assert.deepEqual(
      result.dpo.attempts.map((a) => a.outcome),
      ['collapsed', 'succeeded'],
    );
    assert.match(result.dpo.attempts[0].reason ?? '', /logps\/chosen fell/);
    assert.equal(result.promoted.model, 'dpo');
    const generate = recorder.jobs.find((j) => j.stage === 'generate')!;
    assert.deepEqual(Object.keys(generate.params.models as object).sort(), ['base', 'dpo', 'sft']);
    assert.match(progress?.dpo?.note ?? '', /succeeded on attempt 2 of 3/);
  });

  it('ships the SFT model and says so when every attempt collapses', async () => {
    const metrics: RunMetrics = { primaryMetric: 'tool_call_match', n: 10, models: { base: { tool_call_match: 0 }, sft: { tool_call_match: 0.8 } } };
    const { result, recorder, progress } = await run({ dpo: [collapse(), collapse(), collapse()] }, dpoConfig({ retry_schedule: [{ beta: 0.5, learning_rate: 1e-5 }] }), metrics);
    assert.ok(result);
    const dpoJobs = recorder.jobs.filter((j) => j.stage === 'dpo');
    assert.deepEqual(
      dpoJobs.map((j) => j.job_id),
      ['dpo-1', 'dpo.r2-1', 'dpo.r3-1'],
    );
    assert.deepEqual(
      dpoJobs.map((j) => [j.params.beta, j.params.learning_rate]),
      [
        [0.1, 4e-4],
        [0.5, 1e-5],
        [1, 2.5e-6],
      ],
    );
    assert.equal(result.dpo.shipped, 'sft');
    assert.match(result.dpo.note, /every DPO attempt collapsed \(3\); shipping the SFT model/);
    const generate = recorder.jobs.find((j) => j.stage === 'generate')!;
    assert.deepEqual(Object.keys(generate.params.models as object).sort(), ['base', 'sft']);
    assert.equal(result.promoted.model, 'sft');
    assert.equal(progress?.dpo?.shipped, 'sft');
    assert.equal(progress?.stages.dpo.state, 'failed');
    assert.equal(progress?.state, 'succeeded');
  });

  it('does not retry a DPO failure that is not a collapse', async () => {
    const { error, recorder } = await run({ dpo: [failAs('OutOfMemory', 'CUDA out of memory')] }, dpoConfig());
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal(recorder.jobs.filter((j) => j.stage === 'dpo').length, 1);
  });

  it('derives each attempt from the schedule, else beta x2 and learning rate /4', () => {
    const cfg = { beta: 0.1, learning_rate: 1e-4, retry_schedule: [{ learning_rate: 1e-6 }] };
    assert.deepEqual(attemptSettings(cfg, 1), { beta: 0.1, learning_rate: 1e-4 });
    assert.deepEqual(attemptSettings(cfg, 2), { beta: 0.2, learning_rate: 1e-6 });
    assert.deepEqual(attemptSettings(cfg, 3), { beta: 0.4, learning_rate: 2.5e-7 });
  });
});
