/**
 * JSON Lines as the trainer writes them. A bad line is reported by its number
 * so a broken generations.jsonl or eval.jsonl can be fixed, not guessed at.
 */
export class JsonlInvalid extends Error {
  readonly name = 'JsonlInvalid';
  constructor(
    readonly line: number,
    readonly text: string,
    reason: string,
    source?: string,
  ) {
    super(`${source ?? 'JSONL'} line ${line} is not valid JSON (${reason}): ${text.length > 120 ? `${text.slice(0, 117)}...` : text}`);
  }
}

/** One value per non-blank line. */
export function readJsonl<T = unknown>(text: string, source?: string): T[] {
  const out: T[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    try {
      out.push(JSON.parse(line) as T);
    } catch (err) {
      throw new JsonlInvalid(index + 1, line, (err as Error).message, source);
    }
  });
  return out;
}
