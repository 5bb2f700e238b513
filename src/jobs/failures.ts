/**
 * One table from a stage's failure class to the error the workflow sees and
 * the advice it carries, so the Temporal UI shows a diagnosis, not "exit 1".
 */
import type { FailureClass } from './contract';

export interface FailureKind {
  /** ApplicationFailure type, as shown in the Temporal UI. */
  type: string;
  advice: string;
}

export const FAILURES: Record<FailureClass, FailureKind> = {
  oom: { type: 'OutOfMemory', advice: 'lower batch_size or max_length, or use a larger machine type' },
  distributed: {
    type: 'DistributedFailure',
    advice: 'ranks could not talk: check the NCCL library the process loaded (preflight report) and the host network',
  },
  segfault: { type: 'StageCrashed', advice: 'a native library crashed: the log tail shows the faulthandler trace' },
  killed: { type: 'StageKilled', advice: 'the stage was killed (often the kernel OOM killer): check host memory' },
  disk_full: { type: 'DiskFull', advice: 'free disk on the host or raise the boot disk size' },
  bad_data: { type: 'BadData', advice: 'fix the data file named in the log tail; a new host will not help' },
  bad_model: {
    type: 'ModelUnsupported',
    advice: 'use a model of a supported family or fix lora.target_modules (docs/config.md, model families)',
  },
  hang: { type: 'StageHung', advice: 'no progress within hang_timeout_s: the log tail shows where it stopped' },
  continuity: {
    type: 'ContinuityBroken',
    advice: 'the stage was about to start from weights other than the previous stage produced',
  },
  no_op_training: {
    type: 'NoOpTraining',
    advice: 'no trainable parameters moved: check the LoRA target modules and that adapters load trainable',
  },
  dpo_collapsed: { type: 'DpoCollapsed', advice: 'raise dpo.beta or lower dpo.learning_rate' },
  // Not retried on a new host: a VM of the same image and machine type shows the same
  // (no driver, no --gpus, CPU-only torch), and preflight fails within minutes of the start,
  // so a rerun costs no more than a retry would. docs/operating.md tells the causes apart.
  gpu_missing: {
    type: 'GpuMissing',
    advice: 'a GPU host must not train on the CPU: fix the driver, image or container as the message says, or set preflight.gpus',
  },
  bf16_unsupported: {
    type: 'Bf16Unsupported',
    advice: 'model.dtype bfloat16 needs a GPU with bfloat16 (compute capability 8.0 or newer): set model.dtype float32 or change the GPU',
  },
  error: { type: 'StageFailed', advice: 'read the log tail' },
};

export const HOST_LOST = 'HostLost';
/** A host whose agent wrote no heartbeat within its start timeout: deleted at once, and counted as a lost host. */
export const AGENT_START_TIMEOUT = 'AgentStartTimeout';
export const STAGE_HUNG = FAILURES.hang.type;
