/**
 * The whole pipeline on real parts: dev server, worker, local host, the
 * Python trainer on the tiny example, its base model a gated hf: model on the
 * local Hub (the worker fetches it into the store; hosts load it from there).
 * Asserts on what lands in the store.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { startRun } from '../../src/client/runs';
import { openStore } from '../../src/store/open';
import { fingerprintPrefix, safetensorsKeys } from '../../src/store/fingerprint';
import type { StageStatusFile } from '../../src/jobs/contract';
import type { RunMetrics } from '../../src/eval/metrics';
import { approveUpdate, progressQuery, STAGE_ATTRIBUTE, type GateDecision } from '../../workflows/messages';
import type { PipelineResult } from '../../workflows/pipeline';
import type { RunProgress } from '../../workflows/progress';
import { LocalHub, publishTinyModels, TINY_HUB_TOKENS } from '../support/hubServer';
import { startHarness, tinyConfig, type Harness } from '../support/integration';
import { projectRoot } from '../../src/paths';
import { historyText } from '../support/history';
import { dataConverterFor } from '../../src/client/temporalClient';
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../../workers/workflowSource';

let h: Harness;
let hub: LocalHub;
let result: PipelineResult;
let progress: RunProgress;
let stageAttribute: unknown;
let history: unknown;
/** What the approve update answered. */
let approval: GateDecision;
/** What the store held while the run waited at the gate for a person. */
let atGate: { progress: RunProgress; promotedKeys: string[] };
const taskQueue = 'it-pipeline';
const IT_WRITE_TOKEN = 'hf_localhub_it_writer_token';

before(async () => {
  h = await startHarness('pipeline');
  hub = await LocalHub.start();
  publishTinyModels(hub, projectRoot);
  // The in-process worker's environment: where the Hub is, and the token model.token names.
  process.env.HF_ENDPOINT = hub.url;
  process.env.FINETUNE_IT_HF_TOKEN = TINY_HUB_TOKENS.reader;
  // Promote pushes to a new private repo of the same local Hub with a write token of its own.
  hub.addToken(IT_WRITE_TOKEN, [], ['it-org']);
  process.env.FINETUNE_IT_HF_WRITE_TOKEN = IT_WRITE_TOKEN;
  const config = tinyConfig(h.dir, {
    output: 'hf:it-org/tiny-ft',
    promote: { token: 'secret:env:FINETUNE_IT_HF_WRITE_TOKEN' },
    model: { base: 'hf:tiny-org/gated-llama', token: 'secret:env:FINETUNE_IT_HF_TOKEN' },
    eval: { require_approval: true, approval_timeout_s: 3600 },
  });
  const { worker } = await h.worker(taskQueue);
  const handle = await startRun(h.client, config, { taskQueue, runId: 'it-pipeline-1' });
  await worker.runUntil(async () => {
    for (;;) {
      const p = await handle.query(progressQuery);
      if (p.gate?.state === 'awaiting_approval') {
        atGate = { progress: p, promotedKeys: [...hub.repos.keys()].filter((r) => r.startsWith('it-org/')) };
        break;
      }
      if (p.state !== 'running') throw new Error(`run ended as ${p.state} before the gate: ${p.error}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    approval = await handle.executeUpdate(approveUpdate, { args: [{ note: 'read the outputs' }] });
    result = await handle.result();
    progress = await handle.query(progressQuery);
  });
  stageAttribute = (await handle.describe()).typedSearchAttributes.get(STAGE_ATTRIBUTE);
  history = await handle.fetchHistory();
});
after(async () => {
  await h?.close();
  await hub?.close();
});

describe('the tiny pipeline on real parts', () => {
  const key = (rest: string) => `runs/${result.runId}/${rest}`;
  const status = (stage: string) => openStore(result.storeUri).getJson<StageStatusFile>(key(`stages/${stage}/status.json`));

  it('holds promotion at the gate until a person approves, and records who did', () => {
    assert.equal(atGate.progress.stage, 'gate');
    assert.equal(atGate.progress.promoted, null);
    assert.deepEqual(atGate.promotedKeys, [], 'nothing was pushed to the output repo before the approval');
    assert.equal(result.gate.state, 'approved');
    // The approver is the harness client's identity as the server recorded it with the update.
    assert.ok(approval.by && approval.by !== 'unknown', JSON.stringify(approval));
    assert.deepEqual([result.gate.by, result.gate.note, result.gate.via], [approval.by, 'read the outputs', 'update']);
  });

  it('finishes, promotes a model and says so in its progress and search attribute', () => {
    assert.equal(progress.state, 'succeeded');
    for (const s of Object.values(progress.stages)) assert.equal(s.state, 'succeeded');
    assert.equal(stageAttribute, 'promote');
    assert.ok(['sft', 'dpo'].includes(result.promoted.model));
  });

  it('promotes to the Hub repo as one commit naming the run, with the model card, and records the commit', () => {
    const [head] = hub.history('it-org/tiny-ft');
    assert.equal(hub.repos.get('it-org/tiny-ft')!.private, true);
    assert.ok(result.promoted.model !== 'none' && result.promoted.commit === head.sha, JSON.stringify(result.promoted));
    assert.equal(progress.promoted?.commit, head.sha);
    assert.match(head.message, new RegExp(`^durable-finetune run ${result.runId}: ${result.promoted.model} \\(`));
    assert.ok(head.files.has('model.safetensors') && head.files.has('config.json') && head.files.has('tokenizer.json'));
    const card = head.files.get('README.md')!.data.toString();
    assert.match(card, new RegExp(`durable_finetune_run: "${result.runId}"`));
    assert.ok(card.includes(`approved by ${approval.by}`), card);
    assert.doesNotMatch(historyText(history), new RegExp(IT_WRITE_TOKEN), 'the write token never enters workflow history');
  });

  it('commits an SFT checkpoint at every save_steps, each with a COMMITTED.json that lists its files', async () => {
    const store = openStore(result.storeUri);
    for (let step = 25; step <= 250; step += 25) {
      const committed = await store.getJson<{ step: number; files: { path: string; size: number; sha256: string }[] }>(
        key(`stages/sft/checkpoints/checkpoint-${step}/COMMITTED.json`),
      );
      assert.ok(committed, `checkpoint-${step} is committed`);
      assert.equal(committed.step, step);
      assert.ok(committed.files.some((f) => f.path.endsWith('adapter_model.safetensors')));
    }
  });

  it('chains fingerprints from stage to stage', async () => {
    const store = openStore(result.storeUri);
    const sft = (await status('sft'))!;
    const merge = (await status('merge'))!;
    const dpo = (await status('dpo'))!;
    assert.equal(sft.output!.fingerprint, await fingerprintPrefix(store, sft.output!.key));
    assert.equal(merge.metrics.adapter_fingerprint, sft.output!.fingerprint);
    assert.equal(merge.output!.fingerprint, await fingerprintPrefix(store, merge.output!.key));
    assert.equal(dpo.output!.fingerprint, await fingerprintPrefix(store, dpo.output!.key));
    assert.notEqual(dpo.output!.fingerprint, merge.output!.fingerprint);
  });

  it('merges the LoRA into full weights: no lora_ keys left in the merged model', async () => {
    const store = openStore(result.storeUri);
    const merge = (await status('merge'))!;
    const weights = await store.getBytes(`${merge.output!.key}/model.safetensors`);
    assert.ok(weights);
    const keys = safetensorsKeys(weights);
    assert.ok(keys.length > 0);
    assert.deepEqual(
      keys.filter((k) => k.includes('lora_')),
      [],
    );
    assert.ok((merge.metrics.probe_max_abs_diff as number) <= 1e-3);
  });

  it('writes metrics in which the SFT model beats the base by at least 30 points', async () => {
    const metrics = await openStore(result.storeUri).getJson<RunMetrics>(key('report/metrics.json'));
    assert.ok(metrics);
    assert.equal(metrics.primaryMetric, 'tool_call_match');
    for (const model of ['base', 'sft', 'dpo']) {
      const value = metrics.models[model]?.tool_call_match;
      assert.ok(value !== undefined && value >= 0 && value <= 1, `${model} has a tool_call_match in [0, 1]`);
    }
    assert.ok(metrics.models.sft.tool_call_match - metrics.models.base.tool_call_match >= 0.3);
  });

  it('trains the hf: model at the commit main named, recorded in run.json, progress and report, the token nowhere', async () => {
    const store = openStore(result.storeUri);
    const commit = hub.repos.get('tiny-org/gated-llama')!.refs.get('main')!;
    const model = { repo: 'tiny-org/gated-llama', revision: 'main', commit, key: `hub/models/tiny-org/gated-llama/${commit}` };
    assert.deepEqual((await store.getJson<{ model: unknown }>(key('run.json')))?.model, model);
    assert.deepEqual(progress.model, model);
    // The host downloaded the model from the store (cache/store/<key>), checked against COMMITTED.json.
    const hostsDir = path.join(h.dir, 'hosts');
    assert.ok(fs.readdirSync(hostsDir).some((host) => fs.existsSync(path.join(hostsDir, host, 'cache/store', model.key, '.downloaded'))));
    assert.ok(await store.exists(`${model.key}/COMMITTED.json`));
    const report = (await store.getBytes(key('report/report.html')))!.toString('utf8');
    assert.match(report, new RegExp(`tiny-org/gated-llama@${commit}`));
    assert.ok(
      hub.fileRequests().every((r) => r.authorized),
      'every file came with the token',
    );
    assert.doesNotMatch(historyText(history), new RegExp(TINY_HUB_TOKENS.reader), 'the token never enters workflow history');
  });

  it('replays its own history against the current workflow code', async () => {
    // Its payloads are encrypted: the replayer opens them with the same data converter as the worker.
    const dataConverter = await dataConverterFor(h.settings);
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }, dataConverter }, history as never);
  });
});
