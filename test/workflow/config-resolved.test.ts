/**
 * The config as resolveConfig recorded it is what a run works with (patch
 * 'config-resolved'): the rate it priced is the rate the run bills, whatever the
 * price table says when the workflow code runs, and the run answers its
 * progress query while the config is still being resolved.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { resolveActivities } from '../../activities/resolve';
import type { Activities, ResolvedConfig } from '../../activities/types';
import { fineTunePipeline } from '../../workflows';
import { progressQuery } from '../../workflows/messages';
import { gceHost, testConfig } from '../support/config';
import { scriptedActivities } from '../support/scriptedActivities';
import { timeSkippingSuite } from '../support/temporal';
import type { PipelineConfigInput } from '../../src/config/schema';

const suite = timeSkippingSuite();

describe('the config resolved by an activity', () => {
  it('prices a gce host from the table and names its GPUs; refuses a bad config as ConfigInvalid naming the field, not retried', async () => {
    const { resolveConfig } = resolveActivities();
    const env = new MockActivityEnvironment();
    const gce: ResolvedConfig = await env.run(resolveConfig, testConfig({ store: 'gs://bucket/runs', host: gceHost('a2-highgpu-2g') } as Partial<PipelineConfigInput>));
    assert.equal(gce.usdPerHour, 2.59, 'a2-highgpu-2g spot, from src/cost/prices.ts');
    assert.equal(gce.gpus, 2);
    assert.equal(gce.config.sft.max_steps > 0, true, 'the schema filled in the defaults');
    await assert.rejects(env.run(resolveConfig, { ...testConfig(), sft: { save_steps: 500, max_steps: 100 } } as PipelineConfigInput), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'ConfigInvalid');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /sft\.save_steps: is larger than sft\.max_steps/);
      return true;
    });
  });

  it('bills at the rate resolveConfig recorded and answers progress while the config is resolved', async () => {
    const { activities: scripted } = scriptedActivities({});
    let release!: () => void;
    const resolving = new Promise<void>((r) => (release = r));
    const activities: Activities = {
      ...scripted,
      // A run whose config was priced at $3600/h (a dollar a second) when it started; the table says $0 for a local host now.
      async resolveConfig(input) {
        await resolving;
        return { ...(await scripted.resolveConfig(input)), usdPerHour: 3600 };
      },
    };
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue: 'resolved-1', workflowBundle: suite.bundle, activities });
    await worker.runUntil(async () => {
      const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue: 'resolved-1', workflowId: 'resolved-run-1', args: [testConfig()] });
      const early = await handle.query(progressQuery);
      assert.equal(early.state, 'running');
      assert.equal(early.name, 'wf-test', 'the name as given, before the config is resolved');
      release();
      const result = await handle.result();
      assert.ok(result.cost.spentUsd > 0, `billed at the recorded rate, not the local $0: ${result.cost.spentUsd}`);
    });
  });

  it("fails a run whose config is invalid with ConfigInvalid as the run's own error, and says so in its progress", async () => {
    const { activities, recorder } = scriptedActivities({});
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue: 'resolved-2', workflowBundle: suite.bundle, activities });
    await worker.runUntil(async () => {
      const bad = { ...testConfig(), monitor: { max_host_losses: 'two' } } as unknown as PipelineConfigInput;
      const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue: 'resolved-2', workflowId: 'resolved-run-2', args: [bad] });
      const error = await handle.result().then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof WorkflowFailedError);
      assert.ok(error.cause instanceof ApplicationFailure);
      assert.equal(error.cause.type, 'ConfigInvalid');
      assert.match(error.cause.message, /monitor\.max_host_losses: is a string where a number belongs/);
      const progress = await handle.query(progressQuery);
      assert.equal(progress.state, 'failed');
      assert.match(progress.error ?? '', /^ConfigInvalid: config is invalid/);
    });
    assert.equal(recorder.provisioned.length, 0);
  });
});
