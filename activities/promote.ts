/**
 * promoteModel: publishes the model the gate chose, with its model card
 * (README.md, src/report/modelCard.ts), to `output`: a folder or gs:// URI
 * (<output>/<runId>/model/, default <store>/models), or a Hub model repo
 * (hf:<org>/<name>, one commit through src/hub/push.ts). The Hub token is
 * resolved here, inside the activity, and leaves it in no input, output or
 * error.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PromoteConfig } from '../src/config/schema';
import type { PipelineConfig } from '../src/config/schema';
import type { GateOutcome } from '../src/eval/gate';
import type { RunMetrics } from '../src/eval/metrics';
import { hubEndpoint } from '../src/hub/client';
import { HubError } from '../src/hub/errors';
import type { HubModel } from '../src/hub/fetch';
import { pushModelFolder } from '../src/hub/push';
import { isHfRef } from '../src/hub/ref';
import { selectModelFiles } from '../src/hub/select';
import { runKey } from '../src/jobs/contract';
import { FAILURE_TYPES } from '../src/jobs/failures';
import { runLog } from '../src/log';
import { modelRecord, registryKey, samePublication, type ModelRecord, type Published } from '../src/registry/record';
import { baseModelOf } from '../src/report/data';
import { type DataFileFacts, type ModelCardInput, renderModelCard } from '../src/report/modelCard';
import { resolveSecret, SecretUnavailable } from '../src/secrets/resolve';
import { FileStore, filesUnder } from '../src/store/file';
import { openStore } from '../src/store/open';
import type { Store } from '../src/store/store';
import type { ActivityDeps } from './deps';
import type { PromoteInput, PromoteResult } from './types';

export const CARD_FILE = 'README.md';

export function promoteActivities(deps: Pick<ActivityDeps, 'env'>) {
  return {
    async promoteModel(input: PromoteInput): Promise<PromoteResult> {
      const store = openStore(input.storeUri);
      const made = await cardFacts(store, input);
      const card = renderModelCard(made.facts);
      if (input.outputUri !== undefined && isHfRef(input.outputUri)) return recordModel(store, made, await promoteToHub(store, input, card, deps.env ?? process.env));
      const dest = openStore(input.outputUri ?? `${store.uri.replace(/\/$/, '')}/models`);
      const prefix = `${input.runId}/model`;
      await dest.deletePrefix(prefix);
      await store.copyPrefix(input.fromKey, dest, prefix);
      Context.current().heartbeat({ copied: prefix });
      await dest.putBytes(`${prefix}/${CARD_FILE}`, Buffer.from(card));
      return recordModel(store, made, { uri: `${dest.uri.replace(/\/$/, '')}/${prefix}` });
    },
  };
}

async function promoteToHub(store: Store, input: PromoteInput, card: string, env: NodeJS.ProcessEnv): Promise<PromoteResult> {
  const repo = input.outputUri!.slice('hf:'.length);
  const promote = PromoteConfig.parse(input.promote ?? {});
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'finetune-promote-'));
  try {
    if (!promote.token) throw new SecretUnavailable('promote.token', `is not set; output ${input.outputUri} needs a token with write access (promote.token: secret:env:<NAME>)`);
    const token = { value: await resolveSecret('promote.token', promote.token, env), ref: promote.token };
    // Through the worker's disk, file by file: a multi-GB shard is streamed, never held in memory.
    const staged = new FileStore(`file://${tmp}`);
    await store.copyPrefix(input.fromKey, staged, 'model');
    const dir = path.join(tmp, 'model');
    const keep = new Set(selectModelFiles(await filesUnder(dir)).files);
    for (const rel of await filesUnder(dir)) if (!keep.has(rel)) await fs.rm(path.join(dir, rel));
    await fs.writeFile(path.join(dir, CARD_FILE), card);
    const heartbeat = throttledHeartbeat();
    heartbeat({ repo, phase: 'staged' });
    const out = await pushModelFolder(
      repo,
      dir,
      { endpoint: hubEndpoint(env), token },
      {
        private: promote.private,
        overwrite: promote.overwrite,
        title: commitTitle(input),
        progress: (event) => heartbeat({ repo, ...event }),
        description: `Promoted by durable-finetune from run ${input.runId} (store ${store.uri}). The model card (README.md) lists its base model, data, settings, eval and cost.`,
      },
    );
    runLog({ runId: input.runId }).info(
      { repo, commit: out.commit, committed: out.committed, createdRepo: out.createdRepo },
      out.committed ? 'promoted to the Hub' : 'the Hub already holds this promotion',
    );
    return { uri: input.outputUri!, commit: out.commit, repoUrl: out.url, committed: out.committed };
  } catch (err) {
    if (err instanceof HubError) {
      throw ApplicationFailure.create({ message: err.message, type: err.name, nonRetryable: !err.retryable, details: [{ field: err.field, ...err.evidence }] });
    }
    if (err instanceof SecretUnavailable) throw ApplicationFailure.nonRetryable(err.message, err.name, { field: err.field });
    throw err;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** Heartbeats at most every 10 s: the client reports progress per chunk of every file. */
function throttledHeartbeat(): (details: object) => void {
  let last = 0;
  return (details) => {
    if (Date.now() - last < 10_000 && 'progress' in details) return;
    last = Date.now();
    Context.current().heartbeat(details);
  };
}

/** "durable-finetune run <runId>: <model> (<primary metric> <value>)": the run is named in the Hub's history. */
export function commitTitle(input: Pick<PromoteInput, 'runId' | 'model' | 'primary'>): string {
  const primary = input.primary ? ` (${input.primary.metric} ${(input.primary.value * 100).toFixed(1)}%)` : '';
  return `durable-finetune run ${input.runId}: ${input.model ?? 'model'}${primary}`;
}

/**
 * Written last, once the weights and card are published: the registry record
 * (src/registry/record.ts) that `finetune models` lists, from the card's facts.
 * Re-promoting to the same place and commit rewrites it with its first promoted_at.
 */
async function recordModel<R extends Published>(store: Store, made: { facts: ModelCardInput; name: string }, published: R): Promise<R> {
  const key = registryKey(made.facts.runId);
  const record = modelRecord(made.facts, published, { name: made.name, store: store.uri, promotedAt: new Date().toISOString() });
  // A damaged earlier record is replaced, not a reason to fail a promotion that has already published.
  const previous = await store.getJson<ModelRecord>(key).catch(() => undefined);
  await store.putJson(key, previous && samePublication(previous, record) ? { ...record, promoted_at: previous.promoted_at } : record);
  return published;
}

/** The card's facts, from what the run left in the store: run.json, the data it trained on, metrics.json, gate.json. */
async function cardFacts(store: Store, input: PromoteInput): Promise<{ facts: ModelCardInput; name: string }> {
  const run = await store.getJson<{ config: PipelineConfig; model?: HubModel }>(runKey(input.runId, 'run.json'));
  const metrics = await store.getJson<RunMetrics>(runKey(input.runId, 'report/metrics.json'));
  const gate = (await store.getJson<GateOutcome>(runKey(input.runId, 'report/gate.json'))) ?? null;
  if (!run || !metrics) {
    throw ApplicationFailure.nonRetryable(
      `run ${input.runId} has no ${run ? 'report/metrics.json' : 'run.json'} in the store ${store.uri}; promote reads it for the model card`,
      FAILURE_TYPES.RunNotScorable.type,
    );
  }
  const facts: ModelCardInput = {
    runId: input.runId,
    promoted: input.model ?? 'sft',
    destination: input.outputUri ?? `${store.uri.replace(/\/$/, '')}/models`,
    baseModel: baseModelOf(run),
    dtype: run.config.model.dtype,
    data: await dataFacts(store, input.runId, run.config),
    training: { sft: run.config.sft, merge: run.config.merge, dpo: run.config.dpo },
    metrics,
    gate,
  };
  return { facts, name: run.config.name };
}

/** sha256 and rows of each data file, read from the store's copy (or the gs:// object the run read). */
async function dataFacts(store: Store, runId: string, config: PipelineConfig): Promise<DataFileFacts[]> {
  const out: DataFileFacts[] = [];
  for (const [field, name] of [
    ['sft', 'sft'],
    ['preferences', 'preferences'],
    ['eval', 'eval'],
  ] as const) {
    const ref = config.data[field];
    const bytes = ref.startsWith('gs://') ? await readGs(ref) : await store.getBytes(runKey(runId, `data/${name}.jsonl`));
    if (!bytes) continue;
    const rows = bytes
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '').length;
    out.push({ field: `data.${field}`, ref, sha256: createHash('sha256').update(bytes).digest('hex'), rows });
  }
  return out;
}

async function readGs(uri: string): Promise<Buffer | undefined> {
  const m = /^(gs:\/\/[^/]+)\/(.+)$/.exec(uri);
  return m ? openStore(m[1]).getBytes(m[2]) : undefined;
}
