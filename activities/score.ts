/** scoreRun and recordGate: control-plane stages that need no host (promoteModel: promote.ts). */
import { EvalConfig } from '../src/config/schema';
import type { RunMetrics } from '../src/eval/metrics';
import { recordGateDecision, scoreStoredRun } from '../src/eval/rescore';
import { openStore } from '../src/store/open';
import type { RecordGateInput, ScoreInput } from './types';

export function scoreActivities() {
  return {
    /** Writes report/metrics.json and report/report.html; returns the metrics (item lists capped for history). */
    async scoreRun(input: ScoreInput): Promise<RunMetrics> {
      const metrics = await scoreStoredRun(openStore(input.storeUri), {
        runId: input.runId,
        evalKey: input.evalKey,
        generationsKey: input.generationsKey,
        primaryMetric: input.primaryMetric,
        eval: EvalConfig.parse(input.eval ?? { primary_metric: input.primaryMetric }),
        run: input.run ?? null,
      });
      return { ...metrics, disagreements: metrics.disagreements?.map((d) => ({ ...d, items: d.items.slice(0, 20) })) };
    },

    async recordGate(input: RecordGateInput): Promise<void> {
      await recordGateDecision(openStore(input.storeUri), input.runId, input.gate);
    },
  };
}
