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
  provisionedAt: string;
}

export type HostState =
  | { kind: 'running' }
  | { kind: 'gone'; reason: string; preempted?: boolean };

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
