import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerExact, answerNormalised } from '../../src/eval/answers';

test('exact match ignores only surrounding whitespace', () => {
  assert.equal(answerExact('  Paris\n', 'Paris'), true);
  assert.equal(answerExact('paris', 'Paris'), false);
});

test('normalised match ignores case, punctuation, articles, thousands separators and trailing zeros', () => {
  assert.equal(answerNormalised('The Paris.', 'paris'), true);
  assert.equal(answerNormalised('1,000', '1000'), true);
  assert.equal(answerNormalised('20.0', '20'), true);
  assert.equal(answerNormalised('3.50 m', '3.5 M'), true);
  assert.equal(answerNormalised('3.05', '3.5'), false);
  assert.equal(answerNormalised('Lyon', 'Paris'), false);
});
