/**
 * Encrypted history, end to end on a real dev server (the `temporal` CLI's,
 * from .venv): a run started, signalled, queried and finished through a
 * client with the codec leaves a history whose payloads, read WITHOUT the
 * codec, are all `binary/encrypted` and hold none of the config's paths:
 * input, result, memo, summary and details, activity inputs and results,
 * a signal, the approve update, a failure's message and stack, and a
 * schedule's action. The codec client reads them
 * back; `temporal workflow show --codec-endpoint` through the codec server
 * shows them decoded; histories recorded before the codec still replay.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import type { JobProgress } from '../../activities/types';
import { ENCRYPTED_ENCODING } from '../../src/client/codec/aesGcm';
import { dataConverterOf, FAILURE_CONVERTER_PATH } from '../../src/client/codec/dataConverter';
import { KeyRing, newKey } from '../../src/client/codec/keys';
import { startCodecServer, type RunningCodecServer } from '../../src/client/codec/server';
import { temporalSettings } from '../../src/client/connection';
import { installRuntime } from '../../src/client/runtime';
import { connectClient, type TemporalClient } from '../../src/client/temporalClient';
import { venvBin } from '../../src/paths';
import { fineTunePipeline } from '../../workflows';
import { approveUpdate, jobProgressSignal, progressQuery } from '../../workflows/messages';
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../../workers/workflowSource';
import { runProcess } from '../support/cli';
import { testConfig } from '../support/config';
import { historyText } from '../support/history';
import { HISTORIES_DIR } from '../support/recordHistories';
import { failAs, scriptedActivities, succeed, type JobScript } from '../support/scriptedActivities';
import { localEnv } from '../support/temporal';

const CANARY = '/srv/codec-canary';
const config = testConfig({
  name: 'codec-canary',
  eval: { require_approval: true },
  store: `file://${CANARY}/store`,
  model: { base: `${CANARY}/model` },
  data: { sft: `${CANARY}/sft.jsonl`, preferences: `${CANARY}/prefs.jsonl`, eval: `${CANARY}/eval.jsonl` },
});
const TOKEN = 'encrypted-history-test-token';
const ring = new KeyRing([newKey()], 'the test key ring');
const dataConverter = dataConverterOf(ring);

let env: TestWorkflowEnvironment;
let codec: TemporalClient;
let bundle: WorkflowBundleWithSourceMap;
let codecServer: RunningCodecServer;
let n = 0;
const b64 = (text: string) => Buffer.from(text).toString('base64');

before(async () => {
  // The failed run is the point of one test: keep the SDK's warning about it out of the output.
  installRuntime('ERROR');
  env = await localEnv();
  codec = await connectClient(temporalSettings({ TEMPORAL_ADDRESS: env.address }), {}, dataConverter);
  const noop = () => undefined;
  bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop },
  });
  codecServer = await startCodecServer({ codec: dataConverter.payloadCodecs![0], token: TOKEN, corsOrigins: [], host: '127.0.0.1', port: 0 });
});

after(async () => {
  await codecServer?.close();
  await codec?.connection.close();
  await env?.teardown();
});

/** The SFT job signals progress the way the worker's runJob does: through the codec client. */
const signallingSft =
  (client: Client): JobScript =>
  async (input) => {
    const progress: JobProgress = {
      jobId: input.job.job_id,
      stage: 'sft',
      hostId: `host-of-${CANARY}`,
      step: 5,
      totalSteps: 10,
      loss: 1.5,
      lastCheckpointStep: null,
      resumedFromStep: 0,
    };
    await client.workflow.getHandle(input.job.run_id).signal(jobProgressSignal, progress);
    return succeed()(input);
  };

/** Approves through the codec client once the gate waits (the approve update's note names a path). */
async function approveWhenAsked(handle: WorkflowHandle<typeof fineTunePipeline>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await handle.query(progressQuery).catch(() => null))?.gate?.state === 'awaiting_approval') {
      await handle.executeUpdate(approveUpdate, { args: [{ note: `compared outputs in ${CANARY}/review` }] });
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the gate never asked for approval');
}

async function run(scripts: Partial<Record<string, JobScript[]>>, approve: boolean) {
  const taskQueue = `codec-test-${++n}`;
  const workflowId = `codec-run-${n}`;
  const { activities } = scriptedActivities(scripts);
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, dataConverter, activities });
  const outcome = await worker.runUntil(async () => {
    const handle = await codec.client.workflow.start(fineTunePipeline, {
      taskQueue,
      workflowId,
      args: [config],
      memo: { configFile: `${CANARY}/config.yaml` },
      staticSummary: `fine-tune on ${CANARY}/model`,
      staticDetails: `data ${CANARY}/sft.jsonl`,
    });
    const approved = approve ? approveWhenAsked(handle) : Promise.resolve();
    try {
      return { result: await handle.result(), error: null, progress: await handle.query(progressQuery) };
    } catch (error) {
      return { result: null, error: error as Error, progress: null };
    } finally {
      await approved;
    }
  });
  // Read without the codec: the test server's own client has the default data converter.
  const raw = await env.client.workflow.getHandle(workflowId).fetchHistory();
  return { ...outcome, workflowId, raw };
}

/**
 * The encoding of every payload in a history (any object with metadata and
 * data), except those Temporal keeps readable by design: search attributes
 * (the server indexes them) and the SDK's patch markers (patch names only).
 */
function payloadEncodings(history: temporal.api.history.v1.IHistory): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (!v || typeof v !== 'object' || v instanceof Uint8Array) return;
    const o = v as Record<string, unknown>;
    const enc = (o.metadata as Record<string, Uint8Array> | undefined)?.encoding;
    if (enc && 'data' in o) out.push(Buffer.from(enc).toString('utf8'));
    for (const [k, child] of Object.entries(o)) if (k !== 'searchAttributes') walk(child);
  };
  for (const event of history.events ?? []) if (event.markerRecordedEventAttributes?.markerName !== 'core_patch') walk(event);
  return out;
}

describe('encrypted history', () => {
  it('a finished run: every payload in the raw history is binary/encrypted, no path of the config is readable, the codec client reads all', async () => {
    const { result, progress, raw, workflowId } = await run({ sft: [signallingSft(codec.client)] }, true);
    assert.ok(result, 'the run succeeded');
    assert.equal(progress?.state, 'succeeded');
    assert.equal(progress?.baseModel, `${CANARY}/model`, 'the query answer, decoded');
    assert.equal(progress?.gate?.note, `compared outputs in ${CANARY}/review`, 'the update went through');

    const encodings = payloadEncodings(raw);
    assert.ok(encodings.length > 20, `${encodings.length} payloads`);
    assert.deepEqual([...new Set(encodings)], [ENCRYPTED_ENCODING]);
    const text = historyText(raw);
    assert.ok(!text.includes('codec-canary'), 'a config path is readable in the raw history');
    assert.ok(text.includes('"signalName":"jobProgress"'), 'the signal is in the history');
    assert.ok(text.includes('workflowExecutionUpdateAcceptedEventAttributes'), 'the update is in the history');

    // The codec client reads the same history back: memo, summary, details, input.
    const described = await codec.client.workflow.getHandle(workflowId).describe();
    assert.deepEqual(described.memo, { configFile: `${CANARY}/config.yaml` });
    assert.equal(await described.staticSummary(), `fine-tune on ${CANARY}/model`);
    assert.equal(await described.staticDetails(), `data ${CANARY}/sft.jsonl`);
    const started = raw.events![0].workflowExecutionStartedEventAttributes!;
    const [input] = await dataConverter.payloadCodecs![0].decode(started.input!.payloads! as never);
    assert.equal(JSON.parse(Buffer.from(input.data!).toString('utf8')).data.sft, `${CANARY}/sft.jsonl`);

    // The temporal CLI through the codec server shows the run decoded; without it, sealed.
    const show = (...extra: string[]) =>
      runProcess(venvBin('temporal'), ['workflow', 'show', '--workflow-id', workflowId, '--address', env.address, '--output', 'json', ...extra], {}, 60_000);
    // Its JSON shows payload data in base64, as the API does: historyText decodes it in place.
    const decoded = await show('--codec-endpoint', codecServer.url, '--codec-auth', `Bearer ${TOKEN}`);
    assert.equal(decoded.code, 0, decoded.stderr);
    const decodedText = historyText(JSON.parse(decoded.stdout));
    assert.ok(decodedText.includes(`${CANARY}/sft.jsonl`), 'the decoded input shows the config');
    assert.ok(decodedText.includes(`host-of-${CANARY}`), 'the decoded signal shows its payload');
    assert.ok(decodedText.includes(`compared outputs in ${CANARY}/review`), 'the decoded update shows its note');
    assert.ok(!decoded.stdout.includes(b64(ENCRYPTED_ENCODING)), 'every payload decoded');
    const sealed = await show();
    assert.equal(sealed.code, 0, sealed.stderr);
    assert.ok(!historyText(JSON.parse(sealed.stdout)).includes('codec-canary'));
    assert.ok(sealed.stdout.includes(b64(ENCRYPTED_ENCODING)));
    // The encrypted history replays with the worker's data converter (and only with it).
    await Worker.runReplayHistory({ workflowBundle: bundle, dataConverter }, raw, workflowId);
    await assert.rejects(Worker.runReplayHistory({ workflowBundle: bundle }, raw, workflowId));

    const refused = await show('--codec-endpoint', codecServer.url);
    assert.notEqual(refused.code, 0, 'the codec server refuses the CLI without the token');
    assert.ok(!refused.stdout.includes(b64('codec-canary')));
  });

  it("a failed run: the failure's message and stack are sealed in history, and the codec client reads them", async () => {
    const { error, raw } = await run({ sft: [failAs('DataInvalid', `cannot read ${CANARY}/sft.jsonl: line 3 is not JSON`)] }, false);
    assert.ok(error instanceof WorkflowFailedError, String(error));
    const messages: string[] = [];
    for (let e: Error | undefined = error; e; e = (e as { cause?: Error }).cause) messages.push(e.message);
    assert.ok(
      messages.some((m) => m.includes(`cannot read ${CANARY}/sft.jsonl`)),
      messages.join(' | '),
    );
    const text = historyText(raw);
    assert.ok(!text.includes('codec-canary'), 'the failure is readable in the raw history');
    assert.match(text, /"message":"Encoded failure"/);
  });

  it("a schedule's action arguments are sealed too; the codec client reads them", async () => {
    const scheduleId = 'codec-schedule';
    await codec.client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1d' }] },
      action: { type: 'startWorkflow', workflowType: 'fineTunePipeline', taskQueue: 'nobody-polls', args: [config], memo: { configFile: `${CANARY}/config.yaml` } },
      state: { paused: true },
    });
    const raw = await env.connection.workflowService.describeSchedule({ namespace: 'default', scheduleId });
    const start = raw.schedule!.action!.startWorkflow!;
    assert.deepEqual(payloadEncodings({ events: [{ input: start.input, memo: start.memo }] } as never), [ENCRYPTED_ENCODING, ENCRYPTED_ENCODING]);
    assert.ok(!historyText(raw).includes('codec-canary'));
    const action = (await codec.client.schedule.getHandle(scheduleId).describe()).action as { args?: unknown[] };
    assert.equal((action.args?.[0] as typeof config).data.sft, `${CANARY}/sft.jsonl`);
    await codec.client.schedule.getHandle(scheduleId).delete();
  });

  it('histories recorded before the codec replay with it (their payloads pass through)', async () => {
    const file = 'succeeded.json';
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: bundle, dataConverter }, history, path.basename(file, '.json'));
  });
});
