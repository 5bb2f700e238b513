/**
 * notifyWebhook: posts one signed notification (src/notify/) to one webhook.
 * The secret is resolved here, from its reference, and leaves this activity in
 * no input, output, error or log. A refused or unanswered POST throws, so
 * Temporal retries it (the workflow's NOTIFY_RETRY); the last attempt
 * (NOTIFY_ATTEMPTS) logs the failure once and returns delivered: false
 * instead, so a dead receiver never fails the run.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { uiLink } from '../src/client/runs';
import { temporalSettings } from '../src/client/connection';
import { uiBaseFor } from '../src/cli/connect';
import { runLog } from '../src/log';
import { postNotification, webhookTarget } from '../src/notify/deliver';
import { notifyBody, type NotifyFacts } from '../src/notify/events';
import { NOTIFY_ATTEMPT_TIMEOUT_S, NOTIFY_ATTEMPTS } from '../src/notify/policy';
import { resolveSecret, SecretUnavailable } from '../src/secrets/resolve';
import type { ActivityDeps } from './deps';

export interface NotifyInput {
  /** The webhook's url and its secret's reference (secret:env:<NAME>), as in the config. */
  webhook: { url: string; secret: string };
  /** Which webhook of notify.webhooks, for the field an error names. */
  index: number;
  /** notify.ui_base_url; absent: the worker's FINETUNE_UI_URL (or the dev server's UI). */
  uiBaseUrl?: string;
  facts: NotifyFacts;
}

export interface NotifyOutcome {
  delivered: boolean;
  attempts: number;
  /** Why the last attempt failed (no secret in it); absent when delivered. */
  error?: string;
}

export function notifyActivities(deps: Pick<ActivityDeps, 'env'>) {
  return {
    async notifyWebhook(input: NotifyInput): Promise<NotifyOutcome> {
      const env = deps.env ?? process.env;
      const info = Context.current().info;
      const attempt = info.attempt;
      const target = webhookTarget(input.webhook.url);
      const giveUp = (error: string): NotifyOutcome => {
        runLog({ runId: input.facts.runId, stage: input.facts.stage }).warn(
          { event: input.facts.event, webhook: target, attempts: attempt, error },
          `webhook ${target} not told of ${input.facts.event}: ${error}; the run goes on`,
        );
        return { delivered: false, attempts: attempt, error };
      };
      let secret: string;
      try {
        secret = (await resolveSecret(`notify.webhooks.${input.index}.secret`, input.webhook.secret, env)).reveal();
      } catch (err) {
        // Trying again cannot set the variable: give up now.
        if (err instanceof SecretUnavailable) return giveUp(err.message);
        throw err;
      }
      const uiBase = input.uiBaseUrl ?? uiBaseOf(env);
      const body = notifyBody(input.facts, uiBase ? uiLink(uiBase, info.namespace, input.facts.runId) : null);
      try {
        await postNotification(input.webhook.url, secret, body, NOTIFY_ATTEMPT_TIMEOUT_S);
        return { delivered: true, attempts: attempt };
      } catch (err) {
        const message = (err as Error).message;
        if (attempt >= NOTIFY_ATTEMPTS) return giveUp(message);
        throw ApplicationFailure.retryable(message, (err as Error).name);
      }
    },
  };
}

function uiBaseOf(env: NodeJS.ProcessEnv): string | null {
  try {
    return uiBaseFor(temporalSettings(env), env);
  } catch {
    // A TLS setting the worker could not use would have stopped it; no link then.
    return env.FINETUNE_UI_URL ?? null;
  }
}
