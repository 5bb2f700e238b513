/** The advice for a failure class (an ApplicationFailure type), from the one table in src/jobs/failures.ts. Pure. */
import { FAILURES } from '../jobs/failures';

const ADVICE = new Map(Object.values(FAILURES).map((k) => [k.type, k.advice]));

export function adviceFor(failureClass: string): string | null {
  return ADVICE.get(failureClass) ?? null;
}
