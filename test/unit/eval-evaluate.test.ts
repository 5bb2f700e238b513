import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate, type Generation } from '../../src/eval/score';
import type { EvalItem } from '../../src/eval/items';

const sources = [{ index: 1, text: 'The Eiffel Tower was completed in 1889 and is 330 metres tall.' }];
const items: EvalItem[] = Array.from({ length: 20 }, (_, i) => ({
  id: `q${i}`,
  cluster: `doc-${i % 5}`,
  messages: [{ role: 'user', content: 'When was the Eiffel Tower completed?' }],
  sources,
  reference: '1889',
}));
const gens = (model: string, output: (i: number) => string): Generation[] => items.map((it, i) => ({ model, item_id: it.id, output: output(i) }));
const generations = [
  ...gens('base', () => 'Bananas are yellow [1]. Cats purr [1].'),
  ...gens('sft', (i) => (i % 5 < 2 ? 'The Eiffel Tower was completed in 1889 [1].' : '1889')),
  ...gens('dpo', () => 'The Eiffel Tower was completed in 1889 [1].'),
];

test('means, per-metric intervals, paired deltas and flagged disagreements, deterministically', () => {
  const { metrics, perItem } = evaluate(items, generations, { primaryMetric: 'citation_precision', disagreementPoints: 10 });
  assert.equal(metrics.models.base.citation_presence, 1);
  assert.equal(metrics.models.base.citation_precision, 0);
  assert.equal(metrics.models.dpo.citation_precision, 1);
  assert.equal(metrics.models.sft.citation_precision, 0.4);
  const ci = metrics.intervals!.sft.citation_precision;
  assert.ok(ci.lo < 0.4 && ci.hi > 0.4 && ci.clusters === 5 && ci.n === 20, JSON.stringify(ci));

  const delta = metrics.deltas!.find((d) => d.model === 'dpo' && d.baseline === 'sft' && d.metric === 'citation_precision')!;
  assert.equal(delta.mean, 0.6);
  assert.ok(delta.lo > 0, 'dpo beats sft on every item it changed, so the paired interval excludes 0');
  assert.ok(metrics.deltas!.some((d) => d.model === 'sft' && d.baseline === 'base'));

  const lie = metrics.disagreements!.find((d) => d.model === 'base' && d.metric === 'citation_presence')!;
  assert.equal(lie.points, 100);
  assert.equal(lie.items.length, 20);
  const answers = metrics.disagreements!.filter((d) => d.metric === 'answer_exact');
  assert.deepEqual(
    answers.map((d) => d.model),
    [],
  );
  assert.equal(perItem.sft[4].scores.answer_exact, 1);
  assert.deepEqual(evaluate(items, generations, { primaryMetric: 'citation_precision' }).metrics, metrics);
});

test('a gap at or below eval.disagreement_points is not flagged', () => {
  const { metrics } = evaluate(items, generations, { primaryMetric: 'citation_precision', disagreementPoints: 100 });
  assert.deepEqual(metrics.disagreements, []);
});
