/**
 * promoteModel with output hf:<org>/<name>, against the local Hub through the
 * official JS client (createRepo, preupload, LFS batch + PUT, NDJSON commit):
 * a new private repo gets one commit naming the run, whose files and card the
 * Python client (huggingface_hub) downloads byte for byte; re-promoting makes
 * no commit; a refused token and someone else's repo are named errors. A
 * folder promotion gets the same card beside the model.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { prepareActivities } from '../../activities/prepare';
import { promoteActivities } from '../../activities/promote';
import type { PromoteInput, PromoteResult } from '../../activities/types';
import { parseConfig } from '../../src/config/parse';
import { MAX_SHARD_BYTES, pushModelFolder } from '../../src/hub/push';
import { Secret } from '../../src/secrets/resolve';
import type { GateOutcome } from '../../src/eval/gate';
import { runKey, stageKey } from '../../src/jobs/contract';
import { projectRoot } from '../../src/paths';
import { LocalHub, tinyModelFiles } from '../support/hubServer';
import { buildReportFixture, type ReportFixture } from '../support/reportFixture';
import { applicationFailureOf } from '../support/failures';

const TOKENS = { writer: 'hf_localhub_acme_writer', readOnly: 'hf_localhub_acme_reader', tinyOwner: 'hf_localhub_tiny_owner' };
const CANARY = 'hf_canary_refused_never_print_me';
let hub: LocalHub;
let fx: ReportFixture;
const MODEL_KEY = (runId: string) => stageKey(runId, 'dpo', 'output/model');
const env = (): NodeJS.ProcessEnv => ({ HF_ENDPOINT: hub.url, WRITE: TOKENS.writer, READ_ONLY: TOKENS.readOnly, BAD: CANARY, TINY: TOKENS.tinyOwner });

before(async () => {
  hub = await LocalHub.start();
  hub.addToken(TOKENS.writer, [], ['acme']);
  hub.addToken(TOKENS.readOnly, 'all');
  hub.addToken(TOKENS.tinyOwner, [], ['tiny-org']);
  hub.createRepo('tiny-org/someone-else');
  hub.commit('tiny-org/someone-else', { 'README.md': Buffer.from('# their model\n'), 'model.safetensors': Buffer.from('their weights') }, { message: 'their model' });

  fx = await buildReportFixture();
  // The fixture's run, completed with what prepareRun writes: the config, the data copies, the model.
  const data = (name: string) => path.join(projectRoot, 'examples/tiny/data', name);
  const config = parseConfig({
    name: 'hub-promote',
    store: fx.store.uri,
    model: { base: 'hf:tiny-org/tiny-llama' },
    data: { sft: data('sft.jsonl'), preferences: data('preferences.jsonl'), eval: data('eval.jsonl') },
  });
  const hubModel = { repo: 'tiny-org/tiny-llama', revision: 'main', commit: 'c'.repeat(40), key: `hub/models/tiny-org/tiny-llama/${'c'.repeat(40)}` };
  await fx.store.putJson(runKey(fx.runId, 'run.json'), { run_id: fx.runId, config, model: hubModel, prepared_at: '2026-11-28T22:00:00.000Z' });
  for (const name of ['sft', 'preferences']) await fx.store.uploadPath(data(`${name}.jsonl`), runKey(fx.runId, `data/${name}.jsonl`));
  const gate: GateOutcome = {
    state: 'approved',
    candidate: 'dpo',
    promote: 'dpo',
    checks: [],
    by: 'alice',
    note: null,
    decidedAt: '2026-11-28T23:00:00.000Z',
    waitingSince: null,
    deadline: null,
    reason: 'dpo approved by alice',
  };
  await fx.store.putJson(runKey(fx.runId, 'report/gate.json'), gate);
  for (const [name, bytes] of Object.entries(tinyModelFiles(projectRoot))) await fx.store.putBytes(`${MODEL_KEY(fx.runId)}/${name}`, bytes);
  // Not part of a loadable model: left out of the Hub commit.
  await fx.store.putBytes(`${MODEL_KEY(fx.runId)}/training_args.bin`, Buffer.from('not published'));
});
after(async () => {
  await hub.close();
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

function promote(output: string, promoteSection: PromoteInput['promote']): Promise<PromoteResult> {
  const { promoteModel } = promoteActivities({ env: env() });
  return new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(promoteModel, {
    runId: fx.runId,
    storeUri: fx.store.uri,
    fromKey: MODEL_KEY(fx.runId),
    outputUri: output,
    promote: promoteSection,
    model: 'dpo' as const,
    primary: { metric: 'tool_call_match', value: 0.9166 },
  });
}

const section = (token: string, extra: object = {}) => ({ private: true, overwrite: false, token, ...extra });

const failure = (p: Promise<unknown>): Promise<ApplicationFailure> => applicationFailureOf(p, 'promoteModel');

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let first: PromoteResult;

describe('promote to the Hub', () => {
  it('creates a private repo and commits the model and its card as one commit naming the run', async () => {
    first = await promote('hf:acme/tiny-ft', section('secret:env:WRITE'));
    const repo = hub.repos.get('acme/tiny-ft')!;
    assert.equal(repo.private, true);
    const [head, initial] = hub.history('acme/tiny-ft');
    assert.equal(first.commit, head.sha);
    assert.equal(first.uri, 'hf:acme/tiny-ft');
    assert.equal(first.repoUrl, `${hub.url}/acme/tiny-ft`);
    assert.equal(first.committed, true);
    assert.match(head.message, new RegExp(`^durable-finetune run ${fx.runId}: dpo \\(tool_call_match 91.7%\\)`));
    assert.equal(initial.message, 'initial commit');
    const files = [...head.files.keys()].sort();
    assert.deepEqual(files, ['.gitattributes', 'README.md', ...Object.keys(tinyModelFiles(projectRoot))].sort());
    assert.equal(head.files.get('model.safetensors')!.lfs, true, 'weights go through LFS');
    assert.ok(
      hub.requests.some((r) => r.method === 'PUT' && r.path.startsWith('/__lfs/')),
      'the weights were PUT to the LFS upload URL',
    );
    assert.ok(hub.requests.some((r) => r.path === '/acme/tiny-ft.git/info/lfs/objects/batch'));
  });

  it('serves the promoted model and card to the Python client, byte for byte', async () => {
    const script = [
      'import hashlib, json, os, sys',
      'from huggingface_hub import snapshot_download',
      'p = snapshot_download("acme/tiny-ft", endpoint=sys.argv[1], token=sys.argv[2], cache_dir=sys.argv[3])',
      'out = {}',
      'for root, _, names in os.walk(p):',
      '    for n in names:',
      '        f = os.path.join(root, n)',
      '        out[os.path.relpath(f, p)] = hashlib.sha256(open(f, "rb").read()).hexdigest()',
      'print(json.dumps(out))',
    ].join('\n');
    const cache = fs.mkdtempSync(path.join(fx.dir, 'hf-cache-'));
    // Asynchronously: the local Hub answers from this process's event loop.
    const py = await promisify(execFile)(path.join(projectRoot, '.venv/bin/python'), ['-c', script, hub.url, TOKENS.writer, cache], {
      encoding: 'utf8',
      env: { ...process.env, HF_HUB_OFFLINE: '0', HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_XET: '1' },
      timeout: 60_000,
    });
    const got = JSON.parse(py.stdout.trim().split('\n').at(-1)!) as Record<string, string>;
    for (const [name, bytes] of Object.entries(tinyModelFiles(projectRoot))) assert.equal(got[name], sha(bytes), name);
    const card = hub.history('acme/tiny-ft')[0].files.get('README.md')!.data;
    assert.equal(got['README.md'], sha(card));
    const text = card.toString('utf8');
    for (const heading of ['Base model', 'Training data', 'Training settings', 'Evaluation', 'Gate', 'Cost', 'Limitations']) assert.ok(text.includes(`\n## ${heading}\n`), heading);
    assert.match(text, new RegExp(`tiny-org/tiny-llama.*${'c'.repeat(40)}`));
    const sftRows = fs
      .readFileSync(path.join(projectRoot, 'examples/tiny/data/sft.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim()).length;
    assert.ok(text.includes(`| ${sftRows} | \`${sha(fs.readFileSync(path.join(projectRoot, 'examples/tiny/data/sft.jsonl')))}\` |`), 'sft data row count and sha256');
    assert.match(text, /approved by alice/);
  });

  it('re-promoting the same run makes no commit and returns the one that holds it', async () => {
    const before = hub.history('acme/tiny-ft').length;
    const uploads = hub.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD').length;
    const again = await promote('hf:acme/tiny-ft', section('secret:env:WRITE'));
    assert.equal(again.commit, first.commit);
    assert.equal(again.committed, false);
    assert.equal(hub.history('acme/tiny-ft').length, before);
    assert.equal(hub.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD').length, uploads, 'nothing was written');
  });

  it('a later promotion into a repo durable-finetune promoted to commits on top without promote.overwrite', async () => {
    const gateKey = runKey(fx.runId, 'report/gate.json');
    const gate = (await fx.store.getJson<GateOutcome>(gateKey))!;
    await fx.store.putJson(gateKey, { ...gate, by: 'bob' });
    try {
      const out = await promote('hf:acme/tiny-ft', section('secret:env:WRITE'));
      const [head, previous] = hub.history('acme/tiny-ft');
      assert.equal(out.committed, true);
      assert.equal(out.commit, head.sha);
      assert.equal(previous.sha, first.commit);
      assert.match(head.files.get('README.md')!.data.toString(), /approved by bob/);
    } finally {
      await fx.store.putJson(gateKey, gate);
    }
  });

  it('a token the Hub refuses is HubTokenRefused naming promote.token, not retried, never shown', async () => {
    for (const [ref, status] of [
      ['secret:env:BAD', 401],
      ['secret:env:READ_ONLY', 403],
    ] as const) {
      const err = await failure(promote('hf:acme/other-ft', section(ref)));
      assert.equal(err.type, 'HubTokenRefused', err.message);
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, new RegExp(`^promote.token: .*refused the token of promote.token \\(${ref}\\)`));
      assert.match(err.message, new RegExp(`\\(${status}`));
      assert.ok(!JSON.stringify([err.message, err.details]).includes(CANARY));
    }
    assert.equal(hub.repos.has('acme/other-ft'), false);
  });

  it("a repo holding someone else's model is HubRepoHasOtherContent; promote.overwrite commits on top, keeping history", async () => {
    const err = await failure(promote('hf:tiny-org/someone-else', section('secret:env:TINY')));
    assert.equal(err.type, 'HubRepoHasOtherContent', err.message);
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /^output: .*README.md, model.safetensors.*promote.overwrite: true/);
    assert.equal(hub.history('tiny-org/someone-else').length, 1);

    const out = await promote('hf:tiny-org/someone-else', section('secret:env:TINY', { overwrite: true }));
    const [head, theirs] = hub.history('tiny-org/someone-else');
    assert.equal(out.commit, head.sha);
    assert.equal(theirs.message, 'their model');
    assert.equal(head.files.get('model.safetensors')!.sha256, sha(tinyModelFiles(projectRoot)['model.safetensors']));
  });

  it('an unset token variable is SecretUnavailable naming promote.token', async () => {
    const err = await failure(promote('hf:acme/tiny-ft', section('secret:env:NOT_SET_ANYWHERE')));
    assert.equal(err.type, 'SecretUnavailable');
    assert.match(err.message, /^promote.token: secret:env:NOT_SET_ANYWHERE names the environment variable NOT_SET_ANYWHERE, which is not set/);
  });
});

describe('pushModelFolder', () => {
  it('refuses a safetensors file above 5 GB (an unsharded model) before uploading anything', async () => {
    const dir = fs.mkdtempSync(path.join(fx.dir, 'unsharded-'));
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    // Sparse: no 5 GB are written or read.
    fs.closeSync(fs.openSync(path.join(dir, 'model.safetensors'), 'w'));
    fs.truncateSync(path.join(dir, 'model.safetensors'), MAX_SHARD_BYTES + 1);
    const writes = hub.requests.length;
    await assert.rejects(
      pushModelFolder(
        'acme/unsharded',
        dir,
        { endpoint: hub.url, token: { value: new Secret(TOKENS.writer), ref: 'secret:env:WRITE' } },
        { private: true, overwrite: false, title: 't' },
      ),
      (err: Error) => err.name === 'HubShardTooLarge' && /^output: .*model\.safetensors is 5\.00 GB.*max_shard_size="5GB"/.test(err.message),
    );
    assert.equal(hub.requests.length, writes, 'the Hub was not called');
  });
});

describe('prepareRun with a Hub output', () => {
  it('refuses an unreadable promote.token before anything is provisioned', async () => {
    const data = (name: string) => path.join(projectRoot, 'examples/tiny/data', name);
    const config = parseConfig({
      name: 'hub-promote',
      store: `file://${fx.dir}/prep-store`,
      output: 'hf:acme/tiny-ft',
      promote: { token: 'secret:env:NOT_SET_ANYWHERE' },
      model: { base: path.join(projectRoot, 'examples/tiny/model') },
      data: { sft: data('sft.jsonl'), preferences: data('preferences.jsonl'), eval: data('eval.jsonl') },
    });
    const { prepareRun } = prepareActivities({ projectRoot, python: 'python3', env: env(), reportProgress: async () => undefined });
    const err = await failure(new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(prepareRun, { runId: 'prep-1', config }));
    assert.equal(err.type, 'SecretUnavailable');
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /^promote.token: /);
    assert.equal(fs.existsSync(path.join(fx.dir, 'prep-store', 'runs', 'prep-1', 'run.json')), false);
  });
});

describe('promote to a folder', () => {
  it('writes the same card beside the model', async () => {
    const out = await promote(`file://${fx.dir}/published`, undefined);
    assert.equal(out.uri, `file://${fx.dir}/published/${fx.runId}/model`);
    const card = fs.readFileSync(path.join(fx.dir, 'published', fx.runId, 'model', 'README.md'));
    assert.equal(
      card.toString(),
      hub.repos.get('acme/tiny-ft')!.commits.get(first.commit!)!.files.get('README.md')!.data.toString().replace('# acme/tiny-ft', `# run ${fx.runId}`),
    );
    assert.ok(fs.existsSync(path.join(fx.dir, 'published', fx.runId, 'model', 'model.safetensors')));
  });
});
