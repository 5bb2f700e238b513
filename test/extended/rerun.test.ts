/**
 * A run stopped by its budget mid-SFT keeps its checkpoint, and a rerun of
 * the same run id with more budget continues from it: its jobs are numbered
 * after the first execution's (preflight-2, sft-2), so sft-2 resumes from the
 * newest committed checkpoint. A rerun whose training settings differ is
 * refused before anything is provisioned.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { startRun } from '../../src/client/runs';
import { stageKey, type StageProgressFile, type StageStatusFile } from '../../src/jobs/contract';
import { openStore } from '../../src/store/open';
import { fastConfig, startHarness, type Harness } from '../support/integration';

const runId = 'it-rerun-1';
const taskQueue = 'it-rerun';
let h: Harness;
let first: { error: unknown; checkpoint: number };
let second: { progress: StageProgressFile; preflight: StageStatusFile | null | undefined };
let third: { error: unknown; seconds: number };

/** The ApplicationFailure of this type in err's cause chain. */
function failureOf(err: unknown, type: string): ApplicationFailure | undefined {
  for (let e = err; e; e = (e as Error).cause) if (e instanceof ApplicationFailure && e.type === type) return e;
  return undefined;
}

before(async () => {
  h = await startHarness('rerun');
  // $1 per host second (a minute billed at least). The host is provisioned because a full local
  // boot and its delete (120 + 60 s) stay under $190; the watcher stops the run when the next
  // check plus a minute to release would cross the budget: spent + 65 >= 190, about 125 s after
  // the host came up, well inside an SFT of 2000 steps (~0.16 s a step here), after checkpoints.
  const config = (cost: object, sft: object = {}) =>
    fastConfig(h.dir, { sft: { max_steps: 2000, save_steps: 20, ...sft }, cost: { local_usd_per_hour: 3600, check_interval_s: 5, ...cost } });
  const store = openStore(config({}).store);
  const { worker } = await h.worker(taskQueue);
  await worker.runUntil(async () => {
    const error = await (await startRun(h.client, config({ budget_usd: 190 }), { taskQueue, runId })).result().then(
      () => undefined,
      (err: unknown) => err,
    );
    const stopped = await store.getJson<StageProgressFile>(stageKey(runId, 'sft', 'progress.json'));
    first = { error, checkpoint: stopped?.last_checkpoint_step ?? 0 };

    const rerun = await startRun(h.client, config({}), { taskQueue, runId });
    const deadline = Date.now() + 5 * 60_000;
    for (;;) {
      const p = await store.getJson<StageProgressFile>(stageKey(runId, 'sft', 'progress.json'));
      if (p?.job_id === 'sft-2' && p.step > p.resumed_from_step) {
        second = { progress: p, preflight: await store.getJson<StageStatusFile>(stageKey(runId, 'preflight', 'status.json')) };
        break;
      }
      if (Date.now() > deadline) throw new Error('the rerun never trained past its resume step');
      await sleep(250);
    }
    await rerun.cancel();
    await rerun.result().catch(() => undefined);

    const t0 = Date.now();
    const changed = await (await startRun(h.client, config({}, { learning_rate: 0.001 }), { taskQueue, runId })).result().then(
      () => undefined,
      (err: unknown) => err,
    );
    third = { error: changed, seconds: (Date.now() - t0) / 1000 };
  });
});
after(async () => {
  await h?.close();
});

describe('a budget stop, then a rerun of the same run id', () => {
  it('the budget stopped the first execution mid-SFT, after a committed checkpoint, and says how to resume', () => {
    assert.ok(first.error instanceof WorkflowFailedError, String(first.error));
    const budget = failureOf(first.error, 'BudgetExceeded');
    assert.ok(budget, `no BudgetExceeded in ${String(first.error)}`);
    assert.match(budget.message, /during sft/);
    assert.match(budget.message, /rerun with the same run id and a larger cost\.budget_usd/);
    assert.ok(first.checkpoint >= 20, `checkpoint ${first.checkpoint}`);
  });

  it('the rerun numbers its jobs after the first and resumes SFT from its newest committed checkpoint', async (t) => {
    t.diagnostic(`first execution's last reported checkpoint ${first.checkpoint}; sft-2 resumed from ${second.progress.resumed_from_step}`);
    assert.equal(second.preflight?.job_id, 'preflight-2', 'preflight ran again on the new host');
    assert.equal(second.preflight?.state, 'succeeded');
    assert.ok(second.progress.resumed_from_step >= first.checkpoint, `resumed from ${second.progress.resumed_from_step}`);
    const committed = await openStore(fastConfig(h.dir).store).getJson<{ step: number; job_id: string }>(
      stageKey(runId, 'sft', `checkpoints/checkpoint-${second.progress.resumed_from_step}/COMMITTED.json`),
    );
    assert.equal(committed?.job_id, 'sft-1', "the first execution's checkpoint");
  });

  it('a rerun with other training settings is refused at once, naming them', (t) => {
    t.diagnostic(`refused after ${third.seconds.toFixed(1)} s`);
    const refused = failureOf(third.error, 'RunIdInUse');
    assert.ok(refused, `no RunIdInUse in ${String(third.error)}`);
    assert.match(refused.message, /other sft settings/);
    assert.match(refused.message, /new run id/);
  });
});
