/**
 * A run started around our client (the temporal CLI, another SDK) with a run
 * id that breaks the run id rule (src/jobs/runId.ts) is refused by the
 * workflow itself, before any activity: its id would become a store folder, a
 * VM name and an agent argument.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { fineTunePipeline } from '../../workflows';
import { scriptedActivities } from '../support/scriptedActivities';
import { testConfig } from '../support/config';
import { timeSkippingSuite } from '../support/temporal';

const suite = timeSkippingSuite();

describe('the run id, checked by the workflow', () => {
  it('refuses a nesting id and an option-like id as RunIdInvalid, provisioning nothing', async () => {
    const taskQueue = 'run-id-test';
    const { activities, recorder } = scriptedActivities({});
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
    const errors = await worker.runUntil(async () => {
      const out: unknown[] = [];
      // One at a time: the time-skipping server skips time while a result is awaited.
      for (const workflowId of ['a/stages', '-rf']) {
        const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId, args: [testConfig()] });
        out.push(
          await handle.result().then(
            () => null,
            (err: unknown) => err,
          ),
        );
      }
      return out;
    });
    for (const [error, why] of [
      [errors[0], /holds "\/", which would put the run inside another run's folder/],
      [errors[1], /starts with "-", which a command line reads as an option/],
    ] as const) {
      assert.ok(error instanceof WorkflowFailedError, String(error));
      assert.ok(error.cause instanceof ApplicationFailure, `${error.cause?.constructor.name}: ${error.cause?.message}`);
      assert.equal(error.cause.type, 'RunIdInvalid');
      assert.match(error.cause.message, why);
    }
    assert.equal(recorder.provisioned.length, 0);
    assert.equal(recorder.jobs.length, 0);
  });
});
