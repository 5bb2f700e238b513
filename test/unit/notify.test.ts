/**
 * Notifications without Temporal: the signature (against an independent
 * node:crypto check and the replay window), the notify config's errors, the
 * body, and the notifyWebhook activity against a local receiver (delivered
 * and verified; a 500 thrown for Temporal to retry; the last attempt and an
 * unset secret give up without throwing, logging once, never the secret).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { notifyActivities, type NotifyInput, type NotifyOutcome } from '../../activities/notify';
import { configureLog } from '../../src/log';
import { ConfigInvalid, parseConfig } from '../../src/config/parse';
import { notifyBody, NOTIFY_EVENTS, type NotifyFacts } from '../../src/notify/events';
import { NOTIFY_ATTEMPTS } from '../../src/notify/policy';
import { signatureHeader, signatureProblem } from '../../src/notify/sign';
import { testConfig } from '../support/config';
import { startReceiver, verify } from '../support/webhookReceiver';

const CANARY = 'canary-whsec-4f1d2b7e9a';
const env = { FINETUNE_WEBHOOK_SECRET: CANARY };

const facts: NotifyFacts = {
  runId: 'run-7',
  runName: 'tiny',
  event: 'failed',
  stage: 'sft',
  costUsd: 1.5,
  budgetUsd: 10,
  hostLosses: 1,
  stepsRedone: 4,
  primary: { metric: 'tool_call_match', model: 'dpo', value: 0.8, interval: { lo: 0.7, hi: 0.9 } },
  failure: { class: 'OutOfMemory', message: 'sft failed on h1 (oom): CUDA out of memory', advice: 'lower batch_size or max_length, or use a larger machine type' },
};

function input(url: string, over: Partial<NotifyInput> = {}): NotifyInput {
  return { webhook: { url, secret: 'secret:env:FINETUNE_WEBHOOK_SECRET' }, index: 0, uiBaseUrl: 'https://temporal.example.com', facts, ...over };
}

function activityEnv(attempt: number) {
  return new MockActivityEnvironment({ attempt, namespace: 'ml' } as never, { logger: new DefaultLogger('ERROR') });
}

describe('notification signatures', () => {
  const body = JSON.stringify({ run_id: 'r', event: 'succeeded' });
  const now = 1_800_000_000;

  it('is t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>"> and verifies with plain node:crypto', () => {
    const header = signatureHeader('s3cret', body, now);
    assert.match(header, /^t=1800000000,v1=[0-9a-f]{64}$/);
    assert.ok(verify('s3cret', header, body, now + 10));
    assert.equal(signatureProblem('s3cret', header, body, now + 10), null);
  });

  it('refuses another body, another secret, an old timestamp and a missing header', () => {
    const header = signatureHeader('s3cret', body, now);
    assert.match(signatureProblem('s3cret', header, body.replace('succeeded', 'failed'), now)!, /no v1 signature matches/);
    assert.match(signatureProblem('other', header, body, now)!, /no v1 signature matches/);
    assert.match(signatureProblem('s3cret', header, body, now + 301)!, /more than 300 s from now.*replay/);
    assert.match(signatureProblem('s3cret', undefined, body, now)!, /no Finetune-Signature header/);
    assert.equal(verify('s3cret', header, body, now + 301), false);
  });
});

describe('the notify config', () => {
  const withHook = (hook: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    testConfig({ notify: { webhooks: [{ secret: 'secret:env:FINETUNE_WEBHOOK_SECRET', url: 'https://hooks.example.com/x', ...hook }], ...extra } } as never);
  const issue = (raw: unknown) => {
    try {
      parseConfig(raw);
    } catch (err) {
      assert.ok(err instanceof ConfigInvalid);
      return err;
    }
    throw new Error('config was accepted');
  };

  it('subscribes a webhook to every event by default; no notify section is no webhook', () => {
    assert.deepEqual(parseConfig(withHook({})).notify.webhooks[0].events, [...NOTIFY_EVENTS]);
    assert.deepEqual(parseConfig(testConfig()).notify, { webhooks: [] });
    assert.equal(parseConfig(withHook({ url: 'http://127.0.0.1:9000/h' })).notify.webhooks[0].url, 'http://127.0.0.1:9000/h');
  });

  it('names the field and the fix for plain http elsewhere, an unknown event and a pasted secret (never echoed)', () => {
    const http = issue(withHook({ url: 'http://hooks.example.com/x' }));
    assert.equal(http.issues[0].field, 'notify.webhooks.0.url');
    assert.match(http.issues[0].problem, /must be https:\/\/.*127\.0\.0\.1 or localhost/);
    const event = issue(withHook({ events: ['finished'] }));
    assert.equal(event.issues[0].field, 'notify.webhooks.0.events.0');
    const pasted = issue(withHook({ secret: CANARY }));
    assert.equal(pasted.issues[0].field, 'notify.webhooks.0.secret');
    assert.match(pasted.message, /secret:env:<NAME>/);
    assert.ok(!pasted.message.includes(CANARY), 'a pasted secret is not echoed');
  });
});

describe('the notification body', () => {
  it('carries the run, event, stage, link, figures, failure class and advice, and a Slack text', () => {
    const b = notifyBody(facts, 'https://temporal.example.com/namespaces/ml/workflows/run-7');
    assert.equal(b.run_id, 'run-7');
    assert.equal(b.event, 'failed');
    assert.equal(b.stage, 'sft');
    assert.deepEqual(b.figures, {
      cost_usd: 1.5,
      budget_usd: 10,
      primary_metric: { name: 'tool_call_match', model: 'dpo', value: 0.8, interval: { lo: 0.7, hi: 0.9 } },
      host_losses: 1,
      steps_redone: 4,
    });
    assert.equal(b.failure?.class, 'OutOfMemory');
    assert.match(b.text, /^\*tiny\* run <https:\/\/temporal\.example\.com\/namespaces\/ml\/workflows\/run-7\|run-7> failed \(stage sft\)/);
    assert.match(b.text, /OutOfMemory: .*Advice: lower batch_size/);
    assert.match(b.text, /cost \$1\.50 of \$10 · tool_call_match \(dpo\) 0\.800 \[0\.700, 0\.900\] · host losses 1 · steps redone 4/);
  });
});

describe('the notifyWebhook activity', async () => {
  const receiver = await startReceiver(CANARY);
  const failing = await startReceiver(CANARY, { failFirst: 100 });
  after(() => Promise.all([receiver.close(), failing.close()]));
  const { notifyWebhook } = notifyActivities({ env });
  // The give-up warnings are the point of two tests here; the last test reads them from a child's log.
  configureLog({ level: 'error' });

  it('posts a body the receiver verifies, linking the run in the UI', async () => {
    const outcome = await activityEnv(1).run(notifyWebhook, input(receiver.url));
    assert.deepEqual(outcome, { delivered: true, attempts: 1 });
    const got = receiver.received.at(-1)!;
    assert.ok(got.verified);
    assert.equal(got.body.ui_url, 'https://temporal.example.com/namespaces/ml/workflows/run-7');
    assert.equal(got.body.failure.advice, facts.failure!.advice);
    assert.ok(!got.raw.includes(CANARY));
  });

  it('throws a retryable failure on a 500 before its last attempt, and gives up without throwing on the last', async () => {
    await assert.rejects(activityEnv(1).run(notifyWebhook, input(failing.url)), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.nonRetryable, false);
      assert.equal(err.type, 'WebhookRejected');
      assert.match(err.message, /^http:\/\/127\.0\.0\.1:\d+ answered HTTP 500/);
      return true;
    });
    const last = (await activityEnv(NOTIFY_ATTEMPTS).run(notifyWebhook, input(failing.url))) as NotifyOutcome;
    assert.equal(last.delivered, false);
    assert.match(last.error!, /answered HTTP 500/);
    assert.equal(failing.received.length, 2);
  });

  it('gives up at once, sending nothing, when the secret variable is unset', async () => {
    const before = receiver.received.length;
    const { notifyWebhook: withoutSecret } = notifyActivities({ env: {} });
    const outcome = (await activityEnv(1).run(withoutSecret, input(receiver.url, { index: 2 }))) as NotifyOutcome;
    assert.equal(outcome.delivered, false);
    assert.match(outcome.error!, /^notify\.webhooks\.2\.secret: secret:env:FINETUNE_WEBHOOK_SECRET names the environment variable FINETUNE_WEBHOOK_SECRET, which is not set/);
    assert.equal(receiver.received.length, before);
  });

  it('logs a delivery it gives up on once, naming the receiver by its origin only and never the secret', () => {
    // pino writes to fd 1 synchronously: a child process is how to read the worker's log.
    const script = `
      const { MockActivityEnvironment } = require('@temporalio/testing');
      const { DefaultLogger } = require('@temporalio/worker');
      const { notifyActivities } = require(${JSON.stringify(require.resolve('../../activities/notify'))});
      const input = ${JSON.stringify(input('http://127.0.0.1:9/token-in-path/XYZ'))};
      new MockActivityEnvironment({ attempt: ${NOTIFY_ATTEMPTS} }, { logger: new DefaultLogger('ERROR') })
        .run(notifyActivities({ env: ${JSON.stringify(env)} }).notifyWebhook, input)
        .then((o) => process.stderr.write(JSON.stringify(o)));`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = out
      .trim()
      .split('\n')
      .filter((l) => l.includes('not told of'));
    assert.equal(lines.length, 1, out);
    const line = JSON.parse(lines[0]);
    assert.equal(line.level, 40);
    assert.equal(line.runId, 'run-7');
    assert.equal(line.webhook, 'http://127.0.0.1:9');
    assert.ok(!out.includes(CANARY) && !out.includes('token-in-path'), out);
  });
});
