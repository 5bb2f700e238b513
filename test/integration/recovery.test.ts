/**
 * Nothing is lost when a host, a worker or the server dies: real faults on
 * real processes (dev server, local hosts, the Python trainer on the tiny
 * model), each run ending in a finished pipeline.
 *
 * Run A kills hosts: SIGKILL of the host's process group at three SFT steps,
 * a preemption notice (SIGTERM) in DPO, and a frozen host in DPO (SIGSTOP of
 * its process group: the agent goes silent, and release wakes it to commit).
 * Run B, with its worker as a separate process: SIGTERM in SFT, a host killed
 * while a checkpoint is uploading, a Temporal server restart and a worker
 * kill. Both check that every job started exactly one training process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { startRun } from '../../src/client/runs';
import { openStore } from '../../src/store/open';
import type { Store } from '../../src/store/store';
import type { PipelineConfig } from '../../src/config/schema';
import { progressQuery } from '../../workflows/messages';
import { renderDetails, type RunProgress } from '../../workflows/progress';
import { fastConfig, startHarness, type Harness, type ReplaceableWorker } from '../support/integration';
import { injectFaults, startsPerJob, until, type Trial } from '../support/faults';

const SAVE_STEPS = 10;

/** fastConfig, shorter still: small batches, a short DPO and short generations; the faults are what is tested. */
function faultConfig(dir: string, monitor: Partial<PipelineConfig['monitor']> = {}): PipelineConfig {
  return fastConfig(dir, {
    sft: { max_steps: 40, batch_size: 8, save_steps: SAVE_STEPS },
    dpo: { max_steps: 8, batch_size: 4, save_steps: 4 },
    generate: { max_new_tokens: 8 },
    monitor: { poll_interval_s: 1, progress_interval_s: 2, agent_stale_s: 10, ...monitor },
  });
}

interface Outcome {
  progress: RunProgress;
  trials: Trial[];
  starts: Record<string, number>;
  store: Store;
  metrics: { run?: Record<string, unknown> } | undefined;
}

let h: Harness;
before(async () => {
  h = await startHarness('recovery');
});
after(async () => {
  await h?.close();
});

const log = (line: string): void => console.log(`  [fault] ${line}`);

/** The run's result, waiting through a server restart (the long poll fails while the server is down). */
async function resultOf(handle: WorkflowHandle): Promise<unknown> {
  for (;;) {
    try {
      return await handle.result();
    } catch (err) {
      if (err instanceof WorkflowFailedError) throw err;
      await sleep(1000);
    }
  }
}

describe('host faults: SIGKILL at three SFT steps, SIGTERM and a frozen host in DPO', () => {
  let a: Outcome;
  before(async () => {
    const config = faultConfig(`${h.dir}/a`);
    const taskQueue = 'it-recovery-a';
    const { worker } = await h.worker(taskQueue);
    const runId = 'it-recovery-a';
    const handle = await startRun(h.client, config, { taskQueue, runId });
    const store = openStore(config.store);
    const run = worker.runUntil(async () => {
      const faults = injectFaults({ store, runId, handle, log }, [
        { kind: 'sigkill', stage: 'sft', atStep: 3 },
        { kind: 'sigkill', stage: 'sft', atStep: 17 },
        { kind: 'sigkill', stage: 'sft', atStep: 29 },
        { kind: 'sigterm', stage: 'dpo', atStep: 1 },
        { kind: 'host_freeze', stage: 'dpo', atStep: 3 },
      ]);
      const [trials] = await Promise.all([faults, handle.result()]);
      return { trials, progress: (await handle.query(progressQuery)) as RunProgress };
    });
    const { trials, progress } = await run;
    const metrics = await store.getJson<{ run?: Record<string, unknown> }>(`runs/${runId}/report/metrics.json`);
    a = { progress, trials, starts: await startsPerJob(store, runId), store, metrics };
  });

  it('finishes the run after five lost hosts', () => {
    assert.ok(['succeeded', 'not_promoted'].includes(a.progress.state), a.progress.state);
    assert.equal(a.progress.hostLosses, 5);
    assert.equal(a.progress.losses.length, 5);
  });

  it('redoes fewer than 2 x save_steps steps after each SIGKILL, resuming from the newest committed checkpoint', () => {
    const kills = a.trials.filter((t) => t.fault === 'sigkill');
    assert.equal(kills.length, 3);
    assert.equal(new Set(kills.map((t) => t.step_at_fault)).size, 3, 'three different steps');
    for (const t of kills) {
      // The newest checkpoint at or below the fault; a kill before that checkpoint's background
      // upload wrote its COMMITTED.json resumes from the one before (one upload in flight at most).
      const newest = Math.floor(t.step_at_fault / SAVE_STEPS) * SAVE_STEPS;
      assert.ok([newest, Math.max(0, newest - SAVE_STEPS)].includes(t.resumed_from_step!), JSON.stringify(t));
      assert.equal(t.steps_redone, t.step_at_fault - t.resumed_from_step!, JSON.stringify(t));
      assert.ok(t.steps_redone! < 2 * SAVE_STEPS, JSON.stringify(t));
    }
  });

  it('redoes no step after a SIGTERM or a frozen host (silent agent) in DPO: the stage commits where it stops', () => {
    for (const fault of ['sigterm', 'host_freeze'] as const) {
      const t = a.trials.find((x) => x.fault === fault)!;
      assert.equal(t.steps_redone, 0, JSON.stringify(t));
      assert.equal(t.resumed_from_step, t.step_at_fault);
    }
    const sigterm = a.trials.find((x) => x.fault === 'sigterm')!;
    assert.ok(sigterm.seconds_to_stop! < 30, `stopped within 30 s of SIGTERM (${sigterm.seconds_to_stop} s)`);
  });

  it('counts each loss in the progress query and the UI details as the store shows it', () => {
    const p = a.progress;
    for (const [i, t] of a.trials.entries()) {
      const loss = p.losses[i];
      assert.equal(loss.jobId, t.job_id);
      assert.equal(loss.stage, t.stage);
      assert.equal(loss.checkpointStep, t.resumed_from_step, JSON.stringify(loss));
      assert.equal(loss.stepsRedone, t.steps_redone, JSON.stringify(loss));
      assert.ok(loss.resumedAt !== null && loss.secondsLost! > 0, JSON.stringify(loss));
    }
    assert.equal(
      p.stepsRedone,
      a.trials.reduce((n, t) => n + t.steps_redone!, 0),
    );
    assert.equal(
      p.secondsLost,
      p.losses.reduce((n, l) => n + l.secondsLost!, 0),
    );
    const details = renderDetails(p);
    assert.match(details, /host losses: 5 · steps redone: \d+ · time lost: \d+ s/);
    assert.match(details, /\| lost host \| stage \| at step \| resumed from \|/);
  });

  it('starts exactly one training process per job', () => {
    assert.ok(Object.keys(a.starts).includes('sft-4') && Object.keys(a.starts).includes('dpo-3'), JSON.stringify(a.starts));
    for (const [job, n] of Object.entries(a.starts)) assert.equal(n, 1, `${job} started ${n} times`);
  });
});

describe('worker kill, server restart, SIGTERM in SFT and a host killed mid-upload', () => {
  let b: Outcome;
  let worker: ReplaceableWorker | undefined;
  before(async () => {
    const config = faultConfig(`${h.dir}/b`);
    const taskQueue = 'it-recovery-b';
    // The agents inherit the worker's environment: each checkpoint's COMMITTED.json comes 2 s after its files.
    process.env.FINETUNE_TEST_COMMIT_DELAY_S = '2';
    worker = h.replaceableWorker(taskQueue);
    const replaceWorker = worker.replace;
    const runId = 'it-recovery-b';
    const handle = await startRun(h.client, config, { taskQueue, runId });
    const store = openStore(config.store);
    const faults = injectFaults(
      {
        store,
        runId,
        handle,
        log,
        replaceWorker,
        restartServer: () => h.restartServer(),
      },
      [
        { kind: 'sigterm', stage: 'sft', atStep: 5 },
        { kind: 'kill_during_upload', stage: 'sft', atStep: 11 },
        { kind: 'server_restart', stage: 'sft', atStep: 13 },
        { kind: 'worker_kill', stage: 'dpo', atStep: 1 },
      ],
    );
    const [trials] = await Promise.all([faults, resultOf(handle)]);
    const progress = await until('the progress query', 60_000, async () => (await handle.query(progressQuery)) as RunProgress);
    const metrics = await store.getJson<{ run?: Record<string, unknown> }>(`runs/${runId}/report/metrics.json`);
    b = { progress, trials, starts: await startsPerJob(store, runId), store, metrics };
  });
  after(() => {
    delete process.env.FINETUNE_TEST_COMMIT_DELAY_S;
    worker?.current().kill('SIGKILL');
  });

  it('finishes the run', () => {
    assert.ok(['succeeded', 'not_promoted'].includes(b.progress.state), b.progress.state);
    assert.equal(b.progress.hostLosses, 2, JSON.stringify(b.progress.losses));
  });

  it('redoes no step after SIGTERM in SFT', () => {
    const t = b.trials.find((x) => x.fault === 'sigterm')!;
    assert.equal(t.steps_redone, 0, JSON.stringify(t));
    assert.ok(t.seconds_to_stop! < 30);
  });

  it('never resumes from the checkpoint whose upload was cut short, and replaces it with a whole one', async () => {
    const t = b.trials.find((x) => x.fault === 'kill_during_upload')!;
    assert.ok(t.uncommitted_step !== undefined && t.resumed_from_step! < t.uncommitted_step, JSON.stringify(t));
    // Training goes on beside the upload that was cut short: the steps since the checkpoint before it are redone.
    assert.ok(t.resumed_from_step! >= t.uncommitted_step - SAVE_STEPS, JSON.stringify(t));
    assert.ok(t.steps_redone! < 2 * SAVE_STEPS, JSON.stringify(t));
    const committed = await b.store.getJson<{ job_id: string }>(`runs/it-recovery-b/stages/sft/checkpoints/checkpoint-${t.uncommitted_step}/COMMITTED.json`);
    assert.ok(committed && committed.job_id !== t.job_id, `checkpoint-${t.uncommitted_step} was rewritten by the next job`);
  });

  it('keeps the job running through a server restart and a worker kill: no loss, no second process', () => {
    for (const fault of ['server_restart', 'worker_kill'] as const) {
      const t = b.trials.find((x) => x.fault === fault)!;
      assert.equal(t.steps_redone, 0, JSON.stringify(t));
    }
    for (const [job, n] of Object.entries(b.starts)) assert.equal(n, 1, `${job} started ${n} times`);
    assert.equal(b.progress.losses.filter((l) => l.stage === 'dpo').length, 0);
  });
});
