/**
 * Scoring a run from what its store holds: eval.jsonl and generations.jsonl
 * in, report/metrics.json and report/report.html out. The score activity and
 * `finetune eval rescore <run>` both come through here, so a report can be
 * rebuilt (new metric code, another threshold) without a host.
 */
import { EvalConfig } from '../config/schema';
import { STAGE_NAMES, runKey, stageKey, type StageName, type StageProgressFile, type StageStatusFile } from '../jobs/contract';
import { renderReportHtml } from '../report/html';
import { baseModelOf, tensorboardLink, type ReportData, type RunSummary, type StageTiming } from '../report/data';
import { openStore } from '../store/open';
import type { Store } from '../store/store';
import type { GateOutcome } from './gate';
import { parseEvalItems } from './items';
import { readJsonl } from './jsonl';
import type { RunMetrics } from './metrics';
import { evaluate, type Evaluation, type Generation } from './score';

/** What scoring a run needs; kept in report/context.json so a rescore uses the same inputs. */
export interface ScoreContext {
  runId: string;
  evalKey: string;
  generationsKey: string;
  primaryMetric: string;
  eval: EvalConfig;
  run: RunSummary | null;
}

export class RunNotScorable extends Error {
  readonly name = 'RunNotScorable';
  constructor(
    readonly runId: string,
    reason: string,
  ) {
    super(`cannot score run ${runId}: ${reason}`);
  }
}

/** Scores the run, writes metrics.json, context.json and report.html; returns the metrics. */
export async function scoreStoredRun(store: Store, ctx: ScoreContext): Promise<RunMetrics> {
  const items = parseEvalItems(await text(store, ctx.runId, ctx.evalKey), ctx.evalKey);
  const generations = readJsonl<Generation>(await text(store, ctx.runId, ctx.generationsKey), ctx.generationsKey);
  const evaluation = evaluate(items, generations, {
    primaryMetric: ctx.primaryMetric,
    disagreementPoints: ctx.eval.disagreement_points,
    bootstrap: { resamples: ctx.eval.bootstrap_resamples, seed: ctx.eval.bootstrap_seed },
  });
  const base = `${store.uri.replace(/\/$/, '')}/${runKey(ctx.runId, 'report')}`;
  const metrics: RunMetrics = { ...evaluation.metrics, ...(ctx.run ? { run: ctx.run } : {}), report: { json: `${base}/metrics.json`, html: `${base}/report.html` } };
  await store.putJson(runKey(ctx.runId, 'report/context.json'), ctx);
  await store.putJson(runKey(ctx.runId, 'report/metrics.json'), metrics);
  await writeReport(store, ctx, { ...evaluation, metrics }, items);
  return metrics;
}

/** Records the gate's decision beside the metrics and shows it in report.html. */
export async function recordGateDecision(store: Store, runId: string, gate: GateOutcome): Promise<void> {
  await store.putJson(runKey(runId, 'report/gate.json'), gate);
  const ctx = await contextOf(store, runId);
  const metrics = await store.getJson<RunMetrics>(runKey(runId, 'report/metrics.json'));
  if (!metrics) throw new RunNotScorable(runId, 'report/metrics.json is missing: the score stage writes it before the gate');
  const items = parseEvalItems(await text(store, runId, ctx.evalKey), ctx.evalKey);
  const generations = readJsonl<Generation>(await text(store, runId, ctx.generationsKey), ctx.generationsKey);
  const { perItem } = evaluate(items, generations, { primaryMetric: ctx.primaryMetric, bootstrap: { resamples: 100 } });
  await writeReport(store, ctx, { metrics, perItem }, items);
}

/**
 * Recomputes the metrics and report of a finished (or failed after generate)
 * run from its stored generations; no host, no Temporal. Uses the eval
 * settings the run was scored with, or its run.json config.
 */
export async function rescoreRun(storeUri: string, runId: string): Promise<{ metrics: RunMetrics; reportUri: string }> {
  const store = openStore(storeUri);
  const metrics = await scoreStoredRun(store, await contextOf(store, runId));
  return { metrics, reportUri: metrics.report!.html };
}

async function contextOf(store: Store, runId: string): Promise<ScoreContext> {
  const saved = await store.getJson<ScoreContext>(runKey(runId, 'report/context.json'));
  if (saved) return { ...saved, eval: EvalConfig.parse(saved.eval ?? {}) };
  const run = await store.getJson<{ config?: { eval?: unknown } }>(runKey(runId, 'run.json'));
  if (!run) throw new RunNotScorable(runId, `${runKey(runId, 'run.json')} is not in the store ${store.uri}`);
  const evalConfig = EvalConfig.parse(run.config?.eval ?? {});
  return {
    runId,
    evalKey: runKey(runId, 'data/eval.jsonl'),
    generationsKey: stageKey(runId, 'generate', 'output/generations.jsonl'),
    primaryMetric: evalConfig.primary_metric,
    eval: evalConfig,
    run: null,
  };
}

async function writeReport(store: Store, ctx: ScoreContext, evaluation: Evaluation, items: ReportData['items']): Promise<void> {
  const progress = (stage: StageName) => store.getJson<StageProgressFile>(stageKey(ctx.runId, stage, 'progress.json'));
  const [sft, dpo, gate, run] = await Promise.all([
    progress('sft'),
    progress('dpo'),
    store.getJson<GateOutcome>(runKey(ctx.runId, 'report/gate.json')),
    store.getJson<Parameters<typeof baseModelOf>[0]>(runKey(ctx.runId, 'run.json')),
  ]);
  const tensorboard = tensorboardLink(store.uri, ctx.runId, await store.list(runKey(ctx.runId, 'tensorboard/')));
  const stages: StageTiming[] = [];
  for (const stage of STAGE_NAMES) {
    const s = await store.getJson<StageStatusFile & { duration_s?: number }>(stageKey(ctx.runId, stage, 'status.json'));
    if (!s) continue;
    const seconds = typeof s.duration_s === 'number' ? s.duration_s : (Date.parse(s.finished_at) - Date.parse(s.started_at)) / 1000;
    stages.push({ stage, jobId: s.job_id, state: s.state, seconds: Number.isFinite(seconds) ? seconds : null, startedAt: s.started_at ?? null, finishedAt: s.finished_at ?? null });
  }
  const data: ReportData = {
    runId: ctx.runId,
    generatedAt: new Date().toISOString(),
    metrics: evaluation.metrics,
    items,
    perItem: evaluation.perItem,
    curves: { sft: sft?.history ?? [], dpo: dpo?.history ?? [] },
    run: ctx.run,
    stages,
    gate: gate ?? null,
    baseModel: baseModelOf(run),
    tensorboard,
  };
  await store.putBytes(runKey(ctx.runId, 'report/report.html'), Buffer.from(renderReportHtml(data), 'utf8'));
}

async function text(store: Store, runId: string, key: string): Promise<string> {
  const data = await store.getBytes(key);
  if (!data) throw new RunNotScorable(runId, `${key} is missing from the store ${store.uri}`);
  return data.toString('utf8');
}
