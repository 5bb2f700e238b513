/**
 * The notify section of the pipeline config (docs/config.md, `notify`):
 *
 *   notify:
 *     ui_base_url: https://temporal.example.com   # optional; links in the bodies
 *     webhooks:
 *       - url: https://hooks.example.com/finetune
 *         secret: secret:env:FINETUNE_WEBHOOK_SECRET
 *         events: [failed, awaiting_approval]      # default: all
 *
 * Pure: src/config/schema.ts puts it in the pipeline config.
 */
import { z } from 'zod';
import { secretRefProblem } from '../secrets/ref';
import { NOTIFY_EVENTS } from './events';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Why a webhook url cannot be used; undefined when it can. A regular expression,
 * not URL: the workflow validates configs too, and URL is no global its sandbox promises.
 */
export function webhookUrlProblem(text: string): string | undefined {
  const m = /^([a-z]+):\/\/([^/?#]*)(?:[/?#]\S*)?$/i.exec(text);
  if (!m) return 'is not a URL; write https://<host>/<path>';
  const [, scheme, authority] = m;
  if (authority.includes('@')) return 'carries a user or password; put credentials in the receiver, not the URL';
  const host = authority.replace(/:\d+$/, '').toLowerCase();
  if (!host) return 'names no host; write https://<host>/<path>';
  if (scheme.toLowerCase() === 'https') return undefined;
  if (scheme.toLowerCase() === 'http' && LOOPBACK.has(host)) return undefined;
  return "must be https:// (plain http:// only to 127.0.0.1 or localhost, for a receiver on the worker's machine): the body carries the run's figures";
}

const httpUrl = z.string().superRefine((value, ctx) => {
  const problem = webhookUrlProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', input: value, message: problem });
});

export const WebhookConfig = z
  .object({
    url: httpUrl,
    /** Signs every body (HMAC-SHA256); a secret reference, never the secret itself. */
    secret: z.string().superRefine((value, ctx) => {
      const problem = secretRefProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    events: z
      .array(z.enum(NOTIFY_EVENTS))
      .min(1, `lists no event; leave events out for all of them (${NOTIFY_EVENTS.join(', ')})`)
      .default([...NOTIFY_EVENTS]),
  })
  .strict();

export const NotifyConfig = z
  .object({
    webhooks: z.array(WebhookConfig).default([]),
    /** The Temporal UI the bodies link to; default the worker's FINETUNE_UI_URL (docs/operating.md). */
    ui_base_url: z
      .string()
      .superRefine((value, ctx) => {
        if (!/^https?:\/\/[^/]+/.test(value)) ctx.addIssue({ code: 'custom', input: value, message: 'is not an http(s) URL; write e.g. https://temporal.example.com' });
      })
      .optional(),
  })
  .strict();

export type NotifyConfig = z.infer<typeof NotifyConfig>;
export type WebhookConfig = z.infer<typeof WebhookConfig>;
