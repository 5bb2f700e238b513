/**
 * fineTunePipeline: provision, preflight, sft, merge, dpo, generate, score,
 * promote, then release every host whatever happened. Reads top to bottom as
 * the business process; side effects live in activities.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityInterfaceFor,
} from '@temporalio/workflow';
import type { Activities, AgentStartTimeoutDetails, HostLostDetails, JobResult, PreparedRun, PromoteResult, ResolvedConfig } from '../activities/types';
import type { PipelineConfig, PipelineConfigInput } from '../src/config/schema';
import type { JobSpec, StageName } from '../src/jobs/contract';
import { FAILURE_TYPES, HOST_LOST, nonRetryable } from '../src/jobs/failures';
import { trackingParams } from '../src/config/tracking';
import { RunIdInvalid, runIdProblem } from '../src/jobs/runId';
import type { GateOutcome } from '../src/eval/gate';
import type { RunMetrics } from '../src/eval/metrics';
import { agentStartTimeoutS } from '../src/hosts/provider';
import { splitFacts } from '../src/cost/ledger';
import { gpusInWorkflow, parsedInWorkflow, pricedInWorkflow } from './configInWorkflow';
import { CostTracker, trainedTokens, type CostSummary } from './cost';
import { dpoSummary, type DpoSummary, runDpo } from './dpo';
import { EvalGate } from './gate';
import { HostPool } from './hosts';
import { Notifier, runFacts } from './notify';
import { adviceFor } from '../src/notify/failure';
import { jobProgressSignal, progressQuery, COST_ATTRIBUTE, STAGE_ATTRIBUTE } from './messages';
import { applyJobProgress, closeLosses, enterStage, finishStage, newProgress, type PipelineStage, recordLoss, renderDetails, type RunProgress } from './progress';

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
  // A run started around our client (temporal CLI, another SDK) is checked here: its id becomes a store
  // folder, VM name and agent argument. Behind a patch so a run already going under an old id still replays.
  const badId = patched('run-id-checked') ? runIdProblem(runId) : undefined;
  if (badId) throw ApplicationFailure.nonRetryable(new RunIdInvalid('run id (workflow id)', runId, badId).message, FAILURE_TYPES.RunIdInvalid.type);
  // Answered from the start: a client follows the run while its config is still being resolved.
  const given = (input ?? {}) as { name?: unknown; model?: { base?: unknown } | null };
  const progress = newProgress(runId, textOf(given.name), textOf(given.model?.base), new Date());
  let cost: CostTracker | null = null;
  setHandler(progressQuery, () => ({
    ...progress,
    elapsedSeconds: elapsedSince(progress),
    cost: cost ? cost.summary(progress.stages[progress.stage]) : null,
  }));
  // The config parsed and priced by an activity, whose recorded result a replay reads: an edit of the
  // parser, a default or the price table reaches new runs only. Runs started before did it in workflow
  // code (workflows/configInWorkflow.ts) and still replay that way.
  let resolved: ResolvedConfig | null;
  let config: PipelineConfig;
  try {
    resolved = patched('config-resolved') ? await resolveConfig(input) : null;
    config = resolved ? resolved.config : parsedInWorkflow(input);
  } catch (err) {
    progress.state = isCancellation(err) ? 'cancelled' : 'failed';
    progress.error = describe(err);
    throw err;
  }
  progress.name = config.name;
  progress.baseModel = config.model.base;
  const notifier = Notifier.of(config.notify, progress);
  const facts = () => runFacts(progress, cost ? cost.summary() : null);
  setHandler(jobProgressSignal, (j) => {
    applyJobProgress(progress, j);
    setCurrentDetails(renderDetails(progress));
  });
  // Registers approve and reject now, so that one sent before the gate waits is refused, not held.
  const evalGate = new EvalGate(config.eval, progress);

  const long = proxyActivities<Activities>({
    startToCloseTimeout: `${config.monitor.stage_timeout_s} seconds`,
    heartbeatTimeout: `${Math.max(30, 3 * config.monitor.poll_interval_s)} seconds`,
    retry: { initialInterval: '2 seconds', maximumAttempts: 20 },
  });

  // A server rejects undefined search attributes, so the stage attribute is kept
  // only on runs started with it (our CLI and client always do; see README).
  const tracksStage = workflowInfo().typedSearchAttributes.get(STAGE_ATTRIBUTE) !== undefined;
  const tracksCost = workflowInfo().typedSearchAttributes.get(COST_ATTRIBUTE) !== undefined;
  const stage = (name: PipelineStage): void => {
    enterStage(progress, name, new Date());
    if (tracksStage) upsertSearchAttributes([{ key: STAGE_ATTRIBUTE, value: name }]);
    setCurrentDetails(renderDetails(progress));
  };
  const done = (name: PipelineStage): void => {
    finishStage(progress, name, 'succeeded', new Date());
    if (cost) {
      progress.cost = cost.summary();
      if (tracksCost) upsertSearchAttributes([{ key: COST_ATTRIBUTE, value: Math.round(progress.cost.spentUsd * 100) / 100 }]);
    }
    setCurrentDetails(renderDetails(progress));
  };

  let hosts: HostPool | null = null;
  try {
    stage('provision');
    const run: PreparedRun = await preparing.prepareRun({ runId, config });
    if (run.model) {
      progress.model = run.model;
      setCurrentDetails(renderDetails(progress));
    }
    // Each host billed from its insert to its delete, boot and failed provisions included (docs/cost.md).
    const createToDelete = patched('billing-create-to-delete') ? { bootBoundS: agentStartTimeoutS(run.config.host) } : null;
    const bill = new CostTracker(run.config.cost, resolved ? resolved.usdPerHour : pricedInWorkflow(run.config), createToDelete);
    const gpus = resolved ? resolved.gpus : gpusInWorkflow(run.config);
    cost = bill;
    // Provisioning may wait out a stockout for capacity_wait_s: one attempt must
    // outlast it, and heartbeats let a cancelled run stop the wait.
    const host = run.config.host;
    const waitS = host.provider === 'gce' ? host.capacity_wait_s + host.agent_start_timeout_s : 0;
    const provisioning = proxyActivities<Activities>({
      startToCloseTimeout: `${waitS + 900} seconds`,
      heartbeatTimeout: '5 minutes',
      retry: { maximumAttempts: 5, nonRetryableErrorTypes: nonRetryable('QuotaExceeded', 'CapacityUnavailable', 'HostConfigInvalid') },
      // A cancelled run waits for provisionHost to delete the VM it was making or booting, so
      // the run never closes with a VM that no lease names.
      ...(patched('provision-deletes-on-cancel') ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
    });
    const startFailed = (failed: AgentStartTimeoutDetails, reason: string): void => {
      // No job ran on it, so no steps are redone: the loss costs the wait for the next host.
      const checkpoint = progress.lastCheckpointStep;
      recordLoss(
        progress,
        progress.stage,
        { hostId: failed.hostId, reason, preempted: false, lastStep: checkpoint ?? 0, lastCheckpointStep: checkpoint, jobId: 'none' },
        new Date(),
      );
      setCurrentDetails(renderDetails(progress));
      notifier?.send('host_lost', { ...facts(), host: { hostId: failed.hostId, reason, preempted: false, maxHostLosses: run.config.monitor.max_host_losses } });
    };
    hosts = new HostPool(
      {
        provisionHost: (input) => bill.provisioning(() => provisioning.provisionHost(input)),
        releaseHost: (lease) => bill.releasing(lease, () => short.releaseHost(lease)),
      },
      { runId, storeUri: run.storeUri, host, gpus },
      config.monitor.max_host_losses,
      { startFailed },
    );
    const lease = await hosts.current();
    progress.host = lease.hostId;
    closeLosses(progress, 'provision', new Date());
    done('provision');

    const runStage = async (name: StageName, inputs: Record<string, string>, params: object, jobTag?: string): Promise<JobResult> => {
      stage(name);
      const result = await runOnHosts(long, hosts!, run, progress, bill, name, inputs, params, jobTag, (lost) =>
        notifier?.send('host_lost', {
          ...facts(),
          host: { hostId: lost.hostId, reason: lost.reason, preempted: lost.preempted, maxHostLosses: c.monitor.max_host_losses },
        }),
      );
      if (name === 'sft' || name === 'dpo') {
        const ranks = typeof result.metrics.ranks === 'number' ? result.metrics.ranks : 1;
        bill.trained(trainedTokens(name, result.stepsDone, params as PipelineConfig['sft'], ranks));
      }
      done(name);
      return result;
    };
    const c = run.config;
    // tracking: the training stages also send their metrics to the config's MLflow and W&B (secret references only).
    const training = (s: PipelineConfig['sft']) => ({ ...s, dtype: c.model.dtype, ...trackingParams(c.tracking) });

    // expected_gpus: the GPUs CUDA must see there, or preflight fails with GpuMissing (no silent CPU run);
    // dtype: bf16 asked for on a GPU without it fails in preflight, not after the first paid hour.
    await runStage('preflight', {}, { ...c.preflight, expected_gpus: gpus, dtype: c.model.dtype });
    const sft = await runStage('sft', { base_model: run.inputs.base_model, sft_data: run.inputs.sft_data }, training(c.sft));
    const merge = await runStage(
      'merge',
      { base_model: run.inputs.base_model, adapter: sft.output!.key, adapter_fingerprint: sft.output!.fingerprint ?? '' },
      { ...c.merge, dtype: c.model.dtype },
    );
    // Every attempt starts from the merged SFT model; all collapsed -> the SFT model ships (workflows/dpo.ts).
    const dpoRun = await runDpo(
      c.dpo,
      training(c.dpo),
      (params, jobTag) =>
        runStage(
          'dpo',
          { model: merge.output!.key, model_fingerprint: merge.output!.fingerprint ?? '', preference_data: run.inputs.preference_data, eval_data: run.inputs.eval_data },
          params,
          jobTag,
        ),
      (summary) => {
        progress.dpo = summary;
        if (summary.shipped === 'sft') finishStage(progress, 'dpo', 'failed', new Date());
        setCurrentDetails(renderDetails(progress));
      },
    );
    const dpo = dpoRun.result;
    const generated = await runStage(
      'generate',
      { eval_data: run.inputs.eval_data },
      {
        ...c.generate,
        dtype: c.model.dtype,
        models: { base: run.inputs.base_model, sft: merge.output!.key, ...(dpo ? { dpo: dpo.output!.key } : {}) },
      },
    );
    await hosts.releaseAll();

    stage('score');
    const metrics = await short.scoreRun({
      runId,
      storeUri: run.storeUri,
      evalKey: run.inputs.eval_data,
      generationsKey: generated.output!.key,
      primaryMetric: c.eval.primary_metric,
      eval: c.eval,
      run: {
        startedAt: progress.startedAt,
        hostLosses: progress.hostLosses,
        stepsRedone: progress.stepsRedone,
        secondsLost: progress.secondsLost,
        losses: progress.losses,
        stages: progress.stages,
        cost: costFacts(bill.summary()),
      },
    });
    progress.metrics = metrics;
    done('score');

    stage('gate');
    const gate = await evalGate.run(metrics, c.eval, (g) => {
      progress.gate = g;
      setCurrentDetails(renderDetails(progress));
      if (g.state === 'awaiting_approval') notifier?.send('awaiting_approval', { ...facts(), gate: gateFacts(g) });
    });
    await short.recordGate({ runId, storeUri: run.storeUri, gate });
    done('gate');
    const result = (outcome: PipelineResult['outcome'], promoted: PipelineResult['promoted']): PipelineResult => {
      progress.state = outcome === 'promoted' ? 'succeeded' : 'not_promoted';
      setCurrentDetails(renderDetails(progress));
      return {
        runId,
        storeUri: run.storeUri,
        metrics,
        outcome,
        promoted,
        gate,
        hostLosses: progress.hostLosses,
        stepsRedone: progress.stepsRedone,
        cost: bill.summary(),
        dpo: dpoSummary(dpoRun),
      };
    };
    if (gate.promote === null) {
      const ended = result('not_promoted', { model: 'none', uri: '' });
      notifier?.send('not_promoted', { ...facts(), gate: gateFacts(gate) });
      return ended;
    }

    stage('promote');
    const model = gate.promote;
    const primaryValue = metrics.models[model]?.[c.eval.primary_metric];
    const promotedTo = promotedOf(
      await promoting.promoteModel({
        runId,
        storeUri: run.storeUri,
        fromKey: model === 'dpo' ? dpo!.output!.key : merge.output!.key,
        outputUri: c.output,
        promote: c.promote,
        model,
        ...(primaryValue !== undefined ? { primary: { metric: c.eval.primary_metric, value: primaryValue } } : {}),
      }),
    );
    progress.promoted = { model, ...promotedTo };
    done('promote');
    const ended = result('promoted', { model, ...promotedTo });
    notifier?.send('succeeded', { ...facts(), promoted: { model, uri: promotedTo.uri, ...(promotedTo.commit ? { commit: promotedTo.commit } : {}) } });
    return ended;
  } catch (err) {
    progress.state = isCancellation(err) ? 'cancelled' : 'failed';
    finishStage(progress, progress.stage, 'failed', new Date());
    progress.error = describe(err);
    setCurrentDetails(renderDetails(progress));
    const failure = failureOf(err);
    if (progress.state === 'failed' && failure) {
      if (failure.type === FAILURE_TYPES.BudgetExceeded.type)
        notifier?.send('budget_stopped', { ...facts(), failure: { class: failure.type, message: failure.message, advice: null } });
      else notifier?.send('failed', { ...facts(), failure: { class: failure.type, message: failure.message, advice: adviceFor(failure.type) } });
    }
    throw err;
  } finally {
    const pool = hosts;
    if (pool) await CancellationScope.nonCancellable(() => pool.releaseAll());
    if (cost) progress.cost = cost.summary();
    // Last: the run's own work is done; only the (bounded) deliveries are left.
    if (notifier) await notifier.settle();
  }
}

/**
 * Runs one stage's job, moving it to a new host each time its host is lost;
 * every re-post resumes from the newest committed checkpoint.
 */
async function runOnHosts(
  acts: ActivityInterfaceFor<Activities>,
  hosts: HostPool,
  run: PreparedRun,
  progress: RunProgress,
  cost: CostTracker,
  stage: StageName,
  inputs: Record<string, string>,
  params: object,
  jobTag: string = stage,
  onLost?: (lost: HostLostDetails) => void,
): Promise<JobResult> {
  // A rerun of a run id numbers its jobs after those of earlier executions, so its first
  // job resumes from the stage's newest committed checkpoint (of the same job tag).
  for (let attempt = 1 + (run.earlierJobs?.[jobTag] ?? 0); ; attempt++) {
    const lease = await hosts.current();
    progress.host = lease.hostId;
    const job: JobSpec = {
      job_id: `${jobTag}-${attempt}`,
      run_id: progress.runId,
      host_id: lease.hostId,
      stage,
      resume: attempt > 1,
      created_at: new Date().toISOString(),
      inputs,
      params: params as Record<string, unknown>,
    };
    cost.stageStart(stage, lease.hostId);
    const startedMs = Date.now();
    const firstStep = progress.lastCheckpointStep ?? 0;
    try {
      // The activity's summary is what the UI's timeline shows for this stage.
      const summary = `${stage} on ${lease.hostId}${attempt > 1 ? ` (attempt ${attempt}, resumes from the last checkpoint)` : ''}`;
      const result = await cost.within(
        () => `during ${stage} at step ${progress.step}`,
        () => acts.runJob.executeWithOptions({ summary }, [{ lease, storeUri: run.storeUri, job, monitor: run.config.monitor }]),
      );
      cost.stageEnd('succeeded');
      closeLosses(progress, stage, new Date(), result.resumedFromStep);
      return result;
    } catch (err) {
      const lost = hostLost(err);
      cost.stageEnd(lost ? 'lost' : 'failed');
      if (!lost) throw err;
      // Steps after the last committed checkpoint are done again on the next host.
      const loss = recordLoss(progress, stage, lost, new Date());
      const secondsPerStep = lost.secondsPerStep ?? (Date.now() - startedMs) / 1000 / Math.max(1, lost.lastStep - firstStep);
      cost.redone(stage, loss.stepsRedone * secondsPerStep);
      progress.cost = cost.summary();
      setCurrentDetails(renderDetails(progress));
      onLost?.(lost);
      await hosts.lost(`${lost.hostId}: ${lost.reason}`);
    }
  }
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

function hostLost(err: unknown): HostLostDetails | null {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === HOST_LOST) {
    const details = err.cause.details?.[0] as HostLostDetails | undefined;
    return details ?? { hostId: '?', reason: err.cause.message, preempted: false, lastStep: 0, lastCheckpointStep: null };
  }
  return null;
}

/** A field of the config as given, shown while the config is resolved; anything but text shows as ''. */
function textOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function elapsedSince(p: RunProgress): number {
  return Math.round((Date.now() - Date.parse(p.startedAt)) / 1000);
}

function gateFacts(g: GateOutcome) {
  return { state: g.state, candidate: g.candidate, reason: g.reason, deadline: g.deadline };
}

/** The failure class (the innermost ApplicationFailure's type) and its message. */
function failureOf(err: unknown): { type: string; message: string } | null {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure) return { type: e.type ?? 'Error', message: e.message };
  return e instanceof Error ? { type: e.name, message: e.message } : null;
}

function describe(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure) return `${e.type ?? 'Error'}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
