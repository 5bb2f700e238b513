/**
 * Several workers, one queue: two worker processes on one task queue of a real
 * dev server, four runs in flight, and one worker SIGKILLed while they train.
 * Every run completes, the runJob activities the dead worker held are taken up
 * by the other, and no job starts twice (the agents' starts/ records).
 *
 * The hosts are real local hosts running the real agent; only the stages are
 * simulated (trainer/durable_finetune/sim_stage.py: the store contract without
 * torch), so four whole pipelines fit in this tier's time.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { startRun } from '../../src/client/runs';
import { openStore } from '../../src/store/open';
import { fastConfig, startHarness, type Harness } from '../support/integration';
import { progressOf, startsPerJob, until } from '../support/faults';

const RUNS = 4;
const TASK_QUEUE = 'two-workers';

let h: Harness;
before(async () => {
  // The worker processes inherit these, and their local hosts from them.
  process.env.FINETUNE_TEST_SIMULATED_STAGES = '1';
  process.env.FINETUNE_TEST_SIM_STEP_S = '0.2';
  h = await startHarness('two-workers');
});
after(async () => {
  delete process.env.FINETUNE_TEST_SIMULATED_STAGES;
  delete process.env.FINETUNE_TEST_SIM_STEP_S;
  await h?.close();
});

/** Each runJob attempt that ran to its end: the worker that ran it and its attempt number (history). */
async function runJobAttempts(runId: string): Promise<{ identity: string; attempt: number }[]> {
  const history = await h.client.workflow.getHandle(runId).fetchHistory();
  const scheduled = new Map<string, string>();
  const attempts: { identity: string; attempt: number }[] = [];
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
    const t = e.activityTaskStartedEventAttributes;
    if (t && scheduled.get(String(t.scheduledEventId)) === 'runJob') attempts.push({ identity: t.identity ?? '', attempt: t.attempt ?? 1 });
  }
  return attempts;
}

/** The worker identity a run's in-flight runJob last ran on, or null. */
async function runJobHolder(runId: string): Promise<string | null> {
  const pending = (await h.client.workflow.getHandle(runId).describe()).raw.pendingActivities ?? [];
  return pending.find((act) => act.activityType?.name === 'runJob')?.lastWorkerIdentity ?? null;
}

it('a worker killed while runs train: every run completes on the other, no job starts twice', { timeout: 600_000 }, async () => {
  const workers: ChildProcess[] = [h.workerProcess(TASK_QUEUE), h.workerProcess(TASK_QUEUE)];
  const configs = Array.from({ length: RUNS }, (_, i) =>
    fastConfig(path.join(h.dir, `run-${i}`), {
      sft: { max_steps: 60, save_steps: 10 },
      dpo: { max_steps: 10, save_steps: 5 },
      monitor: { poll_interval_s: 1, progress_interval_s: 2, agent_stale_s: 10 },
    }),
  );
  const handles = await Promise.all(configs.map((config, i) => startRun(h.client, config, { taskQueue: TASK_QUEUE, runId: `two-workers-${i}` })));

  // Strike while every run trains: each then has a runJob in flight on one of the two workers.
  await until(
    'every run training in sft',
    240_000,
    async () => {
      const steps = await Promise.all(configs.map((c, i) => progressOf(openStore(c.store), `two-workers-${i}`, 'sft')));
      return steps.every((p) => p && p.step >= 3);
    },
    250,
  );
  // The victim is the worker that holds the most runJobs (which one polls first is up to the server).
  const holders = await Promise.all(handles.map((hd) => runJobHolder(hd.workflowId)));
  const heldBy = (w: ChildProcess) => handles.filter((_, i) => holders[i]?.startsWith(`${w.pid}@`)).map((hd) => hd.workflowId);
  const [a, b] = heldBy(workers[0]).length >= heldBy(workers[1]).length ? workers : [workers[1], workers[0]];
  const heldByA = heldBy(a);
  assert.ok(heldByA.length > 0, `no worker holds a runJob: ${JSON.stringify(holders)}`);
  const exited = new Promise((r) => a.once('exit', r));
  a.kill('SIGKILL');
  await exited;

  const results = await Promise.all(handles.map((hd) => hd.result()));
  for (const [i, r] of results.entries()) {
    assert.ok(r.outcome === 'promoted' || r.outcome === 'not_promoted', `run ${i}: ${JSON.stringify(r.outcome)}`);
    const starts = await startsPerJob(openStore(configs[i].store), `two-workers-${i}`);
    assert.ok(Object.keys(starts).length >= 5, `run ${i} started every stage: ${JSON.stringify(starts)}`);
    for (const [job, n] of Object.entries(starts)) assert.equal(n, 1, `run ${i}: job ${job} started ${n} times`);
  }
  // Each job A held was retried on B (a later attempt of the same activity), which re-attached to the running job.
  for (const runId of heldByA) {
    const attempts = await runJobAttempts(runId);
    assert.ok(
      attempts.some((t) => t.identity.startsWith(`${b.pid}@`) && t.attempt > 1),
      `${runId}: ${JSON.stringify(attempts)}`,
    );
  }
  b.kill('SIGTERM');
});
