/**
 * The eval gate on the time-skipping server, with scripted activities: with
 * eval.require_approval the run holds promotion until a person approves,
 * a rejection or a timeout ends it without promoting, and the thresholds
 * decide before anyone is asked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { fineTunePipeline } from '../../workflows';
import { approveSignal, progressQuery, rejectSignal } from '../../workflows/messages';
import type { RunProgress } from '../../workflows/progress';
import type { RunMetrics } from '../../src/eval/metrics';
import type { PipelineConfigInput } from '../../src/config/schema';
import { scriptedActivities, type Recorder } from '../support/scriptedActivities';
import { testConfig } from '../support/config';
import { timeSkippingSuite } from '../support/temporal';

const suite = timeSkippingSuite();
let n = 0;


const withApproval = (evalConfig: PipelineConfigInput['eval'] = {}): PipelineConfigInput =>
  testConfig({ eval: { require_approval: true, approval_timeout_s: 6 * 3600, ...evalConfig } });

type Handle = WorkflowHandle<typeof fineTunePipeline>;

async function run(config: PipelineConfigInput, during?: (handle: Handle, recorder: Recorder) => Promise<void>, metrics?: RunMetrics) {
  const taskQueue = `gate-test-${++n}`;
  const { activities, recorder } = scriptedActivities({}, metrics);
  const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities });
  const outcome = await worker.runUntil(async () => {
    const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: `gate-${n}`, args: [config] });
    if (during) await during(handle, recorder);
    const result = await handle.result();
    return { result, progress: await handle.query(progressQuery) };
  });
  return { ...outcome, recorder };
}

/** Polls the progress query until the gate waits for a person (queries do not advance time). */
async function awaitingApproval(handle: Handle): Promise<RunProgress> {
  for (let i = 0; i < 300; i++) {
    const p = await handle.query(progressQuery).catch(() => null);
    if (p?.gate?.state === 'awaiting_approval') return p;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the gate never started waiting for approval');
}

describe('the eval gate', () => {
  it('holds promotion until an approve signal arrives, and records who approved and why', async () => {
    let waiting: RunProgress | null = null;
    let promotedWhileWaiting = -1;
    const { result, progress, recorder } = await run(withApproval(), async (handle, rec) => {
      waiting = await awaitingApproval(handle);
      await new Promise((r) => setTimeout(r, 300));
      promotedWhileWaiting = rec.promoted.length;
      await handle.signal(approveSignal, { by: 'alice', note: 'read 20 outputs side by side' });
    });
    assert.equal(promotedWhileWaiting, 0, 'nothing is promoted while the gate waits');
    assert.equal(waiting!.stage, 'gate');
    assert.equal(waiting!.gate!.candidate, 'dpo');
    assert.ok(waiting!.gate!.deadline);
    assert.equal(result.outcome, 'promoted');
    assert.equal(result.promoted.model, 'dpo');
    assert.equal(recorder.promoted.length, 1);
    assert.deepEqual([result.gate.state, result.gate.by, result.gate.note], ['approved', 'alice', 'read 20 outputs side by side']);
    assert.equal(progress.gate?.by, 'alice');
    assert.equal(progress.state, 'succeeded');
    assert.equal(recorder.gates.at(-1)?.state, 'approved', 'the decision is written to the report');
    assert.equal(recorder.gates.at(-1)?.by, 'alice');
  });

  it('does not promote when the candidate is rejected', async () => {
    const { result, progress, recorder } = await run(withApproval(), async (handle) => {
      await awaitingApproval(handle);
      await handle.signal(rejectSignal, { by: 'bob', note: 'cites sources that do not say this' });
    });
    assert.equal(result.outcome, 'not_promoted');
    assert.deepEqual(result.promoted, { model: 'none', uri: '' });
    assert.equal(recorder.promoted.length, 0);
    assert.equal(result.gate.state, 'rejected');
    assert.match(result.gate.reason, /^not promoted: dpo rejected by bob: cites sources/);
    assert.equal(progress.state, 'not_promoted');
    assert.equal(progress.stages.promote.state, 'pending');
    assert.equal(recorder.gates.at(-1)?.state, 'rejected');
    assert.deepEqual(recorder.released, recorder.provisioned.map((l) => l.hostId));
  });

  it('ends as a clear "not promoted" when nobody decides within eval.approval_timeout_s', async () => {
    const { result, progress, recorder } = await run(withApproval({ approval_timeout_s: 24 * 3600 }));
    assert.equal(result.outcome, 'not_promoted');
    assert.equal(result.gate.state, 'timed_out');
    assert.match(result.gate.reason, /^not promoted: nobody approved or rejected dpo within 24 h/);
    assert.equal(result.gate.by, null);
    assert.equal(recorder.promoted.length, 0);
    assert.equal(progress.state, 'not_promoted');
    assert.equal(recorder.gates.at(-1)?.state, 'timed_out');
  });

  it('promotes without waiting when approval is not required, and says so', async () => {
    const { result, recorder } = await run(testConfig());
    assert.equal(result.gate.state, 'automatic');
    assert.equal(result.promoted.model, 'dpo');
    assert.equal(recorder.promoted.length, 1);
  });

  it('falls back to SFT when DPO breaks a guardrail, and asks nobody when no model passes its minimums', async () => {
    const metrics: RunMetrics = {
      primaryMetric: 'tool_call_match',
      n: 10,
      models: {
        base: { tool_call_match: 0, valid_json: 0.2 },
        sft: { tool_call_match: 0.8, valid_json: 0.9 },
        dpo: { tool_call_match: 0.85, valid_json: 0.6 },
      },
    };
    const guarded = await run(testConfig({ eval: { guardrails: ['valid_json'] } }), undefined, metrics);
    assert.equal(guarded.result.promoted.model, 'sft');
    assert.match(guarded.result.gate.reason, /dpo fails dpo valid_json 60\.0% >= sft 90\.0% - 5\.0%/);

    const strict = await run(withApproval({ min: { tool_call_match: 0.95 } }), undefined, metrics);
    assert.equal(strict.result.outcome, 'not_promoted');
    assert.equal(strict.result.gate.state, 'thresholds_failed');
    assert.match(strict.result.gate.reason, /no model passes its thresholds/);
    assert.equal(strict.recorder.promoted.length, 0);
  });
});
