/**
 * What the gpu-share bench assumes: the seed-like run, the boot of a stock
 * Deep Learning VM and of an image `finetune image bake` made, checkpoint
 * uploads, the preemption notice, and each policy's way of noticing a loss
 * and relaunching. One place for every figure the results rest on; each
 * carries where it comes from.
 */
import { MACHINE_PRICES, PRICE_TABLE_READ_ON, PRICE_TABLE_REGION } from '../../src/cost/prices';
import { GCE_PREEMPTION_NOTICE_S } from '../../src/hosts/provider';
import { BAKED_BOOT_PHASES, GCE_BOOT_PHASES, GCE_BOOT_SECONDS, gceBootPhaseSeconds } from '../../src/plan/estimate';
import { seededRandom } from '../../src/eval/bootstrap';

export const POLICIES = ['durable-finetune', 'restart-from-scratch', 'skypilot-like'] as const;
export type Policy = (typeof POLICIES)[number];

/** The host image a run boots: the stock Deep Learning VM, or one `finetune image bake` made. */
export const IMAGES = ['stock', 'baked'] as const;
export type BootImage = (typeof IMAGES)[number];

/**
 * How checkpoint uploads meet training: inline holds the GPU for the whole upload (the
 * trainer's on_save before CheckpointUploads, and a user's own save to a bucket); background
 * runs beside the next steps (trainer/durable_finetune/checkpoint.py CheckpointUploads).
 */
export const UPLOADS = ['inline', 'background'] as const;
export type UploadMode = (typeof UPLOADS)[number];

/** One simulated configuration: a policy on an image, with its uploads. */
export interface Variant {
  policy: Policy;
  image: BootImage;
  uploads: UploadMode;
}

/**
 * The product bakes its own image (src/hosts/bake.ts), so durable-finetune runs on both; the
 * other two stand for tools that boot what they are given: the stock image.
 */
export const BAKED_POLICIES: readonly Policy[] = ['durable-finetune'];

/**
 * Each policy with its own uploads on every image it runs. durable-finetune also runs the stock
 * image with inline uploads, as its trainer did before background uploads: beside the same
 * policy with background uploads on the same image, and on the baked one, the table shows each
 * gain apart (issue 17 asks for each in the figures).
 */
export function variantsOf(policies: readonly Policy[], images: readonly BootImage[], a: Assumptions): Variant[] {
  return policies.flatMap((policy) => {
    const own = a.policies[policy].uploads;
    const onImages = images.filter((image) => image === 'stock' || BAKED_POLICIES.includes(policy)).map((image) => ({ policy, image, uploads: own }));
    const before = own === 'background' && images.includes('stock') ? [{ policy, image: 'stock' as const, uploads: 'inline' as const }] : [];
    return [...before, ...onImages];
  });
}

/** A stage the simulated host runs: steps (training, checkpointed) or one block of work. */
export interface StageWork {
  /** Training stages: steps at stepS each, a save every saveSteps. Others: seconds, never checkpointed. */
  steps?: number;
  stepS?: number;
  saveSteps?: number;
  seconds?: number;
}

/** One boot phase: lognormal with this median and shape (sigma of the log). */
export interface BootPhase {
  name: string;
  medianS: number;
  sigma: number;
  source: string;
}

export interface PolicyModel {
  /** Checkpoints committed every saveSteps (the product; a user's own code for skypilot-like when set). */
  periodicCheckpoints: boolean;
  /** Commits a checkpoint on the preemption notice (SIGTERM) when it fits. */
  noticeCheckpoint: boolean;
  /** How its checkpoint uploads meet training. */
  uploads: UploadMode;
  /** How the loss is noticed: the product's runJob poll, or a controller's status poll. */
  detection: 'runJob' | 'statusPoll';
  statusPollS: number;
  /** Waited before each relaunch (no VM held, not billed). */
  relaunchBackoffS: number;
  statement: string;
}

export interface Assumptions {
  machineType: string;
  spot: boolean;
  usdPerHour: number;
  prices: { table: typeof MACHINE_PRICES; region: string; readOn: string; source: string };
  stages: Record<'preflight' | 'sft' | 'merge' | 'dpo' | 'generate', StageWork>;
  checkpointMb: number;
  uploadMbPerS: number;
  /** Seconds one checkpoint upload takes: all of it holds training when inline; in the background only what the next save or the stage's end waits for. */
  uploadS: number;
  noticeS: number;
  /** The product's runJob poll (monitor.poll_interval_s default). */
  pollS: number;
  /** After a preemption noticed without a status, runJob waits this long for the stage's last word (activities/jobs.ts). */
  goneWaitS: number;
  deleteS: number;
  maxHostLosses: number;
  boot: Record<BootImage, BootPhase[]>;
  policies: Record<Policy, PolicyModel>;
}

/**
 * The stock Deep Learning VM boot, in four phases whose medians add up to the
 * plan's GCE_BOOT_SECONDS (one source for the figure).
 */
export const STOCK_BOOT: BootPhase[] = GCE_BOOT_PHASES.map((p) => ({
  name: p.name,
  medianS: Math.round(gceBootPhaseSeconds(p.name)),
  sigma: p.sigma,
  source: `assumption: ${p.source}`,
}));

/**
 * A host from a baked image (finetune image bake): the driver and the trainer image are on its
 * disk, so of the stock phases only the VM create and the model load are left, with the same
 * figures. test/unit/image-bake.test.ts shows such a host install no driver and pull nothing.
 */
export const BAKED_BOOT: BootPhase[] = STOCK_BOOT.filter((p) => BAKED_BOOT_PHASES.includes(p.name)).map((p) => ({
  ...p,
  source:
    p.name === 'vm_create'
      ? `${p.source}, as for the stock image: assumed unchanged by a custom image of the same disk size (its blocks are read from image storage on first use, not copied at create; ` +
        'that first read of the trainer image layers when the container starts is not modelled)'
      : `${p.source}, as for the stock image: the bake puts the trainer image on the disk, not the model`,
}));

export const BOOT_SOURCE =
  `Four lognormal phases whose medians add up to GCE_BOOT_SECONDS (${GCE_BOOT_SECONDS} s, src/plan/estimate.ts, the figure finetune plan uses): ` +
  'one public report puts a GCP GPU runner at about 7 minutes (issue 17), above the 3-minute floor issue 17 sets for a stock Deep Learning VM image. ' +
  'The split between phases and their spread are assumptions, not measurements: this machine cannot reach Google Cloud. ' +
  'The GCP example allows agent_start_timeout_s 1200 for the whole boot. ' +
  'A baked image (finetune image bake) keeps vm_create and model_load with the same figures and drops driver and image_pull, which its disk already holds.';

export function defaultAssumptions(
  overrides: { stepS?: number; sftHours?: number; saveSteps?: number; checkpointMb?: number; uploadMbPerS?: number; machineType?: string; maxHostLosses?: number } = {},
): Assumptions {
  const stepS = overrides.stepS ?? 6;
  const saveSteps = overrides.saveSteps ?? 25;
  const sftSteps = Math.round(((overrides.sftHours ?? 5) * 3600) / stepS);
  const checkpointMb = overrides.checkpointMb ?? 400;
  const uploadMbPerS = overrides.uploadMbPerS ?? 100;
  const machineType = overrides.machineType ?? 'a2-highgpu-1g';
  const price = MACHINE_PRICES[machineType];
  if (!price) throw new Error(`--machine-type ${machineType}: not in src/cost/prices.ts; use one of ${Object.keys(MACHINE_PRICES).join(', ')}`);
  return {
    machineType,
    spot: true,
    usdPerHour: price.spot,
    prices: { table: MACHINE_PRICES, region: PRICE_TABLE_REGION, readOn: PRICE_TABLE_READ_ON, source: 'src/cost/prices.ts' },
    stages: {
      preflight: { seconds: 60 },
      sft: { steps: sftSteps, stepS, saveSteps },
      merge: { seconds: 300 },
      dpo: { steps: Math.round(3600 / (stepS * 1.5)), stepS: stepS * 1.5, saveSteps },
      generate: { seconds: 600 },
    },
    checkpointMb,
    uploadMbPerS,
    uploadS: checkpointMb / uploadMbPerS,
    noticeS: GCE_PREEMPTION_NOTICE_S,
    pollS: 2,
    goneWaitS: 30,
    deleteS: 30,
    maxHostLosses: overrides.maxHostLosses ?? 20,
    boot: { stock: STOCK_BOOT, baked: BAKED_BOOT },
    policies: {
      'durable-finetune': {
        periodicCheckpoints: true,
        noticeCheckpoint: true,
        uploads: 'background',
        detection: 'runJob',
        statusPollS: 0,
        relaunchBackoffS: 0,
        statement:
          'this product: a checkpoint every save_steps, uploaded in the background while training goes on (one upload in flight), and one on the 30 s notice (SIGTERM) ' +
          'when step end + the upload in flight + its own upload fit in it; resume on a new host. Assumed: a background upload does not slow the steps beside it ' +
          '(the GPU computes while the host CPU hashes and the NIC sends)',
      },
      'restart-from-scratch': {
        periodicCheckpoints: false,
        noticeCheckpoint: false,
        uploads: 'inline',
        detection: 'runJob',
        statusPollS: 0,
        relaunchBackoffS: 0,
        statement: 'the same orchestration with no checkpoints: every loss starts the stage from step 0',
      },
      'skypilot-like': {
        periodicCheckpoints: false,
        noticeCheckpoint: false,
        uploads: 'inline',
        detection: 'statusPoll',
        statusPollS: 15,
        relaunchBackoffS: 60,
        statement:
          'a controller polls the cluster every 15 s, waits 60 s (the first step of its relaunch backoff; no stockouts are simulated so it never grows) and relaunches; ' +
          'checkpoints only where the user code made them, assumed none (a training script that does not checkpoint to a bucket)',
      },
    },
  };
}

function normal(u: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** One boot's seconds per phase. */
export function drawBoot(phases: BootPhase[], u: () => number): Record<string, number> {
  return Object.fromEntries(phases.map((p) => [p.name, p.medianS * Math.exp(p.sigma * normal(u))]));
}

/** Median and 90th percentile of the boot total, from 10,000 seeded draws: what the JSON reports. */
export function bootSummary(phases: BootPhase[]): { median_s: number; p90_s: number } {
  const u = seededRandom(12345);
  const totals = Array.from({ length: 10_000 }, () => Object.values(drawBoot(phases, u)).reduce((a, b) => a + b, 0)).sort((a, b) => a - b);
  return { median_s: Math.round(totals[5000]), p90_s: Math.round(totals[9000]) };
}
