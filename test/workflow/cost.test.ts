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
  it('counts every host from its insert, boot included, and stops before the next boot could cross the budget', async () => {
    const taskQueue = 'cost-1';
    // $3600/h is a dollar a second. Each host boots 100 s ($100) before its agent heartbeats.
    // Before each provision the run needs room for a full boot (the local agent start timeout,
    // 120 s) and a delete (60 s): $180. Hosts 1-3 fit ($0, ~$101, ~$202 spent before them);
    // after the third loss ~$303 + $180 would cross $400, so no fourth host is made.
    const config = testConfig({
      monitor: { max_host_losses: 5 },
      cost: { budget_usd: 400, local_usd_per_hour: 3600, check_interval_s: 10 },
    });
    const { activities, recorder } = scriptedActivities({ sft: [loseHost(20, 10), loseHost(30, 20), loseHost(40, 30)] }, undefined, { bootS: 100 });
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
    let error: unknown;
    let progress: RunProgress | undefined;
    await worker.runUntil(async () => {
      const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: 'cost-run-1', args: [config] });
      error = await handle.result().then(
        () => null,
        (e) => e,
      );
      progress = await handle.query(progressQuery);
    });

    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof ApplicationFailure);
    assert.equal(error.cause.type, 'BudgetExceeded');
    assert.match(error.cause.message, /instead of provisioning a new host before the \$400 budget would be crossed/);
    assert.match(error.cause.message, /full 120 s \(agent start timeout\)/);
    assert.deepEqual(
      recorder.jobs.filter((j) => j.stage === 'sft').map((j) => j.job_id),
      ['sft-1', 'sft-2', 'sft-3'],
    );
    assert.equal(recorder.provisioned.length, 3);
    assert.deepEqual([...recorder.released].sort(), recorder.provisioned.map((l) => l.hostId).sort());

    const cost = progress!.cost!;
    assert.ok(cost.spentUsd >= 300 && cost.spentUsd < 310, `three hosts, each billed its 100 s boot and a moment of work: ${cost.spentUsd}`);
    assert.ok(Math.abs(cost.split.bootUsd - 300) < 0.5, `the boots are billed: ${cost.split.bootUsd}`);
    assert.equal(cost.split.hosts.length, 3);
    const s = cost.split.seconds;
    assert.ok(Math.abs(s.boot + s.productive + s.redone + s.idle + s.failed - cost.split.billedSeconds) < 1e-6, 'the buckets add up to the billed seconds');
    assert.equal(cost.burnUsdPerHour, 0, 'no host is billed after the stop');
    assert.equal(progress!.hostLosses, 3);
  });

  it('warns once 80% of the budget is spent', async () => {
    const taskQueue = 'cost-3';
    // One host whose 325 s boot is billed: $325 of $400 is 81%; every check still has room for its next interval ($70).
    const config = testConfig({ cost: { budget_usd: 400, local_usd_per_hour: 3600, check_interval_s: 10 } });
    const { activities } = scriptedActivities({}, undefined, { bootS: 325 });
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
    const progress = await worker.runUntil(async () => {
      const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: 'cost-run-3', args: [config] });
      await handle.result().catch(() => null);
      return handle.query(progressQuery);
    });
    assert.equal(progress.state, 'succeeded');
    assert.match(progress.cost!.warning ?? '', /8\d% of the \$400 budget/);
  });

  it('lets a run without a budget finish and reports what it cost', async () => {
    const taskQueue = 'cost-2';
    const config = testConfig({ cost: { local_usd_per_hour: 36, managed_usd_per_million_tokens: 25 } });
    const { activities } = scriptedActivities({});
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
    const result = await worker.runUntil(suite.env.client.workflow.execute(fineTunePipeline, { taskQueue, workflowId: 'cost-run-2', args: [config] }));
    assert.equal(result.cost.budgetUsd, null);
    assert.ok(result.cost.spentUsd >= 0.6, 'one host, billed at least its one-minute minimum');
    assert.equal(result.cost.burnUsdPerHour, 0);
    // Scripted jobs report 10 steps; defaults: batch 8, max_length 512; DPO reads two answers a pair.
    assert.equal(result.cost.managed?.trainedTokens, 10 * 8 * 512 + 10 * 8 * 512 * 2);
    assert.equal(result.cost.managed?.usd, (122880 / 1e6) * 25);
  });
});
