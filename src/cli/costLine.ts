/** One line about what a run's hosts cost, for the CLI's status and run --wait. */
import type { CostSummary } from '../../workflows/cost';
import { hasBuckets, splitLine } from '../cost/ledger';

export function costLine(c: CostSummary): string {
  const w = c.split.wastedUsd;
  const budget = c.budgetUsd === null ? '' : ` of a $${c.budgetUsd} budget`;
  const managed = c.managed ? `; a managed service at $${c.managed.usdPerMillionTokens}/M tokens: $${c.managed.usd.toFixed(2)}` : '';
  const warning = c.warning ? ` (${c.warning})` : '';
  const split = hasBuckets(c.split) ? `: ${splitLine(c.split)}` : `, $${(w.redone + w.failed + w.idle).toFixed(2)} of it wasted`;
  return `cost: $${c.spentUsd.toFixed(2)}${budget} for ${c.split.billedSeconds} billed host seconds${split}${managed}${warning}`;
}
