/** One line about what a run's hosts cost, for the CLI's status and run --wait. */
import type { CostSummary } from '../../workflows/cost';

export function costLine(c: CostSummary): string {
  const w = c.split.wastedUsd;
  const budget = c.budgetUsd === null ? '' : ` of a $${c.budgetUsd} budget`;
  const managed = c.managed ? `; a managed service at $${c.managed.usdPerMillionTokens}/M tokens: $${c.managed.usd.toFixed(2)}` : '';
  const warning = c.warning ? ` (${c.warning})` : '';
  return `cost: $${c.spentUsd.toFixed(2)}${budget} for ${c.split.billedSeconds} billed host seconds, $${(w.redone + w.failed + w.idle).toFixed(2)} of it wasted${managed}${warning}`;
}
