/**
 * The job params that carry the config's tracking section (src/config/tracking.ts)
 * to a training stage. Apart from the schema because workflow code calls it: the
 * workflow bundle evaluates its modules again for every new run, and zod's schemas
 * are the dearest part of that (bench/README.md, bench:scale).
 */
import type { TrackingConfig } from './tracking';

/**
 * None when nothing is configured, or when the run was prepared before the section
 * existed (a replayed history's run.config has no `tracking`).
 */
export function trackingParams(tracking: TrackingConfig | undefined): { tracking?: TrackingConfig } {
  return tracking?.mlflow || tracking?.wandb ? { tracking } : {};
}
