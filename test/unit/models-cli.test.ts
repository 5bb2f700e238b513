/**
 * The registry of promoted models: the real promoteModel activity promotes two
 * runs of one file store (one to a folder, one to the local Hub through the
 * official client), each writing registry/models/<runId>.json; `finetune
 * models` (the built CLI, no Temporal) lists them newest first with their
 * lineage, filters by base model, says so when a store holds none, and skips a
 * damaged record with a warning naming it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { promoteActivities } from '../../activities/promote';
import type { PromoteInput, PromoteResult } from '../../activities/types';
import { parseConfig } from '../../src/config/parse';
import type { GateOutcome } from '../../src/eval/gate';
import type { RunMetrics } from '../../src/eval/metrics';
import { runKey, stageKey } from '../../src/jobs/contract';
import { projectRoot } from '../../src/paths';
import { baseFilterProblem, listModels, type ModelFilter } from '../../src/registry/list';
import { registryKey, type ModelRecord } from '../../src/registry/record';
import { FileStore } from '../../src/store/file';
import { finetune, jsonOf } from '../support/cli';
import { LocalHub, tinyModelFiles } from '../support/hubServer';
import { buildReportFixture, type ReportFixture } from '../support/reportFixture';

const WRITER = 'hf_localhub_models_writer';
const HUB_BASE = { repo: 'tiny-org/tiny-llama', revision: 'v1', commit: 'c'.repeat(40) };
const SECOND = 'models-second-1';
const data = (name: string) => path.join(projectRoot, 'examples/tiny/data', name);
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const rows = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim()).length;

let hub: LocalHub;
let fx: ReportFixture;
let folder: PromoteResult;
let hubbed: PromoteResult;

function promote(runId: string, output: string | undefined): Promise<PromoteResult> {
  const { promoteModel } = promoteActivities({ env: { HF_ENDPOINT: hub.url, WRITE: WRITER } });
  const input: PromoteInput = {
    runId,
    storeUri: fx.store.uri,
    fromKey: stageKey(runId, 'dpo', 'output/model'),
    outputUri: output,
    promote: { private: true, overwrite: false, token: 'secret:env:WRITE' },
    model: 'dpo',
  };
  return new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(promoteModel, input);
}

/** A run as prepareRun and the gate leave it: run.json with the resolved config, the data copies, gate.json, the DPO model. */
async function completeRun(runId: string, base: string, hubModel: object | undefined, approver: string): Promise<void> {
  const config = parseConfig({
    name: `models-${approver}`,
    store: fx.store.uri,
    model: { base },
    data: { sft: data('sft.jsonl'), preferences: data('preferences.jsonl'), eval: data('eval.jsonl') },
  });
  await fx.store.putJson(runKey(runId, 'run.json'), { run_id: runId, config, ...(hubModel ? { model: hubModel } : {}), prepared_at: '2026-11-28T22:00:00.000Z' });
  for (const name of ['sft', 'preferences']) await fx.store.uploadPath(data(`${name}.jsonl`), runKey(runId, `data/${name}.jsonl`));
  const gate: GateOutcome = {
    state: 'approved',
    candidate: 'dpo',
    promote: 'dpo',
    checks: [],
    by: approver,
    note: null,
    decidedAt: '2026-11-28T23:00:00.000Z',
    waitingSince: null,
    deadline: null,
    reason: `dpo approved by ${approver}`,
  };
  await fx.store.putJson(runKey(runId, 'report/gate.json'), gate);
  for (const [name, bytes] of Object.entries(tinyModelFiles(projectRoot))) await fx.store.putBytes(`${stageKey(runId, 'dpo', 'output/model')}/${name}`, bytes);
}

before(async () => {
  hub = await LocalHub.start();
  hub.addToken(WRITER, [], ['acme']);
  fx = await buildReportFixture();
  await completeRun(fx.runId, 'hf:tiny-org/tiny-llama@v1', { ...HUB_BASE, key: `hub/models/tiny-org/tiny-llama/${HUB_BASE.commit}` }, 'alice');
  // The second run: the same scored report, a local base model, approved by someone else.
  await fx.store.copyPrefix(runKey(fx.runId, 'report'), fx.store, runKey(SECOND, 'report'));
  await completeRun(SECOND, path.join(projectRoot, 'examples/tiny/model'), undefined, 'bob');

  folder = await promote(fx.runId, `file://${fx.dir}/published`);
  await new Promise((r) => setTimeout(r, 5)); // promoted_at has millisecond resolution
  hubbed = await promote(SECOND, 'hf:acme/models-ft');
});
after(async () => {
  await hub.close();
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

describe('finetune models', { concurrency: true }, () => {
  it('lists the promoted models newest first with their lineage (--json)', async () => {
    const r = await finetune(['models', '--store', fx.store.uri, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const models = jsonOf<ModelRecord[]>(r);
    assert.deepEqual(
      models.map((m) => m.run_id),
      [SECOND, fx.runId],
    );
    const [second, first] = models;
    assert.ok(Date.parse(second.promoted_at) > Date.parse(first.promoted_at));

    const metrics = (await fx.store.getJson<RunMetrics>(runKey(fx.runId, 'report/metrics.json')))!;
    const iv = metrics.intervals!.dpo.tool_call_match;
    assert.deepEqual(first, {
      run_id: fx.runId,
      name: 'models-alice',
      promoted_at: first.promoted_at,
      model: 'dpo',
      base_model: { ref: 'hf:tiny-org/tiny-llama@v1', ...HUB_BASE },
      data: [
        { field: 'data.sft', ref: data('sft.jsonl'), sha256: sha(data('sft.jsonl')), rows: rows(data('sft.jsonl')) },
        { field: 'data.preferences', ref: data('preferences.jsonl'), sha256: sha(data('preferences.jsonl')), rows: rows(data('preferences.jsonl')) },
        // eval: the fixture's own eval set, stored in the run.
        first.data[2],
      ],
      primary_metric: { name: 'tool_call_match', value: metrics.models.dpo.tool_call_match, lo: iv.lo, hi: iv.hi, n: iv.n },
      gate: { state: 'approved', by: 'alice', decided_at: '2026-11-28T23:00:00.000Z' },
      cost_usd: 3.4567,
      weights: { uri: folder.uri },
      store: fx.store.uri,
    });
    assert.equal(first.data[2].field, 'data.eval');
    assert.equal(
      first.data[2].sha256,
      createHash('sha256')
        .update((await fx.store.getBytes(runKey(fx.runId, 'data/eval.jsonl')))!)
        .digest('hex'),
    );
    assert.ok(iv.lo < iv.hi);

    assert.deepEqual(second.base_model, { ref: path.join(projectRoot, 'examples/tiny/model') });
    assert.deepEqual(second.weights, { uri: 'hf:acme/models-ft', commit: hubbed.commit, repo_url: `${hub.url}/acme/models-ft` });
    assert.equal(hub.history('acme/models-ft')[0].sha, hubbed.commit);
    assert.equal(second.gate?.by, 'bob');
  });

  it('names each model with its lineage in the human listing', async () => {
    const r = await finetune(['models', '--store', fx.store.uri]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^2 promoted models in file:\/\/.*, newest first:/);
    assert.ok(r.stdout.indexOf(SECOND) < r.stdout.indexOf(fx.runId), 'newest first');
    assert.match(r.stdout, new RegExp(`weights  hf:acme/models-ft @ ${hubbed.commit}`));
    assert.ok(r.stdout.includes(`weights  ${folder.uri}\n`));
    assert.match(r.stdout, new RegExp(`base     hf:tiny-org/tiny-llama @ ${'c'.repeat(40)} \\(asked for v1\\)`));
    assert.ok(r.stdout.includes(`data.sft sft.jsonl: ${rows(data('sft.jsonl'))} rows, sha256 ${sha(data('sft.jsonl'))}`));
    assert.match(r.stdout, /metric   tool_call_match \d+\.\d% \[\d+\.\d%, \d+\.\d%\] on \d+ items/);
    assert.match(r.stdout, /gate     approved by alice at 2026-11-28T23:00:00.000Z/);
    assert.match(r.stdout, /cost     \$3\.46/);
  });

  it('filters by base model (repo, revision asked for, commit prefix) and limits the count', async () => {
    const ids = async (filter: ModelFilter) => (await listModels([fx.store], filter)).models.map((m) => m.run_id);
    assert.deepEqual(await ids({ base: 'hf:tiny-org/tiny-llama' }), [fx.runId]);
    assert.deepEqual(await ids({ base: 'hf:tiny-org/tiny-llama@v1' }), [fx.runId]);
    assert.deepEqual(await ids({ base: 'hf:tiny-org/tiny-llama@v2' }), []);
    assert.deepEqual(await ids({ base: path.join(projectRoot, 'examples/tiny/model') }), [SECOND]);
    assert.deepEqual(await ids({ limit: 1 }), [SECOND]);
    // The CLI turns this into "--base: <problem>", exit 2.
    assert.match(baseFilterProblem('hf:tiny-llama')!, /^names no organisation/);
    assert.equal(baseFilterProblem('hf:tiny-org/tiny-llama@v1'), undefined);
    const r = await finetune(['models', '--store', fx.store.uri, '--base', 'hf:tiny-org/tiny-llama@cccccccc', '--limit', '1', '--json']);
    assert.deepEqual(
      jsonOf<ModelRecord[]>(r).map((m) => m.run_id),
      [fx.runId],
    );
  });

  it('re-promoting a run keeps its record and its first promoted_at', async () => {
    const before = (await fx.store.getJson<ModelRecord>(registryKey(fx.runId)))!;
    await promote(fx.runId, `file://${fx.dir}/published`);
    assert.deepEqual(await fx.store.getJson<ModelRecord>(registryKey(fx.runId)), before);
  });

  it('a store without promoted models (named by --store or by --config) says so, exit 0; a missing folder is exit 3', async () => {
    const empty = path.join(fx.dir, 'empty-store');
    fs.mkdirSync(empty);
    const config = path.join(fx.dir, 'empty.json');
    fs.writeFileSync(
      config,
      JSON.stringify({ name: 'empty', store: empty, model: { base: 'hf:tiny-org/tiny-llama' }, data: { sft: 'sft.jsonl', preferences: 'preferences.jsonl', eval: 'eval.jsonl' } }),
    );
    const [r, byConfig, missing] = await Promise.all([
      finetune(['models', '--store', empty]),
      finetune(['models', '--config', config]),
      finetune(['models', '--store', path.join(fx.dir, 'nowhere')]),
    ]);
    for (const out of [r, byConfig]) {
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /^no promoted models in file:\/\/.*empty-store \(promote writes registry\/models\/<run>\.json there\)/);
    }
    assert.deepEqual((await listModels([new FileStore(`file://${empty}`)])).models, []);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /no store at .*nowhere: nothing has run there; name the store with --store <uri> or --config <file>/);
  });

  it('skips a damaged record with a warning naming it, and lists the rest', async () => {
    // In a store of its own, so the other tests (run concurrently) see only good records.
    const damaged = new FileStore(`file://${fx.dir}/damaged-store`);
    await fx.store.copyPrefix('registry/models', damaged, 'registry/models');
    await damaged.putBytes('registry/models/broken-run.json', Buffer.from('{"run_id": "broken-run", '));
    await damaged.putJson('registry/models/odd-run.json', { run_id: 'odd-run', promoted_at: 'yesterday' });
    const r = await finetune(['models', '--store', damaged.uri, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      jsonOf<ModelRecord[]>(r).map((m) => m.run_id),
      [SECOND, fx.runId],
    );
    assert.match(r.stderr, /skipped the registry record file:\/\/.*\/registry\/models\/broken-run\.json: not valid JSON/);
    assert.match(r.stderr, /skipped the registry record file:\/\/.*\/registry\/models\/odd-run\.json: .*promoted_at: is not an ISO-8601 time/);
  });
});
