/**
 * The advice a failed run's webhook carries: the failure table's (src/jobs/failures.ts) for the
 * failure's type, null for a type it does not know. Pure.
 */
import { failureKind } from '../jobs/failures';

export function adviceFor(failureType: string): string | null {
  return failureKind(failureType)?.advice ?? null;
}
