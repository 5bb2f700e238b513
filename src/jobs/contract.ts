/**
 * The store contract: every file a job reads and writes, as zod schemas. This is its one
 * source: the TypeScript types below are inferred from it, contract/store.schema.json is
 * generated from it (src/jobs/contractFile.ts), and the trainer's types
 * (trainer/durable_finetune/contract.py) and what it writes are checked against that file
 * (trainer/tests/test_contract.py). docs/store-contract.md describes it in prose;
 * test/fixtures/store/ holds one example of each file, read by both test suites.
 */
import { z } from 'zod';
import { quoted } from '../printable';
import { StoreKeyInvalid, normaliseKey } from '../store/keys';
import { RUN_ID_MAX, checkHostId, checkRunId } from './runId';

export const STAGE_NAMES = ['preflight', 'sft', 'merge', 'dpo', 'generate'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export const FAILURE_CLASSES = [
  'oom',
  'distributed',
  'segfault',
  'killed',
  'disk_full',
  'bad_data',
  'bad_model',
  'hang',
  'continuity',
  'no_op_training',
  'dpo_collapsed',
  'gpu_missing',
  'bf16_unsupported',
  'error',
] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

// The pieces the files share. Ids follow src/jobs/runId.ts (a job id too: it names a local file).
const Id = z.string().regex(new RegExp(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,${RUN_ID_MAX - 1}}$`));
const Stage = z.enum(STAGE_NAMES);
/** ISO-8601 UTC with Z, as JavaScript's toISOString() and the trainer's now_iso() write it. */
const Time = z.iso.datetime();
const Step = z.int().min(0);
const Pid = z.int().min(1);
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const JobFile = z
  .strictObject({
    job_id: Id.describe('<stage>-<attempt> (dpo retries: dpo.r<n>-<attempt>); the agent dedupes by it'),
    run_id: Id,
    host_id: Id,
    stage: Stage,
    resume: z.boolean().describe('continue from the newest valid committed checkpoint'),
    created_at: Time,
    inputs: z.record(z.string(), z.string()).describe('name -> store key (runs/..., hub/models/...) or gs:// / file:// URI'),
    params: z.record(z.string(), z.unknown()).describe("the stage's knobs: contract/stage-params.schema.json"),
  })
  .describe('hosts/<host_id>/job.json: the mailbox (control plane writes, agent reads)');

export const AgentFile = z
  .strictObject({
    host_id: Id,
    pid: Pid,
    state: z.enum(['idle', 'running', 'stopping']),
    job_id: Id.nullable().describe('null when idle'),
    stage: Stage.nullable(),
    stage_pid: Pid.nullable(),
    started_at: Time.describe('when the agent process started'),
    job_started_at: Time.nullable().describe('when the current job started; null when idle'),
    updated_at: Time.describe('older than 3 x heartbeat_s: a silent agent'),
  })
  .describe("hosts/<host_id>/agent.json: the agent's heartbeat (agent writes every heartbeat_s)");

/** A logged figure; null where the trainer had NaN or an infinity, which JSON cannot hold. */
const Figure = z.number().nullable();

export const ProgressPoint = z
  .object({ step: Step, loss: Figure.optional() })
  .catchall(Figure)
  .describe('one logged step: its loss and the metrics kept (learning_rate, grad_norm, rewards/*, logps/*, ...)');

export const ProgressFile = z
  .strictObject({
    job_id: Id,
    stage: Stage,
    step: Step,
    total_steps: Step.describe('0 until the stage knows it'),
    loss: Figure,
    metrics: z.record(z.string(), Figure).describe("the latest logged step's metrics"),
    last_checkpoint_step: Step.nullable(),
    resumed_from_step: Step,
    history: z.array(ProgressPoint),
    updated_at: Time,
  })
  .describe('stages/<stage>/progress.json: written by the stage process (rank 0), throttled');

export const Probe = z
  .strictObject({
    argmax: z.array(z.int()),
    mean: z.array(z.number()),
    std: z.array(z.number()),
    top: z.array(z.array(z.tuple([z.int(), z.number()]))).describe('per prompt: the top-5 [token id, logit]'),
  })
  .describe('last-token logits of a model on fixed probe prompts (trainer/durable_finetune/probe.py)');

export const StageOutput = z
  .strictObject({
    key: z.string().describe('the product in the store: sft output/adapter, merge output/model, dpo output/model, generate output/generations.jsonl, preflight output/report.json'),
    fingerprint: z
      .string()
      .regex(/^sha256:[0-9a-f]{64}$/)
      .nullable()
      .describe('of the weight files (docs/store-contract.md); null for generate and preflight'),
    adapter_key: z.string().optional().describe('dpo: the DPO adapter, beside the merged model in key'),
    probe: Probe.optional().describe('sft, merge, dpo: the continuity probe of the model produced'),
  })
  .describe('what a succeeded stage produced');

export const StatusFile = z
  .strictObject({
    job_id: Id,
    stage: Stage,
    state: z.enum(['succeeded', 'failed', 'interrupted']),
    failure_class: z.enum(FAILURE_CLASSES).nullable().describe('failed only'),
    message: z.string(),
    exit_code: z.int().nullable(),
    signal: z.string().nullable().describe('a name (SIGKILL) or null'),
    log_tail: z.array(z.string()),
    output: StageOutput.nullable(),
    metrics: z.record(z.string(), z.unknown()),
    steps_done: Step.nullable().describe('null for a stage without steps, and when the agent writes a failure'),
    resumed_from_step: Step.nullable().describe('null when the agent writes a failure'),
    started_at: Time,
    finished_at: Time,
    duration_s: z.number().min(0).describe("the job's wall time"),
  })
  .describe("stages/<stage>/status.json: the outcome of the stage's latest job");

export const CommittedFile = z
  .strictObject({
    step: Step,
    job_id: Id,
    committed_at: Time,
    upload_seconds: z.number().min(0).describe("to hash and upload the checkpoint's files"),
    files: z.array(z.strictObject({ path: z.string(), size: z.int().min(0), sha256: Sha256 })),
  })
  .describe('stages/<stage>/checkpoints/checkpoint-<step>/COMMITTED.json: written after every file of the checkpoint');

export const StartFile = z
  .strictObject({ job_id: Id, host_id: Id, agent_pid: Pid, stage_pid: Pid, started_at: Time })
  .describe('stages/<stage>/starts/<job_id>/<host_id>-<stage_pid>.json: one per stage process the agent starts');

/** Each file of the contract: its schema, its key (the run's folder is runs/<run_id>/) and who writes it. */
export const STORE_FILES = {
  job: { schema: JobFile, key: 'runs/{run_id}/hosts/{host_id}/job.json', writer: 'control plane' },
  agent: { schema: AgentFile, key: 'runs/{run_id}/hosts/{host_id}/agent.json', writer: 'agent' },
  progress: { schema: ProgressFile, key: 'runs/{run_id}/stages/{stage}/progress.json', writer: 'stage' },
  status: { schema: StatusFile, key: 'runs/{run_id}/stages/{stage}/status.json', writer: 'stage, or the agent when the stage wrote none' },
  committed: { schema: CommittedFile, key: 'runs/{run_id}/stages/{stage}/checkpoints/checkpoint-{step}/COMMITTED.json', writer: 'stage' },
  start: { schema: StartFile, key: 'runs/{run_id}/stages/{stage}/starts/{job_id}/{host_id}-{stage_pid}.json', writer: 'agent' },
} as const;

export type JobSpec = z.infer<typeof JobFile>;
export type AgentHeartbeat = z.infer<typeof AgentFile>;
export type ProgressPoint = z.infer<typeof ProgressPoint>;
export type StageProgressFile = z.infer<typeof ProgressFile>;
export type StageOutput = z.infer<typeof StageOutput>;
export type StageStatusFile = z.infer<typeof StatusFile>;
export type CommittedFile = z.infer<typeof CommittedFile>;
export type StartFile = z.infer<typeof StartFile>;

/** The run's keys: the ids are checked here too, so no key reaches outside runs/<run id>/ (src/jobs/runId.ts). */
export function runKey(runId: string, rest: string): string {
  const key = `runs/${checkRunId(runId)}/${rest}`;
  normaliseKey(key); // refuses '..', '//' and the like in rest; a trailing / (a list prefix) is kept
  return key;
}
export const hostKey = (runId: string, hostId: string, name: string): string => runKey(runId, `hosts/${checkHostId(hostId)}/${name}`);
export const jobKey = (runId: string, hostId: string): string => hostKey(runId, hostId, 'job.json');
export const agentKey = (runId: string, hostId: string): string => hostKey(runId, hostId, 'agent.json');
export const stageKey = (runId: string, stage: StageName, rest: string): string => {
  // A stage read back from job.json is only typed, not checked: a name outside the list is refused.
  const key = runKey(runId, `stages/${stage}/${rest}`);
  if (!(STAGE_NAMES as readonly string[]).includes(stage)) throw new StoreKeyInvalid(key, `stage ${quoted(stage)} is not one of ${STAGE_NAMES.join(', ')}`);
  return key;
};
