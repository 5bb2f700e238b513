/**
 * The eval data format: one JSON object per line of eval.jsonl. An item
 * always has an id, a cluster (what its interval resamples by, such as the
 * source document) and messages; what else it carries decides which metrics
 * apply to it: numbered `sources` (citations), `tools` + `expected_call`
 * (function calling), `reference` (answers).
 */
import { z } from 'zod';

const message = z.object({ role: z.enum(['system', 'user', 'assistant', 'tool']), content: z.string() }).strict();

const source = z.object({ index: z.number().int().min(1, 'number sources from 1, as a reply cites them ([1], [2], ...)'), text: z.string().min(1) }).strict();

/** A JSON schema of a tool's arguments; only the keys the checker reads are typed. */
const jsonSchema = z.looseObject({
  type: z.union([z.string(), z.array(z.string())]).optional(),
  properties: z.record(z.string(), z.unknown()).optional(),
  required: z.array(z.string()).optional(),
});

const tool = z.looseObject({ name: z.string().min(1), description: z.string().optional(), parameters: jsonSchema.optional() });

const toolCall = z.object({ name: z.string().min(1), arguments: z.record(z.string(), z.unknown()) }).strict();

export const EvalItemSchema = z
  .object({
    id: z.string().min(1),
    cluster: z.string().min(1),
    messages: z.array(message).min(1),
    sources: z.array(source).min(1).optional(),
    tools: z.array(tool).optional(),
    expected_call: toolCall.optional(),
    reference: z.string().optional(),
  })
  .strict()
  .superRefine((item, ctx) => {
    const indices = (item.sources ?? []).map((s) => s.index);
    const repeated = indices.find((index, i) => indices.indexOf(index) !== i);
    if (repeated !== undefined) ctx.addIssue({ code: 'custom', path: ['sources'], message: `index ${repeated} is given twice` });
    if (item.expected_call && item.tools && item.tools.length > 0 && !item.tools.some((t) => t.name === item.expected_call!.name)) {
      ctx.addIssue({ code: 'custom', path: ['expected_call', 'name'], message: `"${item.expected_call.name}" is not one of the item's tools` });
    }
    if (!item.sources && !item.expected_call && item.reference === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'has nothing to score against: give sources, expected_call or reference' });
    }
  });

export type EvalItem = z.infer<typeof EvalItemSchema>;
export type EvalTool = z.infer<typeof tool>;
export type EvalSource = z.infer<typeof source>;

export interface EvalItemIssue {
  line: number;
  field: string;
  problem: string;
}

export class EvalItemsInvalid extends Error {
  readonly name = 'EvalItemsInvalid';
  constructor(
    readonly source: string,
    readonly issues: EvalItemIssue[],
  ) {
    const shown = issues.slice(0, 20).map((i) => `  - line ${i.line}, ${i.field || '(item)'}: ${i.problem}`);
    if (issues.length > shown.length) shown.push(`  ... and ${issues.length - shown.length} more`);
    super(`${source} is not valid eval data:\n${shown.join('\n')}`);
  }
}

/** Every item of an eval.jsonl text, or one error listing every bad line and field. */
export function parseEvalItems(text: string, source = 'eval.jsonl'): EvalItem[] {
  const lines = text.split('\n');
  const items: EvalItem[] = [];
  const issues: EvalItemIssue[] = [];
  const seen = new Map<string, number>();
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      issues.push({ line, field: '', problem: `is not valid JSON (${(err as Error).message})` });
      return;
    }
    const parsed = EvalItemSchema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) issues.push({ line, field: issue.path.map(String).join('.'), problem: problemOf(issue) });
      return;
    }
    const first = seen.get(parsed.data.id);
    if (first !== undefined) issues.push({ line, field: 'id', problem: `"${parsed.data.id}" is already used on line ${first}` });
    seen.set(parsed.data.id, line);
    items.push(parsed.data);
  });
  if (issues.length > 0) throw new EvalItemsInvalid(source, issues);
  if (items.length === 0) throw new EvalItemsInvalid(source, [{ line: 0, field: '', problem: 'holds no items' }]);
  return items;
}

function problemOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return `is required (${issue.expected})`;
  return issue.message;
}
