/**
 * How runs started before the patch 'config-resolved' read their config: parsed,
 * priced and its GPUs looked up here, in workflow code, so they replay with the
 * parser and the tables of whatever worker replays them. Newer runs read what the
 * resolveConfig activity recorded (activities/resolve.ts). Kept only so those
 * runs' histories still replay (test/fixtures/histories/*.json); it goes once no
 * such run can be open, with patched('config-resolved') turned into
 * deprecatePatch.
 *
 * The parser is required when an old run needs it, not imported: the workflow
 * bundle evaluates its modules again for every new run, and building zod's
 * schemas was most of that work (bench:scale's burst; bench/README.md). The
 * bundle still carries the parser; a new run never evaluates it
 * (test/unit/workflow-bundle.test.ts).
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { expectedGpus } from '../src/config/machineGpus';
import { FAILURE_TYPES } from '../src/jobs/failures';
import type { PipelineConfig, PipelineConfigInput } from '../src/config/schema';
import { hourlyRate } from '../src/cost/prices';

export function parsedInWorkflow(input: PipelineConfigInput): PipelineConfig {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazily, see above
    const { parseConfig } = require('../src/config/parse') as typeof import('../src/config/parse');
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
