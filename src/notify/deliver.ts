/**
 * One signed POST of a notification body to a webhook. A receiver that does
 * not answer 2xx within the timeout is WebhookRejected / WebhookUnreachable;
 * the activity decides whether to try again.
 */
import { SIGNATURE_HEADER, signatureHeader } from './sign';
import type { NotifyBody } from './events';

export class WebhookRejected extends Error {
  readonly name = 'WebhookRejected';
  constructor(
    readonly target: string,
    readonly status: number,
    detail: string,
  ) {
    super(`${target} answered HTTP ${status}${detail ? `: ${detail}` : ''}`);
  }
}

export class WebhookUnreachable extends Error {
  readonly name = 'WebhookUnreachable';
  constructor(
    readonly target: string,
    cause: string,
  ) {
    super(`${target} did not answer: ${cause}`);
  }
}

/**
 * The webhook as logs and errors show it: scheme, host and port only, since
 * a path may carry a token (a Slack incoming webhook's does).
 */
export function webhookTarget(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '<invalid url>';
  }
}

export async function postNotification(url: string, secret: string, body: NotifyBody, timeoutS: number, nowS = Math.floor(Date.now() / 1000)): Promise<number> {
  const text = JSON.stringify(body);
  const target = webhookTarget(url);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'durable-finetune', [SIGNATURE_HEADER]: signatureHeader(secret, text, nowS) },
      body: text,
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutS * 1000),
    });
  } catch (err) {
    const e = err as Error & { cause?: Error };
    throw new WebhookUnreachable(target, e.cause?.message ?? e.message);
  }
  const detail = (await res.text().catch(() => '')).slice(0, 200);
  if (!res.ok) throw new WebhookRejected(target, res.status, detail);
  return res.status;
}
