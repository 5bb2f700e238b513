/**
 * Notifications from the workflow: each event goes to every webhook that
 * subscribed to it, by one notifyWebhook activity per webhook, started and not
 * awaited, so a slow receiver never holds the pipeline; the run awaits them
 * all at its very end (settle). Runs without webhooks schedule nothing and
 * mark no patch, so their commands are those of runs recorded before this.
 */
import { CancellationScope, log, patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/types';
import type { NotifyConfig } from '../src/notify/config';
import type { NotifyEvent, NotifyFacts } from '../src/notify/events';
import { NOTIFY_ATTEMPT_TIMEOUT_S, NOTIFY_RETRY } from '../src/notify/policy';
import type { CostSummary } from './cost';
import type { RunProgress } from './progress';

const notifying = proxyActivities<Activities>({
  // The POST's own timeout plus room for resolving the secret and the UI link.
  startToCloseTimeout: `${NOTIFY_ATTEMPT_TIMEOUT_S + 5} seconds`,
  retry: NOTIFY_RETRY,
});

export class Notifier {
  private readonly pending: Promise<void>[] = [];

  private constructor(
    private readonly config: NotifyConfig,
    private readonly progress: RunProgress,
  ) {
    progress.notifications = { delivered: 0, failed: 0 };
  }

  /** A notifier for a run with webhooks (behind the notify-webhooks patch), or null. */
  static of(config: NotifyConfig, progress: RunProgress): Notifier | null {
    if (config.webhooks.length === 0 || !patched('notify-webhooks')) return null;
    return new Notifier(config, progress);
  }

  send(event: NotifyEvent, facts: Omit<NotifyFacts, 'event'>): void {
    this.config.webhooks.forEach((webhook, index) => {
      if (!webhook.events.includes(event)) return;
      const input = {
        webhook: { url: webhook.url, secret: webhook.secret },
        index,
        ...(this.config.ui_base_url ? { uiBaseUrl: this.config.ui_base_url } : {}),
        facts: { ...facts, event },
      };
      // Not cancellable: a host_lost told before the run is cancelled is still delivered.
      const delivery = CancellationScope.nonCancellable(() => notifying.notifyWebhook(input)).then(
        (outcome) => {
          // The activity logged a failed delivery itself.
          if (outcome.delivered) this.progress.notifications!.delivered += 1;
          else this.progress.notifications!.failed += 1;
        },
        (err: unknown) => {
          // Only when the last attempt timed out: the activity had no chance to log it.
          this.progress.notifications!.failed += 1;
          log.warn(`webhook ${index} not told of ${event}: ${(err as Error).message}; the run goes on`);
        },
      );
      this.pending.push(delivery);
    });
  }

  /** Waits for every delivery started so far (each bounded by NOTIFY_RETRY). */
  async settle(): Promise<void> {
    await Promise.all(this.pending);
  }
}

/** The figures every notification carries, from the run's progress and bill now. */
export function runFacts(progress: RunProgress, cost: CostSummary | null): Omit<NotifyFacts, 'event'> {
  const m = progress.metrics;
  const model = progress.gate?.promote ?? progress.gate?.candidate ?? null;
  const value = m && model ? m.models[model]?.[m.primaryMetric] : undefined;
  const interval = m && model ? m.intervals?.[model]?.[m.primaryMetric] : undefined;
  return {
    runId: progress.runId,
    runName: progress.name,
    stage: progress.stage,
    costUsd: cost ? cost.spentUsd : null,
    budgetUsd: cost ? cost.budgetUsd : null,
    hostLosses: progress.hostLosses,
    stepsRedone: progress.stepsRedone,
    primary: m && model && value !== undefined ? { metric: m.primaryMetric, model, value, interval: interval ? { lo: interval.lo, hi: interval.hi } : null } : null,
  };
}
