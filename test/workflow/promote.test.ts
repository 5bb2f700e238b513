/**
 * The promote stage on the time-skipping server with scripted activities: a
 * Hub output reaches the promote activity with its promote section (the
 * token's reference, never a value), the chosen model and its primary metric,
 * and the commit it answers lands in the workflow result and the progress.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { fineTunePipeline } from '../../workflows';
import { progressQuery } from '../../workflows/messages';
import { scriptedActivities } from '../support/scriptedActivities';
import { testConfig } from '../support/config';
import { timeSkippingSuite } from '../support/temporal';

const suite = timeSkippingSuite();

describe('promote to the Hub (workflow)', () => {
  it('records the Hub commit in the result and the progress', async () => {
    const taskQueue = 'promote-test-1';
    const { activities, recorder } = scriptedActivities({});
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
    const config = testConfig({ output: 'hf:acme/tiny-ft', promote: { token: 'secret:env:HF_WRITE_TOKEN', private: false } });
    const { result, progress } = await worker.runUntil(async () => {
      const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: 'promote-run-1', args: [config] });
      return { result: await handle.result(), progress: await handle.query(progressQuery) };
    });
    const input = recorder.promoteInputs[0];
    assert.equal(input.outputUri, 'hf:acme/tiny-ft');
    assert.deepEqual(input.promote, { token: 'secret:env:HF_WRITE_TOKEN', private: false, overwrite: false });
    assert.equal(input.model, result.promoted.model);
    assert.equal(input.primary?.metric, result.metrics.primaryMetric);
    assert.equal(input.primary?.value, result.metrics.models[result.promoted.model][result.metrics.primaryMetric]);
    assert.deepEqual(result.promoted, { model: input.model, uri: 'hf:acme/tiny-ft', commit: 'f00d'.repeat(10), repoUrl: 'https://huggingface.co/acme/tiny-ft' });
    assert.equal(progress.promoted?.commit, 'f00d'.repeat(10));
  });
});
