/**
 * The one table from what Compute Engine answered to what the next try does.
 * Recovery logic reads decisions, never raw error codes; a new code learned
 * in the field is one new row here.
 */
export type Decision =
  /** This zone has no capacity now: try the next zone, come back after a backoff. */
  | 'next-zone'
  /** This zone can never serve the request (machine type not offered there): drop it. */
  | 'drop-zone'
  /** A quota stops every zone of the region: end the run, say which quota to raise. */
  | 'quota'
  /** The instance already exists: a retried insert; adopt it. */
  | 'adopt'
  /** Transient (rate limit, backend error, timeout): the same zone again after a backoff. */
  | 'retry'
  /** The request itself is wrong (image, network, permissions): no retry will help. */
  | 'invalid';

/** Operation error codes (operation.error.errors[].code) and HTTP reasons (error.errors[].reason). */
export const DECISIONS: Record<string, Decision> = {
  ZONE_RESOURCE_POOL_EXHAUSTED: 'next-zone',
  ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS: 'next-zone',
  // Seen when a spot VM is preempted while it is still being created.
  UNSUPPORTED_OPERATION: 'next-zone',
  RESOURCE_OPERATION_RATE_EXCEEDED: 'retry',
  QUOTA_EXCEEDED: 'quota',
  quotaExceeded: 'quota',
  alreadyExists: 'adopt',
  RESOURCE_ALREADY_EXISTS: 'adopt',
  rateLimitExceeded: 'retry',
  userRateLimitExceeded: 'retry',
  backendError: 'retry',
  internalError: 'retry',
  INTERNAL_ERROR: 'retry',
  RESOURCE_NOT_READY: 'retry',
  RESOURCE_NOT_FOUND: 'invalid',
  notFound: 'invalid',
  invalid: 'invalid',
  INVALID_FIELD_VALUE: 'invalid',
  forbidden: 'invalid',
  PERMISSION_DENIED: 'invalid',
  SERVICE_ACCOUNT_ACCESS_DENIED: 'invalid',
};

/** Messages that carry the meaning when the code is generic. Checked in order. */
export const MESSAGE_DECISIONS: readonly (readonly [RegExp, Decision])[] = [
  [/insufficient capacity|does not have enough resources available|resource pool exhausted/i, 'next-zone'],
  [/machine type .* (does not exist|is not (available|supported)) in zone|accelerator type .* (does not exist|not available) in zone/i, 'drop-zone'],
  [/quota .* exceeded/i, 'quota'],
  [/already exists/i, 'adopt'],
  [/deadline|timed? ?out|ETIMEDOUT|ECONNRESET|ECONNREFUSED|socket hang up|fetch failed|aborted/i, 'retry'],
];

/** gRPC status numbers as the client reports HTTP failures. */
const GRPC_DECISIONS: Record<number, Decision> = {
  1: 'retry', // CANCELLED (client-side timeout on REST)
  4: 'retry', // DEADLINE_EXCEEDED
  6: 'adopt', // ALREADY_EXISTS (HTTP 409)
  8: 'retry', // RESOURCE_EXHAUSTED (HTTP 429)
  13: 'retry', // INTERNAL
  14: 'retry', // UNAVAILABLE
  3: 'invalid', // INVALID_ARGUMENT
  7: 'invalid', // PERMISSION_DENIED
  16: 'invalid', // UNAUTHENTICATED
};

export interface ComputeError {
  code: string;
  message: string;
  /** From errorDetails[].quotaInfo, or parsed from the message. */
  quota?: { metric: string; region?: string; limit?: number };
}

export interface Classified {
  decision: Decision;
  errors: ComputeError[];
}

/** Classifies the errors of a finished operation (operation.error.errors). */
export function classifyOperationErrors(errors: readonly ComputeError[]): Classified {
  for (const e of errors) {
    const d = decide(e.code, e.message);
    if (d) return { decision: d, errors: [...errors] };
  }
  return { decision: 'invalid', errors: [...errors] };
}

/** Classifies an exception thrown by a client call (HTTP error, timeout, network). */
export function classifyThrown(err: unknown): Classified {
  const e = (err ?? {}) as Record<string, unknown>;
  const message = String(e.message ?? err);
  const reasons: string[] = [];
  if (typeof e.reason === 'string') reasons.push(e.reason);
  for (const list of [e.errors, e.statusDetails, e.details]) {
    if (Array.isArray(list)) for (const item of list) if (item && typeof item.reason === 'string') reasons.push(item.reason);
  }
  const errors: ComputeError[] = (reasons.length ? reasons : ['']).map((code) => ({ code, message, quota: quotaFromMessage(message) }));
  for (const r of reasons) {
    const d = decide(r, message);
    if (d) return { decision: d, errors };
  }
  const byMessage = decide('', message);
  if (byMessage) return { decision: byMessage, errors };
  const grpc = typeof e.code === 'number' ? GRPC_DECISIONS[e.code] : undefined;
  return { decision: grpc ?? 'retry', errors };
}

function decide(code: string, message: string): Decision | undefined {
  if (code && DECISIONS[code]) return DECISIONS[code];
  for (const [pattern, decision] of MESSAGE_DECISIONS) if (pattern.test(message)) return decision;
  return undefined;
}

/** "Quota 'PREEMPTIBLE_NVIDIA_A100_GPUS' exceeded.  Limit: 0.0 in region us-central1." */
export function quotaFromMessage(message: string): ComputeError['quota'] {
  const metric = /Quota '([A-Z0-9_]+)' exceeded/.exec(message)?.[1];
  if (!metric) return undefined;
  const region = /in region ([a-z]+-[a-z]+\d+)/.exec(message)?.[1];
  const limit = /Limit: ([0-9.]+)/.exec(message)?.[1];
  return { metric, region, limit: limit === undefined ? undefined : Number(limit) };
}
