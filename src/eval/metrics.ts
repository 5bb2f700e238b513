/** The metrics of one run, as written to runs/<runId>/report/metrics.json. */
import type { BootstrapOptions, Interval } from './bootstrap';
import type { RunSummary } from '../report/data';

export type ModelMetrics = Record<string, number>;

/** A paired comparison on the same items: mean of (model - baseline), with its interval. */
export interface MetricDelta extends Interval {
  model: string;
  baseline: string;
  metric: string;
}

/** Two methods of one metric that differ by more than eval.disagreement_points. */
export interface Disagreement {
  model: string;
  metric: string;
  other: string;
  what: string;
  a: number;
  b: number;
  points: number;
  /** Items on which the two methods score differently. */
  items: string[];
}

export interface RunMetrics {
  primaryMetric: string;
  /** Number of eval items. */
  n: number;
  models: Record<string, ModelMetrics>;
  /** 95% cluster-bootstrap interval per model and metric. */
  intervals?: Record<string, Record<string, Interval>>;
  /** sft vs base and dpo vs sft on the same items. */
  deltas?: MetricDelta[];
  disagreements?: Disagreement[];
  method?: {
    bootstrap: BootstrapOptions;
    disagreementPoints: number;
    supportStrict: number;
    supportLenient: number;
    resampledBy: 'cluster';
  };
  /** Store keys of the report files. */
  report?: { json: string; html: string };
  /** The run's time, stages and recovery (host losses, steps redone, time lost), from the workflow. */
  run?: RunSummary;
}
