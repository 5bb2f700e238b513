/**
 * The hf: reference, model.token and the choice of files are checked before
 * any network: `finetune validate` refuses a bad one, naming the field and
 * the fix; a token pasted into the config is refused without being echoed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigInvalid, parseConfig } from '../../src/config/parse';
import { hubModelKey, parseHfRef } from '../../src/hub/ref';
import { selectModelFiles } from '../../src/hub/select';
import { parseSecretRef } from '../../src/secrets/ref';
import { resolveSecret, SecretUnavailable } from '../../src/secrets/resolve';
import { baseModelOf } from '../../src/report/data';
import { newProgress, renderDetails } from '../../workflows/progress';

const config = (model: object) => ({ name: 'hf', store: '/tmp/s', model, data: { sft: 'a', preferences: 'b', eval: 'c' } });

function refusal(model: object): { field: string; problem: string; text: string } {
  try {
    parseConfig(config(model));
  } catch (err) {
    assert.ok(err instanceof ConfigInvalid, String(err));
    assert.equal(err.issues.length, 1, err.message);
    return { ...err.issues[0], text: err.message };
  }
  assert.fail(`${JSON.stringify(model)} was accepted`);
}

describe('model.base hf: references', () => {
  it('accepts <org>/<name> with an optional branch, tag, PR ref or commit, main by default', () => {
    assert.deepEqual(parseHfRef('hf:Qwen/Qwen2.5-3B-Instruct'), { repo: 'Qwen/Qwen2.5-3B-Instruct', revision: 'main' });
    assert.deepEqual(parseHfRef('hf:meta-llama/Llama-3.2-1B@v1.0'), { repo: 'meta-llama/Llama-3.2-1B', revision: 'v1.0' });
    assert.equal(parseHfRef('hf:org/m@refs/pr/3').revision, 'refs/pr/3');
    for (const base of ['hf:org/m', 'hf:org/m@0123456789abcdef0123456789abcdef01234567', 'hf:google/gemma-3-1b-it@release_2']) {
      assert.equal(parseConfig(config({ base })).model.base, base);
    }
  });

  for (const [base, says] of [
    ['hf:', /names no model; use hf:/],
    ['hf:../x', /is a path, not a Hub model id/],
    ['hf:/abs/model', /is a path, not a Hub model id.*write its path without hf:/],
    ['hf:a/b/c', /has 3 parts; a Hub model id is exactly <org>\/<name>/],
    ['hf:gpt2', /names no organisation.*openai-community\/gpt2/],
    ['hf:org/na me', /name "na me", which is not a Hub name/],
    ['hf:org/-m', /not a Hub name/],
    ['hf:org/m@', /names no revision/],
    ['hf:org/m@ma in', /revision "ma in", which no branch, tag or commit can be/],
    ['hf:org/m@../main', /which no branch, tag or commit can be/],
    ['hf:org/m@main~1', /which no branch, tag or commit can be/],
  ] as const) {
    it(`refuses ${JSON.stringify(base)} with the field and the fix`, () => {
      const r = refusal({ base });
      assert.equal(r.field, 'model.base');
      assert.match(r.problem, says);
    });
  }

  it('names the store folder of a model by repo and commit, and nothing but a commit', () => {
    assert.equal(hubModelKey('org/m', 'a'.repeat(40)), `hub/models/org/m/${'a'.repeat(40)}`);
    assert.throws(() => hubModelKey('org/m', '../../x'), /not a 40-hex commit/);
  });
});

describe('model.token secret references', () => {
  it('accepts secret:env:<NAME> for an hf: base', () => {
    assert.equal(parseConfig(config({ base: 'hf:org/m', token: 'secret:env:HF_TOKEN' })).model.token, 'secret:env:HF_TOKEN');
  });

  it('refuses a token written into the config, without echoing it', () => {
    const r = refusal({ base: 'hf:org/m', token: 'hf_PastedTokenCanary123' });
    assert.equal(r.field, 'model.token');
    assert.match(r.problem, /is not a secret reference; write secret:env:<NAME>/);
    assert.doesNotMatch(r.text, /PastedTokenCanary/);
  });

  it('accepts secret:gcp: (Secret Manager) for an hf: base', () => {
    assert.deepEqual(parseSecretRef('secret:gcp:projects/my-proj/secrets/hf-token/versions/3'), { kind: 'gcp', project: 'my-proj', secret: 'hf-token', version: '3' });
    const token = 'secret:gcp:projects/my-proj/secrets/hf-token/versions/latest';
    assert.equal(parseConfig(config({ base: 'hf:org/m', token })).model.token, token);
  });

  it('refuses a token for a base that is not hf:', () => {
    assert.match(refusal({ base: '/models/m', token: 'secret:env:HF_TOKEN' }).problem, /only for an hf: model.base; remove it/);
  });

  it('resolves secret:env: from the environment given, and never prints the value', async () => {
    const secret = await resolveSecret('model.token', 'secret:env:MY_TOKEN', { MY_TOKEN: 'hf_canary_value' });
    assert.equal(secret.reveal(), 'hf_canary_value');
    assert.equal(`${secret} ${JSON.stringify({ secret })}`, '[secret] {"secret":"[secret]"}');
    await assert.rejects(
      resolveSecret('model.token', 'secret:env:MY_TOKEN', {}),
      (e: unknown) => e instanceof SecretUnavailable && /model.token: secret:env:MY_TOKEN names the environment variable MY_TOKEN, which is not set on the worker/.test(e.message),
    );
  });
});

describe('the files of a Hub model a host needs', () => {
  const repo = [
    '.gitattributes',
    'README.md',
    'config.json',
    'generation_config.json',
    'model-00001-of-00002.safetensors',
    'model-00002-of-00002.safetensors',
    'model.safetensors.index.json',
    'pytorch_model.bin',
    'tokenizer.json',
    'tokenizer_config.json',
    'chat_template.jinja',
    'onnx/model.onnx',
    'model.gguf',
    'original/consolidated.00.pth',
    'additional_chat_templates/tool_use.jinja',
    'modeling_custom.py',
  ];

  it('takes config, safetensors with their index, tokenizer and chat templates; leaves *.bin, ONNX, GGUF, originals and code', () => {
    assert.deepEqual(selectModelFiles(repo), {
      files: [
        'additional_chat_templates/tool_use.jinja',
        'chat_template.jinja',
        'config.json',
        'generation_config.json',
        'model-00001-of-00002.safetensors',
        'model-00002-of-00002.safetensors',
        'model.safetensors.index.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ],
    });
  });

  it('falls back to pytorch_model*.bin only when there are no safetensors, and says when nothing loadable is there', () => {
    assert.deepEqual(selectModelFiles(['config.json', 'pytorch_model.bin', 'tokenizer.json']).files, ['config.json', 'pytorch_model.bin', 'tokenizer.json']);
    assert.match(selectModelFiles(['config.json', 'model.gguf']).problem!, /no \*\.safetensors/);
    assert.match(selectModelFiles(['model.safetensors']).problem!, /no config.json/);
  });
});

describe('the commit of an hf: base model, where a person looks', () => {
  const model = { repo: 'org/m', revision: 'main', commit: 'c'.repeat(40), key: `hub/models/org/m/${'c'.repeat(40)}` };

  it('is in the Temporal UI details once prepareRun resolved it', () => {
    const p = newProgress('r1', 'demo', 'hf:org/m', new Date('2026-12-02T00:00:00Z'));
    assert.match(renderDetails(p), /on `hf:org\/m`: running/);
    p.model = model;
    assert.match(renderDetails(p), new RegExp(`on \`hf:org/m\` at commit \`${model.commit}\``));
  });

  it('is the base model line of the report, read from run.json', () => {
    assert.deepEqual(baseModelOf({ config: { model: { base: 'hf:org/m' } }, model }), { ref: 'hf:org/m', hub: { repo: 'org/m', revision: 'main', commit: model.commit } });
    assert.deepEqual(baseModelOf({ config: { model: { base: '/models/m' } } }), { ref: '/models/m' });
    assert.equal(baseModelOf(undefined), null);
  });
});
