/**
 * The TypeScript half of the one tool-call spec: every case in
 * test/fixtures/toolcall-cases.json scores its tool_call_match through
 * scoreOutput, as eval reports it. trainer/tests/test_toolcall.py runs the
 * same cases through the DPO guard's Python scorer, so the two cannot drift.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../../src/paths';
import { EvalItemSchema } from '../../src/eval/items';
import { scoreOutput } from '../../src/eval/score';
import { parseToolCallStrict } from '../../src/eval/toolCall';

interface ToolCallCase {
  case: string;
  item: string;
  output: string;
  tool_call_match: 0 | 1;
}

const spec: { items: Record<string, unknown>; cases: ToolCallCase[] } = JSON.parse(fs.readFileSync(path.join(projectRoot, 'test/fixtures/toolcall-cases.json'), 'utf8'));

test('the spec items are valid eval items', () => {
  for (const [name, item] of Object.entries(spec.items)) assert.ok(EvalItemSchema.safeParse(item).success, name);
});

test('every case names an item of the spec, once', () => {
  const names = spec.cases.map((c) => c.case);
  assert.equal(new Set(names).size, names.length);
  for (const c of spec.cases) assert.ok(Object.hasOwn(spec.items, c.item), `${c.case}: no item ${c.item}`);
});

for (const c of spec.cases) {
  test(`tool_call_match ${c.tool_call_match}: ${c.case}`, () => {
    const item = EvalItemSchema.parse(spec.items[c.item]);
    const { scores } = scoreOutput(item, c.output);
    assert.equal(scores.tool_call_match, c.tool_call_match);
    // TypeScript's other tool-call metrics follow: a reply that is one call is
    // also what the lenient parser finds, and a match fits the tool's schema.
    if (parseToolCallStrict(c.output)) assert.equal(scores.tool_call_match_lenient, c.tool_call_match);
    if (c.tool_call_match === 1 && item.tools?.length) assert.equal(scores.tool_call_schema_valid, 1);
  });
}
