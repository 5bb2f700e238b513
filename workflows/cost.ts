/**
 * The run's bill, kept in the workflow: every host billed from its insert to
 * its delete (src/cost/ledger.ts), a warning at warn_fraction of the budget,
 * and a stop before the budget would be crossed (BudgetExceeded), also by the
 * boot of a host not yet made. Stopping cancels the running job; the
 * host's agent then commits a checkpoint on release, so a later run with
 * more budget resumes instead of starting over.
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, condition, log } from '@temporalio/workflow';
import type { CostConfig } from '../src/config/schema';
import type { AgentStartTimeoutDetails, ReleaseReceipt } from '../activities/types';
import type { HostLease } from '../src/hosts/provider';
import { AGENT_START_TIMEOUT, FAILURE_TYPES } from '../src/jobs/failures';
import {
  burnRate,
  capacityWaited,
  costSplit,
  hostDown,
  hostUp,
  markRedone,
  newLedger,
  provisionEmpty,
  provisionFailed,
  spanEnd,
  spanStart,
  type CostSplit,
  type StageSpan,
} from '../src/cost/ledger';

export interface CostSummary {
  spentUsd: number;
  budgetUsd: number | null;
  burnUsdPerHour: number;
  /** Spent plus the burn rate over the rest of the current stage, from its step rate. */
  projectedStageEndUsd: number;
  warning: string | null;
  split: CostSplit;
  /** What the trained tokens would cost on a per-token managed service (cost.managed_usd_per_million_tokens). */
  managed: { trainedTokens: number; usd: number; usdPerMillionTokens: number } | null;
}

/**
 * Tokens a training job went through, counted as every sequence at
 * max_length: an upper bound, since shorter sequences are not padded that far.
 * DPO reads a chosen and a rejected answer per pair. batch_size is per rank:
 * `ranks` is how many the job really ran (its status's metrics.ranks; jobs
 * recorded before that existed ran on one).
 */
export function trainedTokens(stage: string, stepsDone: number, p: { batch_size: number; gradient_accumulation_steps: number; max_length: number }, ranks = 1): number {
  return stepsDone * p.batch_size * ranks * p.gradient_accumulation_steps * p.max_length * (stage === 'dpo' ? 2 : 1);
}

export class CostTracker {
  readonly ledger = newLedger();
  private warned = false;
  private tokens = 0;

  /**
   * `createToDelete`: bill each host from its insert to its delete (boot and failed
   * provisions included) and stop before a boot could cross the budget; null in runs
   * recorded before that (patched 'billing-create-to-delete'), which billed from the lease.
   */
  constructor(
    private readonly config: CostConfig,
    private readonly usdPerHour: number,
    private readonly createToDelete: { bootBoundS: number } | null = null,
  ) {}

  /**
   * Provisions through `provision`, billing what it made: the host from its insert
   * (boot up to its first heartbeat), a VM whose agent never started (failed), a wait
   * for capacity with no VM ($0). Refuses (BudgetExceeded) a provision whose boot could
   * cross the budget. Runs recorded before this bill a host from when the lease came.
   */
  async provisioning(provision: () => Promise<HostLease>): Promise<HostLease> {
    if (!this.createToDelete) {
      const lease = await provision();
      hostUp(this.ledger, lease.hostId, this.usdPerHour, Date.now());
      return lease;
    }
    const over = this.overBudget('instead of provisioning a new host', this.createToDelete.bootBoundS);
    if (over) throw over;
    const startedMs = Date.now();
    let lease: HostLease;
    try {
      lease = await provision();
    } catch (err) {
      this.provisionFailedWith(err, startedMs);
      throw err;
    }
    const now = Date.now();
    let lostMs = 0;
    for (const lost of lease.lostBoots ?? []) {
      const lifetime = Math.max(0, Date.parse(lost.deletedAt) - Date.parse(lost.provisionedAt));
      lostMs += lifetime;
      provisionFailed(this.ledger, lease.hostId, this.usdPerHour, now, lifetime, `preempted before its agent started: ${lost.reason}`);
    }
    // A lease without readyAt (a provider that does not time its boot) is billed from when it came.
    const bootMs = lease.readyAt ? Math.max(0, Date.parse(lease.readyAt) - Date.parse(lease.provisionedAt)) : 0;
    if (lease.readyAt) capacityWaited(this.ledger, (now - startedMs - bootMs - lostMs) / 1000);
    hostUp(this.ledger, lease.hostId, this.usdPerHour, now, bootMs);
    return lease;
  }

  /** Releases through `release`, billing the host until its delete completed (the provider's time where it says). */
  async releasing(lease: HostLease, release: () => Promise<ReleaseReceipt | void>): Promise<void> {
    const receipt = await release();
    const lifetime = this.createToDelete && receipt?.deletedAt ? Date.parse(receipt.deletedAt) - Date.parse(lease.provisionedAt) : null;
    hostDown(this.ledger, lease.hostId, Date.now(), lifetime);
  }

  private provisionFailedWith(err: unknown, startedMs: number): void {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === AGENT_START_TIMEOUT) {
      const d = cause.details?.[0] as AgentStartTimeoutDetails | undefined;
      if (d) {
        const lifetime = d.deletedAt ? Date.parse(d.deletedAt) - Date.parse(d.provisionedAt) : d.waitedS * 1000;
        provisionFailed(this.ledger, d.hostId, this.usdPerHour, Date.now(), lifetime, `${cause.type}: ${cause.message}`);
        return;
      }
    }
    // No VM outlives a failed provision (activities/hosts.ts): a stockout or quota held none.
    if (cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.CapacityUnavailable.type) {
      capacityWaited(this.ledger, (Date.now() - startedMs) / 1000);
    }
    provisionEmpty(this.ledger);
  }
  stageStart(stage: string, hostId: string): void {
    spanStart(this.ledger, stage, hostId, Date.now());
  }
  stageEnd(outcome: StageSpan['outcome']): void {
    spanEnd(this.ledger, outcome, Date.now());
  }
  redone(stage: string, seconds: number): void {
    markRedone(this.ledger, stage, seconds);
  }
  trained(tokens: number): void {
    this.tokens += tokens;
  }

  summary(stage?: { step: number; totalSteps: number; startedAt: string | null }): CostSummary {
    const now = Date.now();
    const split = costSplit(this.ledger, now);
    const burn = burnRate(this.ledger);
    let remainingS = 0;
    if (stage && stage.startedAt && stage.step > 0 && stage.totalSteps > stage.step) {
      const perStep = (now - Date.parse(stage.startedAt)) / 1000 / stage.step;
      remainingS = perStep * (stage.totalSteps - stage.step);
    }
    const budget = this.config.budget_usd ?? null;
    const warning =
      budget !== null && split.totalUsd >= this.config.warn_fraction * budget
        ? `spent $${split.totalUsd.toFixed(2)}, ${Math.round((100 * split.totalUsd) / budget)}% of the $${budget} budget`
        : null;
    return {
      spentUsd: split.totalUsd,
      budgetUsd: budget,
      burnUsdPerHour: burn,
      projectedStageEndUsd: split.totalUsd + (burn * remainingS) / 3600,
      warning,
      split,
      managed:
        this.config.managed_usd_per_million_tokens === undefined
          ? null
          : {
              trainedTokens: this.tokens,
              usd: (this.tokens / 1e6) * this.config.managed_usd_per_million_tokens,
              usdPerMillionTokens: this.config.managed_usd_per_million_tokens,
            },
    };
  }

  /**
   * BudgetExceeded when the hosts held now would cross the budget before the
   * next check and their release (one more interval plus a minute); before a
   * provision (`bootS` given), when a new host booting for that long and then
   * deleted would cross it.
   */
  overBudget(where: string, bootS?: number): ApplicationFailure | null {
    const budget = this.config.budget_usd;
    if (budget === undefined) return null;
    const now = Date.now();
    const spent = costSplit(this.ledger, now).totalUsd;
    // Before a provision: the longest boot its VM may be billed (agent start timeout) and its delete.
    const guard = bootS === undefined ? burnRate(this.ledger) * (this.config.check_interval_s + 60) : this.usdPerHour * (bootS + 60);
    const next = spent + guard / 3600;
    if (!this.warned && spent >= this.config.warn_fraction * budget) {
      this.warned = true;
      log.warn(`run has spent $${spent.toFixed(2)} of its $${budget} budget`);
    }
    if (next < budget) return null;
    return ApplicationFailure.create({
      type: FAILURE_TYPES.BudgetExceeded.type,
      nonRetryable: true,
      message:
        `stopped ${where} before the $${budget} budget would be crossed: spent $${spent.toFixed(2)}, ` +
        (bootS === undefined
          ? `$${next.toFixed(2)} by the next check. `
          : `$${next.toFixed(2)} if the next host's boot took its full ${bootS} s (agent start timeout) before its delete. `) +
        `The last committed checkpoint is kept: rerun with the same run id and a larger cost.budget_usd to resume from it (finetune run <config> --run-id <this run id>).`,
      details: [{ budgetUsd: budget, spentUsd: spent, split: costSplit(this.ledger, now) }],
    });
  }

  /** Runs work, checking the budget every check_interval_s; over budget cancels the work. */
  async within<T>(where: () => string, work: () => Promise<T>): Promise<T> {
    const before = this.overBudget(where());
    if (before) throw before;
    if (this.config.budget_usd === undefined) return work();
    const scope = new CancellationScope();
    let over: ApplicationFailure | null = null;
    let finished = false;
    const watcher = (async () => {
      while (!finished) {
        if (await condition(() => finished, this.config.check_interval_s * 1000)) return;
        over = this.overBudget(where());
        if (over) {
          scope.cancel();
          return;
        }
      }
    })();
    try {
      return await scope.run(work);
    } catch (err) {
      if (over) throw over;
      throw err;
    } finally {
      // The watcher sees this at its next check and ends; nothing waits on it.
      finished = true;
      void watcher;
    }
  }
}
