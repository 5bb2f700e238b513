/**
 * TypeScript's own parts of tool-call scoring: the lenient parser, the reasons
 * a reply does not match, isJsonObject. Which replies match is the spec in
 * test/fixtures/toolcall-cases.json (test/unit/toolcall-cases.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainMismatch, isJsonObject, matchToolCall, parseToolCallLenient } from '../../src/eval/toolCall';

const expected = { name: 'convert', arguments: { amount: 20, currency: 'CHF' } };

test('lenient parsing finds the first balanced object with a name, skipping braces in strings', () => {
  const text = 'I think {not json} then ```{"name": "get_time", "arguments": {"city": "a}b"}}``` and {"name": "x"}';
  assert.deepEqual(parseToolCallLenient(text), { name: 'get_time', arguments: { city: 'a}b' } });
  assert.deepEqual(parseToolCallLenient('{"name": "x"}'), { name: 'x', arguments: {} });
  assert.equal(parseToolCallLenient('{"arguments": {}} {"name": '), undefined);
  assert.equal(parseToolCallLenient('no call here'), undefined);
});

test('a wrong name, a missing argument, an unknown argument or a wrong value do not match, and say why', () => {
  assert.match(explainMismatch(expected, { name: 'get_weather', arguments: expected.arguments }) ?? '', /called "get_weather"/);
  assert.match(explainMismatch(expected, { name: 'convert', arguments: { amount: 20 } }) ?? '', /missing argument\(s\) currency/);
  assert.match(explainMismatch(expected, { name: 'convert', arguments: { ...expected.arguments, note: 'x' } }) ?? '', /unknown argument\(s\) note/);
  assert.match(explainMismatch(expected, { name: 'convert', arguments: { amount: 21, currency: 'CHF' } }) ?? '', /amount is 21/);
  assert.equal(matchToolCall(expected, undefined), false);
});

test('isJsonObject is true only for a whole JSON object', () => {
  assert.equal(isJsonObject(' {"a": 1} '), true);
  assert.equal(isJsonObject('[1]'), false);
  assert.equal(isJsonObject('{"a": 1} trailing'), false);
});
