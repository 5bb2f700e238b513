/**
 * The `params` of each stage's job (job.json), as the workflow sends them to the trainer: the
 * config's section for the stage with its defaults filled in, plus what the control plane
 * resolves for it (dtype from model.dtype, expected_gpus, the models to generate with, the
 * tracking section). Every knob is present in every job: the trainer has no defaults of its own
 * (trainer/durable_finetune/params.py refuses a job that lacks one).
 *
 * contract/stage-params.schema.json is generated from these (stageParamsFile.ts); the Python
 * tests check the trainer's typed params against that file, a TypeScript test that the file is
 * current, and a workflow test that every job the pipeline posts matches.
 */
import { z } from 'zod';
import { DpoConfig, GenerateConfig, MergeConfig, PreflightConfig, SftConfig, dtype } from './schema';
import { TrackingConfig } from './tracking';
import type { StageName } from '../jobs/contract';

const computeDtype = dtype.default('float32').describe('model.dtype: what the stage loads and computes in');
/** Only when the config has a tracking: section (src/config/tracking.ts): secrets as references, resolved on the host. */
const tracking = TrackingConfig.optional();

export const StageParams = {
  preflight: PreflightConfig.extend({
    expected_gpus: z.number().int().min(0).nullable().describe('preflight.gpus resolved: the GPUs CUDA must see; null: no requirement'),
    dtype: computeDtype,
  }),
  sft: SftConfig.extend({ dtype: computeDtype, tracking }),
  merge: MergeConfig.extend({ dtype: computeDtype }),
  // max_attempts and retry_schedule stay with the workflow (workflows/dpo.ts); each attempt gets its beta and learning_rate.
  dpo: DpoConfig.omit({ max_attempts: true, retry_schedule: true }).extend({ dtype: computeDtype, tracking }),
  generate: GenerateConfig.extend({
    dtype: computeDtype,
    models: z.record(z.string(), z.string().min(1)).describe('name (base, sft, dpo) -> the model input: a store key or URI'),
  }),
} satisfies Record<StageName, z.ZodObject>;

/** Test-only keys a job may carry besides its knobs, honoured only with FINETUNE_ALLOW_FAULT_INJECTION=1 (docs/store-contract.md). */
export const DEBUG_PARAM = '^debug_';

/**
 * What is wrong with `params` as a `stage` job's params: each knob it lacks (parsing alone would
 * fill in the default the job should have carried), then each value the schema refuses.
 */
export function stageParamsProblems(stage: StageName, params: Record<string, unknown>): string[] {
  const schema = StageParams[stage];
  const required = (z.toJSONSchema(schema, { io: 'output' }) as { required?: string[] }).required ?? [];
  const missing = required.filter((knob) => !(knob in params)).map((knob) => `${stage}.${knob} is missing`);
  const knobs = Object.fromEntries(Object.entries(params).filter(([key]) => !new RegExp(DEBUG_PARAM).test(key)));
  const parsed = schema.safeParse(knobs);
  const invalid = parsed.success ? [] : parsed.error.issues.map((i) => `${[stage, ...i.path].join('.')}: ${i.message}`);
  return [...missing, ...invalid];
}

/**
 * params with each knob it lacks filled with today's default, and the knobs so added. The
 * workflow builds a job's params from the config resolved when the run started (a recorded
 * activity result): a run that started before a knob existed posts jobs without it after the
 * worker is upgraded, and the trainer, which has no defaults of its own, would refuse them.
 * runJob (an activity, never replayed) fills them in as it posts the job.
 */
export function withCurrentKnobs(stage: StageName, params: Record<string, unknown>): { params: Record<string, unknown>; added: string[] } {
  const filled = { ...params };
  const added: string[] = [];
  for (const [knob, field] of Object.entries(StageParams[stage].shape as Record<string, z.ZodType>)) {
    if (knob in filled) continue;
    const fallback = field.safeParse(undefined);
    if (fallback.success && fallback.data !== undefined) {
      filled[knob] = fallback.data;
      added.push(knob);
    }
  }
  return { params: filled, added };
}

/** The JSON Schema of every stage's params: every knob required, with the config's default as `default`. */
export function stageParamsJsonSchema(): Record<string, unknown> {
  const stages = Object.fromEntries(
    Object.entries(StageParams).map(([stage, schema]) => {
      const { $schema: _drop, ...json } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'throw' }) as Record<string, unknown>;
      return [stage, { ...json, patternProperties: { [DEBUG_PARAM]: {} } }];
    }),
  );
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $comment: 'Generated from src/config/stageParams.ts; do not edit. Regenerate: npm run build && node dist/src/config/stageParamsFile.js',
    title: 'params of each stage job (hosts/<host>/job.json), per stage',
    stages,
  };
}
