/**
 * Eval items whose prompt the model also trains on: a score on them measures
 * recall, not the task. Prompts compare as normalized text (every turn's role
 * and content, lowercased, whitespace collapsed), so a copy with other spacing
 * or capitals still counts. Pure.
 */

interface Turn {
  role?: unknown;
  content?: unknown;
}

export function normalizedPrompt(turns: Turn[]): string {
  return turns
    .map((t) => `${String(t.role ?? '')}: ${typeof t.content === 'string' ? t.content : JSON.stringify(t.content ?? '')}`)
    .join('\n')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

export interface Repeats {
  /** Eval items whose prompt is also an SFT or preference prompt. */
  eval_items: number;
  /** The same, as a share of all eval items. */
  share: number;
  /** Line numbers (1-based) of the first few such eval items. */
  examples: number[];
}

const EXAMPLES_SHOWN = 5;

/** Train prompts (SFT messages without the answer, preference prompts) against eval prompts. */
export function repeatedPrompts(trainPrompts: Turn[][], evalPrompts: { line: number; turns: Turn[] }[]): Repeats {
  const train = new Set(trainPrompts.map(normalizedPrompt));
  const hits = evalPrompts.filter((e) => train.has(normalizedPrompt(e.turns)));
  return {
    eval_items: hits.length,
    share: evalPrompts.length === 0 ? 0 : hits.length / evalPrompts.length,
    examples: hits.slice(0, EXAMPLES_SHOWN).map((e) => e.line),
  };
}
