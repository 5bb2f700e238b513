/** Job specs as the workflow posts them, for tests that call runJob on a leased host directly. */
import type { HostLease } from '../../src/hosts/provider';
import type { JobSpec, StageName } from '../../src/jobs/contract';

export function jobOn(lease: HostLease, jobId: string, stage: StageName, params: Record<string, unknown>): JobSpec {
  return {
    job_id: jobId,
    run_id: lease.runId,
    host_id: lease.hostId,
    stage,
    resume: false,
    created_at: new Date().toISOString(),
    inputs: {},
    params,
  };
}
