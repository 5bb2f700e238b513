/** GCE gives a preempted (spot) VM this long between the ACPI soft-off and the hard stop. */
export const GCE_PREEMPTION_NOTICE_S = 30;

/**
 * A host provider: a small set of verbs that recovery logic talks to, never a
 * cloud SDK. Each provider (local, gce) fills them in.
 */
export interface HostRequest {
  runId: string;
  /** 1-based; deterministic names come from (runId, hostIndex) so a retry adopts. */
  hostIndex: number;
  storeUri: string;
  /** GPUs the host must have (expectedGpus of the run's config); unset: the machine type's. */
  gpus?: number | null;
}

/** What the workflow holds while it uses a host. Plain JSON: it lives in history. */
export interface HostLease {
  provider: 'local' | 'gce';
  hostId: string;
  runId: string;
  hostIndex: number;
  /** Provider specifics: pid for local, zone and instance name for gce. */
  details: Record<string, string | number>;
  /** When billing began: the insert accepted (gce: the VM's creationTimestamp) or the agent process started (local). */
  provisionedAt: string;
  /** When the agent's first heartbeat was seen: boot is provisionedAt -> readyAt. Absent in leases recorded before it. */
  readyAt?: string;
  /** Earlier VMs of this host preempted before their agent started: billed, never usable. */
  lostBoots?: LostBoot[];
}

/** A VM billed from its insert until it was seen gone, preempted before its agent started. */
export interface LostBoot {
  provisionedAt: string;
  deletedAt: string;
  reason: string;
}

export type HostState = { kind: 'running' } | { kind: 'gone'; reason: string; preempted?: boolean };

export interface HostProvider {
  provision(req: HostRequest): Promise<HostLease>;
  state(lease: HostLease): Promise<HostState>;
  /** Idempotent: releasing a host that is already gone succeeds. */
  release(lease: HostLease): Promise<void>;
  /** Recent host console or agent log lines, for diagnoses. */
  logTail(lease: HostLease, lines: number): Promise<string[]>;
}

/** `<run id>-h<n>`, the run id checked (src/jobs/runId.ts). */
export { hostIdOf } from '../jobs/runId';

/** How long a new local agent has to write its first heartbeat. */
export const LOCAL_AGENT_START_S = 120;

/** How long provisioning waits for a new agent's first heartbeat before it deletes the host: the longest boot a host is billed for. */
export function agentStartTimeoutS(host: { provider: string; agent_start_timeout_s?: number }): number {
  return host.provider === 'gce' && host.agent_start_timeout_s !== undefined ? host.agent_start_timeout_s : LOCAL_AGENT_START_S;
}
