/**
 * The store files that a job reads and writes, as TypeScript types
 * (docs/store-contract.md is the source; test/fixtures/store/ holds examples).
 */
import { quoted } from '../printable';
import { StoreKeyInvalid, normaliseKey } from '../store/keys';
import { checkHostId, checkRunId } from './runId';

export type StageName = 'preflight' | 'sft' | 'merge' | 'dpo' | 'generate';

export interface JobSpec {
  job_id: string;
  run_id: string;
  host_id: string;
  stage: StageName;
  resume: boolean;
  created_at: string;
  inputs: Record<string, string>;
  params: Record<string, unknown>;
}

export interface AgentHeartbeat {
  host_id: string;
  pid: number;
  state: 'idle' | 'running' | 'stopping';
  job_id: string | null;
  stage: StageName | null;
  stage_pid: number | null;
  started_at: string;
  updated_at: string;
}

export interface ProgressPoint {
  step: number;
  loss?: number;
  [metric: string]: number | undefined;
}

export interface StageProgressFile {
  job_id: string;
  stage: StageName;
  step: number;
  total_steps: number;
  loss: number | null;
  metrics: Record<string, number>;
  last_checkpoint_step: number | null;
  resumed_from_step: number;
  history: ProgressPoint[];
  updated_at: string;
}

export type FailureClass =
  | 'oom'
  | 'distributed'
  | 'segfault'
  | 'killed'
  | 'disk_full'
  | 'bad_data'
  | 'bad_model'
  | 'hang'
  | 'continuity'
  | 'no_op_training'
  | 'dpo_collapsed'
  | 'gpu_missing'
  | 'bf16_unsupported'
  | 'error';

export interface StageStatusFile {
  job_id: string;
  stage: StageName;
  state: 'succeeded' | 'failed' | 'interrupted';
  failure_class: FailureClass | null;
  message: string;
  exit_code: number | null;
  signal: string | null;
  log_tail: string[];
  output: { key: string; fingerprint: string | null } | null;
  metrics: Record<string, unknown>;
  steps_done: number;
  resumed_from_step: number;
  started_at: string;
  finished_at: string;
}

/** The run's keys: the ids are checked here too, so no key reaches outside runs/<run id>/ (src/jobs/runId.ts). */
export function runKey(runId: string, rest: string): string {
  const key = `runs/${checkRunId(runId)}/${rest}`;
  normaliseKey(key); // refuses '..', '//' and the like in rest; a trailing / (a list prefix) is kept
  return key;
}
export const hostKey = (runId: string, hostId: string, name: string): string => runKey(runId, `hosts/${checkHostId(hostId)}/${name}`);
export const jobKey = (runId: string, hostId: string): string => hostKey(runId, hostId, 'job.json');
export const agentKey = (runId: string, hostId: string): string => hostKey(runId, hostId, 'agent.json');
export const STAGE_NAMES: readonly StageName[] = ['preflight', 'sft', 'merge', 'dpo', 'generate'];
export const stageKey = (runId: string, stage: StageName, rest: string): string => {
  // A stage read back from job.json is only typed, not checked: a name outside the list is refused.
  const key = runKey(runId, `stages/${stage}/${rest}`);
  if (!STAGE_NAMES.includes(stage)) throw new StoreKeyInvalid(key, `stage ${quoted(stage)} is not one of ${STAGE_NAMES.join(', ')}`);
  return key;
};
