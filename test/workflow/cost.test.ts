/**
 * The budget on the time-skipping server: a run that loses hosts and keeps
 * running is stopped before its bill crosses cost.budget_usd, every host is
 * released, and the ledger says where the money went.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { fineTunePipeline } from '../../workflows';
import { progressQuery } from '../../workflows/messages';
import type { RunProgress } from '../../workflows/progress';
import { loseHost, scriptedActivities } from '../support/scriptedActivities';
import { testConfig } from '../support/config';
import { timeSkippingSuite } from '../support/temporal';

const suite = timeSkippingSuite();


describe('the budget', () => {
  it('stops a run with host losses before the budget is crossed, releasing every host', async () => {
    const taskQueue = 'cost-1';
    // $3600/h is a dollar a second: each lost host is billed its one-minute minimum ($60),
    // and the check before each attempt adds what the next interval and a release would cost ($70).
    const config = testConfig({
      monitor: { max_host_losses: 5 },
      cost: { budget_usd: 200, local_usd_per_hour: 3600, check_interval_s: 10 },
    });
    const { activities, recorder } = scriptedActivities({ sft: [loseHost(20, 10), loseHost(30, 20), loseHost(40, 30)] });
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
    let error: unknown;
    let progress: RunProgress | undefined;
    await worker.runUntil(async () => {
      const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: 'cost-run-1', args: [config] });
      error = await handle.result().then(() => null, (e) => e);
      progress = await handle.query(progressQuery);
    });

    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof ApplicationFailure);
    assert.equal(error.cause.type, 'BudgetExceeded');
    assert.match(error.cause.message, /during sft/);
    // Two hosts lost ($120 billed); a third attempt would reach $250 by its first check: it never starts.
    assert.deepEqual(
      recorder.jobs.filter((j) => j.stage === 'sft').map((j) => j.job_id),
      ['sft-1', 'sft-2'],
    );
    assert.equal(recorder.provisioned.length, 3);
    assert.deepEqual([...recorder.released].sort(), recorder.provisioned.map((l) => l.hostId).sort());

    const cost = progress!.cost!;
    assert.ok(cost.spentUsd < 200, `spent ${cost.spentUsd} stays under the budget`);
    assert.equal(cost.spentUsd, 180, 'three hosts, each billed its one-minute minimum');
    assert.match(cost.warning ?? '', /90% of the \$200 budget/);
    assert.equal(cost.burnUsdPerHour, 0, 'no host is billed after the stop');
    assert.ok(cost.split.productiveUsd < 1, `almost nothing productive came of it (${cost.split.productiveUsd})`);
    assert.ok(cost.split.wastedUsd.idle > 179, 'the one-minute minimums were idle');
    assert.equal(progress!.hostLosses, 2);
    assert.equal(progress!.stepsRedone, 10 + 10);
  });

  it('warns once 80% of the budget is spent', async () => {
    const taskQueue = 'cost-3';
    const config = testConfig({ cost: { budget_usd: 140, local_usd_per_hour: 3600, check_interval_s: 10 } });
    const { activities } = scriptedActivities({ sft: [loseHost(5, null)] });
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
    const progress = await worker.runUntil(async () => {
      const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: 'cost-run-3', args: [config] });
      await handle.result().catch(() => null);
      return handle.query(progressQuery);
    });
    assert.match(progress.cost!.warning ?? '', /of the \$140 budget/);
  });

  it('lets a run without a budget finish and reports what it cost', async () => {
    const taskQueue = 'cost-2';
    const config = testConfig({ cost: { local_usd_per_hour: 36, managed_usd_per_million_tokens: 25 } });
    const { activities } = scriptedActivities({});
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
    const result = await worker.runUntil(
      suite.env.client.workflow.execute(fineTunePipeline, { taskQueue, workflowId: 'cost-run-2', args: [config] }),
    );
    assert.equal(result.cost.budgetUsd, null);
    assert.ok(result.cost.spentUsd >= 0.6, 'one host, billed at least its one-minute minimum');
    assert.equal(result.cost.burnUsdPerHour, 0);
    // Scripted jobs report 10 steps; defaults: batch 8, max_length 512; DPO reads two answers a pair.
    assert.equal(result.cost.managed?.trainedTokens, 10 * 8 * 512 + 10 * 8 * 512 * 2);
    assert.equal(result.cost.managed?.usd, (122880 / 1e6) * 25);
  });
});
