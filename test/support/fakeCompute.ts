/**
 * An in-process stand-in for the Compute Engine REST API (v1), speaking its
 * JSON protocol, for the real @google-cloud/compute client: instances insert,
 * get, delete, list, aggregatedList, getSerialPortOutput; zoneOperations get,
 * wait, list; images insert (from a stopped VM's boot disk), get,
 * getFromFamily; globalOperations get, wait. Tests script what GCE would do:
 * stockouts, quota errors, slow answers, preemptions, a guest that powers
 * its VM off.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ComputeClientOptions } from '../../src/hosts/gce';
import { noAuth } from '../../src/google/noAuth';

export interface FakeInstance {
  name: string;
  zone: string;
  status: string;
  creationTimestamp: string;
  labels: Record<string, string>;
  metadata: { items: { key: string; value: string }[] };
  body: Record<string, unknown>;
  serial: string;
}

/** An image made from a VM's boot disk (images.insert with sourceDisk). */
export interface FakeImage {
  name: string;
  family?: string;
  labels: Record<string, string>;
  description?: string;
  sourceDisk: string;
  /** The VM whose boot disk it was made from, as it was then. */
  sourceInstance: FakeInstance;
  diskSizeGb: string;
  creationTimestamp: string;
  body: Record<string, unknown>;
}

export interface FakeOperation {
  name: string;
  /** 'global' for global operations (images). */
  zone: string;
  operationType: string;
  targetLink: string;
  status: 'PENDING' | 'RUNNING' | 'DONE';
  insertTime: string;
  /** When it became DONE: for a delete, when the VM's billing ends. */
  endTime?: string;
  error?: { errors: { code: string; message: string; errorDetails?: unknown[] }[] };
}

/** What the next insert in a zone does instead of succeeding. */
export type InsertFault =
  { kind: 'stockout'; code?: string } | { kind: 'quota'; metric: string; region: string } | { kind: 'http'; status: number; reason: string; message: string };

export interface FakeCompute {
  url: string;
  project: string;
  instances: Map<string, FakeInstance>;
  images: Map<string, FakeImage>;
  operations: FakeOperation[];
  requests: { method: string; path: string }[];
  /** Client options that reach this fake through the real client. */
  clientOptions(): ComputeClientOptions;
  /** The next n inserts in zone fail this way (n may be Infinity). */
  failInserts(zone: string, n: number, fault: InsertFault): void;
  /** Forgets every scripted fault and every VM (between tests). */
  reset(): void;
  /** The next n inserts create the VM but answer only after ms (longer than the client waits). */
  slowInserts(n: number, ms: number): void;
  /** Called for every VM created (e.g. to start a local agent that plays the VM). */
  onCreate?: (inst: FakeInstance) => void;
  /** Called for every VM deleted or preempted. */
  onDelete?: (inst: FakeInstance) => void;
  /** Called for every image made, before its operation is DONE (e.g. to copy the VM's files). */
  onImage?: (image: FakeImage) => void;
  /**
   * The guest shut the VM down (poweroff inside it): STOPPING, then TERMINATED, as GCE
   * records a compute.instances.guestTerminate operation. The VM and its disk stay.
   */
  guestPowerOff(zone: string, name: string): void;
  /**
   * GCE preempts the VM: a compute.instances.preempted operation and the VM
   * STOPPING, then (after `acpi`, the guest's soft-off: at most 30 s on GCE)
   * the VM is deleted (instanceTerminationAction DELETE). Without `acpi` it
   * all happens before this returns.
   */
  preempt(name: string, acpi?: () => Promise<void>): Promise<void>;
  live(): FakeInstance[];
  close(): Promise<void>;
}

const OP_LATENCY_MS = 30;

export async function startFakeCompute(project = 'finetune-test'): Promise<FakeCompute> {
  const faults = new Map<string, { left: number; fault: InsertFault }[]>();
  let slow: { left: number; ms: number } = { left: 0, ms: 0 };
  let opCounter = 0;
  const base = () => `https://compute.googleapis.com/compute/v1/projects/${project}`;

  const fake: FakeCompute = {
    url: '',
    project,
    instances: new Map(),
    images: new Map(),
    operations: [],
    requests: [],
    clientOptions() {
      const port = Number(new URL(fake.url).port);
      return { apiEndpoint: '127.0.0.1', port, protocol: 'http', fallback: true, authClient: noAuth(), projectId: project } as ComputeClientOptions;
    },
    failInserts(zone, n, fault) {
      faults.set(zone, [...(faults.get(zone) ?? []), { left: n, fault }]);
    },
    reset() {
      faults.clear();
      slow = { left: 0, ms: 0 };
      fake.instances.clear();
      fake.images.clear();
      fake.onCreate = undefined;
      fake.onDelete = undefined;
      fake.onImage = undefined;
    },
    slowInserts(n, ms) {
      slow = { left: n, ms };
    },
    async preempt(name, acpi) {
      const inst = [...fake.instances.values()].find((i) => i.name === name);
      if (!inst) throw new Error(`no instance ${name} to preempt`);
      newOp(inst.zone, 'compute.instances.preempted', inst.name, 'DONE');
      inst.status = 'STOPPING';
      if (acpi) await acpi();
      inst.status = 'TERMINATED';
      fake.instances.delete(key(inst.zone, inst.name));
      fake.onDelete?.(inst);
    },
    guestPowerOff(zone, name) {
      const inst = fake.instances.get(key(zone, name));
      if (!inst || inst.status === 'TERMINATED') return;
      newOp(zone, 'compute.instances.guestTerminate', name, 'DONE');
      inst.status = 'STOPPING';
      setTimeout(() => {
        if (inst.status === 'STOPPING') inst.status = 'TERMINATED';
      }, OP_LATENCY_MS);
    },
    live: () => [...fake.instances.values()],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const key = (zone: string, name: string) => `${zone}/${name}`;

  function newOp(zone: string, operationType: string, target: string, status: FakeOperation['status'] = 'RUNNING'): FakeOperation {
    const op: FakeOperation = {
      name: `operation-${Date.now()}-${++opCounter}`,
      zone,
      operationType,
      targetLink: zone === 'global' ? `${base()}/global/images/${target}` : `${base()}/zones/${zone}/instances/${target}`,
      status,
      insertTime: new Date().toISOString(),
    };
    fake.operations.push(op);
    if (status === 'DONE') op.endTime = op.insertTime;
    else
      setTimeout(() => {
        op.status = 'DONE';
        op.endTime = new Date().toISOString();
      }, OP_LATENCY_MS);
    return op;
  }

  const opJson = (op: FakeOperation) => ({
    kind: 'compute#operation',
    id: String(opCounter),
    name: op.name,
    ...(op.zone === 'global' ? {} : { zone: `${base()}/zones/${op.zone}` }),
    operationType: op.operationType,
    targetLink: op.targetLink,
    status: op.status,
    progress: op.status === 'DONE' ? 100 : 0,
    insertTime: op.insertTime,
    ...(op.endTime ? { endTime: op.endTime } : {}),
    selfLink: op.zone === 'global' ? `${base()}/global/operations/${op.name}` : `${base()}/zones/${op.zone}/operations/${op.name}`,
    ...(op.error ? { error: op.error } : {}),
  });

  const instanceJson = (i: FakeInstance) => ({
    ...i.body,
    kind: 'compute#instance',
    id: String(Math.abs(hash(i.name))),
    name: i.name,
    zone: `${base()}/zones/${i.zone}`,
    status: i.status,
    creationTimestamp: i.creationTimestamp,
    labels: i.labels,
    metadata: i.metadata,
    // The boot disk is named after the VM, as GCE names a disk made from initializeParams.
    disks: ((i.body.disks ?? []) as Record<string, unknown>[]).map((d, n) => ({
      kind: 'compute#attachedDisk',
      boot: d.boot ?? n === 0,
      autoDelete: d.autoDelete ?? false,
      deviceName: n === 0 ? i.name : `${i.name}-${n}`,
      source: `${base()}/zones/${i.zone}/disks/${n === 0 ? i.name : `${i.name}-${n}`}`,
    })),
    selfLink: `${base()}/zones/${i.zone}/instances/${i.name}`,
  });

  const imageJson = (img: FakeImage) => ({
    ...img.body,
    kind: 'compute#image',
    id: String(Math.abs(hash(img.name))),
    name: img.name,
    ...(img.family ? { family: img.family } : {}),
    labels: img.labels,
    ...(img.description ? { description: img.description } : {}),
    sourceDisk: img.sourceDisk,
    sourceType: 'RAW',
    status: 'READY',
    diskSizeGb: img.diskSizeGb,
    creationTimestamp: img.creationTimestamp,
    selfLink: `${base()}/global/images/${img.name}`,
  });

  function matches(obj: Record<string, unknown>, filter: string | null): boolean {
    if (!filter) return true;
    for (const m of filter.matchAll(/([A-Za-z][\w.-]*)\s*=\s*"([^"]*)"/g)) {
      const value = m[1].split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
      if (value !== m[2]) return false;
    }
    return true;
  }

  async function handle(req: http.IncomingMessage, body: string): Promise<[number, unknown]> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const p = path.match(/^\/compute\/v1\/projects\/([^/]+)\/(.*)$/);
    if (!p || p[1] !== project) return notFound(`projects/${p?.[1] ?? '?'}`);
    const rest = p[2];
    let m: RegExpMatchArray | null;

    if ((m = rest.match(/^zones\/([^/]+)\/instances$/))) {
      const zone = m[1];
      if (req.method === 'GET') {
        const items = fake
          .live()
          .filter((i) => i.zone === zone)
          .map(instanceJson)
          .filter((i) => matches(i, url.searchParams.get('filter')));
        return [200, { kind: 'compute#instanceList', items }];
      }
      if (req.method === 'POST') return insert(zone, JSON.parse(body || '{}'));
    }
    if ((m = rest.match(/^zones\/([^/]+)\/instances\/([^/]+)$/))) {
      const [, zone, name] = m;
      const inst = fake.instances.get(key(zone, name));
      if (!inst) return notFound(`projects/${project}/zones/${zone}/instances/${name}`);
      if (req.method === 'GET') return [200, instanceJson(inst)];
      if (req.method === 'DELETE') {
        inst.status = 'STOPPING';
        const op = newOp(zone, 'delete', name);
        setTimeout(() => {
          if (fake.instances.get(key(zone, name)) === inst) {
            fake.instances.delete(key(zone, name));
            fake.onDelete?.(inst);
          }
        }, OP_LATENCY_MS / 2);
        return [200, opJson(op)];
      }
    }
    if ((m = rest.match(/^zones\/([^/]+)\/instances\/([^/]+)\/serialPort$/))) {
      const inst = fake.instances.get(key(m[1], m[2]));
      if (!inst) return notFound(`projects/${project}/zones/${m[1]}/instances/${m[2]}`);
      const start = Number(url.searchParams.get('start') ?? 0);
      const bytes = Buffer.from(inst.serial);
      return [200, { kind: 'compute#serialPortOutput', contents: bytes.subarray(start).toString(), start: String(start), next: String(bytes.length) }];
    }
    if (rest === 'aggregated/instances' && req.method === 'GET') {
      const items: Record<string, unknown> = {};
      for (const i of fake.live()) {
        const json = instanceJson(i);
        if (!matches(json, url.searchParams.get('filter'))) continue;
        const scope = `zones/${i.zone}`;
        ((items[scope] ??= { instances: [] }) as { instances: unknown[] }).instances.push(json);
      }
      return [200, { kind: 'compute#instanceAggregatedList', items }];
    }
    if ((m = rest.match(/^zones\/([^/]+)\/operations$/)) && req.method === 'GET') {
      const items = fake.operations
        .filter((o) => o.zone === m![1])
        .map(opJson)
        .filter((o) => matches(o, url.searchParams.get('filter')));
      return [200, { kind: 'compute#operationList', items }];
    }
    if (rest === 'global/images' && req.method === 'POST') return insertImage(JSON.parse(body || '{}'));
    if ((m = rest.match(/^global\/images\/family\/([^/]+)$/)) && req.method === 'GET') {
      const newest = [...fake.images.values()]
        .filter((i) => i.family === m![1])
        .sort((a, b) => a.creationTimestamp.localeCompare(b.creationTimestamp))
        .pop();
      return newest ? [200, imageJson(newest)] : notFound(`projects/${project}/global/images/family/${m[1]}`);
    }
    if ((m = rest.match(/^global\/images\/([^/]+)$/)) && req.method === 'GET') {
      const img = fake.images.get(m[1]);
      return img ? [200, imageJson(img)] : notFound(`projects/${project}/global/images/${m[1]}`);
    }
    if ((m = rest.match(/^global\/operations\/([^/]+)(\/wait)?$/))) {
      const op = fake.operations.find((o) => o.zone === 'global' && o.name === m![1]);
      if (!op) return notFound(`operations/${m[1]}`);
      if (m[2]) await new Promise((r) => setTimeout(r, 10));
      return [200, opJson(op)];
    }
    if ((m = rest.match(/^zones\/([^/]+)\/operations\/([^/]+)(\/wait)?$/))) {
      const op = fake.operations.find((o) => o.zone === m![1] && o.name === m![2]);
      if (!op) return notFound(`operations/${m[2]}`);
      if (m[3]) {
        // Like GCE, wait may answer before DONE (here after at most 10 ms).
        await new Promise((r) => setTimeout(r, 10));
      }
      return [200, opJson(op)];
    }
    return notFound(path);
  }

  async function insert(zone: string, body: Record<string, unknown>): Promise<[number, unknown]> {
    const name = String(body.name);
    const queue = faults.get(zone) ?? [];
    const next = queue.find((f) => f.left > 0);
    if (next) {
      next.left -= 1;
      const f = next.fault;
      if (f.kind === 'http') return [f.status, { error: { code: f.status, message: f.message, errors: [{ message: f.message, domain: 'global', reason: f.reason }] } }];
      const op = newOp(zone, 'insert', name);
      op.error =
        f.kind === 'stockout'
          ? {
              errors: [
                {
                  code: f.code ?? 'ZONE_RESOURCE_POOL_EXHAUSTED',
                  message: `The zone 'projects/${project}/zones/${zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.`,
                },
              ],
            }
          : {
              errors: [
                {
                  code: 'QUOTA_EXCEEDED',
                  message: `Quota '${f.metric}' exceeded.  Limit: 0.0 in region ${f.region}.`,
                  errorDetails: [{ quotaInfo: { metricName: f.metric, limitName: `${f.metric}-per-project-region`, dimensions: { region: f.region }, limit: 0 } }],
                },
              ],
            };
      return [200, opJson(op)];
    }
    if (fake.instances.has(key(zone, name))) {
      const message = `The resource 'projects/${project}/zones/${zone}/instances/${name}' already exists`;
      return [409, { error: { code: 409, message, errors: [{ message, domain: 'global', reason: 'alreadyExists' }] } }];
    }
    const labels = (body.labels ?? {}) as Record<string, string>;
    const metadata = (body.metadata ?? { items: [] }) as FakeInstance['metadata'];
    const inst: FakeInstance = {
      name,
      zone,
      status: 'PROVISIONING',
      creationTimestamp: new Date().toISOString(),
      labels,
      metadata: { items: metadata.items ?? [] },
      body,
      serial: `[fake] ${name} booting in ${zone}\n`,
    };
    fake.instances.set(key(zone, name), inst);
    const op = newOp(zone, 'insert', name);
    setTimeout(() => {
      if (inst.status === 'PROVISIONING') inst.status = 'RUNNING';
    }, OP_LATENCY_MS);
    fake.onCreate?.(inst);
    if (slow.left > 0) {
      slow.left -= 1;
      await new Promise((r) => setTimeout(r, slow.ms));
    }
    return [200, opJson(op)];
  }

  /** images.insert from a boot disk: refused, as GCE does, while the VM that uses the disk runs. */
  function insertImage(body: Record<string, unknown>): [number, unknown] {
    const name = String(body.name);
    const sourceDisk = String(body.sourceDisk ?? '');
    const disk = /zones\/([^/]+)\/disks\/([^/]+)$/.exec(sourceDisk);
    const inst = disk ? fake.instances.get(key(disk[1], disk[2])) : undefined;
    if (!disk || !inst) return notFound(sourceDisk.replace(/^.*?projects\//, 'projects/') || 'sourceDisk');
    if (fake.images.has(name)) {
      const message = `The resource 'projects/${project}/global/images/${name}' already exists`;
      return [409, { error: { code: 409, message, errors: [{ message, domain: 'global', reason: 'alreadyExists' }] } }];
    }
    const op = newOp('global', 'insert', name);
    if (inst.status !== 'TERMINATED') {
      op.error = {
        errors: [
          {
            code: 'RESOURCE_IN_USE_BY_ANOTHER_RESOURCE',
            message: `The disk resource 'projects/${project}/zones/${disk[1]}/disks/${disk[2]}' is already being used by 'projects/${project}/zones/${disk[1]}/instances/${inst.name}'`,
          },
        ],
      };
      return [200, opJson(op)];
    }
    const bootDisk = ((inst.body.disks ?? []) as { initializeParams?: { diskSizeGb?: unknown } }[])[0];
    const image: FakeImage = {
      name,
      family: typeof body.family === 'string' ? body.family : undefined,
      labels: (body.labels ?? {}) as Record<string, string>,
      description: typeof body.description === 'string' ? body.description : undefined,
      sourceDisk,
      sourceInstance: inst,
      diskSizeGb: String(bootDisk?.initializeParams?.diskSizeGb ?? 10),
      creationTimestamp: new Date().toISOString(),
      body,
    };
    fake.images.set(name, image);
    fake.onImage?.(image);
    return [200, opJson(op)];
  }

  function notFound(what: string): [number, unknown] {
    const message = `The resource '${what}' was not found`;
    return [404, { error: { code: 404, message, errors: [{ message, domain: 'global', reason: 'notFound' }] } }];
  }

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      fake.requests.push({ method: req.method ?? '', path: req.url ?? '' });
      handle(req, body)
        .then(([status, json]) => {
          if (res.destroyed) return;
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(json));
        })
        .catch((err) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 500, message: String(err), errors: [{ reason: 'backendError', message: String(err) }] } }));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}
