/** `finetune validate` as a user runs it (no server needed): references and data files, exit 2 naming each bad field. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../../src/paths';
import { finetune } from '../support/cli';
import { scratchDir } from '../support/scratch';

interface Failure {
  exitCode: number;
  issues: { field: string; problem: string; line?: number; key?: string }[];
}

/** A config in a fresh folder next to a copy of the tiny model and data; data files overridden by name. */
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function project(config: (dir: string) => object, data: Record<string, string> = {}): string {
  const dir = scratchDir('validate-cli-');
  dirs.push(dir);
  fs.cpSync(path.join(projectRoot, 'examples/tiny/data'), path.join(dir, 'data'), { recursive: true });
  for (const [name, text] of Object.entries(data)) fs.writeFileSync(path.join(dir, 'data', name), text);
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config(dir)));
  return file;
}

const tiny = (dir: string) => ({
  name: 'validate-cli',
  store: path.join(dir, 'store'),
  model: { base: path.join(projectRoot, 'examples/tiny/model') },
  data: { sft: `${dir}/data/sft.jsonl`, preferences: `${dir}/data/preferences.jsonl`, eval: `${dir}/data/eval.jsonl` },
});

describe('finetune validate', { concurrency: true }, () => {
  it('the GCP example validates: exit 0, its gs:// data left for the run start', async () => {
    const r = await finetune(['validate', 'examples/gcp/a100x2-spot.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /is valid: qwen-tool-calls/);
    assert.match(r.stdout, /gs:\/\/ data is read when the run starts, before any host: gs:\/\/my-finetune-data\/tool-calls\/sft\.jsonl/);
  });

  it('bad references: exit 2, each field named with what is wrong and the fix', async () => {
    const file = project((dir) => ({
      ...tiny(dir),
      store: 'gs://runs-bucket//abs/path',
      output: 'file://models-host/promoted',
      model: { base: 'gs://Models/qwen' },
      data: { sft: `file://${dir}/data/sft.jsonl#1`, preferences: `file://${dir}/data/../data/preferences.jsonl`, eval: 's3://bucket/eval.jsonl' },
    }));
    const r = await finetune(['validate', file, '--json']);
    assert.equal(r.code, 2, r.stderr);
    const j = JSON.parse(r.stdout) as Failure;
    assert.equal(j.exitCode, 2);
    assert.deepEqual(j.issues.map((i) => i.field).sort(), ['data.eval', 'data.preferences', 'data.sft', 'model.base', 'output', 'store']);
    assert.match(r.stderr, /store: has an object name that starts with \/ .*write gs:\/\/runs-bucket\/abs\/path/);
    assert.match(r.stderr, /output: is a file:\/\/ URI that names the host "models-host"/);
    assert.match(r.stderr, /model\.base: names the bucket "Models", which has capital letters; bucket names are lowercase: models/);
    assert.match(r.stderr, /data\.sft: is a file:\/\/ URI that holds \? or #/);
    assert.match(r.stderr, /data\.preferences: is a file:\/\/ URI that has a "\.\." segment/);
    assert.match(r.stderr, /data\.eval: uses s3:, which is not supported/);
  });

  it('bad data files: exit 2, each problem named by field, file, line and key', async () => {
    const file = project(tiny, {
      'sft.jsonl':
        '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n{"messages": [{"role": "user", "content": "q"}, {"role": "assistant"}]}\n',
      'preferences.jsonl': '\ufeff{"prompt": [], "chosen": [], "rejected": []}\n',
      'eval.jsonl': '{"id": "e1", "cluster": "c", "messages": [{"role": "user", "content": "q"}], "reference": "a"}\nnot json\n',
    });
    const r = await finetune(['validate', file, '--json']);
    assert.equal(r.code, 2, r.stderr);
    const j = JSON.parse(r.stdout) as Failure;
    assert.deepEqual(
      j.issues.map((i) => `${i.field} ${i.line} ${i.key}`),
      ['data.sft 2 messages.1.content', 'data.preferences 1 ', 'data.preferences 1 prompt', 'data.preferences 1 chosen', 'data.preferences 1 rejected', 'data.eval 2 '],
    );
    assert.match(r.stderr, /data\.sft: \S+\/sft\.jsonl line 2, messages\.1\.content: is required: the text of the turn/);
    assert.match(r.stderr, /data\.preferences: \S+\/preferences\.jsonl line 1: starts with a byte order mark/);
    assert.match(r.stderr, /data\.eval: \S+\/eval\.jsonl line 2: is not valid JSON/);
  });

  it('finetune run refuses bad local data before it starts anything: exit 2, no server needed', async () => {
    const file = project(tiny, { 'sft.jsonl': 'not json\n' });
    const r = await finetune(['run', file], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /data\.sft: \S+\/sft\.jsonl line 1: is not valid JSON/);
    assert.doesNotMatch(r.stderr, /started|connect/i);
  });
});
