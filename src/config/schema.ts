/**
 * The pipeline config: one YAML or JSON file, validated here before anything
 * starts. Every knob has a documented default (docs/config.md); none lives in
 * the code path. This module is pure so the workflow can import it too: a run
 * started from the `temporal` CLI with raw JSON is validated the same way.
 */
import { z } from 'zod';
import { METRIC_NAMES } from '../eval/metricInfo';
import { MACHINE_PRICES } from '../cost/prices';
import { gpusOfMachineType } from './machineGpus';
import { refProblem, type RefKind } from './refs';
import { hfRefProblem, isHfRef } from '../hub/ref';
import { secretRefProblem } from '../secrets/ref';
import { NotifyConfig } from '../notify/config';
import { TrackingConfig } from './tracking';

const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'use 1-40 lowercase letters, digits and dashes, starting with a letter or digit');

/** A reference field: the text checked by kind (src/config/refs.ts), each problem named with its fix. */
const ref = (kind: RefKind) =>
  z.string().superRefine((value, ctx) => {
    const problem = refProblem(value, kind);
    if (problem) ctx.addIssue({ code: 'custom', input: value, message: problem });
  });

/** A folder (absolute or relative to the worker's directory), file:///abs, or gs://bucket[/prefix]. */
const storeUri = ref('store');
/** A model reference: a local path, file:// or gs:// URI, or `hf:org/name`. */
const modelRef = ref('model');
/** One JSONL file: a local path, file:// or gs:// URI. */
const dataRef = ref('data');
const withHubForm = (problem: string | undefined): string | undefined => problem && `${problem}; output may also be hf:<org>/<name>, a Hugging Face model repo`;
/** Where promote puts the chosen model: a store folder (as storeUri) or a Hub model repo `hf:<org>/<name>`. */
const outputRef = z.string().superRefine((value, ctx) => {
  const problem = isHfRef(value)
    ? value.includes('@')
      ? "names a revision; promote always commits to the repo's main branch, so write hf:<org>/<name> without @"
      : hfRefProblem(value)
    : withHubForm(refProblem(value, 'store'));
  if (problem) ctx.addIssue({ code: 'custom', input: value, message: problem });
});

const lora = z
  .object({
    r: z.number().int().min(1).max(512).default(16),
    alpha: z.number().positive().default(32),
    dropout: z.number().min(0).max(0.9).default(0),
    target_modules: z.union([z.literal('all-linear'), z.array(z.string()).min(1)]).default('all-linear'),
    modules_to_save: z.array(z.string()).default([]),
  })
  .strict();

export const dtype = z.enum(['float32', 'bfloat16']);

/**
 * How far a model's step-0 probe logits may stray from those its producing stage recorded
 * (trainer/durable_finetune/probe.py). 'auto': 1e-3 where the stage computes in float32,
 * 0.25 in bfloat16, resolved on the host, which alone knows the dtype it computes in.
 */
const continuityTolerance = z.union([z.literal('auto'), z.number().positive()]).default('auto');

const training = {
  max_steps: z.number().int().min(1).default(200),
  batch_size: z.number().int().min(1).default(8),
  learning_rate: z.number().positive().max(1),
  save_steps: z.number().int().min(1).default(25),
  max_length: z.number().int().min(16).default(512),
  seed: z.number().int().min(0).default(42),
  logging_steps: z.number().int().min(1).default(1),
  warmup_steps: z.number().int().min(0).default(0),
  lr_scheduler: z.enum(['cosine', 'linear', 'constant', 'constant_with_warmup']).default('cosine'),
  gradient_accumulation_steps: z.number().int().min(1).default(1),
  gradient_checkpointing: z.boolean().default(false),
  /** No trainable weight moved after this many optimizer steps: the stage fails as no_op_training (a frozen adapter trains nothing). */
  noop_check_steps: z.number().int().min(1).max(1000).default(3),
  /**
   * Processes (DDP ranks under torchrun) that train this stage on one host. 'auto': one per
   * GPU the host has, one on a host without GPUs; a number: that many (gloo ranks on CPU).
   * batch_size is per rank, so a step sees batch_size x ranks sequences.
   */
  ranks: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default('auto'),
  lora: lora.prefault({}),
};

export const SftConfig = z.object({ ...training, learning_rate: training.learning_rate.default(2e-4) }).strict();

/**
 * DPO defaults are more conservative than trl's (beta 0.1, lr 1e-6 on full
 * weights): beta 0.25 keeps the policy closer to the SFT reference; lr 1e-6
 * applied to a fresh LoRA moves the model less than on full weights; an NLL
 * anchor on the chosen answers (sft_loss_weight) keeps the likelihood of good
 * answers from falling, which is how DPO collapses (see docs/config.md).
 */
export const DpoConfig = z
  .object({
    ...training,
    max_steps: z.number().int().min(1).default(100),
    learning_rate: training.learning_rate.default(1e-6),
    beta: z.number().positive().max(10).default(0.25),
    sft_loss_weight: z.number().min(0).max(10).default(0.2),
    /** The collapse guard: logps/chosen falling this many nats below its first value stops DPO. */
    collapse_logps_drop: z.number().positive().default(50),
    /** Also a collapse: rewards/accuracies 1.0 with DPO loss under collapse_loss_floor within the first collapse_early_steps. */
    collapse_early_steps: z.number().int().min(0).default(5),
    collapse_loss_floor: z.number().min(0).default(0.01),
    /** The task probe: strict tool-call match on the first probe_items eval prompts every probe_every steps (0: off). */
    probe_every: z.number().int().min(0).default(10),
    probe_items: z.number().int().min(1).default(16),
    /** Also a collapse: the probe falling more than this below the SFT model's (measured at step 0). */
    probe_margin: z.number().min(0).max(1).default(0.15),
    /** Tokens the probe generates per prompt (greedy): enough for one JSON tool call. */
    probe_max_new_tokens: z.number().int().min(1).max(4096).default(48),
    /** Policy and reference at step 0 must compute the merged model's recorded probe logits within this. */
    continuity_tolerance: continuityTolerance,
    /** DPO runs at most this often; each retry starts again from the merged SFT model. */
    max_attempts: z.number().int().min(1).max(10).default(3),
    /**
     * Overrides for retry n (entry n-1 for attempt n+1) after a collapse; attempts past
     * the list double beta and quarter learning_rate of the attempt before.
     */
    retry_schedule: z.array(z.object({ beta: z.number().positive().max(10).optional(), learning_rate: z.number().positive().max(1).optional() }).strict()).default([]),
  })
  .strict();

export const MergeConfig = z
  .object({
    /** Adapter and merged model must compute the same probe logits within this. */
    tolerance: z.number().positive().default(1e-3),
    /** Base + adapter must compute the probe logits SFT recorded within this. */
    continuity_tolerance: continuityTolerance,
  })
  .strict();

export const GenerateConfig = z
  .object({
    max_new_tokens: z.number().int().min(1).max(4096).default(64),
    batch_size: z.number().int().min(1).default(16),
    seed: z.number().int().min(0).default(0),
  })
  .strict();

export const EvalConfig = z
  .object({
    task: z.literal('tool_call').default('tool_call'),
    primary_metric: z.enum(METRIC_NAMES).default('tool_call_match'),
    /** DPO ships only if its primary metric (and each guardrail) is no worse than SFT's minus this margin. */
    max_regression: z.number().min(0).max(1).default(0.05),
    /** The lowest value of a metric a model may ship with, e.g. { citation_precision: 0.6 }. */
    min: z.partialRecord(z.enum(METRIC_NAMES), z.number().min(0).max(1)).default({}),
    /** The highest value of a metric a model may ship with, e.g. { citation_fabricated: 0.02 }. */
    max: z.partialRecord(z.enum(METRIC_NAMES), z.number().min(0).max(1)).default({}),
    /** Metrics on which DPO may not regress against SFT beyond max_regression, besides the primary one. */
    guardrails: z.array(z.enum(METRIC_NAMES)).default([]),
    /** Two methods of one metric differing by more than this many points are flagged in the report. */
    disagreement_points: z.number().min(0).max(100).default(10),
    /** Wait for a person's approve or reject (an update) before promoting. */
    require_approval: z.boolean().default(false),
    /** How long to wait for that decision; then the run ends without promoting. */
    approval_timeout_s: z
      .number()
      .int()
      .min(1)
      .default(24 * 3600),
    /**
     * Who may approve or reject (absent: anyone who can reach the run). An entry is a user
     * (`alice`: any identity alice@<host>, also temporal-cli:alice@<host>) or a whole client
     * identity (`alice@build-box`), matched against the caller's client identity (src/eval/approvers.ts).
     */
    approvers: z
      .array(z.string().regex(/^[^\s@\p{Cc}]+(@[^\s@\p{Cc}]+)?$/u, 'an approver is a user (alice) or user@host (alice@build-box), without spaces'))
      .min(1, 'list at least one approver, or leave eval.approvers out to let anyone decide')
      .optional(),
    /** Bootstrap resamples for the 95% intervals and paired deltas, and their seed. */
    bootstrap_resamples: z.number().int().min(100).max(100000).default(1000),
    bootstrap_seed: z.number().int().min(0).default(0),
  })
  .strict();

export const PreflightConfig = z
  .object({
    ranks: z.number().int().min(1).max(64).default(2),
    /**
     * GPUs the host must show to CUDA, or preflight fails with GpuMissing (no silent CPU run).
     * 'auto': the GPUs of host.machine_type on gce, none required on a local host; a number:
     * at least that many (0 runs a gce host on CPU, for testing the GCE path without GPUs).
     */
    gpus: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto'),
    timeout_s: z.number().int().min(5).max(3600).default(60),
    min_free_disk_gb: z.number().min(0).default(1),
  })
  .strict();

export const MonitorConfig = z
  .object({
    poll_interval_s: z.number().min(0.2).max(300).default(2),
    /** An agent.json older than this means the agent is silent: the host counts as lost. */
    agent_stale_s: z.number().min(3).max(3600).default(30),
    hang_timeout_s: z.number().int().min(10).default(1800),
    /** How often a running job reports progress into workflow history. */
    progress_interval_s: z.number().min(1).max(3600).default(15),
    max_host_losses: z.number().int().min(0).max(100).default(5),
    stage_timeout_s: z
      .number()
      .int()
      .min(60)
      .default(24 * 3600),
  })
  .strict();

export const CostConfig = z
  .object({
    /** Stop the run before its hosts' bill would cross this; unset: no limit. */
    budget_usd: z.number().positive().optional(),
    /** Warn (progress, UI) once this fraction of the budget is spent. */
    warn_fraction: z.number().min(0.1).max(1).default(0.8),
    /** How often the workflow re-checks the budget while a stage runs. */
    check_interval_s: z.number().int().min(5).max(3600).default(30),
    /** Per machine type USD/hour, overriding the built-in table (src/cost/prices.ts). */
    prices: z.record(z.string(), z.object({ on_demand: z.number().min(0), spot: z.number().min(0) }).strict()).default({}),
    /**
     * Training tokens per second of one whole host, per machine type (or `local`), overriding the
     * estimate `finetune plan` derives (src/plan/throughput.ts); read it from a run of your own.
     */
    throughput: z
      .record(z.string(), z.number().positive())
      .superRefine((rates, ctx) => {
        for (const key of Object.keys(rates)) {
          if (!/^(local|[a-z][a-z0-9]*-[a-z]+-\d+g?)$/.test(key)) {
            ctx.addIssue({ code: 'custom', path: [key], input: key, message: 'is not a host: use local or a GCE machine type such as a2-highgpu-2g as the key' });
          }
        }
      })
      .default({}),
    /** What a local host costs per hour (default: nothing). */
    local_usd_per_hour: z.number().min(0).default(0),
    /** A per-token managed fine-tuning price, for the comparison in the report; unset: no comparison. */
    managed_usd_per_million_tokens: z.number().positive().optional(),
  })
  .strict();

/** A program or folder on the worker's machine: it reaches spawn() and the filesystem, where a control character has no business. */
const localPath = z
  .string()
  .min(1)
  .regex(/^[^\p{Cc}]*$/u, 'holds a control character (newline, tab, NUL, ...); write the path without it');

export const LocalHostConfig = z
  .object({
    provider: z.literal('local'),
    /** The python that runs the agent; default: the project's .venv. */
    python: localPath.optional(),
    /** Where the agent keeps its scratch files; default: .finetune/hosts. */
    workdir: localPath.optional(),
  })
  .strict();

/** GCE resource names: lowercase letter first, letters, digits and dashes, at most 63. */
const gceName = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const gceProject = /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/;

/**
 * Spot (or on-demand) GPU VMs on Compute Engine. Every value is checked by a
 * pattern here, so nothing hostile reaches the API or the startup script.
 */
export const GceHostConfig = z
  .object({
    provider: z.literal('gce'),
    project: z.string().regex(gceProject, 'use a GCP project id: 6-30 lowercase letters, digits and dashes'),
    /** Tried in this order on stockout. */
    zones: z.array(z.string().regex(/^[a-z]+-[a-z]+[0-9]+-[a-z]$/, 'use a zone name such as us-central1-a')).min(1, 'name at least one zone'),
    machine_type: z
      .string()
      .regex(
        /^(a2-highgpu-(1|2|4|8)g|a2-megagpu-16g|a2-ultragpu-(1|2|4|8)g|a3-highgpu-(1|2|4|8)g|a3-megagpu-8g|g2-standard-(4|8|12|16|24|32|48|96))$/,
        'use a GPU machine type: a2-highgpu-1g/2g/4g/8g, a2-ultragpu-*, a3-highgpu-*, g2-standard-*',
      ),
    spot: z.boolean().default(true),
    /** A boot image with GPU drivers and Docker with the NVIDIA runtime. */
    image: z
      .string()
      .regex(
        /^projects\/[a-z][-a-z0-9]{4,28}[a-z0-9]\/global\/images\/(family\/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/,
        'use projects/<project>/global/images/<image> or .../images/family/<family>',
      )
      .default('projects/deeplearning-platform-release/global/images/family/common-cu124-debian-11-py310'),
    boot_disk_gb: z.number().int().min(50).max(10000).default(200),
    /** The VM's service account: 'default' (the project's compute account) or an email. */
    service_account: z
      .string()
      .regex(/^(default|[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z][-a-z0-9]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com)$/, 'use default or <name>@<project>.iam.gserviceaccount.com')
      .default('default'),
    scopes: z
      .array(z.string().regex(/^https:\/\/www\.googleapis\.com\/auth\/[a-z0-9._-]+$/, 'use https://www.googleapis.com/auth/<scope>'))
      .min(1)
      .default(['https://www.googleapis.com/auth/cloud-platform']),
    network: z.string().regex(gceName, 'use a VPC network name').default('default'),
    subnetwork: z
      .string()
      .regex(/^(regions\/[a-z]+-[a-z]+[0-9]+\/subnetworks\/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, 'use a subnetwork name or regions/<region>/subnetworks/<name>')
      .optional(),
    /** false: no public address (needs Cloud NAT or Private Google Access for the image and the bucket). */
    external_ip: z.boolean().default(true),
    /** The trainer image the VM runs (built from trainer/Dockerfile; docs/gcp.md). */
    trainer_image: z
      .string()
      .max(255)
      .regex(
        /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/,
        'use an image reference such as us-docker.pkg.dev/<project>/<repo>/trainer:<tag>',
      ),
    /** How long provisioning keeps trying the zones on stockout before CapacityUnavailable. */
    capacity_wait_s: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .default(7200),
    /** After a preemption, try the other zones before the one that preempted the last host. */
    prefer_new_zone_after_preemption: z.boolean().default(true),
    /** How long a new VM has to boot, pull the image and write its first agent heartbeat. */
    agent_start_timeout_s: z.number().int().min(60).max(7200).default(1200),
  })
  .strict();

export const HostConfig = z.discriminatedUnion('provider', [LocalHostConfig, GceHostConfig]);

/** Fields that hold secret references: an error never echoes their value, which may be a secret pasted by mistake. */
export const SECRET_FIELDS = new Set(['model.token', 'promote.token', 'notify.webhooks.*.secret', 'tracking.mlflow.token', 'tracking.wandb.api_key']);

/**
 * How promote publishes to the Hub (output: hf:<org>/<name>; docs/config.md).
 * The token is a secret reference with write access to the repo's namespace.
 */
export const PromoteConfig = z
  .object({
    /** A repo promote creates is private unless this is false; an existing repo keeps its visibility. */
    private: z.boolean().default(true),
    token: z
      .string()
      .superRefine((value, ctx) => {
        const problem = secretRefProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    /** Commit on top of a repo whose latest commit did not come from durable-finetune (someone else's model). */
    overwrite: z.boolean().default(false),
  })
  .strict();

/**
 * The base model, and for a gated or private hf: model the token as a secret
 * reference (secret:env:<NAME>), never the token itself (docs/config.md).
 */
export const ModelConfig = z
  .object({ base: modelRef, dtype: dtype.default('float32'), token: z.string().optional() })
  .strict()
  .superRefine((m, ctx) => {
    const hfProblem = isHfRef(m.base) ? hfRefProblem(m.base) : undefined;
    if (hfProblem) ctx.addIssue({ code: 'custom', path: ['base'], input: m.base, message: hfProblem });
    if (m.token === undefined) return;
    const tokenProblem = secretRefProblem(m.token);
    if (tokenProblem) ctx.addIssue({ code: 'custom', path: ['token'], message: tokenProblem });
    else if (!isHfRef(m.base)) ctx.addIssue({ code: 'custom', path: ['token'], input: m.token, message: 'is read only for an hf: model.base; remove it' });
  });

export const PipelineConfig = z
  .object({
    name,
    store: storeUri,
    /** Where promote copies the chosen model; default: <store>/models. */
    output: outputRef.optional(),
    promote: PromoteConfig.prefault({}),
    host: HostConfig.prefault({ provider: 'local' }),
    model: ModelConfig,
    data: z.object({ sft: dataRef, preferences: dataRef, eval: dataRef }).strict(),
    preflight: PreflightConfig.prefault({}),
    sft: SftConfig.prefault({}),
    merge: MergeConfig.prefault({}),
    dpo: DpoConfig.prefault({}),
    generate: GenerateConfig.prefault({}),
    eval: EvalConfig.prefault({}),
    monitor: MonitorConfig.prefault({}),
    cost: CostConfig.prefault({}),
    /** Webhooks told of approval waits, the run's end, budget stops and host losses (src/notify/config.ts). */
    notify: NotifyConfig.prefault({}),
    /** Where the training stages also send their per-step metrics: MLflow, W&B (src/config/tracking.ts, docs/tracking.md). */
    tracking: TrackingConfig.prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.host.provider === 'gce') {
      // The VM reads and writes the store itself; a folder on this machine is out of its reach.
      for (const field of ['store', 'output'] as const) {
        const uri = c[field];
        // hf: is pushed by the worker, not the VM.
        if (uri !== undefined && !uri.startsWith('gs://') && !isHfRef(uri)) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            input: uri,
            message: 'is a folder on this machine, which a GCE VM cannot reach; use gs://<bucket>/<prefix> with host.provider gce',
          });
        }
      }
    }
    if (c.output !== undefined && isHfRef(c.output) && c.promote.token === undefined) {
      // Writing to the Hub always needs a token; say so now rather than after the run has paid for its hosts.
      ctx.addIssue({
        code: 'custom',
        path: ['promote', 'token'],
        message: `is not set, and output ${c.output} is a Hub repo, which needs a token with write access; create a write token on the Hub, put it in an environment variable of the worker and set promote.token: secret:env:<NAME> (e.g. secret:env:HF_WRITE_TOKEN)`,
      });
    }
    if (c.promote.token !== undefined && (c.output === undefined || !isHfRef(c.output))) {
      ctx.addIssue({ code: 'custom', path: ['promote', 'token'], message: 'is read only when output is hf:<org>/<name>; remove it' });
    }
    const machineType = c.host.provider === 'gce' ? c.host.machine_type : undefined;
    if (machineType !== undefined && !c.cost.prices[machineType] && !MACHINE_PRICES[machineType]) {
      // The bill (and cost.budget_usd) needs the hourly rate before any VM starts.
      ctx.addIssue({
        code: 'custom',
        path: ['cost', 'prices'],
        input: c.cost.prices,
        message: `has no price for host.machine_type ${machineType} (the built-in table knows ${Object.keys(MACHINE_PRICES).join(', ')}); add cost.prices.${machineType}: { on_demand: <USD/h>, spot: <USD/h> } from the Compute Engine price list`,
      });
    }
    const gpus = machineType === undefined ? undefined : gpusOfMachineType(machineType);
    if (gpus !== undefined && typeof c.preflight.gpus === 'number' && c.preflight.gpus > gpus) {
      // Preflight would fail with GpuMissing on every VM of this type: say so before one starts.
      ctx.addIssue({
        code: 'custom',
        path: ['preflight', 'gpus'],
        input: c.preflight.gpus,
        message: `is more than the ${gpus} GPU(s) of host.machine_type ${machineType}; use 'auto' (the machine type's GPUs) or at most ${gpus}`,
      });
    }
    for (const stage of ['sft', 'dpo'] as const) {
      const ranks = c[stage].ranks;
      if (gpus !== undefined && typeof ranks === 'number' && ranks > gpus) {
        ctx.addIssue({
          code: 'custom',
          path: [stage, 'ranks'],
          input: c[stage].ranks,
          message: `is more than the ${gpus} GPU(s) of host.machine_type ${machineType}; a rank needs its own GPU`,
        });
      }
      if (c[stage].save_steps > c[stage].max_steps) {
        ctx.addIssue({
          code: 'custom',
          path: [stage, 'save_steps'],
          input: c[stage].save_steps,
          message: `is larger than ${stage}.max_steps (${c[stage].max_steps}), so no checkpoint would ever be saved; lower it`,
        });
      }
    }
  });

export type PipelineConfig = z.infer<typeof PipelineConfig>;
export type PipelineConfigInput = z.input<typeof PipelineConfig>;
export type SftConfig = z.infer<typeof SftConfig>;
export type DpoConfig = z.infer<typeof DpoConfig>;
export type GceHostConfig = z.infer<typeof GceHostConfig>;
export type CostConfig = z.infer<typeof CostConfig>;
export type EvalConfig = z.infer<typeof EvalConfig>;
export type PromoteConfig = z.infer<typeof PromoteConfig>;
