/**
 * How hard the notify activity tries: Temporal retries a refused or unanswered
 * delivery with backoff up to NOTIFY_ATTEMPTS attempts (under 2 minutes in all),
 * then the activity gives up without failing. Pure: the workflow builds its
 * retry policy from it and the activity knows its last attempt by it.
 */
export const NOTIFY_ATTEMPTS = 5;
/** One attempt: the POST must be answered within this. */
export const NOTIFY_ATTEMPT_TIMEOUT_S = 10;

export const NOTIFY_RETRY = {
  initialInterval: '2 seconds',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: NOTIFY_ATTEMPTS,
} as const;
