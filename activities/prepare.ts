/**
 * prepareRun: resolves the config on the worker and puts everything a host
 * needs into the store (run.json, data, the base model: a local folder, or an
 * hf: model resolved to its commit and fetched once into hub/), because the
 * store is the host's only input. It runs before any host is provisioned, so
 * a bad reference or token costs nothing.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import * as fs from 'node:fs';
import { resolveLocalPaths } from '../src/config/load';
import { checkModelFamily, checkRemoteModel } from '../src/config/remote';
import type { PipelineConfig } from '../src/config/schema';
import { checkDataFiles, DataInvalid } from '../src/data/check';
import { hubEndpoint, type HubAccess } from '../src/hub/client';
import { HubError } from '../src/hub/errors';
import { fetchHubModel, type HubModel } from '../src/hub/fetch';
import { isHfRef, parseHfRef } from '../src/hub/ref';
import { runKey } from '../src/jobs/contract';
import { FAILURE_TYPES } from '../src/jobs/failures';
import { runLog } from '../src/log';
import { planRun } from '../src/plan/plan';
import { resolveSecret, SecretUnavailable } from '../src/secrets/resolve';
import { openStore } from '../src/store/open';
import type { Store } from '../src/store/store';
import type { ActivityDeps } from './deps';
import type { PreparedRun, RunInputs } from './types';

const isRemote = (ref: string): boolean => /^(gs:\/\/|hf:)/.test(ref);

/** What run.json holds: the resolved config (secret references, never secrets) and the base model's commit. */
export interface RunRecord {
  run_id: string;
  config: PipelineConfig;
  model?: HubModel;
  prepared_at: string;
}

export function prepareActivities(deps: ActivityDeps) {
  return {
    async prepareRun(input: { runId: string; config: PipelineConfig }): Promise<PreparedRun> {
      const config = resolveLocalPaths(input.config, deps.projectRoot);
      const store = openStore(config.store);
      const { runId } = input;
      await checkInputs(config);
      await checkPromoteToken(config, deps.env ?? process.env);
      const earlier = await store.getJson<RunRecord>(runKey(runId, 'run.json'));
      if (earlier) refuseOtherTraining(runId, earlier.config, config);
      const model = isHfRef(config.model.base) ? await hubModel(store, runId, config.model, earlier?.model?.commit, deps.env ?? process.env) : undefined;
      if (model) checkModelFamily(config.model.base, await store.getJson(`${model.key}/config.json`));
      const record: RunRecord = { run_id: runId, config, ...(model ? { model } : {}), prepared_at: new Date().toISOString() };
      await store.putJson(runKey(runId, 'run.json'), record);
      await recordPlan(store, runId, config);

      const stageIn = async (ref: string, key: string): Promise<string> => {
        if (isRemote(ref)) return ref; // anything else is an absolute path: resolveLocalPaths decoded file:// references
        if (!fs.existsSync(ref)) throw new Error(`input ${ref} does not exist on the worker`);
        await store.uploadPath(ref, runKey(runId, key));
        return runKey(runId, key);
      };
      const inputs: RunInputs = {
        base_model: model ? model.key : await stageIn(config.model.base, 'inputs/base-model'),
        sft_data: await stageIn(config.data.sft, 'data/sft.jsonl'),
        preference_data: await stageIn(config.data.preferences, 'data/preferences.jsonl'),
        eval_data: await stageIn(config.data.eval, 'data/eval.jsonl'),
      };
      const earlierJobs = earlier ? await earlierJobAttempts(store, runId) : {};
      return { config, storeUri: store.uri, inputs, ...(model ? { model } : {}), ...(Object.keys(earlierJobs).length > 0 ? { earlierJobs } : {}) };
    },
  };
}

/**
 * The hf: base model in the store, at the commit an earlier execution of this run
 * recorded (pinned) or the one its revision names now. The token is resolved here,
 * inside the activity, and leaves it in no input, output, record, log or error.
 */
async function hubModel(store: Store, runId: string, model: PipelineConfig['model'], pinned: string | undefined, env: NodeJS.ProcessEnv): Promise<HubModel> {
  try {
    const access: HubAccess = {
      endpoint: hubEndpoint(env),
      ...(model.token ? { token: { value: await resolveSecret('model.token', model.token, env), ref: model.token } } : {}),
    };
    const heartbeat = Context.current().heartbeat.bind(Context.current());
    const out = await fetchHubModel(store, parseHfRef(model.base), access, { pinned, progress: (p) => heartbeat(p) });
    runLog({ runId }).info(
      { repo: out.model.repo, revision: out.model.revision, commit: out.model.commit, key: out.model.key, fetched: out.fetched, files: out.files, bytes: out.bytes },
      'base model ready',
    );
    return out.model;
  } catch (err) {
    if (err instanceof HubError) {
      throw ApplicationFailure.create({ message: err.message, type: err.name, nonRetryable: !err.retryable, details: [{ field: err.field, ...err.evidence }] });
    }
    if (err instanceof SecretUnavailable) throw ApplicationFailure.nonRetryable(err.message, err.name, { field: err.field });
    throw err;
  }
}

/**
 * plan.json beside run.json: the estimate `finetune plan` prints (src/plan/plan.ts), with token
 * counts from the rows' bytes rather than the tokenizer, which would add a Python start to every
 * run. A figure it cannot make never stops the run.
 */
async function recordPlan(store: Store, runId: string, config: PipelineConfig): Promise<void> {
  try {
    await store.putJson(runKey(runId, 'plan.json'), { ...(await planRun(config, { tokenizer: false })), planned_at: new Date().toISOString() });
  } catch (err) {
    runLog({ runId }).warn({ err: (err as Error).message }, 'no plan.json: the estimate failed');
  }
}

/** A Hub output's token that cannot be read fails now, before any host is paid for, not after the gate. */
async function checkPromoteToken(config: PipelineConfig, env: NodeJS.ProcessEnv): Promise<void> {
  if (config.output === undefined || !isHfRef(config.output) || !config.promote.token) return;
  try {
    await resolveSecret('promote.token', config.promote.token, env);
  } catch (err) {
    if (err instanceof SecretUnavailable) throw ApplicationFailure.nonRetryable(err.message, err.name, { field: err.field });
    throw err;
  }
}

/** What a checkpoint depends on: a rerun of a run id must train the same way to continue its checkpoints. */
const TRAINING_SECTIONS = ['model', 'data', 'sft', 'merge', 'dpo'] as const;

function refuseOtherTraining(runId: string, before: PipelineConfig, now: PipelineConfig): void {
  const changed = TRAINING_SECTIONS.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(now[k]));
  if (changed.length === 0) return;
  throw ApplicationFailure.nonRetryable(
    `run id ${runId} already holds the checkpoints of a run with other ${changed.join(', ')} settings, which this config cannot continue. ` +
      `Start this config under a new run id, or rerun ${runId} with the config it had (${runKey(runId, 'run.json')} in the store).`,
    FAILURE_TYPES.RunIdInUse.type,
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

/**
 * Every data file, gs:// ones too, read now, and a gs:// model folder looked at: a bad line or
 * a wrong path is named by field (file, line and key) before any host is paid for.
 */
async function checkInputs(config: PipelineConfig): Promise<void> {
  await checkRemoteModel(config.model.base);
  try {
    await checkDataFiles(config.data, { remote: true });
  } catch (err) {
    if (err instanceof DataInvalid) throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.DataInvalid.type, { issues: err.issues, totals: err.totals });
    throw err;
  }
}
