/**
 * resolveConfig: the run's config parsed (schema defaults filled in) and priced
 * on the worker. Its result is recorded in the run's history and the workflow
 * reads it from there, so an edit of the parser, a default or the price table
 * (src/cost/prices.ts) reaches new runs only: a run in flight replays with the
 * config and the prices it started with.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { expectedGpus } from '../src/config/machineGpus';
import { ConfigInvalid, parseConfig } from '../src/config/parse';
import type { PipelineConfigInput } from '../src/config/schema';
import { hourlyRate, PriceUnknown } from '../src/cost/prices';
import type { ResolvedConfig } from './types';

export function resolveActivities() {
  return {
    async resolveConfig(input: PipelineConfigInput): Promise<ResolvedConfig> {
      try {
        const config = parseConfig(input);
        return {
          config,
          usdPerHour: hourlyRate(config.host as { provider: string }, config.cost.prices, config.cost.local_usd_per_hour),
          gpus: expectedGpus(config),
        };
      } catch (err) {
        // Not retried: the same input fails the same way. The message names each bad field and its fix.
        if (err instanceof ConfigInvalid || err instanceof PriceUnknown) throw ApplicationFailure.nonRetryable(err.message, err.name);
        throw err;
      }
    },
  };
}
