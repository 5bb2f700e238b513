/**
 * gs:// inputs are checked at the start of a run: prepareRun reads gs:// data
 * through the real @google-cloud/storage client (against the GCS emulator)
 * and refuses a bad line as DataInvalid, and a gs:// model folder without
 * config.json as ConfigInvalid, before it writes anything to the run's store.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger } from '@temporalio/worker';
import { prepareActivities } from '../../activities/prepare';
import type { PreparedRun } from '../../activities/types';
import { ConfigInvalid, parseConfig } from '../../src/config/parse';
import { projectRoot } from '../../src/paths';
import { openStore } from '../../src/store/open';
import { startGcsEmulator, type GcsEmulator } from '../support/gcsEmulator';
import { scratchDir } from '../support/scratch';

const BUCKET = 'finetune-data-it';
let gcs: GcsEmulator;
let dir: string;
const savedHost = process.env.STORAGE_EMULATOR_HOST;

before(async () => {
  gcs = await startGcsEmulator([BUCKET]);
  process.env.STORAGE_EMULATOR_HOST = gcs.host;
  dir = scratchDir('data-gcs-');
});
after(async () => {
  if (savedHost === undefined) delete process.env.STORAGE_EMULATOR_HOST;
  else process.env.STORAGE_EMULATOR_HOST = savedHost;
  await gcs?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('prepareRun reads gs:// data through the store and refuses bad lines (DataInvalid, not retried) before writing anything', async () => {
  const bucket = openStore(`gs://${BUCKET}`);
  const example = (name: string) => fs.readFileSync(path.join(projectRoot, 'examples/tiny/data', name));
  await bucket.putBytes(
    'data/sft.jsonl',
    Buffer.concat([example('sft.jsonl'), Buffer.from('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": null}]}\n')]),
  );
  await bucket.putBytes('data/eval.jsonl', example('eval.jsonl'));
  const sftLines = example('sft.jsonl')
    .toString()
    .split('\n')
    .filter((l) => l.trim()).length;
  const config = parseConfig({
    name: 'gcs-data',
    store: `file://${dir}/store`,
    model: { base: path.join(projectRoot, 'examples/tiny/model') },
    data: { sft: `gs://${BUCKET}/data/sft.jsonl`, preferences: `gs://${BUCKET}/data/absent.jsonl`, eval: `gs://${BUCKET}/data/eval.jsonl` },
  });
  const { prepareRun } = prepareActivities({ projectRoot, python: 'python3', reportProgress: async () => undefined });
  const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
  await assert.rejects(env.run(prepareRun, { runId: 'r1', config }), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'DataInvalid');
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, new RegExp(`data\\.sft: gs://${BUCKET}/data/sft\\.jsonl line ${sftLines + 1}, messages\\.1\\.content: is required: the text of the turn`));
    assert.match(err.message, new RegExp(`data\\.preferences: gs://${BUCKET}/data/absent\\.jsonl: does not exist; .*upload the file`));
    assert.doesNotMatch(err.message, /data\.eval/);
    return true;
  });
  assert.equal(fs.existsSync(path.join(dir, 'store')), false, 'nothing written before the data is read');
});

it('prepareRun refuses a gs:// model folder without config.json, and passes one that has it', async () => {
  const bucket = openStore(`gs://${BUCKET}`);
  await bucket.putBytes('good/sft.jsonl', fs.readFileSync(path.join(projectRoot, 'examples/tiny/data/sft.jsonl')));
  await bucket.putBytes('good/preferences.jsonl', fs.readFileSync(path.join(projectRoot, 'examples/tiny/data/preferences.jsonl')));
  await bucket.putBytes('good/eval.jsonl', fs.readFileSync(path.join(projectRoot, 'examples/tiny/data/eval.jsonl')));
  await bucket.putBytes('models/tiny/config.json', fs.readFileSync(path.join(projectRoot, 'examples/tiny/model/config.json')));
  const prepare = (base: string) => {
    const config = parseConfig({
      name: 'gcs-model',
      store: `file://${dir}/store2`,
      model: { base },
      data: { sft: `gs://${BUCKET}/good/sft.jsonl`, preferences: `gs://${BUCKET}/good/preferences.jsonl`, eval: `gs://${BUCKET}/good/eval.jsonl` },
    });
    const { prepareRun } = prepareActivities({ projectRoot, python: 'python3', reportProgress: async () => undefined });
    return new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(prepareRun, { runId: 'r2', config }) as Promise<PreparedRun>;
  };
  await assert.rejects(prepare(`gs://${BUCKET}/models/tiyn/`), (err: unknown) => {
    assert.ok(err instanceof ConfigInvalid, String(err));
    assert.deepEqual(
      err.issues.map((i) => i.field),
      ['model.base'],
    );
    assert.match(err.message, new RegExp(`has no gs://${BUCKET}/models/tiyn/config\\.json; fix the path, or upload the model folder`));
    return true;
  });
  assert.equal(fs.existsSync(path.join(dir, 'store2')), false, 'nothing written before the model is found');
  await bucket.putBytes('models/gpt2/config.json', Buffer.from('{"model_type": "gpt2"}'));
  await assert.rejects(prepare(`gs://${BUCKET}/models/gpt2`), (err: unknown) => {
    assert.ok(err instanceof ConfigInvalid, String(err));
    assert.match(err.message, /model\.base: has model_type 'gpt2' in its config\.json, which the trainer does not support/);
    return true;
  });
  assert.equal(fs.existsSync(path.join(dir, 'store2')), false, 'nothing written for a model of another family');
  const run = await prepare(`gs://${BUCKET}/models/tiny/`);
  assert.equal(run.inputs.base_model, `gs://${BUCKET}/models/tiny/`);
  assert.equal(run.inputs.sft_data, `gs://${BUCKET}/good/sft.jsonl`);
});
