/** The metrics of one run, as written to runs/<runId>/report/metrics.json. */
export type ModelMetrics = Record<string, number>;

export interface RunMetrics {
  primaryMetric: string;
  /** Number of eval items. */
  n: number;
  models: Record<string, ModelMetrics>;
}
