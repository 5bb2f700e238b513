/**
 * Compute Engine bills a VM per second from creation to deletion, with a
 * one-minute minimum. Pure, so the workflow can keep its ledger with it.
 */
export const MINIMUM_BILLED_SECONDS = 60;

export function billedSeconds(createdAtMs: number, deletedAtMs: number): number {
  const seconds = Math.max(0, Math.ceil((deletedAtMs - createdAtMs) / 1000));
  return Math.max(MINIMUM_BILLED_SECONDS, seconds);
}

export function costUsd(seconds: number, usdPerHour: number): number {
  return (seconds / 3600) * usdPerHour;
}
