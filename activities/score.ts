/** scoreRun and promoteModel: control-plane stages that need no host. */
import { scoreGenerations, readJsonl } from '../src/eval/score';
import type { RunMetrics } from '../src/eval/metrics';
import { runKey } from '../src/jobs/contract';
import { openStore } from '../src/store/open';
import type { PromoteInput, ScoreInput } from './types';

export function scoreActivities() {
  return {
    async scoreRun(input: ScoreInput): Promise<RunMetrics> {
      const store = openStore(input.storeUri);
      const text = async (key: string): Promise<string> => {
        const data = await store.getBytes(key);
        if (!data) throw new Error(`${key} is missing from the store ${store.uri}`);
        return data.toString('utf8');
      };
      const items = readJsonl(await text(input.evalKey)) as Parameters<typeof scoreGenerations>[0];
      const generations = readJsonl(await text(input.generationsKey)) as Parameters<typeof scoreGenerations>[1];
      const scored = scoreGenerations(items, generations);
      const metrics: RunMetrics = { primaryMetric: input.primaryMetric, n: scored.n, models: scored.models };
      await store.putJson(runKey(input.runId, 'report/metrics.json'), metrics);
      return metrics;
    },

    async promoteModel(input: PromoteInput): Promise<string> {
      const store = openStore(input.storeUri);
      const dest = openStore(input.outputUri ?? `${store.uri.replace(/\/$/, '')}/models`);
      await dest.deletePrefix(`${input.runId}/model`);
      await store.copyPrefix(input.fromKey, dest, `${input.runId}/model`);
      return `${dest.uri.replace(/\/$/, '')}/${input.runId}/model`;
    },
  };
}
