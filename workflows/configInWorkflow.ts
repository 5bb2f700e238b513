/**
 * How runs started before the patch 'config-resolved' read their config: parsed,
 * priced and its GPUs looked up here, in workflow code, so they replay with the
 * parser and the tables of whatever worker replays them. Newer runs read what the
 * resolveConfig activity recorded (activities/resolve.ts). Kept only so those
 * runs' histories still replay (test/fixtures/histories/*.json); it goes once no
 * such run can be open, with patched('config-resolved') turned into
 * deprecatePatch.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { expectedGpus } from '../src/config/machineGpus';
import { parseConfig } from '../src/config/parse';
import { FAILURE_TYPES } from '../src/jobs/failures';
import type { PipelineConfig, PipelineConfigInput } from '../src/config/schema';
import { hourlyRate } from '../src/cost/prices';

export function parsedInWorkflow(input: PipelineConfigInput): PipelineConfig {
  try {
    return parseConfig(input);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, FAILURE_TYPES.ConfigInvalid.type);
  }
}

export function pricedInWorkflow(config: PipelineConfig): number {
  try {
    return hourlyRate(config.host as { provider: string }, config.cost.prices, config.cost.local_usd_per_hour);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, FAILURE_TYPES.PriceUnknown.type);
  }
}

export function gpusInWorkflow(config: PipelineConfig): number | null {
  return expectedGpus(config);
}
