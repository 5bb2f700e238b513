/**
 * A stage that stops making progress (its process SIGSTOPped, as a deadlock
 * would leave it) ends the job with StageHung and the stage's log tail after
 * hang_timeout_s, and releasing the host still ends every process of it.
 * A stage that runs longer than hang_timeout_s while its progress.json moves
 * (a slow preflight all-reduce here; a big merge or generate alike) is not hung.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { hostActivities } from '../../activities/hosts';
import { jobActivities } from '../../activities/jobs';
import type { ActivityDeps } from '../../activities/deps';
import { MonitorConfig } from '../../src/config/schema';
import type { HostLease } from '../../src/hosts/provider';
import { projectRoot, venvPython } from '../../src/paths';
import { startRun } from '../../src/client/runs';
import { liveGroupMembers } from '../../src/hosts/processes';
import { openStore } from '../../src/store/open';
import { progressQuery } from '../../workflows/messages';
import type { RunProgress } from '../../workflows/progress';
import { fastConfig, startHarness, type Harness } from '../support/integration';
import { agentRunning, progressOf, until } from '../support/faults';
import { jobOn } from '../support/jobs';

const HANG_TIMEOUT_S = 30;

let h: Harness;
let failure: ApplicationFailure;
let stoppedAt: number;
let failedAt: number;
let agentPid: number;
let progress: RunProgress;

before(async () => {
  h = await startHarness('hang');
  const config = fastConfig(h.dir, {
    sft: { max_steps: 40, batch_size: 8, save_steps: 10 },
    monitor: { poll_interval_s: 1, progress_interval_s: 2, hang_timeout_s: HANG_TIMEOUT_S },
  });
  const taskQueue = 'it-hang';
  const { worker } = await h.worker(taskQueue);
  const runId = 'it-hang';
  const handle = await startRun(h.client, config, { taskQueue, runId });
  const store = openStore(config.store);
  await worker.runUntil(async () => {
    const stopper = (async () => {
      const p = await until(
        'sft step 3',
        600_000,
        async () => {
          const x = await progressOf(store, runId, 'sft');
          return x && x.step >= 3 ? x : null;
        },
        50,
      );
      const agent = await until('the sft agent', 10_000, () => agentRunning(store, runId, p.job_id));
      agentPid = agent.pid;
      process.kill(agent.stage_pid!, 'SIGSTOP');
      stoppedAt = Date.now();
    })();
    const err = await handle.result().then(
      () => assert.fail('the run should fail with StageHung'),
      (e: unknown) => e,
    );
    failedAt = Date.now();
    await stopper;
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ActivityFailure, String(err));
    failure = err.cause.cause as ApplicationFailure;
    progress = (await handle.query(progressQuery)) as RunProgress;
  });
});
after(async () => {
  await h?.close();
});

describe('a hung stage', () => {
  it('fails the run with StageHung once hang_timeout_s passes without progress', () => {
    assert.equal(failure.type, 'StageHung');
    assert.match(failure.message, new RegExp(`no progress for ${HANG_TIMEOUT_S} s`));
    const waited = (failedAt - stoppedAt) / 1000;
    assert.ok(waited >= HANG_TIMEOUT_S - 3 && waited < HANG_TIMEOUT_S + 60, `failed ${waited} s after the stage stopped`);
    assert.equal(progress.state, 'failed');
    assert.match(progress.error ?? '', /StageHung/);
  });

  it("carries the stage's own log tail as evidence", () => {
    const details = failure.details?.[0] as { failureClass: string; logTail: string[] };
    assert.equal(details.failureClass, 'hang');
    assert.ok(
      details.logTail.some((line) => /loss/.test(line)),
      details.logTail.join('\n'),
    );
  });

  it('releases the host: no process of it is left, stopped or not', async () => {
    await until('the host group to exit', 60_000, async () => (await liveGroupMembers(agentPid)).length === 0);
  });
});

describe('a stage slower than hang_timeout_s whose progress moves', () => {
  const monitor = MonitorConfig.parse({ poll_interval_s: 0.5, hang_timeout_s: 12 });
  const env = new MockActivityEnvironment();
  const deps: ActivityDeps = { projectRoot, python: venvPython(), reportProgress: async () => undefined };
  const acts = { ...hostActivities(deps), ...jobActivities(deps) };
  let lease: HostLease;
  let storeUri: string;

  before(async () => {
    process.env.FINETUNE_ALLOW_FAULT_INJECTION = '1'; // for params.debug_hang_rank, read by the agent it starts
    storeUri = `file://${path.join(h.dir, 'slow-store')}`;
    const host = { provider: 'local' as const, workdir: path.join(h.dir, 'slow-hosts') };
    lease = await env.run(acts.provisionHost, { runId: 'it-slow-1', hostIndex: 1, storeUri, host });
    delete process.env.FINETUNE_ALLOW_FAULT_INJECTION;
  });
  after(async () => {
    if (lease) await env.run(acts.releaseHost, lease);
  });

  it('keeps running past hang_timeout_s and ends with its own result, not StageHung', async () => {
    // Preflight waits out a rank that never joins the all-reduce (bounded by timeout_s) and
    // refreshes progress.json while it waits: more than twice hang_timeout_s without a new step.
    const timeoutS = 26;
    const job = jobOn(lease, 'preflight-1', 'preflight', { ranks: 2, timeout_s: timeoutS, min_free_disk_gb: 0, debug_hang_rank: 1 });
    const t0 = Date.now();
    const failure = await env.run(acts.runJob, { lease, storeUri, job, monitor }).then(
      () => assert.fail('a rank that never joins must fail preflight'),
      (err: unknown) => err as ApplicationFailure,
    );
    const ranS = (Date.now() - t0) / 1000;
    assert.equal(failure.type, 'DistributedFailure', failure.message);
    assert.ok(ranS > 2 * monitor.hang_timeout_s, `ran ${ranS} s`);
  });
});
