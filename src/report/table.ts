/**
 * The metrics as a plain-text table for terminals and logs: one column per
 * model in pipeline order, one row per metric, the primary metric marked so
 * the number that decides the gate is the one a reader looks at first.
 */

const MODEL_ORDER = ['base', 'sft', 'dpo'];
const METRIC_ORDER = ['tool_call_match', 'tool_call_match_lenient', 'name_match', 'valid_json'];

/** Any metric set: scoreGenerations' result or a RunMetrics read back from metrics.json. */
export interface MetricsByModel {
  n: number;
  models: Record<string, Record<string, number>>;
}

export function formatMetricsTable(metrics: MetricsByModel, primaryMetric: string): string {
  const models = Object.keys(metrics.models).sort((a, b) => rank(MODEL_ORDER, a) - rank(MODEL_ORDER, b) || a.localeCompare(b));
  const metricNames = [...new Set(models.flatMap((m) => Object.keys(metrics.models[m])))].sort((a, b) => rank(METRIC_ORDER, a) - rank(METRIC_ORDER, b) || a.localeCompare(b));
  const header = [`metric (n=${metrics.n})`, ...models];
  const rows = metricNames.map((metric) => [metric === primaryMetric ? `* ${metric}` : `  ${metric}`, ...models.map((m) => percent(metrics.models[m][metric]))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), `* primary metric`].join('\n');
}

function percent(value: number | undefined): string {
  return value === undefined ? '-' : `${(value * 100).toFixed(1)}%`;
}

function rank(order: readonly string[], name: string): number {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
}
