import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  explainMismatch,
  isJsonObject,
  matchToolCall,
  parseToolCallLenient,
  parseToolCallStrict,
} from '../../src/eval/toolCall';

const expected = { name: 'convert', arguments: { amount: 20, currency: 'CHF' } };

test('strict parsing accepts exactly one call object, with surrounding whitespace', () => {
  assert.deepEqual(parseToolCallStrict('  {"name": "convert", "arguments": {"amount": 20}}\n'), {
    name: 'convert',
    arguments: { amount: 20 },
  });
});

test('strict parsing refuses prose, code fences, extra keys and wrong shapes', () => {
  assert.equal(parseToolCallStrict('Sure! {"name": "convert", "arguments": {}}'), undefined);
  assert.equal(parseToolCallStrict('```json\n{"name": "convert", "arguments": {}}\n```'), undefined);
  assert.equal(parseToolCallStrict('{"name": "convert", "arguments": {}, "id": 1}'), undefined);
  assert.equal(parseToolCallStrict('{"name": "convert", "arguments": []}'), undefined);
  assert.equal(parseToolCallStrict('{"name": 3, "arguments": {}}'), undefined);
  assert.equal(parseToolCallStrict('[{"name": "convert", "arguments": {}}]'), undefined);
});

test('lenient parsing finds the first balanced object with a name, skipping braces in strings', () => {
  const text = 'I think {not json} then ```{"name": "get_time", "arguments": {"city": "a}b"}}``` and {"name": "x"}';
  assert.deepEqual(parseToolCallLenient(text), { name: 'get_time', arguments: { city: 'a}b' } });
  assert.deepEqual(parseToolCallLenient('{"name": "x"}'), { name: 'x', arguments: {} });
  assert.equal(parseToolCallLenient('{"arguments": {}} {"name": '), undefined);
  assert.equal(parseToolCallLenient('no call here'), undefined);
});

test('reordered keys, extra whitespace, case and numeric strings still match', () => {
  const actual = parseToolCallStrict('{ "arguments" : { "currency" : " chf ", "amount" : 20.0 }, "name" : "convert" }');
  assert.equal(matchToolCall(expected, actual), true);
  assert.equal(matchToolCall(expected, { name: 'convert', arguments: { amount: '20', currency: 'CHF' } }), true);
});

test('nested objects and arrays compare recursively', () => {
  const nested = { name: 'f', arguments: { opts: { tags: ['A', 'b'], n: 1 } } };
  assert.equal(matchToolCall(nested, { name: 'f', arguments: { opts: { n: 1.0, tags: ['a ', 'B'] } } }), true);
  assert.equal(matchToolCall(nested, { name: 'f', arguments: { opts: { n: 1, tags: ['b', 'a'] } } }), false);
  assert.equal(matchToolCall(nested, { name: 'f', arguments: { opts: { n: 1, tags: ['a', 'b'], x: 0 } } }), false);
});

test('a wrong name, a missing argument, an unknown argument or a wrong value do not match, and say why', () => {
  assert.match(explainMismatch(expected, { name: 'get_weather', arguments: expected.arguments }) ?? '', /called "get_weather"/);
  assert.match(explainMismatch(expected, { name: 'convert', arguments: { amount: 20 } }) ?? '', /missing argument\(s\) currency/);
  assert.match(
    explainMismatch(expected, { name: 'convert', arguments: { ...expected.arguments, note: 'x' } }) ?? '',
    /unknown argument\(s\) note/,
  );
  assert.match(explainMismatch(expected, { name: 'convert', arguments: { amount: 21, currency: 'CHF' } }) ?? '', /amount is 21/);
  assert.equal(matchToolCall(expected, { name: 'convert', arguments: { amount: 'twenty', currency: 'CHF' } }), false);
  assert.equal(matchToolCall(expected, undefined), false);
});

test('isJsonObject is true only for a whole JSON object', () => {
  assert.equal(isJsonObject(' {"a": 1} '), true);
  assert.equal(isJsonObject('[1]'), false);
  assert.equal(isJsonObject('{"a": 1} trailing'), false);
});
