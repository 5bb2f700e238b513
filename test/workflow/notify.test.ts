/**
 * Notifications on the time-skipping server: scripted stages, but the REAL
 * notifyWebhook activity posting to a local receiver that verifies every
 * signature. Each event arrives with its facts (approval wait, succeeded,
 * not promoted, failed with class and advice, budget stop, host lost); a
 * refused delivery is retried; a dead receiver never fails the run; the
 * secret never reaches history or a body; a notifying run's history replays.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from '@temporalio/worker';
import { notifyActivities } from '../../activities/notify';
import type { PipelineConfigInput } from '../../src/config/schema';
import { FAILURES } from '../../src/jobs/failures';
import { configureLog } from '../../src/log';
import { fineTunePipeline } from '../../workflows';
import { approveUpdate, progressQuery } from '../../workflows/messages';
import type { RunProgress } from '../../workflows/progress';
import { failAs, loseHost, scriptedActivities, type JobScript } from '../support/scriptedActivities';
import { testConfig } from '../support/config';
import { timeSkippingSuite } from '../support/temporal';
import { startReceiver, type Receiver } from '../support/webhookReceiver';
import { historyText } from '../support/history';

const suite = timeSkippingSuite();
const CANARY = 'canary-whsec-wf-8c3e1a';
const env = { FINETUNE_WEBHOOK_SECRET: CANARY };
let receiver: Receiver;
before(async () => {
  // The dead receiver's give-up warning is expected here; unit/notify.test.ts reads that log line.
  configureLog({ level: 'error' });
  // The first request is refused: Temporal's retry must deliver it.
  receiver = await startReceiver(CANARY, { failFirst: 1 });
});
after(() => receiver.close());

const withHooks = (overrides: Partial<PipelineConfigInput>, extraHooks: object[] = []): PipelineConfigInput =>
  testConfig({
    ...overrides,
    notify: {
      ui_base_url: 'https://temporal.example.com',
      webhooks: [{ url: receiver.url, secret: 'secret:env:FINETUNE_WEBHOOK_SECRET' }, ...extraHooks],
    },
  } as Partial<PipelineConfigInput>);

async function run(workflowId: string, config: PipelineConfigInput, scripts: Partial<Record<string, JobScript[]>>, during?: (id: string) => Promise<void>) {
  const { activities } = scriptedActivities(scripts);
  const worker = await Worker.create({
    connection: suite.env.nativeConnection,
    taskQueue: workflowId,
    workflowBundle: suite.bundle,
    activities: { ...activities, ...notifyActivities({ env }) },
  });
  return worker.runUntil(async () => {
    const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue: workflowId, workflowId, args: [config] });
    if (during) await during(workflowId);
    const error = await handle.result().then(
      () => null,
      (e: unknown) => e,
    );
    const progress: RunProgress = await handle.query(progressQuery);
    const history = await handle.fetchHistory();
    return { error, progress, history };
  });
}

/** A URL on 127.0.0.1 where nothing listens: every attempt is refused. */
async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/hook`;
}

/**
 * The history as text with every payload decoded: its JSON form holds payloads as
 * base64, where a plain search would never find a secret.
 */
const of = (runId: string) => receiver.received.filter((r) => r.body.run_id === runId);

describe('notifications (workflow)', () => {
  it('tells of a host loss, the approval wait and success, retrying a refused delivery; the history replays', async () => {
    const id = 'notify-ok';
    const { error, progress, history } = await run(
      id,
      withHooks({ eval: { require_approval: true, approval_timeout_s: 6 * 3600 } }),
      { sft: [loseHost(20, 10)] },
      async (runId) => {
        // Delivered while the run waits: the wait did not hold the notification back.
        const waiting = await receiver.waitFor('awaiting_approval');
        assert.equal(waiting.run_id, runId);
        assert.equal(waiting.stage, 'gate');
        assert.equal(waiting.gate.state, 'awaiting_approval');
        assert.ok(waiting.gate.deadline);
        assert.equal(waiting.ui_url, `https://temporal.example.com/namespaces/default/workflows/${runId}`);
        await suite.env.client.workflow.getHandle(runId).executeUpdate(approveUpdate, { args: [{}] });
      },
    );
    assert.equal(error, null);
    const got = of(id);
    // The refused host_lost is retried after a backoff while the run goes on: it may arrive last.
    assert.equal(`${got[0].body.event}:${got[0].status}`, 'host_lost:500');
    assert.deepEqual(
      got
        .filter((r) => r.status === 200)
        .map((r) => r.body.event)
        .sort(),
      ['awaiting_approval', 'host_lost', 'succeeded'],
    );
    assert.ok(got.every((r) => r.verified));
    const lost = got.find((r) => r.status === 200 && r.body.event === 'host_lost')!.body;
    assert.equal(lost.stage, 'sft');
    assert.deepEqual(lost.host, { host_id: `${id}-h1`, reason: 'process gone', preempted: false, max_host_losses: 2 });
    assert.equal(lost.figures.host_losses, 1);
    assert.equal(lost.figures.steps_redone, 10);
    const ok = receiver.events('succeeded').find((b) => b.run_id === id)!;
    assert.equal(ok.stage, 'promote');
    assert.equal(ok.promoted.model, 'dpo');
    assert.deepEqual(ok.figures.primary_metric, { name: 'tool_call_match', model: 'dpo', value: 0.82, interval: null });
    assert.equal(typeof ok.figures.cost_usd, 'number');
    assert.match(ok.text, /^\*wf-test\* run <https:\/\/temporal\.example\.com\/namespaces\/default\/workflows\/notify-ok\|notify-ok> succeeded/);
    assert.deepEqual(progress.notifications, { delivered: 3, failed: 0 });

    const json = historyText(history);
    assert.ok(!json.includes(CANARY), 'the secret is not in the history');
    assert.ok(json.includes('secret:env:FINETUNE_WEBHOOK_SECRET'), 'only its reference is');
    await Worker.runReplayHistory({ workflowBundle: suite.bundle }, history, id);
  });

  it('tells of a run that ends without promoting', async () => {
    const id = 'notify-timeout';
    const { error, progress } = await run(id, withHooks({ eval: { require_approval: true, approval_timeout_s: 600 } }), {});
    assert.equal(error, null);
    assert.deepEqual(
      of(id).map((r) => r.body.event),
      ['awaiting_approval', 'not_promoted'],
    );
    const body = of(id)[1].body;
    assert.equal(body.gate.state, 'timed_out');
    assert.match(body.gate.reason, /^not promoted: nobody approved or rejected dpo within 10 min/);
    assert.equal(progress.notifications?.delivered, 2);
  });

  it('tells of a failure with its class and advice, and a dead receiver does not change how the run ends', async () => {
    const id = 'notify-oom';
    const message = `sft failed on h0 (oom): CUDA out of memory. ${FAILURES.oom.advice}`;
    const dead = { url: await closedPortUrl(), secret: 'secret:env:FINETUNE_WEBHOOK_SECRET', events: ['failed'] };
    const { error, progress } = await run(id, withHooks({}, [dead]), { sft: [failAs('OutOfMemory', message)] });
    assert.ok(error instanceof WorkflowFailedError);
    assert.ok(error.cause instanceof ActivityFailure && error.cause.cause instanceof ApplicationFailure);
    assert.equal(error.cause.cause.type, 'OutOfMemory');
    const [body] = of(id).map((r) => r.body);
    assert.equal(body.event, 'failed');
    assert.equal(body.stage, 'sft');
    assert.deepEqual(body.failure, { class: 'OutOfMemory', message, advice: FAILURES.oom.advice });
    assert.match(body.text, /failed \(stage sft\)\nOutOfMemory: sft failed on h0/);
    assert.deepEqual(progress.notifications, { delivered: 1, failed: 1 });
  });

  it('tells of a budget stop after the host losses that led to it', async () => {
    const id = 'notify-budget';
    // $1 a second: each lost host bills $60 (its minute to the delete), and a provision is refused when a
    // full local boot (120 s) and its delete (60 s) could cross the budget. $250 allows the second host
    // ($60 + $180 < $250) and refuses the third ($120 + $180).
    const config = withHooks({ monitor: { max_host_losses: 5 }, cost: { budget_usd: 250, local_usd_per_hour: 3600, check_interval_s: 10 } });
    const { error } = await run(id, config, { sft: [loseHost(20, 10), loseHost(30, 20), loseHost(40, 30)] });
    assert.ok(error instanceof WorkflowFailedError);
    assert.deepEqual(
      of(id).map((r) => r.body.event),
      ['host_lost', 'host_lost', 'budget_stopped'],
    );
    const stop = of(id)[2].body;
    assert.equal(stop.failure.class, 'BudgetExceeded');
    assert.equal(stop.figures.budget_usd, 250);
    assert.equal(stop.figures.host_losses, 2);
    assert.ok(stop.figures.cost_usd < 250);
    assert.ok(
      receiver.received.every((r) => !r.raw.includes(CANARY)),
      'no body carries the secret',
    );
  });
});
