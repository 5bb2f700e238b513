/**
 * What a run tells its webhooks: the events, the facts the workflow hands
 * the notify activity, and the JSON body built from them (with a
 * Slack-compatible `text`). Pure: the config schema and the workflow import it.
 */

/** The events a webhook can subscribe to (notify.webhooks[].events; default all). */
export const NOTIFY_EVENTS = ['awaiting_approval', 'succeeded', 'not_promoted', 'failed', 'budget_stopped', 'host_lost'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** What the workflow knows when an event happens; no secret is ever part of it (it enters history). */
export interface NotifyFacts {
  runId: string;
  runName: string;
  event: NotifyEvent;
  stage: string;
  costUsd: number | null;
  budgetUsd: number | null;
  hostLosses: number;
  stepsRedone: number;
  /** The primary metric of the model the gate chose (or its candidate); interval when the eval computed one. */
  primary: { metric: string; model: string; value: number; interval: { lo: number; hi: number } | null } | null;
  /** failed: the failure class (the error's type, e.g. OutOfMemory), its message and the advice (src/jobs/failures.ts). */
  failure?: { class: string; message: string; advice: string | null };
  /** awaiting_approval, not_promoted: the gate's candidate, why, and until when it waits. */
  gate?: { state: string; candidate: string | null; reason: string; deadline: string | null };
  /** succeeded: where the model went. */
  promoted?: { model: string; uri: string; commit?: string };
  /** host_lost: which host, why, and the losses allowed. */
  host?: { hostId: string; reason: string; preempted: boolean; maxHostLosses: number };
}

export interface NotifyBody {
  run_id: string;
  run_name: string;
  event: NotifyEvent;
  stage: string;
  ui_url: string | null;
  figures: {
    cost_usd: number | null;
    budget_usd: number | null;
    primary_metric: { name: string; model: string; value: number; interval: { lo: number; hi: number } | null } | null;
    host_losses: number;
    steps_redone: number;
  };
  failure?: { class: string; message: string; advice: string | null };
  gate?: { state: string; candidate: string | null; reason: string; deadline: string | null };
  promoted?: { model: string; uri: string; commit?: string };
  host?: { host_id: string; reason: string; preempted: boolean; max_host_losses: number };
  /** One Slack mrkdwn message: the body can be posted to a Slack incoming webhook as it is. */
  text: string;
}

export function notifyBody(f: NotifyFacts, uiUrl: string | null): NotifyBody {
  return {
    run_id: f.runId,
    run_name: f.runName,
    event: f.event,
    stage: f.stage,
    ui_url: uiUrl,
    figures: {
      cost_usd: f.costUsd,
      budget_usd: f.budgetUsd,
      primary_metric: f.primary ? { name: f.primary.metric, model: f.primary.model, value: f.primary.value, interval: f.primary.interval } : null,
      host_losses: f.hostLosses,
      steps_redone: f.stepsRedone,
    },
    ...(f.failure ? { failure: f.failure } : {}),
    ...(f.gate ? { gate: f.gate } : {}),
    ...(f.promoted ? { promoted: f.promoted } : {}),
    ...(f.host ? { host: { host_id: f.host.hostId, reason: f.host.reason, preempted: f.host.preempted, max_host_losses: f.host.maxHostLosses } } : {}),
    text: slackText(f, uiUrl),
  };
}

const HEADLINE: Record<NotifyEvent, string> = {
  awaiting_approval: 'waits for approval',
  succeeded: 'succeeded',
  not_promoted: 'finished without promoting a model',
  failed: 'failed',
  budget_stopped: 'stopped on its budget',
  host_lost: 'lost a host',
};

function slackText(f: NotifyFacts, uiUrl: string | null): string {
  const run = uiUrl ? `<${uiUrl}|${f.runId}>` : `\`${f.runId}\``;
  const lines = [`*${f.runName}* run ${run} ${HEADLINE[f.event]} (stage ${f.stage})`];
  if (f.failure) lines.push(`${f.failure.class}: ${f.failure.message}${f.failure.advice && !f.failure.message.includes(f.failure.advice) ? ` Advice: ${f.failure.advice}` : ''}`);
  if (f.gate) lines.push(f.gate.reason);
  if (f.promoted) lines.push(`promoted ${f.promoted.model} to ${f.promoted.uri}${f.promoted.commit ? ` (commit ${f.promoted.commit.slice(0, 12)})` : ''}`);
  if (f.host) lines.push(`host ${f.host.hostId}: ${f.host.reason}; ${f.hostLosses} of ${f.host.maxHostLosses} losses allowed`);
  lines.push(figures(f));
  return lines.join('\n');
}

function figures(f: NotifyFacts): string {
  const parts: string[] = [];
  if (f.costUsd !== null) parts.push(`cost $${f.costUsd.toFixed(2)}${f.budgetUsd !== null ? ` of $${f.budgetUsd}` : ''}`);
  if (f.primary) {
    const iv = f.primary.interval ? ` [${f.primary.interval.lo.toFixed(3)}, ${f.primary.interval.hi.toFixed(3)}]` : '';
    parts.push(`${f.primary.metric} (${f.primary.model}) ${f.primary.value.toFixed(3)}${iv}`);
  }
  parts.push(`host losses ${f.hostLosses}`, `steps redone ${f.stepsRedone}`);
  return parts.join(' · ');
}
