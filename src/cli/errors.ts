/**
 * Exit codes a script can act on, and the mapping from what went wrong to
 * them: 0 ok, 1 the run failed (or was cancelled), 2 bad input or config,
 * 3 no such run or schedule, 4 Temporal cannot be reached.
 */
import { ScheduleNotFoundError, WorkflowFailedError, WorkflowNotFoundError, isGrpcServiceError } from '@temporalio/client';
import { CodecKeysInvalid } from '../client/codec/keys';
import { CodecTokenInvalid } from '../client/codec/token';
import { TemporalSettingsInvalid } from '../client/connection';
import { ConfigFileUnreadable } from '../config/load';
import { ConfigInvalid } from '../config/parse';
import { RunIdInvalid } from '../jobs/runId';
import { StoreKeyInvalid } from '../store/keys';

export const EXIT = { ok: 0, runFailed: 1, badInput: 2, notFound: 3, unreachable: 4 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const GRPC_UNAVAILABLE = 14;
const GRPC_NOT_FOUND = 5;
const GRPC_INVALID_ARGUMENT = 3;

function grpcCode(err: unknown): number | undefined {
  if (isGrpcServiceError(err)) return err.code;
  const cause = (err as { cause?: unknown }).cause;
  return isGrpcServiceError(cause) ? cause.code : undefined;
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (
    err instanceof ConfigInvalid ||
    err instanceof ConfigFileUnreadable ||
    err instanceof TemporalSettingsInvalid ||
    err instanceof CodecKeysInvalid ||
    err instanceof CodecTokenInvalid
  )
    return EXIT.badInput;
  // A run id or key given on the command line (finetune report <run id>, ...) that could never name a run.
  if (err instanceof RunIdInvalid || err instanceof StoreKeyInvalid) return EXIT.badInput;
  if (err instanceof WorkflowNotFoundError || err instanceof ScheduleNotFoundError) return EXIT.notFound;
  if (err instanceof WorkflowFailedError) return EXIT.runFailed;
  const code = grpcCode(err);
  if (code === GRPC_NOT_FOUND) return EXIT.notFound;
  if (code === GRPC_UNAVAILABLE) return EXIT.unreachable;
  if (code === GRPC_INVALID_ARGUMENT) return EXIT.badInput;
  return EXIT.runFailed;
}

/** One line (or a block, for config issues) that says what happened and what to do. */
export function messageOf(err: unknown): string {
  if (err instanceof WorkflowNotFoundError) return `no run ${err.workflowId ?? ''} in this namespace: check the id with \`finetune list\``;
  if (err instanceof ScheduleNotFoundError) return `no schedule ${err.scheduleId ?? ''}: check the id with \`finetune schedule list\``;
  if (grpcCode(err) === GRPC_UNAVAILABLE) return `Temporal is unreachable (${(err as Error).message}): is the server up?`;
  // The SDK's ServiceError says what was asked ("Failed to start Workflow"); its gRPC cause says what the server answered.
  const cause = (err as { cause?: unknown }).cause;
  if (err instanceof Error && isGrpcServiceError(cause) && !isGrpcServiceError(err)) return `${err.message}: ${cause.message}`;
  return err instanceof Error ? err.message : String(err);
}
