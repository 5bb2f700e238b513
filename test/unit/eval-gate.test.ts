import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkThresholds, type GateThresholds } from '../../src/eval/gate';
import type { RunMetrics } from '../../src/eval/metrics';

const metrics: RunMetrics = {
  primaryMetric: 'citation_precision',
  n: 10,
  models: {
    base: { citation_precision: 0.1, citation_fabricated: 0.3 },
    sft: { citation_precision: 0.7, citation_fabricated: 0.02 },
    dpo: { citation_precision: 0.74, citation_fabricated: 0.09 },
  },
};
const t = (over: Partial<GateThresholds> = {}): GateThresholds => ({ primary_metric: 'citation_precision', max_regression: 0.05, min: {}, max: {}, guardrails: [], ...over });

test('DPO is the candidate when it holds the primary metric against SFT within the margin', () => {
  assert.equal(checkThresholds(metrics, t()).candidate, 'dpo');
  const worse = { ...metrics, models: { ...metrics.models, dpo: { ...metrics.models.dpo, citation_precision: 0.64 } } };
  assert.equal(checkThresholds(worse, t()).candidate, 'sft');
});

test('a guardrail on a lower-is-better metric fails when DPO rises above SFT plus the margin', () => {
  const v = checkThresholds(metrics, t({ guardrails: ['citation_fabricated'] }));
  assert.equal(v.candidate, 'sft');
  const check = v.checks.find((c) => c.metric === 'citation_fabricated')!;
  assert.equal(check.passed, false);
  assert.match(check.text, /dpo citation_fabricated 9\.0% <= sft 2\.0% \+ 5\.0%/);
});

test('min and max hold each model; nothing ships when no model passes', () => {
  assert.equal(checkThresholds(metrics, t({ max: { citation_fabricated: 0.05 } })).candidate, 'sft');
  const none = checkThresholds(metrics, t({ min: { citation_precision: 0.8 } }));
  assert.equal(none.candidate, null);
  assert.match(none.reason, /no model passes its thresholds: dpo citation_precision 74\.0% >= min 80\.0%; sft citation_precision 70\.0% >= min 80\.0%/);
  assert.equal(checkThresholds(metrics, t({ min: { answer_exact: 0.5 } })).candidate, null, 'a metric that was not measured does not pass a minimum');
});

test('without DPO metrics (DPO collapsed and was skipped), SFT is the candidate', () => {
  const { dpo: _dpo, ...rest } = metrics.models;
  assert.equal(checkThresholds({ ...metrics, models: rest }, t()).candidate, 'sft');
});
