/**
 * The thresholds of the eval gate, as a pure function of the metrics and the
 * config (the workflow runs it; workflows/gate.ts adds the human decision).
 * DPO ships when it passes every check; otherwise SFT ships when it passes
 * its own; otherwise nothing ships.
 */
import { higherIsBetter } from './metricInfo';
import type { RunMetrics } from './metrics';

export interface GateThresholds {
  primary_metric: string;
  /** How far DPO may fall behind SFT on the primary metric and each guardrail (fraction). */
  max_regression: number;
  /** Per metric, the lowest value a model may ship with. */
  min: Partial<Record<string, number>>;
  /** Per metric, the highest value a model may ship with (for rates of bad things). */
  max: Partial<Record<string, number>>;
  /** Metrics DPO may not regress on against SFT beyond max_regression, besides the primary one. */
  guardrails: string[];
}

export interface GateCheck {
  model: 'sft' | 'dpo';
  metric: string;
  kind: 'min' | 'max' | 'regression';
  /** The model's value. */
  value: number | null;
  /** The bound it was held to. */
  bound: number;
  passed: boolean;
  text: string;
}

export interface ThresholdVerdict {
  /** The model that passes its checks (DPO preferred), or null. */
  candidate: 'sft' | 'dpo' | null;
  checks: GateCheck[];
  reason: string;
}

export function checkThresholds(metrics: RunMetrics, t: GateThresholds): ThresholdVerdict {
  const value = (model: string, metric: string): number | null => metrics.models[model]?.[metric] ?? null;
  const pct = (x: number | null): string => (x === null ? 'not measured' : `${(x * 100).toFixed(1)}%`);
  const checks: GateCheck[] = [];
  for (const model of ['dpo', 'sft'] as const) {
    for (const [metric, bound] of Object.entries(t.min)) {
      if (bound === undefined) continue;
      const v = value(model, metric);
      checks.push({ model, metric, kind: 'min', value: v, bound, passed: v !== null && v >= bound, text: `${model} ${metric} ${pct(v)} >= min ${pct(bound)}` });
    }
    for (const [metric, bound] of Object.entries(t.max)) {
      if (bound === undefined) continue;
      const v = value(model, metric);
      checks.push({ model, metric, kind: 'max', value: v, bound, passed: v !== null && v <= bound, text: `${model} ${metric} ${pct(v)} <= max ${pct(bound)}` });
    }
  }
  for (const metric of [t.primary_metric, ...t.guardrails.filter((g) => g !== t.primary_metric)]) {
    const sft = value('sft', metric);
    const dpo = value('dpo', metric);
    if (sft === null) continue;
    const up = higherIsBetter(metric);
    const bound = up ? sft - t.max_regression : sft + t.max_regression;
    const passed = dpo !== null && (up ? dpo >= bound - 1e-12 : dpo <= bound + 1e-12);
    checks.push({
      model: 'dpo',
      metric,
      kind: 'regression',
      value: dpo,
      bound,
      passed,
      text: `dpo ${metric} ${pct(dpo)} ${up ? '>=' : '<='} sft ${pct(sft)} ${up ? '-' : '+'} ${pct(t.max_regression)}`,
    });
  }
  const failed = (model: string) => checks.filter((c) => c.model === model && !c.passed);
  const dpoFails = failed('dpo');
  const sftFails = failed('sft');
  if (dpoFails.length === 0 && metrics.models.dpo) return { candidate: 'dpo', checks, reason: 'dpo passes every threshold' };
  const why = (fails: GateCheck[]) => fails.map((c) => c.text).join('; ');
  if (sftFails.length === 0 && metrics.models.sft) {
    return { candidate: 'sft', checks, reason: `dpo fails ${why(dpoFails) || 'to produce metrics'}; sft passes its thresholds` };
  }
  return { candidate: null, checks, reason: `no model passes its thresholds: ${why([...dpoFails, ...sftFails])}` };
}

/**
 * The gate's state and decision, as the workflow's result, progress query
 * and report show it. `promote` is the model that ships, or null with the
 * reason why nothing did.
 */
export interface GateOutcome {
  state: 'awaiting_approval' | 'automatic' | 'approved' | 'rejected' | 'timed_out' | 'thresholds_failed';
  candidate: 'sft' | 'dpo' | null;
  promote: 'sft' | 'dpo' | null;
  checks: GateCheck[];
  /**
   * Who approved or rejected, and their note (a person's decision only). With via
   * 'update', by is the caller's client identity as the server recorded it; with
   * 'signal' (runs whose gate opened before the gate took updates) a name the caller typed.
   */
  by: string | null;
  via?: 'update' | 'signal';
  note: string | null;
  decidedAt: string | null;
  /** While awaiting approval: since when, and until when the gate waits. */
  waitingSince: string | null;
  deadline: string | null;
  reason: string;
}
