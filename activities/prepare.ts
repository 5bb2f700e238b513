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
      return { config, storeUri: store.uri, inputs };
    },
  };
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
