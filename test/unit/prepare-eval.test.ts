import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { prepareActivities } from '../../activities/prepare';
import { parseConfig } from '../../src/config/parse';

test('prepareRun refuses eval data with a bad line before it writes anything to the store', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'finetune-prepare-'));
  try {
    const evalFile = path.join(dir, 'eval.jsonl');
    fs.writeFileSync(evalFile, '{"id": "a", "cluster": "c", "messages": [{"role": "user", "content": "q"}], "reference": "x"}\n{"id": "b", "messages": []}\n');
    for (const name of ['sft.jsonl', 'prefs.jsonl']) fs.writeFileSync(path.join(dir, name), '{}\n');
    fs.mkdirSync(path.join(dir, 'model'));
    const config = parseConfig({
      name: 'bad-eval',
      store: `file://${dir}/store`,
      model: { base: path.join(dir, 'model') },
      data: { sft: path.join(dir, 'sft.jsonl'), preferences: path.join(dir, 'prefs.jsonl'), eval: evalFile },
    });
    const { prepareRun } = prepareActivities({ projectRoot: dir, python: 'python3', reportProgress: async () => undefined });
    await assert.rejects(prepareRun({ runId: 'r1', config }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'EvalDataInvalid');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /line 2, cluster: is required/);
      assert.match(err.message, /line 2, messages: /);
      return true;
    });
    assert.equal(fs.existsSync(path.join(dir, 'store')), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
