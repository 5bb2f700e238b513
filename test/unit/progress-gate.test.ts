import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newProgress, renderDetails } from '../../workflows/progress';

test("the UI details point to report.html and show the gate's state, who decided and why", () => {
  const p = newProgress('run-1', 'demo', 'hf:tiny', new Date('2026-11-28T22:00:00Z'));
  p.metrics = {
    primaryMetric: 'tool_call_match',
    n: 48,
    models: { base: { tool_call_match: 0.1 }, sft: { tool_call_match: 0.8 }, dpo: { tool_call_match: 0.85 } },
    report: { json: 'file:///s/runs/run-1/report/metrics.json', html: 'file:///s/runs/run-1/report/report.html' },
  };
  p.gate = {
    state: 'awaiting_approval',
    candidate: 'dpo',
    promote: null,
    checks: [],
    by: null,
    note: null,
    decidedAt: null,
    waitingSince: '2026-11-28T22:40:00.000Z',
    deadline: '2026-11-29T22:40:00.000Z',
    reason: 'dpo passes every threshold; waiting for approve or reject of dpo',
  };
  const waiting = renderDetails(p);
  assert.match(waiting, /report: file:\/\/\/s\/runs\/run-1\/report\/report\.html/);
  assert.match(waiting, /gate: \*\*awaiting approval\*\*/);
  assert.match(waiting, /waiting until 2026-11-29T22:40:00\.000Z: `finetune approve\|reject run-1 --note "\.\.\."`, or the update `approve` or `reject`/);
  assert.doesNotMatch(waiting, /"by"/, 'nobody is told to type who they are');

  p.gate = { ...p.gate, state: 'rejected', by: 'bob', note: 'hallucinated sources', reason: 'not promoted: dpo rejected by bob: hallucinated sources' };
  assert.match(renderDetails(p), /gate: \*\*rejected\*\* by bob \(hallucinated sources\) · not promoted: dpo rejected by bob/);
});
