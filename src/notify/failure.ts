/**
 * The advice a failed run's webhook carries: a stage failure's, from the failure table
 * (src/jobs/failures.ts), which its message holds too; null for the other failures,
 * whose messages say what to do. Pure.
 */
import { FAILURES } from '../jobs/failures';

const ADVICE = new Map(Object.values(FAILURES).map((k) => [k.type, k.advice]));

export function adviceFor(failureClass: string): string | null {
  return ADVICE.get(failureClass) ?? null;
}
