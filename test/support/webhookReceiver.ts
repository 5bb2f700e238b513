/**
 * A webhook receiver on 127.0.0.1 for notification tests: it verifies each
 * request's Finetune-Signature the way docs/operating.md tells a receiver to
 * (node:crypto only, not our signer) and records what came. `failFirst`
 * answers 500 to that many requests first, to make the sender retry.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  /** The parsed body; its raw text is `raw`. */
  body: Record<string, any>;
  raw: string;
  signature: string | undefined;
  /** Whether the signature verified with the receiver's secret within 5 minutes. */
  verified: boolean;
  /** What the receiver answered. */
  status: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Verified bodies of one event. */
  events(event: string): Record<string, any>[];
  /** Resolves when a verified body of `event` has arrived. */
  waitFor(event: string, timeoutMs?: number): Promise<Record<string, any>>;
  close(): Promise<void>;
}

/** The documented verification (docs/operating.md, "Verifying a notification"). */
export function verify(secret: string, header: string | undefined, raw: string, nowS = Math.floor(Date.now() / 1000)): boolean {
  const t = /(?:^|,)t=(\d+)/.exec(header ?? '')?.[1];
  const v1 = /(?:^|,)v1=([0-9a-f]{64})/.exec(header ?? '')?.[1];
  if (!t || !v1 || Math.abs(nowS - Number(t)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${raw}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}

export async function startReceiver(secret: string, opts: { failFirst?: number } = {}): Promise<Receiver> {
  const received: Received[] = [];
  let toFail = opts.failFirst ?? 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const signature = req.headers['finetune-signature'] as string | undefined;
      const verified = verify(secret, signature, raw);
      const status = !verified ? 401 : toFail-- > 0 ? 500 : 200;
      received.push({ body: JSON.parse(raw), raw, signature, verified, status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const events = (event: string) => received.filter((r) => r.status === 200 && r.body.event === event).map((r) => r.body);
  return {
    url: `http://127.0.0.1:${port}/hooks/finetune`,
    received,
    events,
    async waitFor(event, timeoutMs = 20000) {
      for (const start = Date.now(); Date.now() - start < timeoutMs; await new Promise((r) => setTimeout(r, 25))) {
        const got = events(event);
        if (got.length > 0) return got[0];
      }
      throw new Error(`no ${event} notification within ${timeoutMs} ms; received: ${received.map((r) => `${r.body.event}/${r.status}`).join(', ')}`);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
