/**
 * How fast a host trains, in tokens per second, for `finetune plan`. No GPU
 * was measured in this project, so a GPU host's figure is derived, and says so:
 * the GPU's peak dense bf16 rate (NVIDIA's datasheets) times an assumed model
 * FLOPs utilisation, divided by the FLOPs LoRA training spends per token. A
 * run of your own gives the real figure: put it in `cost.throughput`.
 */
import { gpusOfMachineType } from '../config/machineGpus';

export interface GpuSpec {
  gpu: string;
  /** Dense bf16 tensor TFLOPS (without sparsity). */
  peak_tflops: number;
}

/** Source: NVIDIA A100 (2021), H100 SXM (2023) and L4 (2023) datasheets, dense bf16 figures. */
export const GPU_SPECS_SOURCE = 'NVIDIA A100, H100 SXM and L4 datasheets (dense bf16 tensor TFLOPS, no sparsity)';
const A100: GpuSpec = { gpu: 'A100', peak_tflops: 312 };
const H100: GpuSpec = { gpu: 'H100 SXM', peak_tflops: 989 };
const L4: GpuSpec = { gpu: 'L4', peak_tflops: 121 };

/**
 * Model FLOPs utilisation assumed for LoRA fine-tuning with trl on one host: published full
 * fine-tuning runs reach 0.4-0.5; short padded batches and small adapters do worse, so 0.3.
 */
export const ASSUMED_MFU = 0.3;

/**
 * Training FLOPs per token and parameter: forward 2, backward through frozen weights 2 (no weight
 * gradients outside the small adapter); gradient checkpointing runs the forward once more (+2).
 * DPO also runs the reference model (the adapter switched off) forward over every token (+2).
 */
export function flopsPerTokenPerParam(stage: 'sft' | 'dpo', gradientCheckpointing: boolean): number {
  return 4 + (gradientCheckpointing ? 2 : 0) + (stage === 'dpo' ? 2 : 0);
}

/**
 * SFT tokens per second of the tiny example's model (2 layers, 1.3 M parameters) on one rank of
 * a 2-core CPU: trl's train_runtime of 43.0 s for the example's 250 steps x 32 rows of 66 tokens
 * (checkpoint saves included), the quickest of five integration runs of the tiny pipeline on this
 * project's shared build machine on 2026-12-02; under the load of other jobs the same run took
 * 94 to 988 s. Only for models of that size: any other local model is 'unknown' unless
 * cost.throughput.local says.
 */
export const LOCAL_TINY_TOKENS_PER_S = 12000;
export const LOCAL_TINY_MAX_PARAMS = 5e6;

/** The GPU of a GCE machine type's family. */
export function gpuOf(machineType: string): GpuSpec | undefined {
  if (/^a2-(highgpu|megagpu|ultragpu)-/.test(machineType)) return A100;
  if (/^a3-/.test(machineType)) return H100;
  if (/^g2-standard-/.test(machineType)) return L4;
  return undefined;
}

export interface HostThroughput {
  /** SFT tokens per second of the whole host (all its training ranks), without gradient checkpointing. */
  sft_tokens_per_s: number | null;
  /** Where the figure comes from, or why there is none. */
  source: string;
}

/**
 * The host's SFT throughput: the config's cost.throughput for the machine type (or `local`), else
 * the derived GPU figure for `params` parameters over `ranks` GPUs, else the local measurement.
 */
export function hostThroughput(host: { provider: string; machine_type?: string }, params: number | null, ranks: number, overrides: Record<string, number>): HostThroughput {
  const key = host.provider === 'local' ? 'local' : (host.machine_type ?? '');
  if (overrides[key] !== undefined) return { sft_tokens_per_s: overrides[key], source: `cost.throughput.${key} in the config` };
  if (host.provider === 'local') {
    if (params !== null && params <= LOCAL_TINY_MAX_PARAMS) {
      return { sft_tokens_per_s: LOCAL_TINY_TOKENS_PER_S, source: 'measured: the tiny model on an idle 2-core CPU (2026-12-02); a loaded machine is several times slower' };
    }
    return { sft_tokens_per_s: null, source: 'unknown for this model on a local host: set cost.throughput.local (tokens/s from a run)' };
  }
  const gpu = gpuOf(key);
  if (!gpu || gpusOfMachineType(key) === undefined) return { sft_tokens_per_s: null, source: `unknown for machine type ${key}: set cost.throughput.${key}` };
  if (params === null) return { sft_tokens_per_s: null, source: `the model's size is unknown: set cost.throughput.${key}` };
  const perGpu = (gpu.peak_tflops * 1e12 * ASSUMED_MFU) / (flopsPerTokenPerParam('sft', false) * params);
  return {
    sft_tokens_per_s: Math.round(perGpu * ranks),
    source: `derived: ${gpu.gpu} ${gpu.peak_tflops} TFLOPS bf16 x MFU ${ASSUMED_MFU} / (4 x ${formatParams(params)} parameters) per GPU, x ${ranks} GPU(s)`,
  };
}

export function formatParams(n: number): string {
  return n >= 1e9 ? `${+(n / 1e9).toFixed(1)}B` : `${+(n / 1e6).toFixed(1)}M`;
}
