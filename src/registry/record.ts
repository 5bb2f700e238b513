/**
 * The registry record of one promoted model: `registry/models/<runId>.json` in
 * the run's store (docs/store-contract.md), written by promoteModel after the
 * weights and card are published. It carries the model's lineage, made from
 * the same facts as its model card (one source), so `finetune models` lists
 * what was made from the store alone, without Temporal.
 */
import { z } from 'zod';
import type { ModelCardInput } from '../report/modelCard';

/** Under the store root, beside runs/ and hub/; not under models/, where a run named "registry" would promote into it. */
export const REGISTRY_PREFIX = 'registry/models';
export const registryKey = (runId: string): string => `${REGISTRY_PREFIX}/${runId}.json`;

const iso = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'is not an ISO-8601 time');

export const ModelRecord = z
  .object({
    run_id: z.string().min(1),
    /** The config's name. */
    name: z.string(),
    promoted_at: iso,
    /** Which model the gate promoted. */
    model: z.enum(['sft', 'dpo']),
    /** model.base as configured; for an hf: base also the repo, the revision asked for and the commit trained on. */
    base_model: z.object({ ref: z.string(), repo: z.string().optional(), revision: z.string().optional(), commit: z.string().optional() }).nullable(),
    /** Each data file the run read, with its sha256 and row count (the same facts as the card's table). */
    data: z.array(z.object({ field: z.string(), ref: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), rows: z.number().int().nonnegative() })),
    /** The primary metric of the promoted model, with its 95% bootstrap interval when the eval computed one. */
    primary_metric: z.object({ name: z.string(), value: z.number(), lo: z.number().nullable(), hi: z.number().nullable(), n: z.number().int() }).nullable(),
    gate: z.object({ state: z.string(), by: z.string().nullable(), decided_at: z.string().nullable() }).nullable(),
    /** What the run's hosts cost, as scored; null when the run recorded none. */
    cost_usd: z.number().nullable(),
    /** Where the weights are: a folder or gs:// URI, or hf:<org>/<name> with the commit that holds them. */
    weights: z.object({ uri: z.string(), commit: z.string().optional(), repo_url: z.string().optional() }),
    /** The store the run (and this record) lives in. */
    store: z.string(),
  })
  // Keys a later version adds are kept: `finetune models --json` prints records as stored.
  .loose();
export type ModelRecord = z.infer<typeof ModelRecord>;

/** What promoteModel published: PromoteResult's fields. */
export interface Published {
  uri: string;
  commit?: string;
  repoUrl?: string;
}

export function modelRecord(card: ModelCardInput, published: Published, meta: { name: string; store: string; promotedAt: string }): ModelRecord {
  const primary = card.metrics.primaryMetric;
  const value = card.metrics.models[card.promoted]?.[primary];
  const iv = card.metrics.intervals?.[card.promoted]?.[primary];
  const hub = card.baseModel?.hub;
  return {
    run_id: card.runId,
    name: meta.name,
    promoted_at: meta.promotedAt,
    model: card.promoted,
    base_model: card.baseModel ? { ref: card.baseModel.ref, ...(hub ? { repo: hub.repo, revision: hub.revision, commit: hub.commit } : {}) } : null,
    data: card.data.map((d) => ({ field: d.field, ref: d.ref, sha256: d.sha256, rows: d.rows })),
    primary_metric: value === undefined ? null : { name: primary, value, lo: iv?.lo ?? null, hi: iv?.hi ?? null, n: iv?.n ?? card.metrics.n },
    gate: card.gate ? { state: card.gate.state, by: card.gate.by, decided_at: card.gate.decidedAt } : null,
    cost_usd: card.metrics.run?.cost?.spentUsd ?? null,
    weights: { uri: published.uri, ...(published.commit ? { commit: published.commit } : {}), ...(published.repoUrl ? { repo_url: published.repoUrl } : {}) },
    store: meta.store,
  };
}

/** The same publication (place and Hub commit) keeps its first promoted_at: re-promoting a run does not make it newer. */
export function samePublication(a: ModelRecord, b: ModelRecord): boolean {
  return a.weights.uri === b.weights.uri && a.weights.commit === b.weights.commit;
}
