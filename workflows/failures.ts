/** What a failure the workflow caught says: the lost host it reports, its class and message. Pure. */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import type { HostLostDetails } from '../activities/types';
import { HOST_LOST } from '../src/jobs/failures';

/** The lost host's evidence when err is runJob's HostLost, else null. */
export function hostLost(err: unknown): HostLostDetails | null {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === HOST_LOST) {
    const details = err.cause.details?.[0] as HostLostDetails | undefined;
    return details ?? { hostId: '?', reason: err.cause.message, preempted: false, lastStep: 0, lastCheckpointStep: null };
  }
  return null;
}

/** The failure class (the innermost ApplicationFailure's type) and its message. */
export function failureOf(err: unknown): { type: string; message: string } | null {
  const e = innermost(err);
  if (e instanceof ApplicationFailure) return { type: e.type ?? 'Error', message: e.message };
  return e instanceof Error ? { type: e.name, message: e.message } : null;
}

/** One line for the run's progress: the failure's class and message. */
export function describe(err: unknown): string {
  const e = innermost(err);
  if (e instanceof ApplicationFailure) return `${e.type ?? 'Error'}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** The failure inside the activity failures that carried it to the workflow. */
function innermost(err: unknown): unknown {
  let e = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e;
}
