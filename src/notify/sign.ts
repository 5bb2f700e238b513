/**
 * Webhook signatures, Stripe-style: the header
 *   Finetune-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">
 * keyed with the webhook's secret. The timestamp is inside the signed text, so a
 * receiver that refuses old timestamps (REPLAY_WINDOW_S) refuses replays.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Finetune-Signature';
/** How old a signature's timestamp a receiver should accept (and how far in the future). */
export const REPLAY_WINDOW_S = 300;

export function signature(secret: string, body: string, t: number): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

export function signatureHeader(secret: string, body: string, t: number): string {
  return `t=${t},v1=${signature(secret, body, t)}`;
}

/** Why a signature does not verify; null when it does. */
export function signatureProblem(
  secret: string,
  header: string | undefined,
  body: string,
  nowS: number = Math.floor(Date.now() / 1000),
  windowS: number = REPLAY_WINDOW_S,
): string | null {
  if (!header) return `no ${SIGNATURE_HEADER} header`;
  const fields = new Map<string, string[]>();
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    fields.set(key, [...(fields.get(key) ?? []), part.slice(eq + 1).trim()]);
  }
  const t = Number(fields.get('t')?.[0]);
  if (!Number.isInteger(t)) return 'no timestamp t=<unix seconds> in the header';
  if (Math.abs(nowS - t) > windowS) return `timestamp ${t} is more than ${windowS} s from now (${nowS}): a replay or a wrong clock`;
  const expected = Buffer.from(signature(secret, body, t), 'hex');
  const matches = (fields.get('v1') ?? []).some((v) => {
    const given = Buffer.from(v, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches ? null : 'no v1 signature matches the body with this secret';
}
