/**
 * fineTunePipeline's paths on the time-skipping server, with scripted
 * activities: success, host loss and resume, stage failure, cancellation,
 * a bad config, a DPO regression, and too many host losses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { fineTunePipeline } from '../../workflows';
import { progressQuery } from '../../workflows/messages';
import { blockUntilCancelled, failAs, loseHost, scriptedActivities, succeed, type JobScript } from '../support/scriptedActivities';
import { testConfig } from '../support/config';
import { timeSkippingSuite } from '../support/temporal';
import type { PipelineConfigInput } from '../../src/config/schema';
import { stageParamsProblems } from '../../src/config/stageParams';

const suite = timeSkippingSuite();
let n = 0;

async function run(
  scripts: Partial<Record<string, JobScript[]>>,
  config: PipelineConfigInput = testConfig(),
  metrics?: Parameters<typeof scriptedActivities>[1],
  during?: (handle: Awaited<ReturnType<typeof suite.env.client.workflow.start>>) => Promise<void>,
) {
  const taskQueue = `wf-test-${++n}`;
  const { activities, recorder } = scriptedActivities(scripts, metrics);
  const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
  const outcome = await worker.runUntil(async () => {
    const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: `run-${n}`, args: [config] });
    if (during) await during(handle);
    try {
      return { result: await handle.result(), error: null, progress: await handle.query(progressQuery).catch(() => null) };
    } catch (error) {
      return { result: null, error: error as WorkflowFailedError, progress: null };
    }
  });
  return { ...outcome, recorder };
}

describe('fineTunePipeline', () => {
  it('runs every stage in order on one host and releases it', async () => {
    const { result, recorder, progress } = await run({});
    assert.ok(result);
    assert.deepEqual(
      recorder.jobs.map((j) => j.job_id),
      ['preflight-1', 'sft-1', 'merge-1', 'dpo-1', 'generate-1'],
    );
    assert.equal(recorder.provisioned.length, 1);
    assert.deepEqual(recorder.released, [recorder.provisioned[0].hostId]);
    assert.equal(result.promoted.model, 'dpo');
    assert.equal(progress?.state, 'succeeded');
    assert.equal(progress?.stages.generate.state, 'succeeded');
    assert.ok(!('tracking' in recorder.jobs[1].params), 'no tracking: section, no tracking params');
  });

  it('sends each stage every knob of its params and nothing else (contract/stage-params.schema.json)', async () => {
    const tracking = { mlflow: { tracking_uri: 'http://mlflow.internal:5000' } };
    const { recorder } = await run({}, testConfig({ tracking }));
    assert.deepEqual(
      recorder.jobs.map((j) => j.stage),
      ['preflight', 'sft', 'merge', 'dpo', 'generate'],
    );
    for (const job of recorder.jobs) assert.deepEqual(stageParamsProblems(job.stage, job.params), [], job.stage);
  });

  it('chains fingerprints: merge gets the SFT adapter, DPO gets the merged model', async () => {
    const { recorder } = await run({});
    const merge = recorder.jobs.find((j) => j.stage === 'merge')!;
    const dpo = recorder.jobs.find((j) => j.stage === 'dpo')!;
    const generate = recorder.jobs.find((j) => j.stage === 'generate')!;
    assert.equal(merge.inputs.adapter_fingerprint, 'sha256:sft');
    assert.equal(dpo.inputs.model_fingerprint, 'sha256:merge');
    assert.equal(dpo.inputs.model, merge.inputs.adapter.replace('/sft/output/adapter', '/merge/output/model'));
    assert.deepEqual(Object.keys(generate.params.models as object).sort(), ['base', 'dpo', 'sft']);
  });

  it('passes model.dtype to every stage that loads weights, generate included, and tracking: to the training stages', async () => {
    const tracking = { wandb: { project: 'tiny', api_key: 'secret:env:WANDB_API_KEY' } };
    const { recorder } = await run({}, testConfig({ model: { base: '/tmp/model', dtype: 'bfloat16' }, tracking }));
    for (const stage of ['sft', 'merge', 'dpo', 'generate']) {
      const params = recorder.jobs.find((j) => j.stage === stage)!.params;
      assert.equal(params.dtype, 'bfloat16', stage);
      // The reference travels, never a key; only the stages that train track.
      const expected = stage === 'sft' || stage === 'dpo' ? { wandb: { ...tracking.wandb, mode: 'online' } } : undefined;
      assert.deepEqual(params.tracking, expected, stage);
    }
  });

  it('moves a stage to a new host with resume when its host is lost', async () => {
    const { result, recorder } = await run({ sft: [loseHost(37, 25), succeed(100, 25)] });
    assert.ok(result);
    const sftJobs = recorder.jobs.filter((j) => j.stage === 'sft');
    const runId = `run-${n}`; // the workflow id run() just used
    assert.deepEqual(
      sftJobs.map((j) => [j.job_id, j.resume, j.host_id]),
      [
        ['sft-1', false, `${runId}-h1`],
        ['sft-2', true, `${runId}-h2`],
      ],
    );
    assert.equal(recorder.provisioned.length, 2);
    assert.deepEqual(recorder.released, [`${runId}-h1`, `${runId}-h2`]);
    assert.equal(result.hostLosses, 1);
    assert.equal(result.stepsRedone, 12);
  });

  it('fails with the stage failure type and still releases its host', async () => {
    const { error, recorder } = await run({ sft: [failAs('OutOfMemory', 'CUDA out of memory')] });
    assert.ok(error instanceof WorkflowFailedError);
    const cause = error.cause instanceof ActivityFailure ? error.cause.cause : error.cause;
    assert.ok(cause instanceof ApplicationFailure);
    assert.equal(cause.type, 'OutOfMemory');
    assert.deepEqual(
      recorder.released,
      recorder.provisioned.map((l) => l.hostId),
    );
    assert.equal(recorder.jobs.filter((j) => j.stage === 'merge').length, 0);
  });

  it('releases every host when the run is cancelled mid-stage', async () => {
    const { error, recorder } = await run({ sft: [blockUntilCancelled] }, testConfig(), undefined, async (handle) => {
      for (let i = 0; i < 100; i++) {
        const p = await handle.query(progressQuery).catch(() => null);
        if (p?.stage === 'sft') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await handle.cancel();
    });
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof CancelledFailure);
    assert.equal(recorder.provisioned.length, 1);
    assert.deepEqual(recorder.released, [recorder.provisioned[0].hostId]);
  });

  it('rejects a bad config before provisioning anything', async () => {
    const bad = { ...testConfig(), sft: { save_steps: 500, max_steps: 100 } } as PipelineConfigInput;
    const { error, recorder } = await run({}, bad);
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof ApplicationFailure);
    assert.equal(error.cause.type, 'ConfigInvalid');
    assert.match(error.cause.message, /sft\.save_steps/);
    assert.equal(recorder.provisioned.length, 0);
  });

  it('promotes the SFT model when DPO regresses beyond the margin', async () => {
    const { result } = await run({}, testConfig(), {
      primaryMetric: 'tool_call_match',
      n: 10,
      models: { base: { tool_call_match: 0 }, sft: { tool_call_match: 0.9 }, dpo: { tool_call_match: 0.5 } },
    });
    assert.equal(result?.promoted.model, 'sft');
  });

  it('fails with GpuMissing in preflight, before any SFT, on a GPU machine type whose host shows none', async () => {
    const host = {
      provider: 'gce' as const,
      project: 'finetune-test',
      zones: ['us-central1-a'],
      machine_type: 'a2-highgpu-2g' as const,
      trainer_image: 'us-docker.pkg.dev/p/r/trainer:1',
    };
    const config = testConfig({ store: 'gs://bucket/runs', host, model: { base: '/tmp/model', dtype: 'bfloat16' } });
    const { error, recorder } = await run({ preflight: [failAs('GpuMissing', 'expected 2 GPU(s), CUDA sees 0')] }, config);
    assert.ok(error instanceof WorkflowFailedError);
    const cause = error.cause instanceof ActivityFailure ? error.cause.cause : error.cause;
    assert.ok(cause instanceof ApplicationFailure && cause.type === 'GpuMissing', String(cause));
    const [preflight] = recorder.jobs;
    assert.equal(preflight.params.expected_gpus, 2, "'auto' is the machine type's GPUs");
    assert.equal(preflight.params.dtype, 'bfloat16');
    assert.deepEqual(
      recorder.jobs.map((j) => j.stage),
      ['preflight'],
      'ranks: auto never gets to fall to 1 in SFT',
    );
    assert.deepEqual(
      recorder.released,
      recorder.provisioned.map((l) => l.hostId),
    );
  });

  it('gives up after more host losses than monitor.max_host_losses', async () => {
    const lose = loseHost(5, null);
    const { error, recorder } = await run({ sft: [lose, lose, lose, lose] });
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof ApplicationFailure);
    assert.equal(error.cause.type, 'TooManyHostLosses');
    assert.equal(recorder.provisioned.length, 3);
    assert.deepEqual(recorder.released.sort(), recorder.provisioned.map((l) => l.hostId).sort());
  });
});
