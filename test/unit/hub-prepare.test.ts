/**
 * prepareRun with an hf: base, against the local Hub through the official JS
 * client: it resolves the revision to a commit, fetches the model once into
 * the store's hub/ prefix (shared by runs, keyed by repo and commit), pins a
 * rerun to its recorded commit, and refuses a missing repo, revision or token
 * with a named error before anything is provisioned. The token never leaves
 * the activity.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { prepareActivities, type RunRecord } from '../../activities/prepare';
import type { PreparedRun } from '../../activities/types';
import { parseConfig } from '../../src/config/parse';
import { HUB_MARKER, type HubMarker } from '../../src/hub/fetch';
import { projectRoot } from '../../src/paths';
import { filesUnder } from '../../src/store/file';
import { openStore } from '../../src/store/open';
import { LocalHub, publishTinyModels, TINY_HUB_TOKENS, tinyModelFiles } from '../support/hubServer';
import { applicationFailureOf } from '../support/failures';
import { scratchDir } from '../support/scratch';

const CANARY = 'hf_canary_0c1f5e9b7a_never_print_me';
let hub: LocalHub;
let dir: string;
let commits: { v1: string; main: string };
const env = (): NodeJS.ProcessEnv => ({
  HF_ENDPOINT: hub.url,
  CANARY_TOKEN: CANARY,
  READER_TOKEN: TINY_HUB_TOKENS.reader,
  STRANGER_TOKEN: TINY_HUB_TOKENS.stranger,
  HF_TOKEN: TINY_HUB_TOKENS.reader,
});
const data = (name: string) => path.join(projectRoot, 'examples/tiny/data', name);

function prepare(runId: string, model: { base: string; token?: string }): Promise<PreparedRun> {
  const config = parseConfig({
    name: 'hub',
    store: `file://${dir}/store`,
    model,
    data: { sft: data('sft.jsonl'), preferences: data('preferences.jsonl'), eval: data('eval.jsonl') },
  });
  const { prepareRun } = prepareActivities({ projectRoot, python: 'python3', env: env(), reportProgress: async () => undefined });
  return new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(prepareRun, { runId, config });
}

/** The ApplicationFailure prepareRun threw, with its type and whether a retry may help. */
const failure = (p: Promise<unknown>): Promise<ApplicationFailure> => applicationFailureOf(p, 'prepareRun');

const storeText = (): string =>
  filesUnderSync(path.join(dir, 'store'))
    .map((f) => fs.readFileSync(f, 'latin1'))
    .join('\n');
function filesUnderSync(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnderSync(path.join(root, e.name)) : [path.join(root, e.name)]));
}

before(async () => {
  hub = await LocalHub.start();
  commits = publishTinyModels(hub, projectRoot);
  hub.addToken(CANARY, 'all');
  dir = scratchDir('finetune-hub-');
});
after(async () => {
  await hub?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('an hf: base model', () => {
  let first: PreparedRun;

  it('resolves main to its commit, fetches the files a host needs into hub/models/<repo>/<commit>/ and records the commit', async () => {
    first = await prepare('r1', { base: 'hf:tiny-org/tiny-llama' });
    const key = `hub/models/tiny-org/tiny-llama/${commits.main}`;
    assert.deepEqual(first.model, { repo: 'tiny-org/tiny-llama', revision: 'main', commit: commits.main, key });
    assert.equal(first.inputs.base_model, key);
    const store = openStore(first.storeUri);
    const record = await store.getJson<RunRecord>('runs/r1/run.json');
    assert.deepEqual(record?.model, first.model);
    const marker = await store.getJson<HubMarker>(`${key}/${HUB_MARKER}`);
    assert.equal(marker?.commit, commits.main);
    // The same bytes as the example model; README, .gitattributes and onnx/ stay on the Hub.
    const tiny = tinyModelFiles(projectRoot);
    assert.deepEqual(
      marker!.files.map((f) => f.path),
      Object.keys(tiny).sort(),
    );
    assert.deepEqual((await filesUnder(path.join(dir, 'store', key))).sort(), [...Object.keys(tiny), HUB_MARKER].sort());
    for (const [name, bytes] of Object.entries(tiny)) assert.ok(bytes.equals((await store.getBytes(`${key}/${name}`))!), `${name} arrived intact`);
  });

  it('is fetched once: another run of the same commit downloads nothing', async () => {
    const before = hub.fileRequests().length;
    const second = await prepare('r2', { base: 'hf:tiny-org/tiny-llama' });
    assert.equal(second.inputs.base_model, first.inputs.base_model);
    assert.equal(hub.fileRequests().length, before);
  });

  it('fetches again when a file its COMMITTED.json lists has gone from the store', async () => {
    fs.rmSync(path.join(dir, 'store', first.inputs.base_model, 'model.safetensors'));
    const before = hub.fileRequests().length;
    await prepare('r2b', { base: 'hf:tiny-org/tiny-llama' });
    assert.ok(hub.fileRequests().length > before);
    assert.ok(fs.existsSync(path.join(dir, 'store', first.inputs.base_model, 'model.safetensors')));
  });

  it('resolves a tag to its commit, a new key with its own files', async () => {
    const before = hub.fileRequests().length;
    const tagged = await prepare('r3', { base: 'hf:tiny-org/tiny-llama@v1' });
    assert.deepEqual(tagged.model, { repo: 'tiny-org/tiny-llama', revision: 'v1', commit: commits.v1, key: `hub/models/tiny-org/tiny-llama/${commits.v1}` });
    assert.ok(hub.fileRequests().length > before);
  });

  it('pins a rerun to the commit its run recorded after the branch moved; a new run takes the new commit', async () => {
    const moved = hub.commit('tiny-org/tiny-llama', { 'generation_config.json': Buffer.from('{"max_length": 64}\n') }, { message: 'moved' });
    const requests = hub.requests.length;
    const rerun = await prepare('r1', { base: 'hf:tiny-org/tiny-llama' });
    assert.equal(rerun.model?.commit, commits.main);
    assert.equal(hub.requests.length, requests, 'a rerun whose commit is in the store asks the Hub nothing');
    const fresh = await prepare('r4', { base: 'hf:tiny-org/tiny-llama' });
    assert.equal(fresh.model?.commit, moved);
    assert.equal(fresh.inputs.base_model, `hub/models/tiny-org/tiny-llama/${moved}`);
  });

  it('reads a gated model with the token its secret reference names, which appears nowhere', async () => {
    const run = await prepare('r-gated', { base: 'hf:tiny-org/gated-llama', token: 'secret:env:CANARY_TOKEN' });
    assert.match(run.inputs.base_model, /^hub\/models\/tiny-org\/gated-llama\/[0-9a-f]{40}$/);
    assert.ok(hub.fileRequests().some((r) => r.path.startsWith('/tiny-org/gated-llama/') && r.authorized));
    assert.doesNotMatch(JSON.stringify(run), /canary/);
    assert.doesNotMatch(storeText(), /canary/, 'neither run.json nor any stored file holds the token');
  });

  const refusals: [string, { base: string; token?: string }, string, string, RegExp][] = [
    ['an unknown repo', { base: 'hf:tiny-org/no-such-model' }, 'HubRepoNotFound', 'model.base', /no such model repo.*check the spelling/],
    ['an unknown revision', { base: 'hf:tiny-org/tiny-llama@no-such-branch' }, 'HubRevisionNotFound', 'model.base', /no branch, tag or commit "no-such-branch"/],
    ['a private repo without a token', { base: 'hf:tiny-org/private-llama' }, 'HubRepoNotFound', 'model.base', /model.token is not set/],
    [
      'a gated repo without a token, even with HF_TOKEN set on the worker',
      { base: 'hf:tiny-org/gated-llama' },
      'HubTokenMissing',
      'model.token',
      /is gated.*set model.token: secret:env:<NAME>/,
    ],
    [
      'a gated repo with a token of an account without access',
      { base: 'hf:tiny-org/gated-llama', token: 'secret:env:STRANGER_TOKEN' },
      'HubTokenRefused',
      'model.token',
      /secret:env:STRANGER_TOKEN.*no access to this gated model \(403\)/,
    ],
    [
      'a token the Hub does not know',
      { base: 'hf:tiny-org/tiny-llama', token: 'secret:env:CANARY_TOKEN' },
      'HubTokenRefused',
      'model.token',
      /\(secret:env:CANARY_TOKEN\).*401: invalid or expired/,
    ],
    [
      'a token variable that is not set',
      { base: 'hf:tiny-org/gated-llama', token: 'secret:env:UNSET_TOKEN' },
      'SecretUnavailable',
      'model.token',
      /UNSET_TOKEN, which is not set on the worker/,
    ],
  ];
  for (const [n, [what, model, type, field, says]] of refusals.entries()) {
    it(`refuses ${what}: ${type} naming ${field}, not retried, nothing prepared`, async () => {
      // The canary token, revoked: the Hub no longer knows it.
      if (model.token === 'secret:env:CANARY_TOKEN') hub.tokens.delete(CANARY);
      const runId = `r-refused-${n}`;
      const err = await failure(prepare(runId, model));
      hub.addToken(CANARY, 'all');
      assert.equal(err.type, type);
      assert.equal(err.nonRetryable, true);
      assert.ok(err.message.startsWith(`${field}: `), err.message);
      assert.match(err.message, says);
      assert.doesNotMatch(`${err.message} ${JSON.stringify(err.details)}`, /canary|hf_localhub/);
      assert.equal(fs.existsSync(path.join(dir, 'store', 'runs', runId)), false);
    });
  }
});
