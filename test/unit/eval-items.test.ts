import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { EvalItemsInvalid, parseEvalItems } from '../../src/eval/items';

const line = (item: object) => JSON.stringify(item);
const cited = { id: 'c1', cluster: 'doc-1', messages: [{ role: 'user', content: 'q' }], sources: [{ index: 1, text: 'Paris is the capital of France.' }] };

test('the example eval set is valid eval data', () => {
  const text = readFileSync(path.join(__dirname, '../../../examples/tiny/data/eval.jsonl'), 'utf8');
  const items = parseEvalItems(text);
  assert.equal(items.length, 48);
  assert.ok(items.every((i) => i.expected_call && i.tools && i.tools.length === 4));
});

test('items with sources, a reference, or both parse; blank lines are skipped', () => {
  const items = parseEvalItems(`${line(cited)}\n\n${line({ ...cited, id: 'a1', sources: undefined, reference: '42' })}\n`);
  assert.deepEqual(
    items.map((i) => i.id),
    ['c1', 'a1'],
  );
  assert.equal(items[1].reference, '42');
});

test('errors name the line and the field, for every bad line at once', () => {
  const text = [
    line(cited),
    line({ ...cited, id: 'c2', cluster: undefined }),
    '{"id": ',
    line({ ...cited, id: 'c3', sources: [{ index: 0, text: 'x' }] }),
    line({ ...cited, id: 'c1' }),
    line({ ...cited, id: 'c4', extra: 1 }),
    line({ ...cited, id: 'c5', tools: [{ name: 'a' }], expected_call: { name: 'b', arguments: {} } }),
  ].join('\n');
  let err: unknown;
  try {
    parseEvalItems(text, 'data/eval.jsonl');
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof EvalItemsInvalid);
  const issues = err.issues;
  assert.deepEqual(
    issues.map((i) => [i.line, i.field]),
    [
      [2, 'cluster'],
      [3, ''],
      [4, 'sources.0.index'],
      [5, 'id'],
      [6, ''],
      [7, 'expected_call.name'],
    ],
  );
  const message = err.message;
  assert.match(message, /data\/eval\.jsonl is not valid eval data/);
  assert.match(message, /line 2, cluster: is required/);
  assert.match(message, /line 3, \(item\): is not valid JSON/);
  assert.match(message, /line 5, id: "c1" is already used on line 1/);
  assert.match(message, /line 6, \(item\): unknown field\(s\) extra/);
  assert.match(message, /line 7, expected_call\.name: "b" is not one of the item's tools/);
});

test('an item with nothing to score against, repeated source indices or an empty file are refused', () => {
  assert.throws(() => parseEvalItems(line({ id: 'x', cluster: 'c', messages: [{ role: 'user', content: 'q' }] })), /nothing to score against/);
  assert.throws(
    () =>
      parseEvalItems(
        line({
          ...cited,
          sources: [
            { index: 1, text: 'a' },
            { index: 1, text: 'b' },
          ],
        }),
      ),
    /line 1, sources: index 1 is given twice/,
  );
  assert.throws(() => parseEvalItems('\n\n'), /holds no items/);
});
