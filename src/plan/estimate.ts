/**
 * The arithmetic of a plan: steps to tokens, tokens to hours at the host's
 * throughput, hours to dollars at the machine's spot and on-demand prices,
 * with the time spot preemptions are expected to add. Pure: every input is a
 * number the caller read; every assumption is a named constant here.
 */
import { isBakedImage } from '../hosts/bakedImage';

/**
 * Spot preemptions per hour assumed until the preemption simulation of issue 17
 * (bench/results/gpu-share.json, `npm run bench:gpu-share`) measures them; it runs 0.25 to 2.
 */
export const SPOT_PREEMPTIONS_PER_HOUR = 0.5;

/**
 * Seconds from asking GCE for a VM to the first training step: VM create, driver, trainer
 * image pull and model load. One public report puts a GCP GPU runner at about 7 minutes
 * (issue 17); the simulation will give this product's own figure. Local hosts boot in 0.
 */
export const GCE_BOOT_SECONDS = 420;

/**
 * How GCE_BOOT_SECONDS splits into phases (relative weights; the spread is the simulation's,
 * bench/gpuShare/model.ts). Assumptions, not measurements: this project cannot reach Google Cloud.
 */
export const GCE_BOOT_PHASES: { name: string; weight: number; sigma: number; source: string }[] = [
  { name: 'vm_create', weight: 1, sigma: 0.3, source: 'GCE insert to RUNNING for an A100 spot VM' },
  { name: 'driver', weight: 2, sigma: 0.3, source: 'a Deep Learning VM image installs the NVIDIA driver on first boot' },
  { name: 'image_pull', weight: 2.5, sigma: 0.4, source: 'pulling the trainer image (~10 GB: torch and CUDA) from Artifact Registry' },
  { name: 'model_load', weight: 1.5, sigma: 0.4, source: 'the base model (~15 GB, 7B in bf16) from the bucket into GPU memory' },
];

/** The phases a host from a baked image (finetune image bake) still goes through: its disk holds the driver and the trainer image. */
export const BAKED_BOOT_PHASES = ['vm_create', 'model_load'];

/** A phase's share of GCE_BOOT_SECONDS, by its weight (the plan's boot and the simulation's medians). */
export function gceBootPhaseSeconds(name: string): number {
  return (GCE_BOOT_SECONDS * GCE_BOOT_PHASES.find((p) => p.name === name)!.weight) / GCE_BOOT_PHASES.reduce((s, p) => s + p.weight, 0);
}

/** Seconds from insert to the first step on a host of this boot image: less on an image `finetune image bake` made. */
export function gceBootSeconds(image: string): number {
  return isBakedImage(image) ? Math.round(BAKED_BOOT_PHASES.reduce((s, name) => s + gceBootPhaseSeconds(name), 0)) : GCE_BOOT_SECONDS;
}

export interface StageWork {
  stage: 'sft' | 'dpo';
  steps: number;
  /** Rows a step trains on: batch_size x gradient_accumulation_steps x ranks. */
  rows_per_step: number;
  /** Tokens a row puts through training after truncation (DPO: chosen plus rejected). */
  tokens_per_row: number;
  /** FLOPs per token relative to plain SFT without gradient checkpointing (throughput.ts). */
  cost_factor: number;
  save_steps: number;
}

export interface PlanInputs {
  stages: StageWork[];
  /** SFT tokens per second of the host; null: unknown, and so are hours and dollars. */
  tokens_per_s: number | null;
  /** GPUs billed on the host; null on a local host. */
  gpus: number | null;
  /** USD per host hour. */
  price: { spot: number; on_demand: number };
  /** Seconds from provisioning to the first step (0 on a local host). */
  boot_s: number;
  /** Expected spot preemptions per hour (0 on a local host or for on-demand). */
  preemptions_per_hour: number;
  /** Spot or on-demand: which figures the budget is held against. */
  spot: boolean;
  budget_usd?: number;
}

export interface Provisioning {
  wall_hours: number | null;
  gpu_hours: number | null;
  usd: number | null;
  preemptions: number;
}

export interface StageEstimate {
  stage: 'sft' | 'dpo';
  steps: number;
  tokens: number;
  step_seconds: number | null;
  hours: number | null;
}

export interface Estimate {
  steps: number;
  /** Tokens put through training (after truncation) by every step of every stage. */
  tokens_trained: number;
  stages: StageEstimate[];
  /** Training time alone, no boot and no preemption. */
  training_hours: number | null;
  spot: Provisioning;
  on_demand: Provisioning;
  budget_usd: number | null;
  /** The configured provisioning's dollars within cost.budget_usd; true without a budget; null when the dollars are unknown. */
  budget_ok: boolean | null;
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

export function estimate(p: PlanInputs): Estimate {
  const stages = p.stages.map((s): StageEstimate & { redo_s: number | null } => {
    const tokens = s.steps * s.rows_per_step * s.tokens_per_row;
    const stepSeconds = p.tokens_per_s === null ? null : (s.rows_per_step * s.tokens_per_row * s.cost_factor) / p.tokens_per_s;
    return {
      stage: s.stage,
      steps: s.steps,
      tokens: Math.round(tokens),
      step_seconds: stepSeconds === null ? null : round(stepSeconds, 3),
      hours: stepSeconds === null ? null : (s.steps * stepSeconds) / 3600,
      // A preemption without a saved notice redoes half a save interval on average.
      redo_s: stepSeconds === null ? null : (s.save_steps / 2) * stepSeconds,
    };
  });
  const known = stages.every((s) => s.hours !== null);
  const trainingHours = known ? stages.reduce((a, s) => a + (s.hours ?? 0), 0) : null;
  const bootHours = p.boot_s / 3600;

  const provisioning = (spot: boolean): Provisioning => {
    if (trainingHours === null) return { wall_hours: null, gpu_hours: null, usd: null, preemptions: 0 };
    const rate = spot ? p.preemptions_per_hour : 0;
    // First order: each stage hour sees `rate` preemptions, each costing a boot and the redone steps.
    const preemptions = rate * trainingHours;
    const overhead = stages.reduce((a, s) => a + (rate * (s.hours ?? 0) * (p.boot_s + (s.redo_s ?? 0))) / 3600, 0);
    const wall = trainingHours + bootHours + overhead;
    return {
      wall_hours: round(wall, 3),
      gpu_hours: p.gpus === null ? null : round(wall * p.gpus, 3),
      usd: round(wall * (spot ? p.price.spot : p.price.on_demand), 2),
      preemptions: round(preemptions, 2),
    };
  };
  const spot = provisioning(true);
  const onDemand = provisioning(false);
  const paid = (p.spot ? spot : onDemand).usd;
  return {
    steps: stages.reduce((a, s) => a + s.steps, 0),
    tokens_trained: stages.reduce((a, s) => a + s.tokens, 0),
    stages: stages.map(({ redo_s: _, hours, ...s }) => ({ ...s, hours: hours === null ? null : round(hours, 3) })),
    training_hours: trainingHours === null ? null : round(trainingHours, 3),
    spot,
    on_demand: onDemand,
    budget_usd: p.budget_usd ?? null,
    budget_ok: p.budget_usd === undefined ? true : paid === null ? null : paid <= p.budget_usd,
  };
}
