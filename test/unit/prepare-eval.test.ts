import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { prepareActivities } from '../../activities/prepare';
import { parseConfig } from '../../src/config/parse';
import { projectRoot } from '../../src/paths';
import { scratchDir } from '../support/scratch';

test('prepareRun refuses data with bad lines (DataInvalid, not retried) before it writes anything to the store', async () => {
  const dir = scratchDir('finetune-prepare-');
  try {
    const evalFile = path.join(dir, 'eval.jsonl');
    fs.writeFileSync(evalFile, '{"id": "a", "cluster": "c", "messages": [{"role": "user", "content": "q"}], "reference": "x"}\n{"id": "b", "messages": []}\n');
    fs.writeFileSync(path.join(dir, 'sft.jsonl'), '{"messages": [{"role": "user", "content": "q"}]}\n');
    fs.copyFileSync(path.join(projectRoot, 'examples/tiny/data/preferences.jsonl'), path.join(dir, 'prefs.jsonl'));
    fs.mkdirSync(path.join(dir, 'model'));
    fs.writeFileSync(path.join(dir, 'model', 'config.json'), '{"model_type": "llama"}');
    const config = parseConfig({
      name: 'bad-eval',
      store: `file://${dir}/store`,
      model: { base: path.join(dir, 'model') },
      data: { sft: path.join(dir, 'sft.jsonl'), preferences: path.join(dir, 'prefs.jsonl'), eval: evalFile },
    });
    const { prepareRun } = prepareActivities({ projectRoot: dir, python: 'python3', reportProgress: async () => undefined });
    await assert.rejects(prepareRun({ runId: 'r1', config }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'DataInvalid');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /data\.eval: .*eval\.jsonl line 2, cluster: is required/);
      assert.match(err.message, /data\.eval: .*eval\.jsonl line 2, messages: /);
      assert.match(err.message, /data\.sft: .*sft\.jsonl line 1, messages: needs the prompt turns and then the assistant answer/);
      const [details] = err.details as [{ issues: { field: string; line: number; key: string }[] }];
      assert.deepEqual(
        details.issues.map((i) => `${i.field} ${i.line} ${i.key}`),
        ['data.sft 1 messages', 'data.eval 2 cluster', 'data.eval 2 messages'],
      );
      return true;
    });
    assert.equal(fs.existsSync(path.join(dir, 'store')), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('prepareRun stages file:// data by its percent-decoded path (a folder with a space and a #)', async () => {
  const dir = scratchDir('finetune-prepare-');
  try {
    const data = path.join(dir, 'my data#1');
    fs.cpSync(path.join(projectRoot, 'examples/tiny/data'), data, { recursive: true });
    const uri = (name: string) => `file://${dir}/my%20data%231/${name}.jsonl`;
    const config = parseConfig({
      name: 'file-uris',
      store: `file://${dir}/the%20store`,
      model: { base: path.join(projectRoot, 'examples/tiny/model') },
      data: { sft: uri('sft'), preferences: uri('preferences'), eval: uri('eval') },
    });
    const { prepareRun } = prepareActivities({ projectRoot: dir, python: 'python3', reportProgress: async () => undefined });
    const run = await prepareRun({ runId: 'r1', config });
    assert.equal(run.inputs.sft_data, 'runs/r1/data/sft.jsonl');
    assert.equal(run.config.data.sft, path.join(data, 'sft.jsonl'));
    assert.deepEqual(fs.readFileSync(path.join(dir, 'the store', 'runs/r1/data/sft.jsonl')), fs.readFileSync(path.join(data, 'sft.jsonl')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
