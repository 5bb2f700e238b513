import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { EvalItem, Generation, readJsonl, scoreGenerations, DuplicateGeneration } from '../../src/eval/score';

const item = (id: string, name: string, args: Record<string, unknown>): EvalItem => ({
  id,
  cluster: 'c',
  messages: [{ role: 'user', content: 'q' }],
  tools: [],
  expected_call: { name, arguments: args },
});

const items = [
  item('e1', 'get_weather', { city: 'Rome' }),
  item('e2', 'convert', { amount: 20, currency: 'CHF' }),
  item('e3', 'get_time', { city: 'Oslo' }),
  item('e4', 'get_time', { city: 'Lima' }),
];

test('each metric is a fraction over all items; a missing generation counts as wrong', () => {
  const generations: Generation[] = [
    { model: 'sft', item_id: 'e1', output: '{"name": "get_weather", "arguments": {"city": "rome"}}' },
    { model: 'sft', item_id: 'e2', output: 'Here: {"name": "convert", "arguments": {"amount": 20, "currency": "CHF"}}' },
    { model: 'sft', item_id: 'e3', output: '{"name": "get_time", "arguments": {"city": "Bergen"}}' },
    { model: 'base', item_id: 'e1', output: 'It is sunny [1].' },
    { model: 'base', item_id: 'e2', output: '{"answer": 18}' },
  ];
  const metrics = scoreGenerations(items, generations);
  assert.equal(metrics.n, 4);
  assert.deepEqual(metrics.models.sft, {
    tool_call_match: 0.25,
    tool_call_match_lenient: 0.5,
    name_match: 0.5,
    valid_json: 0.5,
  });
  assert.deepEqual(metrics.models.base, { tool_call_match: 0, tool_call_match_lenient: 0, name_match: 0, valid_json: 0.25 });
});

test('two outputs of one model for one item are refused', () => {
  const g = { model: 'dpo', item_id: 'e1', output: '' };
  assert.throws(() => scoreGenerations(items, [g, g]), DuplicateGeneration);
});

test('readJsonl skips blank lines and names the bad line', () => {
  assert.deepEqual(readJsonl('{"a":1}\n\n{"a":2}\n'), [{ a: 1 }, { a: 2 }]);
  assert.throws(() => readJsonl('{"a":1}\n{"a":\n', 'generations.jsonl'), /generations\.jsonl line 2 is not valid JSON/);
});

test('the example eval set scores perfectly against its own expected calls', () => {
  const text = readFileSync(path.join(__dirname, '../../../examples/tiny/data/eval.jsonl'), 'utf8');
  const evalItems = readJsonl<EvalItem>(text);
  const perfect = evalItems.map((i) => ({ model: 'oracle', item_id: i.id, output: JSON.stringify(i.expected_call) }));
  const metrics = scoreGenerations(evalItems, perfect);
  assert.equal(metrics.n, evalItems.length);
  assert.deepEqual(metrics.models.oracle, {
    tool_call_match: 1,
    tool_call_match_lenient: 1,
    name_match: 1,
    valid_json: 1,
    tool_call_schema_valid: 1,
  });
});
