/**
 * One table of every failure the product raises or matches on, by its
 * ApplicationFailure type: whether an activity retry policy may retry it, and
 * what the user does about it. Retry policies name their non-retryable types
 * through it, the notify advice reads it, and a stage's failure class maps
 * into it (FAILURES), so the Temporal UI shows a diagnosis, not "exit 1".
 * test/unit/failures.test.ts checks that every type raised in the code is here.
 */
import type { FailureClass } from './contract';

export interface FailureKind {
  /** ApplicationFailure type, as shown in the Temporal UI. */
  type: string;
  /** Whether an activity's retry policy may try it again; false for a failure the same input meets again. */
  retryable: boolean;
  advice: string;
}

type Row = Omit<FailureKind, 'type'>;

const TABLE = {
  // A stage's own failure, classified by the stage (status.json failure_class): its message carries the advice.
  OutOfMemory: { retryable: false, advice: 'lower batch_size or max_length, or use a larger machine type' },
  DistributedFailure: { retryable: false, advice: 'ranks could not talk: check the NCCL library the process loaded (preflight report) and the host network' },
  StageCrashed: { retryable: false, advice: 'a native library crashed: the log tail shows the faulthandler trace' },
  StageKilled: { retryable: false, advice: 'the stage was killed (often the kernel OOM killer): check host memory' },
  DiskFull: { retryable: false, advice: 'free disk on the host or raise the boot disk size' },
  BadData: { retryable: false, advice: 'fix the data file named in the log tail; a new host will not help' },
  ModelUnsupported: { retryable: false, advice: 'use a model of a supported family or fix lora.target_modules (docs/config.md, model families)' },
  StageHung: { retryable: false, advice: 'no progress within hang_timeout_s: the log tail shows where it stopped' },
  ContinuityBroken: { retryable: false, advice: 'the stage was about to start from weights other than the previous stage produced' },
  NoOpTraining: { retryable: false, advice: 'no trainable parameters moved: check the LoRA target modules and that adapters load trainable' },
  DpoCollapsed: { retryable: false, advice: 'raise dpo.beta or lower dpo.learning_rate' },
  // Not retried on a new host: a VM of the same image and machine type shows the same
  // (no driver, no --gpus, CPU-only torch), and preflight fails within minutes of the start,
  // so a rerun costs no more than a retry would. docs/operating.md tells the causes apart.
  GpuMissing: { retryable: false, advice: 'a GPU host must not train on the CPU: fix the driver, image or container as the message says, or set preflight.gpus' },
  Bf16Unsupported: {
    retryable: false,
    advice: 'model.dtype bfloat16 needs a GPU with bfloat16 (compute capability 8.0 or newer): set model.dtype float32 or change the GPU',
  },
  StageFailed: { retryable: false, advice: 'read the log tail' },

  // The run's id, config and inputs: the same input fails the same way.
  RunIdInvalid: { retryable: false, advice: 'start the run under an id of letters, digits, dots, dashes and underscores (the message names the rule it broke)' },
  RunIdInUse: { retryable: false, advice: 'start this config under a new run id, or rerun the run id with the config it had (run.json in the store)' },
  ConfigInvalid: { retryable: false, advice: 'fix each config field the message names (docs/config.md)' },
  DataInvalid: { retryable: false, advice: 'fix the data file, line and key the message names' },
  PriceUnknown: { retryable: false, advice: 'add the machine type under cost.prices in the config' },
  RunNotScorable: { retryable: false, advice: "the run's report files are missing from the store: rerun the run id to score it again" },
  SecretUnavailable: { retryable: false, advice: 'set the secret the config field names, or fix its reference (docs/config.md, secrets)' },
  SecretNotFound: { retryable: false, advice: 'create the Secret Manager secret or version the config field names' },
  SecretAccessDenied: { retryable: false, advice: "grant the worker's service account roles/secretmanager.secretAccessor on the secret" },

  // The Hugging Face Hub (src/hub/errors.ts): each error's message says the fix; only an unreachable Hub is tried again.
  HubRepoNotFound: { retryable: false, advice: 'check the spelling of <org>/<name>, or give model.token read access to the repo' },
  HubRevisionNotFound: { retryable: false, advice: 'name a branch, tag or commit the repo has' },
  HubTokenMissing: { retryable: false, advice: 'set the token the message names (secret:env:HF_TOKEN)' },
  HubTokenRefused: { retryable: false, advice: 'give the token the access the message names, or use another token' },
  HubRepoHasOtherContent: { retryable: false, advice: 'promote to another repo, or empty the one named' },
  HubShardTooLarge: { retryable: false, advice: 'save the model in smaller shards' },
  HubModelUnusable: { retryable: false, advice: 'name a transformers model repo (config.json plus *.safetensors)' },
  HubUnavailable: { retryable: true, advice: 'the Hub could not be reached: the activity tries again; check the network or the Hub status if it keeps failing' },

  // Hosts (src/hosts): provisioning, and a host lost while it ran a job.
  QuotaExceeded: { retryable: false, advice: 'request more quota (IAM & Admin > Quotas; docs/gcp.md) or choose a smaller machine type' },
  CapacityUnavailable: { retryable: false, advice: 'add zones, allow on-demand (spot: false), or raise capacity_wait_s' },
  HostConfigInvalid: { retryable: false, advice: 'fix the host section of the config as the message says' },
  VmNameTaken: { retryable: false, advice: "a VM of this run's name belongs to another run: start under a new run id, or delete that VM" },
  ProvisionPending: { retryable: true, advice: 'no capacity yet: the next attempt continues the wait (host.capacity_wait_s)' },
  HostLost: { retryable: false, advice: 'none needed: the stage resumes on a new host from its last committed checkpoint' },
  AgentStartTimeout: { retryable: false, advice: "read the host's console tail in the details; a slow first boot needs a larger host.agent_start_timeout_s" },
  TooManyHostLosses: { retryable: false, advice: 'read why each host was lost (finetune status); raise monitor.max_host_losses or use on-demand hosts (spot: false)' },

  // The budget (workflows/cost.ts).
  BudgetExceeded: { retryable: false, advice: 'rerun with the same run id and a larger cost.budget_usd to resume from the last committed checkpoint' },

  // The eval gate's refusal of an approve or reject (workflows/gate.ts).
  GateDecisionInvalid: { retryable: false, advice: 'send {"note": "..."} or nothing' },
  NoApprovalGate: { retryable: false, advice: 'nothing to decide: eval.require_approval is off, so the thresholds alone decide' },
  CallerUnknown: { retryable: false, advice: "set the client's identity (finetune sets user@host), or restart the worker from this release" },
  ApproverNotAllowed: { retryable: false, advice: 'ask an approver eval.approvers names' },
  GateAlreadyDecided: { retryable: false, advice: 'none: a decision is final' },
  GateNotOpen: { retryable: false, advice: 'decide once the run waits for approval (finetune status shows it)' },
  GateClosed: { retryable: false, advice: 'none: the gate closed without promoting' },
} as const satisfies Record<string, Row>;

export type FailureType = keyof typeof TABLE;

/** Every failure by its type. */
export const FAILURE_TYPES: { readonly [T in FailureType]: FailureKind & { type: T } } = Object.fromEntries(
  Object.entries(TABLE).map(([type, row]) => [type, { type, ...row }]),
) as { [T in FailureType]: FailureKind & { type: T } };

/** The kind of a failure type, or undefined for a type no code of ours raises. */
export function failureKind(type: string): FailureKind | undefined {
  return Object.prototype.hasOwnProperty.call(FAILURE_TYPES, type) ? FAILURE_TYPES[type as FailureType] : undefined;
}

/**
 * A retry policy's nonRetryableErrorTypes, in the order given (a recorded history's
 * retry policy keeps its list): a name not in the table does not compile, and one
 * the table calls retryable fails the worker's first workflow task.
 */
export function nonRetryable(...types: FailureType[]): FailureType[] {
  for (const t of types) if (FAILURE_TYPES[t].retryable) throw new Error(`${t} is retryable in src/jobs/failures.ts: it cannot be a non-retryable error type`);
  return types;
}

/** A stage's failure class (its status.json) to the failure the workflow sees. */
export const FAILURES: Record<FailureClass, FailureKind> = {
  oom: FAILURE_TYPES.OutOfMemory,
  distributed: FAILURE_TYPES.DistributedFailure,
  segfault: FAILURE_TYPES.StageCrashed,
  killed: FAILURE_TYPES.StageKilled,
  disk_full: FAILURE_TYPES.DiskFull,
  bad_data: FAILURE_TYPES.BadData,
  bad_model: FAILURE_TYPES.ModelUnsupported,
  hang: FAILURE_TYPES.StageHung,
  continuity: FAILURE_TYPES.ContinuityBroken,
  no_op_training: FAILURE_TYPES.NoOpTraining,
  dpo_collapsed: FAILURE_TYPES.DpoCollapsed,
  gpu_missing: FAILURE_TYPES.GpuMissing,
  bf16_unsupported: FAILURE_TYPES.Bf16Unsupported,
  error: FAILURE_TYPES.StageFailed,
};

export const HOST_LOST = FAILURE_TYPES.HostLost.type;
/** A host whose agent wrote no heartbeat within its start timeout: deleted at once, and counted as a lost host. */
export const AGENT_START_TIMEOUT = FAILURE_TYPES.AgentStartTimeout.type;
export const STAGE_HUNG = FAILURE_TYPES.StageHung.type;
