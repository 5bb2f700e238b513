/**
 * The eval gate on the time-skipping server, with scripted activities: with
 * eval.require_approval the run holds promotion until a person approves (the
 * approve update; the approver is the caller's client identity), a rejection
 * or a timeout ends it without promoting, and the thresholds decide before
 * anyone is asked. A decision before the gate waits, a second one, and one
 * from outside eval.approvers are refused with the reason.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, type WorkflowHandle } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { fineTunePipeline } from '../../workflows';
import { approveSignal, approveUpdate, progressQuery, rejectUpdate } from '../../workflows/messages';
import type { RunProgress } from '../../workflows/progress';
import type { RunMetrics } from '../../src/eval/metrics';
import type { PipelineConfigInput } from '../../src/config/schema';
import { scriptedActivities, succeed, type JobScript, type Recorder } from '../support/scriptedActivities';
import { updateRefusalOf } from '../support/failures';
import { testConfig } from '../support/config';
import { finetune, jsonOf } from '../support/cli';
import { dataConverterOf } from '../../src/client/codec/dataConverter';
import { keyFileText, newKey, readKeyFile } from '../../src/client/codec/keys';
import { timeSkippingSuite } from '../support/temporal';
import { scratchDir } from '../support/scratch';

const suite = timeSkippingSuite();
let n = 0;

/** A client that calls as this identity (what our CLI sets to user@host). */
const as = (identity: string) => new Client({ connection: suite.env.connection, namespace: suite.env.namespace ?? 'default', identity });
const handleAs = (identity: string, handle: Handle) => as(identity).workflow.getHandle<typeof fineTunePipeline>(handle.workflowId);

const withApproval = (evalConfig: PipelineConfigInput['eval'] = {}): PipelineConfigInput =>
  testConfig({ eval: { require_approval: true, approval_timeout_s: 6 * 3600, ...evalConfig } });

type Handle = WorkflowHandle<typeof fineTunePipeline>;

async function run(
  config: PipelineConfigInput,
  during?: (handle: Handle, recorder: Recorder) => Promise<void>,
  metrics?: RunMetrics,
  scripts: Partial<Record<string, JobScript[]>> = {},
  dataConverter?: DataConverter,
) {
  const taskQueue = `gate-test-${++n}`;
  const { activities, recorder } = scriptedActivities(scripts, metrics);
  const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue, workflowBundle: suite.bundle, activities, ...(dataConverter ? { dataConverter } : {}) });
  // A worker with the codec reads only sealed payloads: start the run through a client with the same codec.
  const client = dataConverter ? new Client({ connection: suite.env.connection, namespace: suite.env.namespace ?? 'default', dataConverter }) : suite.env.client;
  const outcome = await worker.runUntil(async () => {
    const handle = await client.workflow.start(fineTunePipeline, { taskQueue, workflowId: `gate-${n}`, args: [config] });
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

/** Polls the progress query until the run is in `stage`. */
async function inStage(handle: Handle, stage: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await handle.query(progressQuery).catch(() => null))?.stage === stage) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the run never reached ${stage}`);
}

/** An sft job that finishes only when the test lets it (so the run stands in sft meanwhile). */
function heldSft(): { scripts: Partial<Record<string, JobScript[]>>; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  return { scripts: { sft: [async (input) => (await released, succeed()(input))] }, release };
}

describe('the eval gate', () => {
  it("holds promotion until the approve update, and records the caller's identity and note", async () => {
    let waiting: RunProgress | null = null;
    let promotedWhileWaiting = -1;
    let answer: unknown;
    const { result, progress, recorder } = await run(withApproval(), async (handle, rec) => {
      waiting = await awaitingApproval(handle);
      await new Promise((r) => setTimeout(r, 300));
      promotedWhileWaiting = rec.promoted.length;
      answer = await handleAs('alice@review-box', handle).executeUpdate(approveUpdate, { args: [{ note: 'read 20 outputs side by side' }] });
    });
    assert.equal(promotedWhileWaiting, 0, 'nothing is promoted while the gate waits');
    assert.equal(waiting!.stage, 'gate');
    assert.equal(waiting!.gate!.candidate, 'dpo');
    assert.ok(waiting!.gate!.deadline);
    assert.deepEqual(answer, { decision: 'approve', candidate: 'dpo', by: 'alice@review-box', note: 'read 20 outputs side by side', decidedAt: result.gate.decidedAt });
    assert.equal(result.outcome, 'promoted');
    assert.equal(result.promoted.model, 'dpo');
    assert.equal(recorder.promoted.length, 1);
    assert.deepEqual([result.gate.state, result.gate.by, result.gate.note, result.gate.via], ['approved', 'alice@review-box', 'read 20 outputs side by side', 'update']);
    assert.equal(progress.gate?.by, 'alice@review-box');
    assert.equal(progress.state, 'succeeded');
    assert.equal(recorder.gates.at(-1)?.state, 'approved', 'the decision is written to the report');
    assert.equal(recorder.gates.at(-1)?.by, 'alice@review-box');
  });

  it('does not promote when the candidate is rejected', async () => {
    const { result, progress, recorder } = await run(withApproval(), async (handle) => {
      await awaitingApproval(handle);
      await handleAs('bob@laptop', handle).executeUpdate(rejectUpdate, { args: [{ note: 'cites sources that do not say this' }] });
    });
    assert.equal(result.outcome, 'not_promoted');
    assert.deepEqual(result.promoted, { model: 'none', uri: '' });
    assert.equal(recorder.promoted.length, 0);
    assert.equal(result.gate.state, 'rejected');
    assert.match(result.gate.reason, /^not promoted: dpo rejected by bob@laptop: cites sources/);
    assert.equal(progress.state, 'not_promoted');
    assert.equal(progress.stages.promote.state, 'pending');
    assert.equal(recorder.gates.at(-1)?.state, 'rejected');
    assert.deepEqual(
      recorder.released,
      recorder.provisioned.map((l) => l.hostId),
    );
  });

  it('refuses a decision before the gate waits, saying where the run is, and holds nothing for later', async () => {
    const held = heldSft();
    let early: Awaited<ReturnType<typeof updateRefusalOf>> | undefined;
    let waiting: RunProgress | null = null;
    const { result } = await run(
      withApproval({ approval_timeout_s: 3600 }),
      async (handle) => {
        await inStage(handle, 'sft');
        early = await updateRefusalOf(handleAs('alice@review-box', handle).executeUpdate(approveUpdate, { args: [{ note: 'too early' }] }), 'an approve in sft');
        // The signal that used to be held and approve the moment the gate opened.
        await handle.signal(approveSignal, { by: 'mallory', note: 'sent early' });
        held.release();
        waiting = await awaitingApproval(handle);
      },
      undefined,
      held.scripts,
    );
    assert.equal(early!.type, 'GateNotOpen');
    assert.match(early!.message, /^run gate-\d+ is not at its eval gate yet: it is in stage sft, and the gate opens after merge, dpo, generate, score/);
    assert.equal(waiting!.gate!.state, 'awaiting_approval', 'neither the early update nor the early signal decided');
    assert.equal(result.gate.state, 'timed_out', 'nobody decided at the gate, so it timed out');
    assert.equal(result.gate.by, null);
  });

  it('takes one decision: a second approve or a reject is refused with who decided and when; the payload cannot name the approver', async () => {
    const refusals: Awaited<ReturnType<typeof updateRefusalOf>>[] = [];
    const { result } = await run(withApproval(), async (handle) => {
      await awaitingApproval(handle);
      refusals.push(await updateRefusalOf(handle.executeUpdate(approveUpdate, { args: [{ by: 'ceo', note: 'trust me' } as never] }), 'an approve naming its approver'));
      await handleAs('alice@review-box', handle).executeUpdate(approveUpdate, { args: [{ note: 'looks right' }] });
      refusals.push(await updateRefusalOf(handleAs('bob@laptop', handle).executeUpdate(rejectUpdate, { args: [{}] }), 'a reject after the approve'));
      refusals.push(await updateRefusalOf(handleAs('alice@review-box', handle).executeUpdate(approveUpdate, { args: [{}] }), 'a second approve'));
    });
    assert.equal(refusals[0].type, 'GateDecisionInvalid');
    assert.match(refusals[0].message, /approve takes no "by": the approver on record is the caller's client identity/);
    for (const r of refusals.slice(1)) {
      assert.equal(r.type, 'GateAlreadyDecided');
      assert.match(
        r.message,
        new RegExp(`^run gate-\\d+ was already approved by alice@review-box at ${result.gate.decidedAt!.replace(/\./g, '\\.')} \\("looks right"\\): a decision is final$`),
      );
    }
    assert.deepEqual([result.gate.state, result.gate.by, result.gate.note], ['approved', 'alice@review-box', 'looks right']);
  });

  it('refuses a caller outside eval.approvers, naming who may decide, and takes one inside it', async () => {
    const refusals: Awaited<ReturnType<typeof updateRefusalOf>>[] = [];
    const { result } = await run(withApproval({ approvers: ['bob', 'carol@ci-runner'] }), async (handle) => {
      await awaitingApproval(handle);
      refusals.push(await updateRefusalOf(handleAs('alice@review-box', handle).executeUpdate(approveUpdate, { args: [{}] }), 'alice'));
      refusals.push(await updateRefusalOf(handleAs('carol@laptop', handle).executeUpdate(approveUpdate, { args: [{}] }), 'carol on another host'));
      await handleAs('temporal-cli:bob@laptop', handle).executeUpdate(approveUpdate, { args: [{ note: 'ok' }] });
    });
    assert.deepEqual(
      refusals.map((r) => r.type),
      ['ApproverNotAllowed', 'ApproverNotAllowed'],
    );
    assert.match(refusals[0].message, /^alice@review-box may not approve run gate-\d+: eval\.approvers allows bob, carol@ci-runner$/);
    assert.match(refusals[1].message, /^carol@laptop may not approve/);
    assert.deepEqual([result.gate.state, result.gate.by], ['approved', 'temporal-cli:bob@laptop']);
  });

  it("finetune approve|reject send the update and print the run's answer: refused before the gate, recorded as user@host at it", async () => {
    // The CLI seals payloads with the codec (FINETUNE_CODEC_KEYS): the worker here holds the same key.
    const home = scratchDir('gate-cli-');
    const keys = path.join(home, 'codec-keys.json');
    fs.writeFileSync(keys, keyFileText([newKey()]), { mode: 0o600 });
    const cli = (...args: string[]) => finetune(args, { TEMPORAL_ADDRESS: suite.env.address, FINETUNE_HOME: home, FINETUNE_CODEC_KEYS: keys });
    const me = `${os.userInfo().username}@${os.hostname()}`;
    const held = heldSft();
    const seen: Record<string, Awaited<ReturnType<typeof cli>>> = {};
    const { result } = await run(
      withApproval(),
      async (handle) => {
        await inStage(handle, 'sft');
        try {
          seen.early = await cli('reject', handle.workflowId, '--note', 'too soon');
        } finally {
          held.release();
        }
        await awaitingApproval(handle);
        seen.approve = await cli('approve', handle.workflowId, '--note', 'read the outputs', '--json');
        seen.second = await cli('reject', handle.workflowId);
      },
      undefined,
      held.scripts,
      dataConverterOf(readKeyFile(keys)),
    );
    fs.rmSync(home, { recursive: true, force: true });
    assert.equal(seen.early.code, 2, seen.early.stderr);
    assert.match(seen.early.stderr, /reject refused: run gate-\d+ is not at its eval gate yet: it is in stage sft/);
    assert.equal(seen.approve.code, 0, seen.approve.stderr);
    const answer = jsonOf<{ runId: string; decision: string; candidate: string; by: string; note: string; decidedAt: string }>(seen.approve);
    assert.deepEqual(answer, { runId: result.runId, decision: 'approve', candidate: 'dpo', by: me, note: 'read the outputs', decidedAt: result.gate.decidedAt });
    // Refused either by the gate (already approved) or, once the run has promoted and ended, by the CLI.
    assert.equal(seen.second.code, 2, seen.second.stderr);
    const who = me.replace(/\./g, '\\.');
    assert.match(
      seen.second.stderr,
      new RegExp(`reject refused: run ${result.runId} was already approved by ${who}|run ${result.runId} is COMPLETED: only a running run takes a decision`),
    );
    assert.deepEqual([result.gate.state, result.gate.by, result.gate.via], ['approved', me, 'update']);
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

  it('promotes without waiting when approval is not required, says so, and refuses a decision', async () => {
    const held = heldSft();
    let refused: Awaited<ReturnType<typeof updateRefusalOf>> | undefined;
    const { result, recorder } = await run(
      testConfig(),
      async (handle) => {
        await inStage(handle, 'sft');
        refused = await updateRefusalOf(handleAs('alice@review-box', handle).executeUpdate(approveUpdate, { args: [{}] }), 'an approve without a gate');
        held.release();
      },
      undefined,
      held.scripts,
    );
    assert.equal(refused!.type, 'NoApprovalGate');
    assert.match(refused!.message, /^run gate-\d+ has no approval gate \(eval\.require_approval is off\)/);
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
