/** Job specs as the workflow posts them, for tests that call runJob on a leased host directly. */
import type { HostLease } from '../../src/hosts/provider';
import type { JobSpec, StageName } from '../../src/jobs/contract';
import { StageParams } from '../../src/config/stageParams';

/**
 * A stage's params as the workflow sends them: every knob, the config's default where `overrides`
 * (knobs, or test-only debug_* keys) says nothing. Preflight's expected_gpus defaults to null (no
 * requirement); generate's models must be given.
 */
export function stageParams(stage: StageName, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const debug = Object.fromEntries(Object.entries(overrides).filter(([key]) => key.startsWith('debug_')));
  const knobs = Object.fromEntries(Object.entries(overrides).filter(([key]) => !key.startsWith('debug_')));
  const resolved = stage === 'preflight' ? { expected_gpus: null } : {};
  return { ...StageParams[stage].parse({ ...resolved, ...knobs }), ...debug };
}

export function jobOn(lease: HostLease, jobId: string, stage: StageName, overrides: Record<string, unknown>): JobSpec {
  return {
    job_id: jobId,
    run_id: lease.runId,
    host_id: lease.hostId,
    stage,
    resume: false,
    created_at: new Date().toISOString(),
    inputs: {},
    params: stageParams(stage, overrides),
  };
}
