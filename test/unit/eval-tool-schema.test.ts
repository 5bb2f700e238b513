/**
 * The reasons tool-call scoring gives (notes, explainMismatch, schemaProblem)
 * and the metrics only TypeScript reports. Which replies match is the spec in
 * test/fixtures/toolcall-cases.json (test/unit/toolcall-cases.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainMismatch, schemaProblem, type ToolSpec } from '../../src/eval/toolCall';
import { scoreOutput } from '../../src/eval/score';
import type { EvalItem } from '../../src/eval/items';

const convert: ToolSpec = {
  name: 'convert',
  parameters: {
    type: 'object',
    properties: { amount: { type: 'number' }, currency: { type: 'string', enum: ['CHF', 'EUR', 'GBP'] }, round: { type: 'boolean' } },
    required: ['amount', 'currency'],
  },
};
const weather: ToolSpec = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };
const expected = { name: 'convert', arguments: { amount: 20, currency: 'CHF' } };
const item: EvalItem = {
  id: 'e1',
  cluster: 'c',
  messages: [{ role: 'user', content: 'Convert 20 dollars to CHF.' }],
  tools: [weather, convert],
  expected_call: expected,
};

test('a reply that does not match says why in its notes', () => {
  const cases: [string, RegExp][] = [
    ['{"name": "get_weather", "arguments": {"city": "CHF"}}', /called "get_weather" instead of "convert"/],
    ['{"name": "convert", "arguments": {"amount": 20}}', /missing required argument\(s\) arguments\.currency/],
    ['{"name": "convert", "arguments": {"amount": 20, "currency": "CHF", "fee": 1}}', /unknown argument\(s\) arguments\.fee/],
    ['{"name": "convert", "arguments": {"amount": 21, "currency": "CHF"}}', /argument amount is 21, expected 20/],
  ];
  for (const [output, why] of cases) {
    assert.match(scoreOutput(item, output).notes.join('\n'), why, output);
  }
});

test('with the tool schema, a value of the wrong type or outside its enum says why', () => {
  assert.match(explainMismatch(expected, { name: 'convert', arguments: { amount: '20', currency: 'CHF' } }, convert)!, /amount is string "20", the tool expects number/);
  assert.match(schemaProblem({ name: 'convert', arguments: { amount: 5, currency: 'USD' } }, [convert])!, /currency is "USD", not one of/);
  assert.match(schemaProblem({ name: 'convert', arguments: { amount: 5, currency: 'CHF', round: 'yes' } }, [convert])!, /round is string/);
  assert.match(schemaProblem({ name: 'nope', arguments: {} }, [convert])!, /"nope" is not one of the tools/);
  assert.equal(schemaProblem({ name: 'convert', arguments: { amount: 5, currency: 'EUR', round: true } }, [convert]), undefined);
});

test('schema checks reach into nested objects and arrays; additionalProperties allows extra keys', () => {
  const tool: ToolSpec = {
    name: 'book',
    parameters: {
      type: 'object',
      properties: {
        guests: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name'] } },
        extra: { type: 'object', additionalProperties: true },
      },
    },
  };
  assert.equal(schemaProblem({ name: 'book', arguments: { guests: [{ name: 'A', age: 3 }], extra: { x: 1 } } }, [tool]), undefined);
  assert.match(schemaProblem({ name: 'book', arguments: { guests: [{ name: 'A', age: 3.5 }] } }, [tool])!, /guests\[0\]\.age is number 3\.5, the tool expects integer/);
  assert.match(schemaProblem({ name: 'book', arguments: { guests: [{ age: 3 }] } }, [tool])!, /missing required argument\(s\) arguments\.guests\[0\]\.name/);
});

test('prose around a call: the lenient match finds it, valid_json does not (the strict verdict is a spec case)', () => {
  const { scores } = scoreOutput(item, 'Sure! {"name": "convert", "arguments": {"amount": 20, "currency": "CHF"}}');
  assert.equal(scores.tool_call_match_lenient, 1);
  assert.equal(scores.valid_json, 0);
});
