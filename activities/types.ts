/**
 * The activity signatures the workflow calls. Workflows import this file as
 * types only; the implementations live in activities/*.ts.
 */
import type { PipelineConfig, PipelineConfigInput } from '../src/config/schema';
import type { HostLease } from '../src/hosts/provider';
import type { HubModel } from '../src/hub/fetch';
import type { JobSpec, StageName } from '../src/jobs/contract';
import type { GateOutcome } from '../src/eval/gate';
import type { RunMetrics } from '../src/eval/metrics';
import type { RunSummary } from '../src/report/data';
import type { NotifyInput, NotifyOutcome } from './notify';

export interface RunInputs {
  base_model: string;
  sft_data: string;
  preference_data: string;
  eval_data: string;
}

export interface PreparedRun {
  /** The config with local paths made absolute on the worker. */
  config: PipelineConfig;
  storeUri: string;
  inputs: RunInputs;
  /** An hf: base model: its repo, the revision asked for, the commit it resolved to, its store key. Absent for other bases. */
  model?: HubModel;
  /**
   * Jobs that earlier executions of this run id started, per job tag (`sft`, `dpo.r2`):
   * the highest attempt number. A rerun numbers its jobs after them, so its first job of a
   * stage resumes from that stage's newest committed checkpoint. Absent: a new run id.
   */
  earlierJobs?: Record<string, number>;
}

/** What resolveConfig answers: the config as the schema fills it in, and what the tables say of its host. */
export interface ResolvedConfig {
  config: PipelineConfig;
  /** USD per hour of one host (src/cost/prices.ts, or the config's cost.prices / local_usd_per_hour). */
  usdPerHour: number;
  /** GPUs the run's hosts must show (expectedGpus: preflight.gpus, or the machine type's). */
  gpus: number | null;
}

export interface ProvisionInput {
  runId: string;
  hostIndex: number;
  storeUri: string;
  host: PipelineConfig['host'];
  /** GPUs the host must have (expectedGpus); a gce VM without them never starts the agent. */
  gpus?: number | null;
}

/** What an AgentStartTimeout failure of provisionHost carries (the host is already deleted). */
export interface AgentStartTimeoutDetails {
  hostId: string;
  hostIndex: number;
  waitedS: number;
  /** When the VM was created: it was billed from then until its deletion. */
  provisionedAt: string;
  /** When its delete completed (absent in failures recorded before it). */
  deletedAt?: string;
  /** The host's console (serial port) tail: boot, driver, image pull, agent. */
  logTail: string[];
}

/** What releaseHost answers: when the host's delete completed, where its billing ends (absent in runs recorded before it). */
export interface ReleaseReceipt {
  deletedAt: string;
}

export interface RunJobInput {
  lease: HostLease;
  storeUri: string;
  job: JobSpec;
  monitor: PipelineConfig['monitor'];
}

/** What a progress signal from runJob to the workflow carries. */
export interface JobProgress {
  jobId: string;
  stage: StageName;
  hostId: string;
  step: number;
  totalSteps: number;
  loss: number | null;
  lastCheckpointStep: number | null;
  resumedFromStep: number;
}

export interface JobResult {
  jobId: string;
  stage: StageName;
  output: { key: string; fingerprint: string | null } | null;
  metrics: Record<string, unknown>;
  stepsDone: number;
  resumedFromStep: number;
  seconds: number;
}

/** Details of a HostLost failure: what the job had reached when the host went. */
export interface HostLostDetails {
  hostId: string;
  reason: string;
  preempted: boolean;
  lastStep: number;
  lastCheckpointStep: number | null;
  /** The lost job and the step it had resumed from (null: it never reported progress). */
  jobId?: string;
  resumedFromStep?: number | null;
  /** When runJob last saw the lost job's progress move (ISO). */
  lastProgressAt?: string;
  /** The lost job's measured pace, to price the steps a resume will redo; null when unknown. */
  secondsPerStep?: number | null;
}

export interface ScoreInput {
  runId: string;
  storeUri: string;
  evalKey: string;
  generationsKey: string;
  primaryMetric: string;
  /** The eval section of the config (intervals, disagreement threshold); defaults when absent. */
  eval?: PipelineConfig['eval'];
  /** The run's time, stages and host losses so far, for the report. */
  run?: RunSummary;
}

export interface RecordGateInput {
  runId: string;
  storeUri: string;
  gate: GateOutcome;
}

export interface PromoteInput {
  runId: string;
  storeUri: string;
  fromKey: string;
  /** Store URI that receives <runId>/model/ (default <store>/models), or a Hub repo hf:<org>/<name>. */
  outputUri: string | undefined;
  /** The promote section (Hub privacy, the token's secret reference, overwrite); absent in runs recorded before it. */
  promote?: PipelineConfig['promote'];
  /** Which model the gate chose and its primary metric: the Hub commit's title names them. */
  model?: 'sft' | 'dpo';
  primary?: { metric: string; value: number };
}

/** Where the model went; for a Hub repo also the commit that holds it. */
export interface PromoteResult {
  uri: string;
  commit?: string;
  repoUrl?: string;
  /** False: the repo already held this promotion, nothing was uploaded. */
  committed?: boolean;
}

export interface Activities {
  /** Parses and prices the config; its recorded result is what the workflow reads (activities/resolve.ts). */
  resolveConfig(input: PipelineConfigInput): Promise<ResolvedConfig>;
  prepareRun(input: { runId: string; config: PipelineConfig }): Promise<PreparedRun>;
  provisionHost(input: ProvisionInput): Promise<HostLease>;
  runJob(input: RunJobInput): Promise<JobResult>;
  releaseHost(lease: HostLease): Promise<ReleaseReceipt | void>;
  scoreRun(input: ScoreInput): Promise<RunMetrics>;
  /** Writes the gate's decision to report/gate.json and into report.html. */
  recordGate(input: RecordGateInput): Promise<void>;
  promoteModel(input: PromoteInput): Promise<PromoteResult>;
  /** Posts one signed notification to one webhook; never fails (delivered: false after its last attempt). */
  notifyWebhook(input: NotifyInput): Promise<NotifyOutcome>;
}
