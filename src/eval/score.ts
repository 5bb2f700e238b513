/**
 * Scores every model's generations against the eval items. What an item
 * carries decides which metrics apply to it (expected_call: tool calls;
 * sources: citations; reference: answers); each metric is a fraction over the
 * items it applies to, and a model that produced nothing for an item is
 * scored on an empty reply rather than silently scored on fewer items.
 */
import { answerExact, answerNormalised } from './answers';
import { clusterBootstrap, DEFAULT_BOOTSTRAP, pairedDelta, type BootstrapOptions } from './bootstrap';
import { scoreCitations, SUPPORT_LENIENT, SUPPORT_STRICT } from './citations';
import type { EvalItem } from './items';
import { METHOD_PAIRS } from './metricInfo';
import type { Disagreement, MetricDelta, RunMetrics } from './metrics';
import { explainMismatch, isJsonObject, matchToolCall, parseToolCallLenient, parseToolCallStrict, schemaProblem } from './toolCall';

export { readJsonl, JsonlInvalid } from './jsonl';
export type { EvalItem } from './items';

/** One line of generations.jsonl. */
export interface Generation {
  model: string;
  item_id: string;
  output: string;
}

/** Metric name -> score in [0, 1]; only the metrics that apply to the item. */
export type ItemScores = Record<string, number>;

export interface ItemResult {
  itemId: string;
  cluster: string;
  output: string;
  scores: ItemScores;
  /** Why a reply lost points, for the people reading the report. */
  notes: string[];
}

export interface Metrics {
  n: number;
  models: Record<string, Record<string, number>>;
}

export class DuplicateGeneration extends Error {
  readonly name = 'DuplicateGeneration';
  constructor(
    readonly model: string,
    readonly itemId: string,
  ) {
    super(`generations hold two outputs of model ${model} for item ${itemId}; one run of generate writes one per model and item`);
  }
}

/** The scores of one reply to one item. */
export function scoreOutput(item: EvalItem, output: string): { scores: ItemScores; notes: string[] } {
  const scores: ItemScores = {};
  const notes: string[] = [];
  if (item.expected_call) {
    const expected = item.expected_call;
    const tool = item.tools?.find((t) => t.name === expected.name);
    const strict = parseToolCallStrict(output);
    scores.tool_call_match = bit(matchToolCall(expected, strict, tool));
    scores.tool_call_match_lenient = bit(matchToolCall(expected, parseToolCallLenient(output), tool));
    scores.name_match = bit(strict !== undefined && strict.name.trim() === expected.name.trim());
    scores.valid_json = bit(isJsonObject(output));
    if (item.tools && item.tools.length > 0) scores.tool_call_schema_valid = bit(strict !== undefined && schemaProblem(strict, item.tools) === undefined);
    const why = explainMismatch(expected, strict, tool);
    if (why) notes.push(`strict: ${why}`);
    const whyLenient = explainMismatch(expected, parseToolCallLenient(output), tool);
    if (whyLenient && whyLenient !== why) notes.push(`lenient: ${whyLenient}`);
  }
  if (item.sources) {
    const strict = scoreCitations(output, item.sources, SUPPORT_STRICT);
    const lenient = scoreCitations(output, item.sources, SUPPORT_LENIENT);
    scores.citation_presence = strict.presence;
    scores.citation_precision = strict.precision;
    scores.citation_precision_lenient = lenient.precision;
    scores.citation_recall = strict.recall;
    scores.citation_recall_lenient = lenient.recall;
    scores.citation_fabricated = strict.fabricated;
    const fabricated = [...new Set(strict.sentences.flatMap((s) => s.fabricated))];
    if (fabricated.length) notes.push(`cites source(s) that were not given: ${fabricated.map((i) => `[${i}]`).join(' ')}`);
    const unsupported = strict.sentences.filter((s) => s.cited.length > s.supportedCitations.length + s.fabricated.length);
    for (const s of unsupported.slice(0, 3)) notes.push(`cited source does not support: "${clip(s.text, 80)}" (best support ${(s.bestSupport * 100).toFixed(0)}%)`);
  }
  if (item.reference !== undefined) {
    scores.answer_exact = bit(answerExact(output, item.reference));
    scores.answer_normalised = bit(answerNormalised(output, item.reference));
  }
  return { scores, notes };
}

/** Every model's result on every item, in the items' order. */
export function scoreItems(items: EvalItem[], generations: Generation[]): Record<string, ItemResult[]> {
  const byModel = new Map<string, Map<string, string>>();
  for (const g of generations) {
    const outputs = byModel.get(g.model) ?? new Map<string, string>();
    if (outputs.has(g.item_id)) throw new DuplicateGeneration(g.model, g.item_id);
    outputs.set(g.item_id, g.output);
    byModel.set(g.model, outputs);
  }
  const results: Record<string, ItemResult[]> = {};
  for (const [model, outputs] of byModel) {
    results[model] = items.map((item) => {
      const output = outputs.get(item.id);
      const { scores, notes } = scoreOutput(item, output ?? '');
      if (output === undefined) notes.unshift('no output: the model produced nothing for this item');
      return { itemId: item.id, cluster: item.cluster, output: output ?? '', scores, notes };
    });
  }
  return results;
}

/** Each model's mean per metric, over the items the metric applies to. */
export function scoreGenerations(items: EvalItem[], generations: Generation[]): Metrics {
  const perItem = scoreItems(items, generations);
  const models: Record<string, Record<string, number>> = {};
  for (const [model, results] of Object.entries(perItem)) models[model] = means(results);
  return { n: items.length, models };
}

export interface EvaluateOptions {
  primaryMetric: string;
  bootstrap?: Partial<BootstrapOptions>;
  /** A gap between two methods of one metric above this many points is flagged. */
  disagreementPoints?: number;
}

export interface Evaluation {
  metrics: RunMetrics;
  perItem: Record<string, ItemResult[]>;
}

/** Models compared pairwise on the same items: [baseline, compared]. */
export const COMPARISONS: readonly [string, string][] = [
  ['base', 'sft'],
  ['sft', 'dpo'],
];

/** Means, cluster-bootstrap intervals, paired deltas and method disagreements. */
export function evaluate(items: EvalItem[], generations: Generation[], options: EvaluateOptions): Evaluation {
  const bootstrap: BootstrapOptions = { ...DEFAULT_BOOTSTRAP, ...options.bootstrap };
  const disagreementPoints = options.disagreementPoints ?? 10;
  const perItem = scoreItems(items, generations);
  const models: RunMetrics['models'] = {};
  const intervals: NonNullable<RunMetrics['intervals']> = {};
  for (const [model, results] of Object.entries(perItem)) {
    models[model] = means(results);
    intervals[model] = {};
    for (const metric of Object.keys(models[model])) {
      const values = results.filter((r) => metric in r.scores).map((r) => ({ cluster: r.cluster, value: r.scores[metric] }));
      intervals[model][metric] = clusterBootstrap(values, bootstrap);
    }
  }

  const deltas: MetricDelta[] = [];
  for (const [baseline, model] of COMPARISONS) {
    if (!perItem[baseline] || !perItem[model]) continue;
    for (const metric of Object.keys(models[model])) {
      const pairs = perItem[model]
        .map((r, i) => ({ r, a: perItem[baseline][i] }))
        .filter(({ r, a }) => metric in r.scores && metric in a.scores)
        .map(({ r, a }) => ({ cluster: r.cluster, a: a.scores[metric], b: r.scores[metric] }));
      if (pairs.length > 0) deltas.push({ model, baseline, metric, ...pairedDelta(pairs, bootstrap) });
    }
  }

  const disagreements: Disagreement[] = [];
  for (const [model, m] of Object.entries(models)) {
    for (const pair of METHOD_PAIRS) {
      if (m[pair.a] === undefined || m[pair.b] === undefined) continue;
      const points = Math.abs(m[pair.a] - m[pair.b]) * 100;
      if (points > disagreementPoints) {
        const items = perItem[model].filter((r) => pair.a in r.scores && r.scores[pair.a] !== r.scores[pair.b]).map((r) => r.itemId);
        disagreements.push({ model, metric: pair.a, other: pair.b, what: pair.what, a: m[pair.a], b: m[pair.b], points, items });
      }
    }
  }

  return {
    perItem,
    metrics: {
      primaryMetric: options.primaryMetric,
      n: items.length,
      models,
      intervals,
      deltas,
      disagreements,
      method: { bootstrap, disagreementPoints, supportStrict: SUPPORT_STRICT, supportLenient: SUPPORT_LENIENT, resampledBy: 'cluster' },
    },
  };
}

function means(results: ItemResult[]): Record<string, number> {
  const sums: Record<string, { sum: number; n: number }> = {};
  for (const r of results) {
    for (const [metric, value] of Object.entries(r.scores)) {
      const s = (sums[metric] ??= { sum: 0, n: 0 });
      s.sum += value;
      s.n += 1;
    }
  }
  return Object.fromEntries(Object.entries(sums).map(([metric, s]) => [metric, s.n === 0 ? 0 : s.sum / s.n]));
}

const bit = (b: boolean): number => (b ? 1 : 0);

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
