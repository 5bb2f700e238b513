/**
 * An in-process stand-in for the Secret Manager REST API (v1), for the real
 * clients (@google-cloud/secret-manager on the worker, google-cloud-secret-manager
 * on the host) pointed at it with FINETUNE_SECRET_MANAGER_ENDPOINT. It answers
 *
 *   GET /v1/projects/{p}/secrets/{s}/versions/{v}:access
 *     200 {"name": ..., "payload": {"data": <base64>, "dataCrc32c": "<int64>"}}
 *     404 NOT_FOUND, 403 PERMISSION_DENIED, 400 FAILED_PRECONDITION (a disabled version)
 *
 * with Google's error JSON, and records who asked (the client's x-goog-api-client
 * header says gl-node or gl-python) so a test can tell the worker from the host.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32c } from '../../src/secrets/crc32c';

export interface SecretAccess {
  path: string;
  status: number;
  /** `node` or `python`: which official client asked. */
  client: string;
}

export interface FakeSecretManager {
  /** http://127.0.0.1:<port>: the value of FINETUNE_SECRET_MANAGER_ENDPOINT. */
  url: string;
  accesses: SecretAccess[];
  /** Adds a version to the secret (made on first use); returns the secret:gcp: reference to it. */
  put(project: string, secret: string, value: string | Buffer): string;
  /** Every read of this secret (any version) is refused as IAM refuses a caller without secretAccessor. */
  deny(project: string, secret: string): void;
  /** The version exists but is disabled. */
  disable(project: string, secret: string, version: number): void;
  close(): Promise<void>;
}

interface Version {
  data: Buffer;
  enabled: boolean;
}

const ACCESS = /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/:]+):access$/;

export async function startFakeSecretManager(): Promise<FakeSecretManager> {
  const secrets = new Map<string, Version[]>();
  const denied = new Set<string>();
  const accesses: SecretAccess[] = [];

  const answer = (project: string, secret: string, version: string): [number, unknown] => {
    const resource = `projects/${project}/secrets/${secret}/versions/${version}`;
    if (denied.has(`${project}/${secret}`)) {
      return error(403, 'PERMISSION_DENIED', `Permission 'secretmanager.versions.access' denied for resource '${resource}' (or it may not exist).`, [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'IAM_PERMISSION_DENIED',
          domain: 'secretmanager.googleapis.com',
          metadata: { resource, permission: 'secretmanager.versions.access' },
        },
      ]);
    }
    const versions = secrets.get(`${project}/${secret}`);
    if (!versions) return error(404, 'NOT_FOUND', `Secret [projects/${project}/secrets/${secret}] not found or has no versions.`);
    const n = version === 'latest' ? lastEnabled(versions) : Number(version);
    const v = versions[n - 1];
    if (!v) return error(404, 'NOT_FOUND', `Secret Version [${resource}] not found.`);
    if (!v.enabled) return error(400, 'FAILED_PRECONDITION', `Secret Version [projects/${project}/secrets/${secret}/versions/${n}] is in DISABLED state.`);
    return [200, { name: `projects/${project}/secrets/${secret}/versions/${n}`, payload: { data: v.data.toString('base64'), dataCrc32c: String(crc32c(v.data)) } }];
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const m = req.method === 'GET' ? ACCESS.exec(url.pathname) : null;
    const [status, body] = m
      ? answer(decodeURIComponent(m[1]), decodeURIComponent(m[2]), decodeURIComponent(m[3]))
      : error(404, 'NOT_FOUND', `${req.method} ${url.pathname} is not a method of this fake`);
    const client = /gl-python/.test(String(req.headers['x-goog-api-client'])) ? 'python' : /gl-node/.test(String(req.headers['x-goog-api-client'])) ? 'node' : 'other';
    accesses.push({ path: url.pathname, status, client });
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    accesses,
    put(project, secret, value) {
      const versions = secrets.get(`${project}/${secret}`) ?? [];
      versions.push({ data: Buffer.from(value), enabled: true });
      secrets.set(`${project}/${secret}`, versions);
      return `secret:gcp:projects/${project}/secrets/${secret}/versions/${versions.length}`;
    },
    deny(project, secret) {
      denied.add(`${project}/${secret}`);
    },
    disable(project, secret, version) {
      const v = secrets.get(`${project}/${secret}`)?.[version - 1];
      if (!v) throw new Error(`no version ${version} of ${project}/${secret}`);
      v.enabled = false;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function lastEnabled(versions: Version[]): number {
  for (let i = versions.length - 1; i >= 0; i--) if (versions[i].enabled) return i + 1;
  return 0;
}

function error(code: number, status: string, message: string, details: unknown[] = []): [number, unknown] {
  return [code, { error: { code, message, status, ...(details.length > 0 ? { details } : {}) } }];
}
