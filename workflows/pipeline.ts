/**
 * fineTunePipeline: provision, preflight, sft, merge, dpo, generate, score,
 * promote, then release every host whatever happened. Reads top to bottom as
 * the business process; side effects live in activities.
 */
import { ActivityCancellationType, ActivityFailure, ApplicationFailure, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, JobResult, PreparedRun, PromoteResult, ResolvedConfig } from '../activities/types';
import type { PipelineConfig, PipelineConfigInput } from '../src/config/schema';
import { trackingParams } from '../src/config/trackingParams';
import { splitFacts } from '../src/cost/ledger';
import type { GateOutcome } from '../src/eval/gate';
import type { RunMetrics } from '../src/eval/metrics';
import { agentStartTimeoutS } from '../src/hosts/provider';
import { FAILURE_TYPES, nonRetryable } from '../src/jobs/failures';
import { RunIdInvalid, runIdProblem } from '../src/jobs/runId';
import { gpusInWorkflow, parsedInWorkflow, pricedInWorkflow } from './configInWorkflow';
import { CostTracker, type CostSummary } from './cost';
import { dpoSummary, runDpo, type DpoOutcome, type DpoSummary } from './dpo';
import { EvalGate } from './gate';
import { HostPool, type HostVerbs } from './hosts';
import { finishStage } from './progress';
import { StageRunner } from './stages';

export interface PipelineResult {
  runId: string;
  storeUri: string;
  metrics: RunMetrics;
  /** not_promoted: the gate let nothing ship (gate.reason says why); promoted is then { model: 'none', uri: '' }. */
  outcome: 'promoted' | 'not_promoted';
  /** For a Hub repo (output: hf:<org>/<name>) also the commit that holds the model and the repo's page. */
  promoted: { model: 'sft' | 'dpo'; uri: string; commit?: string; repoUrl?: string } | { model: 'none'; uri: '' };
  gate: GateOutcome;
  hostLosses: number;
  stepsRedone: number;
  cost: CostSummary;
  /** DPO's attempts and which model it left to ship (sft when every attempt collapsed). */
  dpo: DpoSummary;
}

const short = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: nonRetryable('ConfigInvalid', 'QuotaExceeded', 'CapacityUnavailable') },
});

// prepareRun may fetch a Hub model of many GB into the store: one attempt may take long, and it
// heartbeats while it downloads, so a worker that died mid-fetch is noticed within minutes.
const preparing = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '5 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: nonRetryable('ConfigInvalid') },
});

// promoteModel copies the model out of the store and may upload many GB to the Hub: it heartbeats
// on the upload's progress, so a long attempt is allowed and a dead worker is noticed.
const promoting = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '10 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: nonRetryable('ConfigInvalid') },
});

export async function fineTunePipeline(input: PipelineConfigInput): Promise<PipelineResult> {
  const runId = workflowInfo().workflowId;
  refuseInvalidRunId(runId);
  const stages = new StageRunner(runId, input);
  const { resolved, config } = await stages.resolving(() => resolvedConfig(input));
  stages.configured(config);
  // Registers approve and reject now, so that one sent before the gate waits is refused, not held.
  const evalGate = new EvalGate(config.eval, stages.progress);
  try {
    const { run, gpus } = await provision(stages, runId, config, resolved);
    const c = run.config;
    // expected_gpus: the GPUs CUDA must see there, or preflight fails with GpuMissing (no silent CPU run);
    // dtype: bf16 asked for on a GPU without it fails in preflight, not after the first paid hour.
    await stages.run('preflight', {}, { ...c.preflight, expected_gpus: gpus, dtype: c.model.dtype });
    const sft = await stages.run('sft', { base_model: run.inputs.base_model, sft_data: run.inputs.sft_data }, training(c, c.sft));
    const merge = await stages.run(
      'merge',
      { base_model: run.inputs.base_model, adapter: sft.output!.key, adapter_fingerprint: sft.output!.fingerprint ?? '' },
      { ...c.merge, dtype: c.model.dtype },
    );
    const dpoRun = await dpo(stages, run, merge);
    const dpoResult = dpoRun.result;
    const generated = await stages.run(
      'generate',
      { eval_data: run.inputs.eval_data },
      {
        ...c.generate,
        dtype: c.model.dtype,
        models: { base: run.inputs.base_model, sft: merge.output!.key, ...(dpoResult ? { dpo: dpoResult.output!.key } : {}) },
      },
    );
    await stages.releaseHosts();

    const metrics = await score(stages, runId, run, generated);
    const gate = await decide(stages, evalGate, runId, run, metrics);
    const ended = (outcome: PipelineResult['outcome'], promoted: PipelineResult['promoted']): PipelineResult => {
      stages.ended(outcome === 'promoted' ? 'succeeded' : 'not_promoted');
      const p = stages.progress;
      return {
        runId,
        storeUri: run.storeUri,
        metrics,
        outcome,
        promoted,
        gate,
        hostLosses: p.hostLosses,
        stepsRedone: p.stepsRedone,
        cost: stages.spent(),
        dpo: dpoSummary(dpoRun),
      };
    };
    if (gate.promote === null) {
      const result = ended('not_promoted', { model: 'none', uri: '' });
      stages.tell('not_promoted', { gate: gateFacts(gate) });
      return result;
    }

    const model = gate.promote;
    const promotedTo = await promote(stages, runId, run, metrics, model, model === 'dpo' ? dpoResult!.output!.key : merge.output!.key);
    const result = ended('promoted', { model, ...promotedTo });
    stages.tell('succeeded', { promoted: { model, uri: promotedTo.uri, ...(promotedTo.commit ? { commit: promotedTo.commit } : {}) } });
    return result;
  } catch (err) {
    stages.failed(err);
    throw err;
  } finally {
    await stages.close();
  }
}

/**
 * A run started around our client (temporal CLI, another SDK) is checked here: its id becomes a store
 * folder, VM name and agent argument. Behind a patch so a run already going under an old id still replays.
 */
function refuseInvalidRunId(runId: string): void {
  const badId = patched('run-id-checked') ? runIdProblem(runId) : undefined;
  if (badId) throw ApplicationFailure.nonRetryable(new RunIdInvalid('run id (workflow id)', runId, badId).message, FAILURE_TYPES.RunIdInvalid.type);
}

/**
 * The config parsed and priced by an activity, whose recorded result a replay reads: an edit of the
 * parser, a default or the price table reaches new runs only. Runs started before did it in workflow
 * code (workflows/configInWorkflow.ts) and still replay that way (resolved is null for them).
 */
async function resolvedConfig(input: PipelineConfigInput): Promise<{ resolved: ResolvedConfig | null; config: PipelineConfig }> {
  const resolved = patched('config-resolved') ? await resolveConfig(input) : null;
  return { resolved, config: resolved ? resolved.config : parsedInWorkflow(input) };
}

/** The run prepared (its inputs in the store) and its first host up, billed from its insert to its delete. */
async function provision(stages: StageRunner, runId: string, config: PipelineConfig, resolved: ResolvedConfig | null): Promise<{ run: PreparedRun; gpus: number | null }> {
  stages.enter('provision');
  const run = stages.prepared(await preparing.prepareRun({ runId, config }));
  // Each host billed from its insert to its delete, boot and failed provisions included (docs/cost.md).
  const createToDelete = patched('billing-create-to-delete') ? { bootBoundS: agentStartTimeoutS(run.config.host) } : null;
  const bill = new CostTracker(run.config.cost, resolved ? resolved.usdPerHour : pricedInWorkflow(run.config), createToDelete);
  const gpus = resolved ? resolved.gpus : gpusInWorkflow(run.config);
  stages.billedBy(bill);
  const host = run.config.host;
  const provisioning = provisioningActivities(host);
  const verbs: HostVerbs = {
    provisionHost: (input) => bill.provisioning(() => provisioning.provisionHost(input)),
    releaseHost: (lease) => bill.releasing(lease, () => short.releaseHost(lease)),
  };
  await stages.hold(new HostPool(verbs, { runId, storeUri: run.storeUri, host, gpus }, config.monitor.max_host_losses, stages));
  stages.done('provision');
  return { run, gpus };
}

/** Every attempt starts from the merged SFT model; all collapsed -> the SFT model ships (workflows/dpo.ts). */
function dpo(stages: StageRunner, run: PreparedRun, merge: JobResult): Promise<DpoOutcome> {
  const c = run.config;
  return runDpo(
    c.dpo,
    training(c, c.dpo),
    (params, jobTag) =>
      stages.run(
        'dpo',
        { model: merge.output!.key, model_fingerprint: merge.output!.fingerprint ?? '', preference_data: run.inputs.preference_data, eval_data: run.inputs.eval_data },
        params,
        jobTag,
      ),
    (summary) =>
      stages.show((p) => {
        p.dpo = summary;
        if (summary.shipped === 'sft') finishStage(p, 'dpo', 'failed', new Date());
      }),
  );
}

async function score(stages: StageRunner, runId: string, run: PreparedRun, generated: JobResult): Promise<RunMetrics> {
  stages.enter('score');
  const p = stages.progress;
  const metrics = await short.scoreRun({
    runId,
    storeUri: run.storeUri,
    evalKey: run.inputs.eval_data,
    generationsKey: generated.output!.key,
    primaryMetric: run.config.eval.primary_metric,
    eval: run.config.eval,
    run: {
      startedAt: p.startedAt,
      hostLosses: p.hostLosses,
      stepsRedone: p.stepsRedone,
      secondsLost: p.secondsLost,
      losses: p.losses,
      stages: p.stages,
      cost: costFacts(stages.spent()),
    },
  });
  p.metrics = metrics;
  stages.done('score');
  return metrics;
}

/** The eval gate's decision, recorded in the store (report/gate.json) whatever it is. */
async function decide(stages: StageRunner, evalGate: EvalGate, runId: string, run: PreparedRun, metrics: RunMetrics): Promise<GateOutcome> {
  stages.enter('gate');
  const gate = await evalGate.run(metrics, run.config.eval, (g) => {
    stages.show((p) => (p.gate = g));
    if (g.state === 'awaiting_approval') stages.tell('awaiting_approval', { gate: gateFacts(g) });
  });
  await short.recordGate({ runId, storeUri: run.storeUri, gate });
  stages.done('gate');
  return gate;
}

async function promote(
  stages: StageRunner,
  runId: string,
  run: PreparedRun,
  metrics: RunMetrics,
  model: 'sft' | 'dpo',
  fromKey: string,
): Promise<{ uri: string; commit?: string; repoUrl?: string }> {
  stages.enter('promote');
  const c = run.config;
  const primaryValue = metrics.models[model]?.[c.eval.primary_metric];
  const promotedTo = promotedOf(
    await promoting.promoteModel({
      runId,
      storeUri: run.storeUri,
      fromKey,
      outputUri: c.output,
      promote: c.promote,
      model,
      ...(primaryValue !== undefined ? { primary: { metric: c.eval.primary_metric, value: primaryValue } } : {}),
    }),
  );
  stages.progress.promoted = { model, ...promotedTo };
  stages.done('promote');
  return promotedTo;
}

/**
 * Provisioning may wait out a stockout for capacity_wait_s: one attempt must outlast it, and
 * heartbeats let a cancelled run stop the wait.
 */
function provisioningActivities(host: PipelineConfig['host']) {
  const waitS = host.provider === 'gce' ? host.capacity_wait_s + host.agent_start_timeout_s : 0;
  return proxyActivities<Activities>({
    startToCloseTimeout: `${waitS + 900} seconds`,
    heartbeatTimeout: '5 minutes',
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: nonRetryable('QuotaExceeded', 'CapacityUnavailable', 'HostConfigInvalid') },
    // A cancelled run waits for provisionHost to delete the VM it was making or booting, so
    // the run never closes with a VM that no lease names.
    ...(patched('provision-deletes-on-cancel') ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
  });
}

/** tracking: the training stages also send their metrics to the config's MLflow and W&B (secret references only). */
function training(c: PipelineConfig, s: PipelineConfig['sft']) {
  return { ...s, dtype: c.model.dtype, ...trackingParams(c.tracking) };
}

/** Histories recorded before promotion to the Hub hold the URI alone (a string). */
function promotedOf(r: PromoteResult | string): { uri: string; commit?: string; repoUrl?: string } {
  if (typeof r === 'string') return { uri: r };
  return { uri: r.uri, ...(r.commit ? { commit: r.commit } : {}), ...(r.repoUrl ? { repoUrl: r.repoUrl } : {}) };
}

function costFacts(c: CostSummary) {
  const w = c.split.wastedUsd;
  return { spentUsd: c.spentUsd, wastedUsd: w.redone + w.failed + w.idle, budgetUsd: c.budgetUsd, managedUsd: c.managed?.usd ?? null, split: splitFacts(c.split) };
}

/**
 * resolveConfig's answer; its refusal (ConfigInvalid naming each bad field, PriceUnknown) fails the run
 * as the workflow's own error, as when the workflow parsed the config itself, before anything is provisioned.
 */
async function resolveConfig(input: PipelineConfigInput): Promise<ResolvedConfig> {
  try {
    return await short.resolveConfig(input);
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && (cause.type === FAILURE_TYPES.ConfigInvalid.type || cause.type === FAILURE_TYPES.PriceUnknown.type)) {
      throw ApplicationFailure.nonRetryable(cause.message, cause.type);
    }
    throw err;
  }
}

function gateFacts(g: GateOutcome) {
  return { state: g.state, candidate: g.candidate, reason: g.reason, deadline: g.deadline };
}
