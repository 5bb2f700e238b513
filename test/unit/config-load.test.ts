import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfigInvalid } from '../../src/config/parse';
import { ConfigFileUnreadable, loadConfigFile, resolveLocalPaths } from '../../src/config/load';
import { scratchDir } from '../support/scratch';

const GOOD = `
name: tiny-demo
store: store
model:
  base: model
data:
  sft: data/sft.jsonl
  preferences: data/preferences.jsonl
  eval: data/eval.jsonl
sft:
  max_steps: 40
  save_steps: 10
`;

/** A folder with a model folder and the three data files, like examples/tiny. */
async function project(configText: string, name = 'config.yaml'): Promise<{ dir: string; file: string }> {
  const dir = scratchDir('config-');
  await fs.mkdir(path.join(dir, 'model'));
  await fs.writeFile(path.join(dir, 'model', 'config.json'), '{"model_type": "llama"}');
  await fs.mkdir(path.join(dir, 'data'));
  for (const f of ['sft', 'preferences', 'eval']) await fs.writeFile(path.join(dir, 'data', `${f}.jsonl`), '{}\n');
  const file = path.join(dir, name);
  await fs.writeFile(file, configText);
  return { dir, file };
}

/** Asserts that fn throws ConfigInvalid with an issue for field, and returns that issue. */
function issueFor(fn: () => unknown, field: string) {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigInvalid, `expected ConfigInvalid, got ${String(err)}`);
    const issue = err.issues.find((i) => i.field === field);
    assert.ok(issue, `no issue for ${field} in: ${err.message}`);
    assert.match(err.message, new RegExp(field.replace('.', '\\.')));
    return issue;
  }
  assert.fail(`expected ConfigInvalid naming ${field}`);
}

test('a good YAML config gets its documented defaults', async () => {
  const { file } = await project(GOOD);
  const c = loadConfigFile(file);
  assert.equal(c.sft.max_steps, 40);
  assert.equal(c.sft.save_steps, 10);
  assert.equal(c.sft.learning_rate, 2e-4);
  assert.equal(c.sft.lora.r, 16);
  assert.equal(c.sft.lora.target_modules, 'all-linear');
  assert.equal(c.dpo.max_steps, 100);
  assert.equal(c.dpo.beta, 0.25);
  assert.equal(c.dpo.learning_rate, 1e-6);
  assert.equal(c.model.dtype, 'float32');
  assert.equal(c.host.provider, 'local');
  assert.equal(c.eval.primary_metric, 'tool_call_match');
  assert.equal(c.monitor.agent_stale_s, 30);
  assert.equal(c.preflight.ranks, 2);
});

test('a JSON config loads the same way', async () => {
  const { file } = await project(JSON.stringify({ name: 'j', store: 's', model: { base: 'hf:org/m' }, data: { sft: 'a', preferences: 'b', eval: 'c' } }), 'config.json');
  assert.equal(loadConfigFile(file).model.base, 'hf:org/m');
});

test('resolveLocalPaths makes local paths absolute and the store a file:/// URI', async () => {
  const { dir, file } = await project(`${GOOD}output: gs://bucket/models\n`);
  const c = resolveLocalPaths(loadConfigFile(file), dir);
  assert.equal(c.store, `file://${dir}/store`);
  assert.equal(c.output, 'gs://bucket/models');
  assert.equal(c.model.base, path.join(dir, 'model'));
  assert.equal(c.data.sft, path.join(dir, 'data/sft.jsonl'));
  assert.equal(c.data.eval, path.join(dir, 'data/eval.jsonl'));
  assert.equal(c.sft.max_steps, 40, 'everything else is kept');
});

test('resolveLocalPaths leaves hf: and gs:// references alone', async () => {
  const { dir, file } = await project(GOOD.replace('base: model', 'base: hf:org/model').replace('data/eval.jsonl', 'gs://bucket/eval.jsonl'));
  const c = resolveLocalPaths(loadConfigFile(file), dir);
  assert.equal(c.model.base, 'hf:org/model');
  assert.equal(c.data.eval, 'gs://bucket/eval.jsonl');
});

test('a missing data file is ConfigInvalid naming the field, the value and the fix', async () => {
  const { dir, file } = await project(GOOD.replace('data/sft.jsonl', 'data/typo.jsonl'));
  const issue = issueFor(() => resolveLocalPaths(loadConfigFile(file), dir), 'data.sft');
  assert.equal(issue.value, 'data/typo.jsonl');
  assert.match(issue.problem, /no file exists at .*typo\.jsonl; fix the path/);
});

test('a missing local model folder is ConfigInvalid naming model.base', async () => {
  const { dir, file } = await project(GOOD.replace('base: model', 'base: ./no-model'));
  issueFor(() => resolveLocalPaths(loadConfigFile(file), dir), 'model.base');
});

test('a local model folder without config.json is refused naming model.base', async () => {
  const { dir, file } = await project(GOOD);
  await fs.rm(path.join(dir, 'model', 'config.json'));
  assert.match(issueFor(() => resolveLocalPaths(loadConfigFile(file), dir), 'model.base').problem, /has no config\.json/);
});

test('a local model of a family the trainer does not support is refused naming model.base and the supported model types', async () => {
  const { dir, file } = await project(GOOD);
  await fs.writeFile(path.join(dir, 'model', 'config.json'), '{"model_type": "gpt2"}');
  const problem = issueFor(() => resolveLocalPaths(loadConfigFile(file), dir), 'model.base').problem;
  assert.match(problem, /model_type 'gpt2'.*does not support.*llama, mistral, qwen2, qwen3/);
  assert.match(problem, /gemma3_text/);
});

test('a file:// reference means its percent-decoded path, and resolves to that plain path', async () => {
  const { dir, file } = await project(GOOD);
  await fs.rename(path.join(dir, 'data'), path.join(dir, 'my data#1'));
  const uri = (name: string) => `file://${dir}/my%20data%231/${name}.jsonl`;
  const text = GOOD.replace('data/sft.jsonl', uri('sft')).replace('data/preferences.jsonl', uri('preferences')).replace('data/eval.jsonl', uri('eval'));
  await fs.writeFile(file, text.replace('store: store', `store: file://${dir}/st%C3%B6re`));
  const c = resolveLocalPaths(loadConfigFile(file), dir);
  assert.equal(c.data.sft, path.join(dir, 'my data#1', 'sft.jsonl'));
  assert.equal(c.data.eval, path.join(dir, 'my data#1', 'eval.jsonl'));
  assert.equal(c.store, `file://${dir}/st%C3%B6re`);
});

test('an unknown field is refused by name', async () => {
  const { file } = await project(GOOD.replace('  save_steps: 10', '  save_steps: 10\n  max_stpes: 3'));
  const issue = issueFor(() => loadConfigFile(file), 'sft');
  assert.match(issue.problem, /unknown field\(s\) max_stpes/);
});

test('a value of the wrong type is refused by field', async () => {
  const { file } = await project(GOOD.replace('max_steps: 40', 'max_steps: forty'));
  assert.equal(issueFor(() => loadConfigFile(file), 'sft.max_steps').value, 'forty');
});

test('save_steps larger than max_steps is refused', async () => {
  const { file } = await project(GOOD.replace('save_steps: 10', 'save_steps: 50'));
  assert.match(issueFor(() => loadConfigFile(file), 'sft.save_steps').problem, /larger than sft\.max_steps \(40\)/);
});

test('a gce host with a store or output on this machine is refused: the VM could not reach it', async () => {
  const gce = `host:\n  provider: gce\n  project: finetune-test\n  zones: [us-central1-a]\n  machine_type: a2-highgpu-1g\n  trainer_image: us-docker.pkg.dev/p/r/trainer:1\n`;
  const { file } = await project(`${GOOD}${gce}`);
  assert.match(issueFor(() => loadConfigFile(file), 'store').problem, /GCE VM cannot reach; use gs:\/\//);
  const output = await project(`${GOOD.replace('store: store', 'store: gs://bucket/runs')}${gce}output: /tmp/models\n`);
  issueFor(() => loadConfigFile(output.file), 'output');
  const ok = await project(`${GOOD.replace('store: store', 'store: gs://bucket/runs')}${gce}`);
  assert.equal(loadConfigFile(ok.file).host.provider, 'gce');
});

test('a bad run name is refused', async () => {
  const { file } = await project(GOOD.replace('name: tiny-demo', 'name: Tiny_Demo'));
  assert.equal(issueFor(() => loadConfigFile(file), 'name').value, 'Tiny_Demo');
});

test('an unreadable or malformed file says which file and why', async () => {
  assert.throws(() => loadConfigFile('/nonexistent/config.yaml'), ConfigFileUnreadable);
  const { file } = await project('name: [unclosed');
  assert.throws(() => loadConfigFile(file), /not valid YAML/);
});
