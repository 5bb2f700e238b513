/**
 * Who sent an update, as the server recorded it. The server keeps the caller's
 * client identity with each accepted update (the history's
 * WorkflowExecutionUpdateAcceptedEvent, acceptedRequest.meta.identity) and
 * hands it to the worker in the update's activation job (DoUpdate.meta), but
 * the TypeScript SDK (1.24) gives a handler only the update's id and name.
 * This workflow interceptor module notes the identity of each update by id as
 * its job arrives, so a handler can ask for its own caller; on replay the job
 * carries the same recorded identity. Every worker and bundle loads it
 * (workers/workflowSource.ts).
 */
import { currentUpdateInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

// Module state is per workflow execution: each one gets its own module cache, also in a reused V8 context.
const callers = new Map<string, string>();
let loaded = false;

export const interceptors: WorkflowInterceptorsFactory = () => {
  loaded = true;
  return {
    internals: [
      {
        activate(input, next) {
          for (const job of input.activation.jobs ?? []) {
            const update = job.doUpdate;
            if (update?.id) callers.set(update.id, update.meta?.identity ?? '');
          }
          return next(input);
        },
      },
    ],
  };
};

/**
 * The identity of the client that sent the update being handled or validated:
 * null when the client sent none, or when this worker did not load this module
 * (then nobody can say who the caller is, and the caller must be refused).
 */
export function updateCaller(): { identity: string | null; known: boolean } {
  const info = currentUpdateInfo();
  if (!loaded || !info) return { identity: null, known: false };
  const identity = callers.get(info.id)?.trim();
  return { identity: identity ? identity : null, known: true };
}
