/**
 * Scores every model's generations against the eval items. Each metric is a
 * fraction over all items, so a model that produced nothing for an item is
 * counted wrong rather than silently scored on fewer items.
 */
import { ToolCall, isJsonObject, matchToolCall, parseToolCallLenient, parseToolCallStrict } from './toolCall';

export { readJsonl, JsonlInvalid } from './jsonl';

/** One line of eval.jsonl. */
export interface EvalItem {
  id: string;
  cluster: string;
  messages: { role: string; content: string }[];
  tools: unknown[];
  expected_call: ToolCall;
}

/** One line of generations.jsonl. */
export interface Generation {
  model: string;
  item_id: string;
  output: string;
}

/**
 * Unsuffixed metrics parse strictly (the reply is exactly one call); the
 * `_lenient` one accepts a call embedded in other text.
 */
// A type alias, not an interface, so it also fits Record<string, number> (src/eval/metrics.ts).
export type ModelMetrics = {
  tool_call_match: number;
  tool_call_match_lenient: number;
  name_match: number;
  valid_json: number;
};

export interface Metrics {
  n: number;
  models: Record<string, ModelMetrics>;
}

export class DuplicateGeneration extends Error {
  readonly name = 'DuplicateGeneration';
  constructor(readonly model: string, readonly itemId: string) {
    super(`generations hold two outputs of model ${model} for item ${itemId}; one run of generate writes one per model and item`);
  }
}

export function scoreGenerations(items: EvalItem[], generations: Generation[]): Metrics {
  const byModel = new Map<string, Map<string, string>>();
  for (const g of generations) {
    const outputs = byModel.get(g.model) ?? new Map<string, string>();
    if (outputs.has(g.item_id)) throw new DuplicateGeneration(g.model, g.item_id);
    outputs.set(g.item_id, g.output);
    byModel.set(g.model, outputs);
  }
  const models: Record<string, ModelMetrics> = {};
  for (const [model, outputs] of byModel) {
    const hits = { tool_call_match: 0, tool_call_match_lenient: 0, name_match: 0, valid_json: 0 };
    for (const item of items) {
      const output = outputs.get(item.id);
      if (output === undefined) continue;
      const strict = parseToolCallStrict(output);
      if (matchToolCall(item.expected_call, strict)) hits.tool_call_match++;
      if (matchToolCall(item.expected_call, parseToolCallLenient(output))) hits.tool_call_match_lenient++;
      if (strict !== undefined && strict.name.trim() === item.expected_call.name.trim()) hits.name_match++;
      if (isJsonObject(output)) hits.valid_json++;
    }
    const n = items.length;
    models[model] = {
      tool_call_match: fraction(hits.tool_call_match, n),
      tool_call_match_lenient: fraction(hits.tool_call_match_lenient, n),
      name_match: fraction(hits.name_match, n),
      valid_json: fraction(hits.valid_json, n),
    };
  }
  return { n: items.length, models };
}

function fraction(hits: number, n: number): number {
  return n === 0 ? 0 : hits / n;
}
