/**
 * The history of a long run stays far below Temporal's limits (50,000 events,
 * 50 MB per workflow execution): 5 h of SFT reported every progress_interval_s
 * (15 s by default: 1,200 progress signals, what runJob sends), across 8 host
 * losses, then the rest of the pipeline, on the real workflow code. Each
 * signal costs events (the signal and a workflow task), so this is where a
 * long run would grow past the limit if it ever did.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import type { HostLostDetails, JobProgress } from '../../activities/types';
import { fineTunePipeline } from '../../workflows';
import { jobProgressSignal } from '../../workflows/messages';
import { testConfig } from '../support/config';
import { scriptedActivities, succeed, type JobScript } from '../support/scriptedActivities';
import { timeSkippingSuite } from '../support/temporal';

const suite = timeSkippingSuite();

const HOURS = 5;
const PROGRESS_INTERVAL_S = 15;
const LOSSES = 8;
const REPORTS = (HOURS * 3600) / PROGRESS_INTERVAL_S;
const PER_JOB = Math.ceil(REPORTS / (LOSSES + 1));
const MAX_EVENTS = 50_000;
const MAX_BYTES = 50 * 2 ** 20;

/** A job of the long SFT: PER_JOB progress reports, then its host is lost (or, the last one, it finishes). */
function longJob(index: number): JobScript {
  return async (input) => {
    const { job, lease } = input;
    const from = index * PER_JOB;
    const handle = suite.env.client.workflow.getHandle(job.run_id);
    for (let k = 1; k <= PER_JOB; k++) {
      const progress: JobProgress = {
        jobId: job.job_id,
        stage: job.stage,
        hostId: lease.hostId,
        step: from + k,
        totalSteps: REPORTS,
        loss: 1 / (from + k),
        lastCheckpointStep: from + k - (k % 25),
        resumedFromStep: from,
      };
      const before = (await handle.describe()).historyLength;
      await handle.signal(jobProgressSignal, progress);
      // As in a real run, 15 s apart: each report is handled in a workflow task of its own (the signal,
      // and the task's scheduled, started and completed events), never batched with the next.
      while ((await handle.describe()).historyLength < before + 4) await new Promise((r) => setTimeout(r, 5));
    }
    if (index === LOSSES) return succeed(REPORTS, from)(input);
    const details: HostLostDetails = { hostId: lease.hostId, reason: 'preempted', preempted: true, lastStep: from + PER_JOB, lastCheckpointStep: from + PER_JOB };
    throw ApplicationFailure.create({ type: 'HostLost', message: 'host lost', nonRetryable: true, details: [details] });
  };
}

it(`a ${HOURS} h SFT with ${LOSSES} host losses and progress every ${PROGRESS_INTERVAL_S} s stays far below the history limits`, { timeout: 300_000 }, async () => {
  const taskQueue = 'long-run-history';
  const { activities } = scriptedActivities({ sft: Array.from({ length: LOSSES + 1 }, (_, i) => longJob(i)) });
  const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
  const config = testConfig({ monitor: { max_host_losses: LOSSES + 1, progress_interval_s: PROGRESS_INTERVAL_S } });
  const result = await worker.runUntil(async () => {
    const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: 'long-run-history', args: [config] });
    return handle.result();
  });
  assert.equal(result.hostLosses, LOSSES);
  const history = await suite.env.client.workflow.getHandle('long-run-history').fetchHistory();
  const events = history.events?.length ?? 0;
  const bytes = temporal.api.history.v1.History.encode(history).finish().length;
  const signals = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
  console.log(
    `  long run: ${signals} progress signals, ${events} events (${((100 * events) / MAX_EVENTS).toFixed(1)}% of the limit), ${(bytes / 2 ** 20).toFixed(2)} MB (${((100 * bytes) / MAX_BYTES).toFixed(1)}%)`,
  );
  // The premise: every report reached the history.
  assert.equal(signals, PER_JOB * (LOSSES + 1));
  // Far below: a fifth of each limit, so a run five times as long still fits.
  assert.ok(events < MAX_EVENTS / 5, `${events} events`);
  assert.ok(bytes < MAX_BYTES / 5, `${bytes} bytes`);
});
