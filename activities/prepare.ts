/**
 * prepareRun: resolves the config on the worker and puts everything a host
 * needs into the store (run.json, data, a local base model), because the
 * store is the host's only input.
 */
import { ApplicationFailure } from '@temporalio/activity';
import * as fs from 'node:fs';
import { resolveLocalPaths } from '../src/config/load';
import type { PipelineConfig } from '../src/config/schema';
import { EvalItemsInvalid, parseEvalItems } from '../src/eval/items';
import { runKey } from '../src/jobs/contract';
import { openStore } from '../src/store/open';
import type { Store } from '../src/store/store';
import type { ActivityDeps } from './deps';
import type { PreparedRun, RunInputs } from './types';

const isRemote = (ref: string): boolean => /^(gs:\/\/|hf:)/.test(ref);

export function prepareActivities(deps: ActivityDeps) {
  return {
    async prepareRun(input: { runId: string; config: PipelineConfig }): Promise<PreparedRun> {
      const config = resolveLocalPaths(input.config, deps.projectRoot);
      const store = openStore(config.store);
      const { runId } = input;
      checkEvalData(config.data.eval);
      const earlier = await store.getJson<{ config: PipelineConfig }>(runKey(runId, 'run.json'));
      if (earlier) refuseOtherTraining(runId, earlier.config, config);
      await store.putJson(runKey(runId, 'run.json'), { run_id: runId, config, prepared_at: new Date().toISOString() });

      const stageIn = async (ref: string, key: string): Promise<string> => {
        if (isRemote(ref)) return ref;
        const local = ref.startsWith('file://') ? new URL(ref).pathname : ref;
        if (!fs.existsSync(local)) throw new Error(`input ${ref} does not exist on the worker`);
        await store.uploadPath(local, runKey(runId, key));
        return runKey(runId, key);
      };
      const inputs: RunInputs = {
        base_model: await stageIn(config.model.base, 'inputs/base-model'),
        sft_data: await stageIn(config.data.sft, 'data/sft.jsonl'),
        preference_data: await stageIn(config.data.preferences, 'data/preferences.jsonl'),
        eval_data: await stageIn(config.data.eval, 'data/eval.jsonl'),
      };
      const earlierJobs = earlier ? await earlierJobAttempts(store, runId) : {};
      return { config, storeUri: store.uri, inputs, ...(Object.keys(earlierJobs).length > 0 ? { earlierJobs } : {}) };
    },
  };
}

/** What a checkpoint depends on: a rerun of a run id must train the same way to continue its checkpoints. */
const TRAINING_SECTIONS = ['model', 'data', 'sft', 'merge', 'dpo'] as const;

function refuseOtherTraining(runId: string, before: PipelineConfig, now: PipelineConfig): void {
  const changed = TRAINING_SECTIONS.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(now[k]));
  if (changed.length === 0) return;
  throw ApplicationFailure.nonRetryable(
    `run id ${runId} already holds the checkpoints of a run with other ${changed.join(', ')} settings, which this config cannot continue. ` +
      `Start this config under a new run id, or rerun ${runId} with the config it had (${runKey(runId, 'run.json')} in the store).`,
    'RunIdInUse',
    { changed },
  );
}

/** Highest attempt per job tag among the jobs an agent ever started for this run (stages/<stage>/starts/<job id>/). */
async function earlierJobAttempts(store: Store, runId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const key of await store.list(runKey(runId, 'stages/'))) {
    const m = key.match(/\/starts\/([^/]+)-(\d+)\//);
    if (m) out[m[1]] = Math.max(out[m[1]] ?? 0, Number(m[2]));
  }
  return out;
}

/** A bad eval line is reported now, by line and field, not after hours of training when scoring reads it. */
function checkEvalData(ref: string): void {
  if (isRemote(ref)) return;
  const file = ref.startsWith('file://') ? new URL(ref).pathname : ref;
  if (!fs.existsSync(file)) return;
  try {
    parseEvalItems(fs.readFileSync(file, 'utf8'), ref);
  } catch (err) {
    if (err instanceof EvalItemsInvalid) throw ApplicationFailure.nonRetryable(err.message, 'EvalDataInvalid', { issues: err.issues });
    throw err;
  }
}
