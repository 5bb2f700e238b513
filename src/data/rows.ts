/**
 * The rows the trainer trains on, as it reads them: SFT rows become
 * prompt/completion pairs (stages/sft.py), preference rows keep prompt,
 * chosen and rejected message lists (stages/dpo.py), and every turn goes
 * through the model's chat template, which reads role and content (or an
 * assistant's tool_calls). Eval rows are src/eval/items.ts's. Other keys in
 * a row or a turn are carried along unread.
 */
import { z } from 'zod';

const ROLES = ['system', 'user', 'assistant', 'tool'] as const;
const TURNS_FIX = 'a list of turns [{"role": "user", "content": "..."}, ...]';

const turn = z
  .looseObject(
    {
      role: z.enum(ROLES, { error: (iss) => (iss.input === undefined ? `is required: one of ${ROLES.join(', ')}` : `use one of ${ROLES.join(', ')}`) }),
      content: z.string({ error: 'must be the text of the turn (a string)' }).nullish(),
      tool_calls: z.array(z.unknown(), { error: 'must be a list of tool calls' }).optional(),
    },
    { error: (iss) => (iss.input === undefined ? 'is required' : 'must be a turn: {"role": ..., "content": "..."}') },
  )
  .superRefine((t, ctx) => {
    if (typeof t.content !== 'string' && !(t.role === 'assistant' && t.tool_calls)) {
      ctx.addIssue({
        code: 'custom',
        path: ['content'],
        input: t.content,
        message: 'is required: the text of the turn (a string; only an assistant turn with tool_calls may leave it out)',
      });
    }
  });

const turns = (min: number, what: string) =>
  z.array(turn, { error: (iss) => (iss.input === undefined ? `is required: ${TURNS_FIX}` : `must be ${TURNS_FIX}, not ${describe(iss.input)}`) }).min(min, `needs ${what}`);

/** The last turn of a list must be the assistant's: the answer the stage learns (or learns to prefer). */
function endsWithAnswer(field: string, list: { role: string }[] | undefined, ctx: z.RefinementCtx, what: string): void {
  const last = list?.[list.length - 1];
  if (last && last.role !== 'assistant') {
    ctx.addIssue({ code: 'custom', path: [field, list!.length - 1, 'role'], input: last.role, message: `must be assistant: the last turn is ${what}` });
  }
}

const object = (iss: { input: unknown }) => `must be one JSON object per line, not ${describe(iss.input)}`;

export const SftRow = z.looseObject({ messages: turns(2, 'the prompt turns and then the assistant answer (at least 2 turns)') }, { error: object }).superRefine((row, ctx) => {
  if (row.messages.length >= 2) endsWithAnswer('messages', row.messages, ctx, 'the answer SFT learns');
});

export const PreferenceRow = z
  .looseObject(
    {
      prompt: turns(1, 'at least one turn'),
      chosen: turns(1, 'the preferred answer (at least one assistant turn)'),
      rejected: turns(1, 'the worse answer (at least one assistant turn)'),
    },
    { error: object },
  )
  .superRefine((row, ctx) => {
    endsWithAnswer('chosen', row.chosen, ctx, 'the preferred answer');
    endsWithAnswer('rejected', row.rejected, ctx, 'the worse answer');
  });

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}
