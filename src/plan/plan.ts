/**
 * A run's plan before it starts: what the data holds in tokens, how many
 * steps and hours the config asks for, and what that costs on spot and on
 * demand against cost.budget_usd. `finetune plan` prints it; prepareRun records
 * it as plan.json, the first thing a run writes. Reads local files only and
 * reaches no cloud: gs:// data is read when the run starts.
 */
import * as fs from 'node:fs';
import { expectedGpus } from '../config/machineGpus';
import type { PipelineConfig } from '../config/schema';
import { venvPython } from '../paths';
import { machinePrice, priceSource, type MachinePrice } from '../cost/prices';
import { cachedHubModel } from './hubCache';
import { isBakedImage } from '../hosts/bakedImage';
import { estimate, gceBootSeconds, SPOT_PREEMPTIONS_PER_HOUR, type Estimate, type StageWork } from './estimate';
import { lengthStats, type LengthStats } from './lengths';
import { modelSize } from './modelSize';
import { repeatedPrompts, type Repeats } from './repeats';
import { flopsPerTokenPerParam, hostThroughput, type HostThroughput } from './throughput';
import { byteCounts, BYTES_PER_TOKEN, readDataRows, tokenizerCounts, type TokenCounts } from './tokens';

export interface Plan extends Estimate {
  name: string;
  model: { base: string; params: number | null; params_source: string };
  host: { provider: string; machine_type?: string; spot: boolean; gpus: number | null };
  /** How tokens were counted: the model's tokenizer, the rows' bytes, or not at all (gs:// data). */
  tokens_method: 'tokenizer' | 'bytes' | 'unread';
  tokens_note: string;
  rows: { sft: number; preferences: number; eval: number } | null;
  tokens: { sft: number; preferences: number; eval_prompts: number } | null;
  lengths: { sft: LengthStats; dpo: LengthStats } | null;
  repeats: Repeats | null;
  throughput: HostThroughput;
  preemption: { per_hour: number; boot_s: number; source: string };
  price: (MachinePrice & { source: string; needs_refresh: boolean }) | null;
  usd: { spot: number | null; on_demand: number | null };
  /** The configured provisioning's (spot or on-demand) figures. */
  wall_hours: number | null;
  gpu_hours: number | null;
  /** What the figures leave out. */
  not_counted: string[];
}

const isLocal = (ref: string): boolean => !/^(gs:\/\/|hf:)/.test(ref);

/** The ranks a stage trains with: its number, else one per GPU of the machine type (one on a local host). */
function stageRanks(ranks: 'auto' | number, gpus: number | null): number {
  return ranks === 'auto' ? Math.max(1, gpus ?? 1) : ranks;
}

async function countTokens(config: PipelineConfig, useTokenizer: boolean): Promise<{ counts: TokenCounts | null; note: string; rows: ReturnType<typeof readDataRows> | null }> {
  const { data, model } = config;
  if (![data.sft, data.preferences, data.eval].every(isLocal)) {
    return { counts: null, rows: null, note: `gs:// data is read when the run starts; every row is assumed max_length tokens long (an upper bound)` };
  }
  const rows = readDataRows(data);
  const folder = modelFolder(config);
  if (useTokenizer && folder && !fs.existsSync(venvPython())) {
    return {
      counts: byteCounts(rows),
      rows,
      note: `the project's virtualenv (${venvPython()}) is missing, so tokens estimated from the rows' bytes at ${BYTES_PER_TOKEN} bytes per token; \`npm run setup\` makes it`,
    };
  }
  if (useTokenizer && folder) {
    const from = folder === model.base ? model.base : `${model.base} as an earlier run fetched it into the store (${folder})`;
    return { counts: await tokenizerCounts(folder, data), rows, note: `counted with the tokenizer and chat template of ${from}` };
  }
  const why = folder ? 'tokens' : `${model.base} is not on this machine, so tokens`;
  return { counts: byteCounts(rows), rows, note: `${why} estimated from the rows' bytes at ${BYTES_PER_TOKEN} bytes per token` };
}

/** The model's folder on this machine: a local base, or an hf: model fetched into a local store. */
function modelFolder(config: PipelineConfig): string | undefined {
  return isLocal(config.model.base) ? config.model.base : cachedHubModel(config.store, config.model.base);
}

export async function planRun(config: PipelineConfig, opts: { tokenizer: boolean }): Promise<Plan> {
  const { host, cost } = config;
  const gpus = expectedGpus(config);
  const { counts, note, rows } = await countTokens(config, opts.tokenizer);
  const lengths = counts ? { sft: lengthStats(counts.sft, config.sft.max_length), dpo: lengthStats(counts.preferences, config.dpo.max_length) } : null;
  const repeats = rows
    ? repeatedPrompts(
        [...rows.sft.map((r) => (r.messages as object[]).slice(0, -1)), ...rows.preferences.map((r) => r.prompt as object[])],
        rows.eval.map((e) => ({ line: e.line, turns: e.value.messages as object[] })),
      )
    : null;

  const work = (stage: 'sft' | 'dpo'): StageWork => {
    const s = config[stage];
    return {
      stage,
      steps: s.max_steps,
      rows_per_step: s.batch_size * s.gradient_accumulation_steps * stageRanks(s.ranks, gpus),
      tokens_per_row: lengths ? lengths[stage].mean_trained_tokens : s.max_length * (stage === 'dpo' ? 2 : 1),
      cost_factor: flopsPerTokenPerParam(stage, s.gradient_checkpointing) / flopsPerTokenPerParam('sft', false),
      save_steps: s.save_steps,
    };
  };
  const size = modelSize(modelFolder(config) ?? config.model.base);
  const throughput = hostThroughput(host, size.params, stageRanks(config.sft.ranks, gpus), cost.throughput);
  const gce = host.provider === 'gce';
  const spot = gce ? host.spot : false;
  const price = gce ? machinePrice(host.machine_type, cost.prices) : { spot: cost.local_usd_per_hour, on_demand: cost.local_usd_per_hour };
  const source = gce ? priceSource(host.machine_type) : undefined;
  const bootS = gce ? gceBootSeconds(host.image) : 0;
  const est = estimate({
    stages: [work('sft'), work('dpo')],
    tokens_per_s: throughput.sft_tokens_per_s,
    gpus: gce ? gpus : null,
    price,
    boot_s: bootS,
    preemptions_per_hour: gce ? SPOT_PREEMPTIONS_PER_HOUR : 0,
    spot,
    ...(cost.budget_usd !== undefined ? { budget_usd: cost.budget_usd } : {}),
  });
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const paid = spot ? est.spot : est.on_demand;
  return {
    name: config.name,
    model: { base: config.model.base, params: size.params, params_source: size.source },
    host: { provider: host.provider, ...(gce ? { machine_type: host.machine_type } : {}), spot, gpus },
    tokens_method: counts ? counts.method : 'unread',
    tokens_note: note,
    rows: rows ? { sft: rows.sft.length, preferences: rows.preferences.length, eval: rows.eval.length } : null,
    tokens: counts ? { sft: lengths!.sft.tokens, preferences: lengths!.dpo.tokens, eval_prompts: sum(counts.eval) } : null,
    lengths,
    repeats,
    throughput,
    preemption: gce
      ? {
          per_hour: SPOT_PREEMPTIONS_PER_HOUR,
          boot_s: bootS,
          source: `assumed (src/plan/estimate.ts${isBakedImage(host.image) ? ': a baked host.image, no driver install or image pull' : ''}) until bench/results/gpu-share.json measures it; a preemption costs a boot and half a save interval of steps`,
        }
      : { per_hour: 0, boot_s: 0, source: 'a local host is not preempted' },
    price: gce
      ? {
          ...price,
          source: cost.prices[host.machine_type] ? 'cost.prices in the config' : `GCE list, us-central1 (${source?.as_of}): ${source?.how}`,
          needs_refresh: !cost.prices[host.machine_type] && (source?.needs_refresh ?? true),
        }
      : { ...price, source: 'cost.local_usd_per_hour', needs_refresh: false },
    ...est,
    usd: { spot: est.spot.usd, on_demand: est.on_demand.usd },
    wall_hours: paid.wall_hours,
    gpu_hours: paid.gpu_hours,
    not_counted: ['preflight, merge, generation and eval (minutes on a GPU host)', 'checkpoint uploads', 'DPO collapse retries', 'stockout waits (no VM, $0)'],
  };
}
