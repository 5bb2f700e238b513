/**
 * Everything report.html shows, gathered from the store: the metrics, every
 * model's reply to every item with its scores, the training curves from
 * progress.json, the stages' timing, and the gate's decision.
 */
import * as path from 'node:path';
import type { GateOutcome } from '../eval/gate';
import type { EvalItem } from '../eval/items';
import type { RunMetrics } from '../eval/metrics';
import { higherIsBetter } from '../eval/metricInfo';
import { seededRandom } from '../eval/bootstrap';
import type { ItemResult } from '../eval/score';
import { runKey, type ProgressPoint } from '../jobs/contract';
import { fileUriToPath } from '../store/uri';
import type { SplitFacts } from '../cost/ledger';

/** The run as the workflow knows it when it scores (RunProgress's shape, minus what the report does not need). */
export interface RunSummary {
  startedAt: string;
  hostLosses: number;
  stepsRedone: number;
  /** Wall time the host losses cost (waiting for a new host plus redoing steps); absent in older runs. */
  secondsLost?: number;
  losses?: RecoveryLoss[];
  stages: Record<string, { state: string; attempts: number; startedAt: string | null; finishedAt: string | null }>;
  /** The hosts' bill up to scoring (all hosts are released by then); absent in older runs. */
  cost?: { spentUsd: number; wastedUsd: number; budgetUsd: number | null; managedUsd: number | null; split?: SplitFacts };
}

/** One lost host, as the workflow's progress records it (workflows/progress.ts HostLoss). */
export interface RecoveryLoss {
  stage: string;
  hostId: string;
  jobId: string;
  reason: string;
  preempted: boolean;
  /** The last step the lost job reported, and the committed checkpoint the next job resumed from. */
  atStep: number;
  checkpointStep: number;
  stepsRedone: number;
  /** From the loss to the next job's first new step: detection, release, provision, start, checkpoint download. */
  secondsToResume: number | null;
  /** secondsToResume plus the redone steps at the lost job's pace. */
  secondsLost: number | null;
}

/** From stages/<stage>/status.json: how long the stage's last job ran and which attempt it was. */
export interface StageTiming {
  stage: string;
  jobId: string;
  state: string;
  seconds: number | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** The base model as run.json records it: an hf: model with the commit it resolved to, or the path or URI the config named. */
export interface BaseModelLine {
  ref: string;
  hub?: { repo: string; revision: string; commit: string };
}

/** From run.json (`config.model.base`, and `model` for an hf: base); null when run.json is missing. */
export function baseModelOf(run: { config?: { model?: { base?: string } }; model?: { repo: string; revision: string; commit: string } } | undefined): BaseModelLine | null {
  const ref = run?.config?.model?.base;
  if (ref === undefined) return null;
  return run?.model ? { ref, hub: { repo: run.model.repo, revision: run.model.revision, commit: run.model.commit } } : { ref };
}

export interface ReportData {
  runId: string;
  generatedAt: string;
  metrics: RunMetrics;
  items: EvalItem[];
  perItem: Record<string, ItemResult[]>;
  curves: { sft: ProgressPoint[]; dpo: ProgressPoint[] };
  run: RunSummary | null;
  stages: StageTiming[];
  gate: GateOutcome | null;
  /** Absent in reports of runs scored before it was recorded. */
  baseModel?: BaseModelLine | null;
  /** The run's TensorBoard files; null or absent when the training stages wrote none. */
  tensorboard?: TensorBoardLink | null;
}

/** Where the run's TensorBoard files are: runs/<run>/tensorboard/<lineage>/ (trainer/durable_finetune/tracking.py). */
export interface TensorBoardLink {
  /** The command that opens them: `tensorboard --logdir <the store's folder, or gs://...>`. */
  command: string;
  /** The folder relative to report.html (runs/<run>/report/). */
  href: string;
  /** One TensorBoard run per training lineage: sft, dpo, dpo.r2, ... */
  runs: string[];
}

/** The TensorBoard link of a run whose store lists `keys` under runs/<run>/tensorboard/; null when none. */
export function tensorboardLink(storeUri: string, runId: string, keys: string[]): TensorBoardLink | null {
  const prefix = `${runKey(runId, 'tensorboard')}/`;
  const runs = [...new Set(keys.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length).split('/')[0]))].sort();
  return runs.length === 0 ? null : { command: tensorboardCommand(storeUri, runId), href: '../tensorboard/', runs };
}

/** `tensorboard --logdir` on the run's folder: a local path for a file:// store (quoted for a shell when it needs it), else the gs:// URI. */
export function tensorboardCommand(storeUri: string, runId: string): string {
  const key = runKey(runId, 'tensorboard');
  const logdir = storeUri.startsWith('file:') ? path.join(fileUriToPath(storeUri), ...key.split('/')) : `${storeUri}/${key}`;
  return `tensorboard --logdir ${/^[\w@%+=:,./-]+$/.test(logdir) ? logdir : `'${logdir.replace(/'/g, `'\\''`)}'`}`;
}

export interface PickedItem {
  itemId: string;
  why: string;
}

export interface ItemPicks {
  random: PickedItem[];
  regressions: PickedItem[];
  disagreements: PickedItem[];
}

/**
 * Which items a person should read: a seeded random sample (what outputs
 * look like), the largest regressions from base to SFT and SFT to DPO, and
 * the items on which two methods of one metric disagree.
 */
export function pickItems(data: ReportData, perGroup = 5, seed = 0): ItemPicks {
  const ids = data.items.map((i) => i.id);
  const random = shuffle(ids, seed)
    .slice(0, perGroup)
    .map((itemId) => ({ itemId, why: 'random sample' }));

  const drops: { itemId: string; drop: number; why: string }[] = [];
  for (const [from, to] of [
    ['base', 'sft'],
    ['sft', 'dpo'],
  ] as const) {
    const a = data.perItem[from];
    const b = data.perItem[to];
    if (!a || !b) continue;
    b.forEach((r, i) => {
      const lost = Object.keys(r.scores)
        .filter((m) => m in a[i].scores)
        .map((m) => ({ m, d: higherIsBetter(m) ? a[i].scores[m] - r.scores[m] : r.scores[m] - a[i].scores[m] }))
        .filter((x) => x.d > 0);
      const drop = lost.reduce((s, x) => s + x.d, 0) + (lost.some((x) => x.m === data.metrics.primaryMetric) ? 10 : 0);
      if (drop > 0) drops.push({ itemId: r.itemId, drop, why: `${to} worse than ${from} on ${lost.map((x) => x.m).join(', ')}` });
    });
  }
  drops.sort((x, y) => y.drop - x.drop || (x.itemId < y.itemId ? -1 : 1));
  const regressions = unique(drops).slice(0, perGroup);

  const flagged: PickedItem[] = [];
  for (const d of data.metrics.disagreements ?? []) {
    for (const itemId of d.items) flagged.push({ itemId, why: `${d.model}: ${d.metric} and ${d.other} disagree (${d.what})` });
  }
  return { random, regressions, disagreements: unique(flagged).slice(0, perGroup) };
}

function unique<T extends { itemId: string }>(xs: T[]): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => !seen.has(x.itemId) && seen.add(x.itemId));
}

function shuffle<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  const random = seededRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
