/**
 * The bookkeeping every stage of a run shares, so that fineTunePipeline reads
 * as the stages alone: the run's progress (the progress query, the UI's current
 * details), the FinetuneStage and FinetuneCostUsd search attributes, the bill,
 * the hosts, and the webhooks told of a lost host or of how the run ended.
 *
 * A stage with a job runs on the run's current host; each time that host is
 * lost the loss is recorded, its redone steps billed and told, the host
 * released, and the job re-posted on the next host, resuming from the newest
 * committed checkpoint.
 */
import {
  CancellationScope,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityInterfaceFor,
} from '@temporalio/workflow';
import type { Activities, AgentStartTimeoutDetails, HostLostDetails, JobResult, PreparedRun } from '../activities/types';
import type { PipelineConfig, PipelineConfigInput } from '../src/config/schema';
import type { JobSpec, StageName } from '../src/jobs/contract';
import type { NotifyEvent, NotifyFacts } from '../src/notify/events';
import { adviceFor } from '../src/notify/failure';
import { FAILURE_TYPES } from '../src/jobs/failures';
import { trainedTokens, type CostSummary, type CostTracker } from './cost';
import { describe, failureOf, hostLost } from './failures';
import type { HostEvents, HostPool } from './hosts';
import { COST_ATTRIBUTE, jobProgressSignal, progressQuery, STAGE_ATTRIBUTE } from './messages';
import { Notifier, runFacts } from './notify';
import { applyJobProgress, closeLosses, enterStage, finishStage, newProgress, recordLoss, renderDetails, type PipelineStage, type RunProgress } from './progress';

/** runJob watches one job until it ends, heartbeating on every poll; a retried attempt re-attaches to the same job. */
function jobActivities(monitor: PipelineConfig['monitor']): ActivityInterfaceFor<Activities> {
  return proxyActivities<Activities>({
    startToCloseTimeout: `${monitor.stage_timeout_s} seconds`,
    heartbeatTimeout: `${Math.max(30, 3 * monitor.poll_interval_s)} seconds`,
    retry: { initialInterval: '2 seconds', maximumAttempts: 20 },
  });
}

/** What a stage with a job needs, known once the run is provisioned. */
interface Provisioned {
  run: PreparedRun;
  bill: CostTracker;
  hosts: HostPool;
}

export class StageRunner implements HostEvents {
  readonly progress: RunProgress;
  private notifier: Notifier | null = null;
  private jobs: ActivityInterfaceFor<Activities> | null = null;
  private preparedRun: PreparedRun | null = null;
  private bill: CostTracker | null = null;
  private hosts: HostPool | null = null;
  private tracksStage = false;
  private tracksCost = false;

  /** Answers the progress query from the start: a client follows the run while its config is still being resolved. */
  constructor(runId: string, input: PipelineConfigInput) {
    const given = (input ?? {}) as { name?: unknown; model?: { base?: unknown } | null };
    const progress = newProgress(runId, textOf(given.name), textOf(given.model?.base), new Date());
    this.progress = progress;
    setHandler(progressQuery, () => ({
      ...progress,
      elapsedSeconds: elapsedSince(progress),
      cost: this.bill ? this.bill.summary(progress.stages[progress.stage]) : null,
    }));
  }

  /** The run's config, resolved by `resolve`; a run that fails (or is cancelled) there says why in its progress. */
  async resolving<T>(resolve: () => Promise<T>): Promise<T> {
    try {
      return await resolve();
    } catch (err) {
      this.progress.state = isCancellation(err) ? 'cancelled' : 'failed';
      this.progress.error = describe(err);
      throw err;
    }
  }

  /** The run as its config names it, its webhooks, and the jobs' progress shown as they report it. */
  configured(config: PipelineConfig): void {
    const p = this.progress;
    p.name = config.name;
    p.baseModel = config.model.base;
    this.notifier = Notifier.of(config.notify, p);
    setHandler(jobProgressSignal, (j) => {
      applyJobProgress(p, j);
      this.show();
    });
    this.jobs = jobActivities(config.monitor);
    // A server rejects undefined search attributes, so the stage and cost attributes are
    // kept only on runs started with them (our CLI and client always do; see README).
    this.tracksStage = workflowInfo().typedSearchAttributes.get(STAGE_ATTRIBUTE) !== undefined;
    this.tracksCost = workflowInfo().typedSearchAttributes.get(COST_ATTRIBUTE) !== undefined;
  }

  enter(stage: PipelineStage): void {
    enterStage(this.progress, stage, new Date());
    if (this.tracksStage) upsertSearchAttributes([{ key: STAGE_ATTRIBUTE, value: stage }]);
    this.show();
  }

  done(stage: PipelineStage): void {
    finishStage(this.progress, stage, 'succeeded', new Date());
    if (this.bill) {
      this.progress.cost = this.bill.summary();
      if (this.tracksCost) upsertSearchAttributes([{ key: COST_ATTRIBUTE, value: Math.round(this.progress.cost.spentUsd * 100) / 100 }]);
    }
    this.show();
  }

  /** Applies `change` to the run's progress and shows it in the UI's current details. */
  show(change?: (p: RunProgress) => void): void {
    change?.(this.progress);
    setCurrentDetails(renderDetails(this.progress));
  }

  /** Tells the run's webhooks of `event`, with the run's figures now. */
  tell(event: NotifyEvent, facts: Partial<Omit<NotifyFacts, 'event'>> = {}): void {
    this.notifier?.send(event, { ...runFacts(this.progress, this.bill ? this.bill.summary() : null), ...facts });
  }

  /** The run as prepareRun made it; an hf: base model's commit is shown once known. */
  prepared(run: PreparedRun): PreparedRun {
    this.preparedRun = run;
    if (run.model) this.show((p) => (p.model = run.model!));
    return run;
  }

  /** The run's bill from now on: shown with every stage's end and the progress query. */
  billedBy(bill: CostTracker): void {
    this.bill = bill;
  }

  /** The run's bill so far. */
  spent(): CostSummary {
    return this.provisioned().bill.summary();
  }

  /** Takes the run's hosts (released, whatever happens, at close) and waits for the first. */
  async hold(hosts: HostPool): Promise<void> {
    this.hosts = hosts;
    const lease = await hosts.current();
    this.progress.host = lease.hostId;
    closeLosses(this.progress, 'provision', new Date());
  }

  /** A host whose agent never started (already deleted): no job ran on it, so no steps are redone; the loss costs the wait for the next host. */
  startFailed(failed: AgentStartTimeoutDetails, reason: string): void {
    const checkpoint = this.progress.lastCheckpointStep;
    recordLoss(
      this.progress,
      this.progress.stage,
      { hostId: failed.hostId, reason, preempted: false, lastStep: checkpoint ?? 0, lastCheckpointStep: checkpoint, jobId: 'none' },
      new Date(),
    );
    this.show();
    this.tellHostLost(failed.hostId, reason, false);
  }

  /** Runs a stage's job on the run's hosts; the training stages' tokens are counted for the managed-service comparison. */
  async run(stage: StageName, inputs: Record<string, string>, params: object, jobTag: string = stage): Promise<JobResult> {
    this.enter(stage);
    const result = await this.onHosts(stage, inputs, params, jobTag);
    if (stage === 'sft' || stage === 'dpo') {
      const ranks = typeof result.metrics.ranks === 'number' ? result.metrics.ranks : 1;
      this.provisioned().bill.trained(trainedTokens(stage, result.stepsDone, params as PipelineConfig['sft'], ranks));
    }
    this.done(stage);
    return result;
  }

  /** Releases the run's host once no stage needs one. */
  async releaseHosts(): Promise<void> {
    await this.provisioned().hosts.releaseAll();
  }

  /** The run ended: promoted, or the gate let nothing ship. */
  ended(state: 'succeeded' | 'not_promoted'): void {
    this.show((p) => (p.state = state));
  }

  /** The run failed or was cancelled: the stage it was in marked failed, and the webhooks told why. */
  failed(err: unknown): void {
    const p = this.progress;
    p.state = isCancellation(err) ? 'cancelled' : 'failed';
    finishStage(p, p.stage, 'failed', new Date());
    p.error = describe(err);
    this.show();
    const failure = failureOf(err);
    if (p.state === 'failed' && failure) {
      const event = failure.type === FAILURE_TYPES.BudgetExceeded.type ? 'budget_stopped' : 'failed';
      this.tell(event, { failure: { class: failure.type, message: failure.message, advice: adviceFor(failure.type) } });
    }
  }

  /** Whatever happened: every host released, the bill's last figures kept, and the webhooks' deliveries awaited last. */
  async close(): Promise<void> {
    const hosts = this.hosts;
    if (hosts) await CancellationScope.nonCancellable(() => hosts.releaseAll());
    if (this.bill) this.progress.cost = this.bill.summary();
    if (this.notifier) await this.notifier.settle();
  }

  /** The job re-posted on the next host each time its host is lost; every re-post resumes from the newest committed checkpoint. */
  private async onHosts(stage: StageName, inputs: Record<string, string>, params: object, jobTag: string): Promise<JobResult> {
    const { run, bill, hosts } = this.provisioned();
    const progress = this.progress;
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
      bill.stageStart(stage, lease.hostId);
      const startedMs = Date.now();
      const firstStep = progress.lastCheckpointStep ?? 0;
      try {
        // The activity's summary is what the UI's timeline shows for this stage.
        const summary = `${stage} on ${lease.hostId}${attempt > 1 ? ` (attempt ${attempt}, resumes from the last checkpoint)` : ''}`;
        const result = await bill.within(
          () => `during ${stage} at step ${progress.step}`,
          () => this.jobs!.runJob.executeWithOptions({ summary }, [{ lease, storeUri: run.storeUri, job, monitor: run.config.monitor }]),
        );
        bill.stageEnd('succeeded');
        closeLosses(progress, stage, new Date(), result.resumedFromStep);
        return result;
      } catch (err) {
        const lost = hostLost(err);
        bill.stageEnd(lost ? 'lost' : 'failed');
        if (!lost) throw err;
        await this.lostHost(stage, lost, (Date.now() - startedMs) / 1000 / Math.max(1, lost.lastStep - firstStep));
      }
    }
  }

  /**
   * A host lost under a job: the loss recorded, the steps after its last committed checkpoint
   * billed as redone (at the job's own rate when it had one, else `secondsPerStepSeen`), the
   * webhooks told, and the host released (TooManyHostLosses past monitor.max_host_losses).
   */
  private async lostHost(stage: StageName, lost: HostLostDetails, secondsPerStepSeen: number): Promise<void> {
    const { bill, hosts } = this.provisioned();
    const loss = recordLoss(this.progress, stage, lost, new Date());
    bill.redone(stage, loss.stepsRedone * (lost.secondsPerStep ?? secondsPerStepSeen));
    this.progress.cost = bill.summary();
    this.show();
    this.tellHostLost(lost.hostId, lost.reason, lost.preempted);
    await hosts.lost(`${lost.hostId}: ${lost.reason}`);
  }

  private tellHostLost(hostId: string, reason: string, preempted: boolean): void {
    this.tell('host_lost', { host: { hostId, reason, preempted, maxHostLosses: this.preparedRun!.config.monitor.max_host_losses } });
  }

  private provisioned(): Provisioned {
    if (!this.preparedRun || !this.bill || !this.hosts) throw new Error('no host stage runs before provision');
    return { run: this.preparedRun, bill: this.bill, hosts: this.hosts };
  }
}

/** A field of the config as given, shown while the config is resolved; anything but text shows as ''. */
function textOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function elapsedSince(p: RunProgress): number {
  return Math.round((Date.now() - Date.parse(p.startedAt)) / 1000);
}
