/**
 * An HTTP proxy in front of an emulator that records what passes through and
 * can answer the next requests with an error instead of forwarding them: the
 * transient faults (503, a dropped answer) that clients must retry.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
}

export interface FaultProxy {
  url: string;
  seen: SeenRequest[];
  maxInFlight: number;
  /** The next n requests whose `method url` matches get this status (no forwarding). */
  fail(n: number, status: number, match?: RegExp): void;
  /** The next n matching requests are forwarded, but their answer is dropped (the socket is destroyed). */
  dropAnswers(n: number, match?: RegExp): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const to = new URL(target);
  const faults: { left: number; status: number | 'drop'; match: RegExp }[] = [];
  let inFlight = 0;
  const proxy: FaultProxy = {
    url: '',
    seen: [],
    maxInFlight: 0,
    fail(n, status, match = /./) {
      faults.push({ left: n, status, match });
    },
    dropAnswers(n, match = /./) {
      faults.push({ left: n, status: 'drop', match });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    const line = `${req.method} ${req.url}`;
    proxy.seen.push({ method: req.method ?? '', url: req.url ?? '' });
    const fault = faults.find((f) => f.left > 0 && f.match.test(line));
    if (fault) fault.left -= 1;
    if (fault && fault.status !== 'drop') {
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: fault.status, message: 'injected by the test proxy' } }));
      return;
    }
    inFlight += 1;
    proxy.maxInFlight = Math.max(proxy.maxInFlight, inFlight);
    const upstream = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } }, (answer) => {
      if (fault?.status === 'drop') {
        answer.resume();
        answer.on('end', () => {
          inFlight -= 1;
          req.socket.destroy();
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('end', () => (inFlight -= 1));
    });
    upstream.on('error', (err) => {
      inFlight -= 1;
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
