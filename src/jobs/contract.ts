/**
 * The store files that a job reads and writes, as TypeScript types
 * (docs/store-contract.md is the source; test/fixtures/store/ holds examples).
 */
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

export const runKey = (runId: string, rest: string): string => `runs/${runId}/${rest}`;
export const jobKey = (runId: string, hostId: string): string => runKey(runId, `hosts/${hostId}/job.json`);
export const agentKey = (runId: string, hostId: string): string => runKey(runId, `hosts/${hostId}/agent.json`);
export const stageKey = (runId: string, stage: StageName, rest: string): string =>
  runKey(runId, `stages/${stage}/${rest}`);
