/**
 * The codec server (`finetune codec-server`): the Temporal codec server
 * protocol, so the Temporal UI and the `temporal` CLI show runs decoded.
 * POST /encode and /decode take and return {"payloads": [...]} with base64
 * metadata values and data; every call needs the bearer token (the
 * Authorization header, or the cookie a browser gets once from
 * /login?token=...); CORS answers only the UI origins given.
 */
import * as http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';

export interface CodecServerOptions {
  codec: PayloadCodec;
  token: string;
  /** Origins of the Temporal UI allowed to call from a browser, e.g. http://localhost:8233. */
  corsOrigins: string[];
}

export const TOKEN_COOKIE = 'finetune_codec';
const MAX_BODY_BYTES = 64 * 1024 * 1024;

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** A request the protocol cannot take: the status and what to fix. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function fromJson(p: unknown, i: number): Payload {
  if (!p || typeof p !== 'object') throw new Refusal(400, `payloads[${i}] is not an object with metadata and data`);
  const { metadata = {}, data = '' } = p as JsonPayload;
  if (typeof metadata !== 'object' || metadata === null) throw new Refusal(400, `payloads[${i}].metadata is not an object of base64 strings`);
  const meta: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string' || !BASE64.test(v)) throw new Refusal(400, `payloads[${i}].metadata.${k} is not base64`);
    meta[k] = Buffer.from(v, 'base64');
  }
  if (typeof data !== 'string' || !BASE64.test(data)) throw new Refusal(400, `payloads[${i}].data is not base64`);
  return { metadata: meta, data: Buffer.from(data, 'base64') };
}

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? []).toString('base64'),
  };
}

function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function presentedToken(req: http.IncomingMessage): string | null {
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (bearer) return bearer[1];
  const cookie = (req.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim())
    .find((c) => c.startsWith(`${TOKEN_COOKIE}=`));
  return cookie ? decodeURIComponent(cookie.slice(TOKEN_COOKIE.length + 1)) : null;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Refusal(413, `the request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function codecRequestHandler(opts: CodecServerOptions): http.RequestListener {
  const origins = new Set(opts.corsOrigins);
  return (req, res) => {
    const origin = req.headers.origin;
    const send = (status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void => {
      const cors: http.OutgoingHttpHeaders =
        origin && origins.has(origin) ? { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' } : {};
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', ...cors, ...headers });
      res.end(text);
    };
    const url = new URL(req.url ?? '/', 'http://codec-server');
    const handle = async (): Promise<void> => {
      if (origin && !origins.has(origin)) {
        throw new Refusal(403, `origin ${origin} may not call this codec server; start it with --cors-origin ${origin}`);
      }
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          ...(origin ? { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' } : {}),
          'Access-Control-Allow-Methods': 'POST, OPTIONS',
          'Access-Control-Allow-Headers': 'Authorization, Content-Type, X-Namespace',
          'Access-Control-Max-Age': '600',
        });
        res.end();
        return;
      }
      if (req.method === 'GET' && url.pathname === '/login') {
        // A browser cannot add an Authorization header to the UI's calls; it sends this cookie instead
        // (the UI's codec setting "Include cross-origin credentials").
        const given = url.searchParams.get('token') ?? '';
        if (!sameSecret(given, opts.token)) throw new Refusal(401, "the token in /login?token=... is not this codec server's token");
        send(200, 'This browser can now decode runs in the Temporal UI (codec endpoint setting: this server, with "Include cross-origin credentials").\n', {
          'Set-Cookie': `${TOKEN_COOKIE}=${encodeURIComponent(opts.token)}; HttpOnly; SameSite=Strict; Path=/`,
          'Cache-Control': 'no-store',
        });
        return;
      }
      const op = url.pathname === '/encode' ? 'encode' : url.pathname === '/decode' ? 'decode' : null;
      if (!op) throw new Refusal(404, `no ${url.pathname} here: POST /encode or /decode`);
      if (req.method !== 'POST') throw new Refusal(405, `${req.method} ${url.pathname}: use POST`);
      const token = presentedToken(req);
      if (token === null || !sameSecret(token, opts.token)) {
        throw new Refusal(401, `${token === null ? 'no token' : 'a wrong token'}: send Authorization: Bearer <token> (the token \`finetune codec-server\` printed where it keeps)`);
      }
      let doc: unknown;
      try {
        doc = JSON.parse(await readBody(req));
      } catch (err) {
        if (err instanceof Refusal) throw err;
        throw new Refusal(400, 'the body is not JSON; send {"payloads": [...]}');
      }
      if (!doc || typeof doc !== 'object') throw new Refusal(400, 'the body is not an object; send {"payloads": [...]}');
      // Proto JSON leaves an empty list out: the temporal CLI sends {} for a query without arguments.
      const list = (doc as { payloads?: unknown }).payloads ?? [];
      if (!Array.isArray(list)) throw new Refusal(400, 'the body\'s "payloads" is not a list; send {"payloads": [...]}');
      const payloads = list.map(fromJson);
      let out: Payload[];
      try {
        out = await opts.codec[op](payloads);
      } catch (err) {
        throw new Refusal(422, `${(err as Error).name}: ${(err as Error).message}`);
      }
      send(200, { payloads: out.map(toJson) });
    };
    handle().catch((err: unknown) => {
      if (err instanceof Refusal) send(err.status, { error: err.message }, err.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {});
      else send(500, { error: (err as Error).message });
    });
  };
}

export interface RunningCodecServer {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

export function startCodecServer(opts: CodecServerOptions & { host: string; port: number }): Promise<RunningCodecServer> {
  const server = http.createServer(codecRequestHandler(opts));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const { port } = server.address() as import('node:net').AddressInfo;
      const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      resolve({ url: `http://${host}:${port}`, server, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}
