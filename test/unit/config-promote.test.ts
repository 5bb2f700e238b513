/**
 * output: hf:<org>/<name> and the promote section: a Hub output needs a
 * promote.token secret reference (never its value in an error), names no
 * revision, and leaves a created repo private unless promote.private is false.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/parse';
import { configIssue } from '../support/config';
import * as path from 'node:path';
import { resolveLocalPaths } from '../../src/config/load';
import { projectRoot } from '../../src/paths';

const base = { name: 'p', store: '/tmp/s', model: { base: 'hf:tiny-org/tiny-llama' }, data: { sft: 'sft.jsonl', preferences: 'preferences.jsonl', eval: 'eval.jsonl' } };

const issue = configIssue;

test('a Hub output takes a promote.token reference; private and no overwrite by default; kept as written by path resolution', () => {
  const c = parseConfig({ ...base, output: 'hf:acme/tiny-ft', promote: { token: 'secret:env:HF_WRITE_TOKEN' } });
  assert.deepEqual(c.promote, { private: true, overwrite: false, token: 'secret:env:HF_WRITE_TOKEN' });
  assert.equal(parseConfig(base).promote.private, true);
  assert.equal(resolveLocalPaths(c, path.join(projectRoot, 'examples/tiny/data')).output, 'hf:acme/tiny-ft');
});

test('a Hub output without promote.token is ConfigInvalid naming promote.token with the fix', () => {
  assert.match(issue({ ...base, output: 'hf:acme/tiny-ft' }, 'promote.token').problem, /write access.*promote\.token: secret:env:<NAME>/);
});

test('a pasted token in promote.token is refused without echoing it', () => {
  const found = issue({ ...base, output: 'hf:acme/tiny-ft', promote: { token: 'hf_pasted_secret_value' } }, 'promote.token');
  assert.equal(found.value, '<not shown>');
  assert.match(found.problem, /not a secret reference/);
});

test('output hf: with a revision, a bad repo name, or promote.token without a Hub output is ConfigInvalid', () => {
  assert.match(issue({ ...base, output: 'hf:acme/tiny-ft@dev', promote: { token: 'secret:env:T' } }, 'output').problem, /main branch.*without @/);
  assert.match(issue({ ...base, output: 'hf:acme', promote: { token: 'secret:env:T' } }, 'output').problem, /names no organisation/);
  assert.match(issue({ ...base, promote: { token: 'secret:env:T' } }, 'promote.token').problem, /only when output is hf:/);
});
