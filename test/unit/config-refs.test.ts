/** Every reference field (store, output, model.base, data.*) checked as text: a table of good and bad references. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigInvalid, parseConfig } from '../../src/config/parse';

const BASE = {
  name: 'refs',
  store: 'store',
  model: { base: 'model' },
  data: { sft: 'data/sft.jsonl', preferences: 'data/preferences.jsonl', eval: 'data/eval.jsonl' },
};

type Field = 'store' | 'output' | 'model.base' | 'data.sft' | 'data.preferences' | 'data.eval';

function withRef(field: Field, value: string) {
  const c = structuredClone(BASE) as Record<string, unknown> & typeof BASE;
  const [top, sub] = field.split('.') as [string, string | undefined];
  if (sub) (c[top as 'data'] as Record<string, string>)[sub] = value;
  else c[top] = value;
  return c;
}

const GOOD: [Field, string][] = [
  ['store', 'store'],
  ['store', '../elsewhere/store'],
  ['store', '/abs/store'],
  ['store', 'file:///abs/my%20store'],
  ['store', 'file:///abs/my store/'],
  ['store', 'gs://my-bucket'],
  ['store', 'gs://my-bucket/'],
  ['store', 'gs://my.bucket.example/runs/durable'],
  ['output', 'gs://models_1/promoted/'],
  ['model.base', 'hf:Qwen/Qwen2.5-3B-Instruct'],
  ['model.base', 'gs://my-bucket/models/qwen/'],
  ['model.base', 'file:///models/caf%C3%A9'],
  ['model.base', './models/tiny'],
  ['data.sft', 'gs://my-bucket/data/sft #1?.jsonl'],
  ['data.sft', 'file:///data/with%20space/sft.jsonl'],
  ['data.preferences', '../data/prefs.jsonl'],
  ['data.eval', '/data/eval.jsonl'],
];

/** [field, value, what the problem must say] */
const BAD: [Field, string, RegExp][] = [
  ['store', '', /is empty; name a folder path, file:\/\/\/absolute\/path or gs:\/\//],
  ['store', 's3://bucket/runs', /uses s3:, which is not supported; name a folder path/],
  ['store', 'gs:/bucket/runs', /is not a gs:\/\/ URI \(two slashes after gs:\); write gs:\/\/<bucket>\/<path>/],
  ['store', 'file:/abs/runs', /^is not a file:\/\/ URI; write file:\/\/\/absolute\/path/],
  ['store', 'file://host/runs', /names the host "host"; .*write file:\/\/\/absolute\/path/],
  ['store', 'file:///runs/a#b', /holds \? or #.*%3F and %23/],
  ['store', 'file:///runs/../x', /has a "\.\." segment/],
  ['store', 'gs://My-Bucket/runs', /capital letters; bucket names are lowercase: my-bucket/],
  ['store', 'gs://ab', /wrong length/],
  ['store', 'gs://-bucket', /bucket naming rules/],
  ['store', 'gs://192.168.1.1', /IP address/],
  ['store', 'gs://google-runs', /"google"/],
  ['store', 'gs://bucket//abs/path', /starts with \/ .*absolute path; write gs:\/\/bucket\/abs\/path/],
  ['output', 'gs://bucket/a//b', /empty part \(\/\/\).*gs:\/\/bucket\/a\/b/],
  ['output', 'gs://bucket/a/../b', /"\.\." part/],
  ['model.base', 'gs://bucket', /names no folder in the bucket/],
  ['model.base', 'gs://bucket/./m', /"\." part/],
  ['model.base', 'file:///models/%2Fetc', /holds %2F/],
  ['model.base', '~/models/qwen', /starts with ~, which is not expanded/],
  ['model.base', 'https://huggingface.co/Qwen/Qwen2.5-3B', /uses https:, which is not supported; name a local model folder.*hf:<org>\/<name>/],
  ['data.sft', 'gs://bucket//abs/sft.jsonl', /starts with \/.*absolute path/],
  ['data.sft', 'gs://bucket/data/', /ends with \/, which names a folder/],
  ['data.sft', 'gs://bucket', /names no file in the bucket/],
  ['data.sft', 'hf:org/dataset', /Hugging Face reference, which only model\.base may be/],
  ['data.preferences', 'file:///data/%zz.jsonl', /% that does not start a %XX escape; write a literal % as %25/],
  ['data.preferences', 'file:///data/%C3.jsonl', /not UTF-8/],
  ['data.preferences', 'data/\tprefs.jsonl', /control character/],
  ['data.eval', 'file://localhost/data/eval.jsonl', /names the host "localhost"/],
  ['data.eval', 'file:///data/eval.jsonl?x=1', /holds \? or #/],
  ['data.eval', 'data/', /ends with \/, which names a folder/],
  ['data.eval', 'gs://bucket/a\nb.jsonl', /control character/],
];

test('good references parse, each kept as written', () => {
  for (const [field, value] of GOOD) {
    const c = parseConfig(withRef(field, value));
    const got = field.includes('.')
      ? (c as unknown as Record<string, Record<string, string>>)[field.split('.')[0]][field.split('.')[1]]
      : (c as unknown as Record<string, string>)[field];
    assert.equal(got, value, `${field}: ${value}`);
  }
});

test('each bad reference is refused naming its field, the value, what is wrong and the fix', () => {
  for (const [field, value, problem] of BAD) {
    assert.throws(
      () => parseConfig(withRef(field, value)),
      (err: unknown) => {
        assert.ok(err instanceof ConfigInvalid, `${field} ${JSON.stringify(value)}: ${String(err)}`);
        assert.deepEqual(
          err.issues.map((i) => i.field),
          [field],
          `${field} ${JSON.stringify(value)}: ${err.message}`,
        );
        assert.equal(err.issues[0].value, value);
        assert.match(err.issues[0].problem, problem, `${field} ${JSON.stringify(value)}`);
        return true;
      },
    );
  }
});
