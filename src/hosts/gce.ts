/**
 * Hosts that are Compute Engine VMs (spot GPUs by default), through
 * @google-cloud/compute. The VM's startup script runs the trainer image's
 * agent against the run's store; nothing reaches into the VM afterwards.
 *
 * Instance names are a function of (run id, host index), so a retried
 * provision finds the VM it already made (in any configured zone) and adopts
 * it. Every answer from the API goes through the table in gceDecisions.ts.
 * A VM's lease carries project, zone and name, so state, release and logTail
 * need only the lease.
 */
import type { InstancesClient, ZoneOperationsClient, protos } from '@google-cloud/compute';
import { createHash } from 'node:crypto';
import { expectedGpus } from '../config/machineGpus';
import { checkRunId } from '../jobs/runId';
import { quoted } from '../printable';
import type { GceHostConfig } from '../config/schema';
import { classifyOperationErrors, classifyThrown, quotaFromMessage, type Classified, type ComputeError } from './gceDecisions';
import { HostLease, HostProvider, HostRequest, HostState, hostIdOf } from './provider';
import { SECRET_MANAGER_ENDPOINT_ENV } from '../secrets/ref';
import { renderShutdownScript, renderStartupScript } from './startupScript';
import { noAuth } from '../google/noAuth';

type IInstance = protos.google.cloud.compute.v1.IInstance;
type IOperation = protos.google.cloud.compute.v1.IOperation;

export const MANAGED_BY = 'durable-finetune';
/** Labels and metadata keys every VM we make carries; the reaper reads them. */
export const LABEL_MANAGED_BY = 'managed-by';
export const LABEL_RUN_ID = 'run-id';
export const METADATA_RUN_ID = 'finetune-run-id';
export const METADATA_HOST_ID = 'finetune-host-id';

/** Client options (tests: the fake Compute API). */
export type ComputeClientOptions = ConstructorParameters<typeof InstancesClient>[0];

export interface GceHostOptions {
  /** Needed by provision only; state, release and logTail work from the lease. */
  config?: GceHostConfig;
  clientOptions?: ComputeClientOptions;
  /** Aborting stops provisioning and deletes the VM it was making. */
  signal?: AbortSignal;
  /** Called while provisioning waits (an activity heartbeat). */
  onWait?: () => void;
  /** When the capacity wait started (an earlier activity attempt); default now. */
  startedAt?: number;
  /** Provision gives up (retryably) at this time even if capacity_wait_s allows more. */
  mustReturnBy?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** Per-call timeout of an insert; an insert that times out is retried in the same zone and adopted. */
  insertTimeoutMs?: number;
  /** Extra environment for the agent container. */
  agentEnv?: Record<string, string>;
}

export class QuotaExceeded extends Error {
  readonly name = 'QuotaExceeded';
  constructor(
    readonly metric: string,
    readonly region: string | undefined,
    readonly zone: string,
    readonly evidence: ComputeError[],
  ) {
    super(
      `quota ${metric}${region ? ` in region ${region}` : ''} is exhausted (zone ${zone}): ${evidence.map((e) => e.message).join('; ')}. ` +
        `Request more ${metric} quota (IAM & Admin > Quotas; docs/gcp.md) or choose a smaller machine type.`,
    );
  }
}

export class CapacityUnavailable extends Error {
  readonly name = 'CapacityUnavailable';
  constructor(
    readonly zonesTried: string[],
    readonly waitedS: number,
    readonly lastErrors: Record<string, string>,
  ) {
    super(
      `no capacity in zones ${zonesTried.join(', ')} after ${waitedS} s (host.capacity_wait_s): ` +
        Object.entries(lastErrors)
          .map(([z, e]) => `${z}: ${e}`)
          .join('; ') +
        '. Add zones, allow on-demand (spot: false), or raise capacity_wait_s.',
    );
  }
}

/** Provisioning ran out of this activity attempt's time; a retry continues the capacity wait. */
export class ProvisionPending extends Error {
  readonly name = 'ProvisionPending';
}

export class HostConfigInvalid extends Error {
  readonly name: string = 'HostConfigInvalid';
}

/** A VM of this run's name belongs to another run (or to no run of ours): it is neither adopted nor deleted. */
export class VmNameTaken extends HostConfigInvalid {
  override readonly name = 'VmNameTaken';
  constructor(
    readonly instance: string,
    readonly zone: string,
    readonly runId: string,
    readonly owner: string | undefined,
  ) {
    super(
      `instance ${instance} in ${zone} is not run ${runId}'s: its ${METADATA_RUN_ID} metadata says ${owner === undefined ? 'nothing' : quoted(owner)}. ` +
        "Provisioning never adopts or deletes another run's VM; start this run under another run id, or delete that VM if it is stale (finetune reap).",
    );
  }
}

export class ProvisionCancelled extends Error {
  readonly name = 'ProvisionCancelled';
}

const ALIVE = new Set(['PROVISIONING', 'STAGING', 'RUNNING', 'REPAIRING']);
const TRANSIENT_TRIES = 6;

/**
 * `ft-<run slug>-<hash>-h<n>`: a valid GCE name, stable across retries. The slug is cut to fit, so
 * the name is unique per (run id, host index) through the hash: 64 bits of sha256 of the whole run
 * id, so two live runs practically never share a name; provision refuses a VM of another run anyway.
 */
export function instanceName(runId: string, hostIndex: number): string {
  const tail = `-${hashOf(checkRunId(runId))}-h${hostIndex}`;
  const room = 63 - 'ft-'.length - tail.length;
  return `ft-${slugOf(runId).slice(0, room).replace(/-+$/, '') || 'run'}${tail}`;
}

/** A label value for the run id (labels allow [a-z0-9_-], 63 chars); the exact id is in metadata. */
export function runLabel(runId: string): string {
  return `${slugOf(runId)
    .slice(0, 63 - 1 - RUN_HASH_CHARS)
    .replace(/-+$/, '')}-${hashOf(runId)}`;
}

function slugOf(runId: string): string {
  return runId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

const RUN_HASH_CHARS = 16;

function hashOf(runId: string): string {
  return createHash('sha256').update(runId).digest('hex').slice(0, RUN_HASH_CHARS);
}

/** The run a VM was made for: its metadata holds the exact id; a VM without it is not ours to adopt. */
function ownerOf(inst: IInstance): string | undefined {
  return inst.metadata?.items?.find((i) => i.key === METADATA_RUN_ID)?.value ?? undefined;
}

/** Client options for a Compute API stand-in at FINETUNE_GCE_API_ENDPOINT (http://host:port), if set. */
export function clientOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ComputeClientOptions | undefined {
  const endpoint = env.FINETUNE_GCE_API_ENDPOINT;
  if (!endpoint) return undefined;
  const url = new URL(endpoint);
  return {
    apiEndpoint: url.hostname,
    port: Number(url.port) || (url.protocol === 'http:' ? 80 : 443),
    protocol: url.protocol.replace(':', ''),
    fallback: true,
    authClient: noAuth(),
  } as ComputeClientOptions;
}

export class GceHostProvider implements HostProvider {
  private readonly instances: InstancesClient;
  private readonly operations: ZoneOperationsClient;
  private readonly backoff: { initialMs: number; maxMs: number };

  constructor(private readonly opts: GceHostOptions = {}) {
    const clientOptions = opts.clientOptions ?? clientOptionsFromEnv();
    // Loaded here, not on import: it takes about a second of CPU, and every `finetune` command imports this file (through the worker).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const compute = require('@google-cloud/compute') as typeof import('@google-cloud/compute');
    this.instances = new compute.InstancesClient(clientOptions ? { ...clientOptions } : undefined);
    this.operations = new compute.ZoneOperationsClient(clientOptions ? { ...clientOptions } : undefined);
    this.backoff = opts.backoff ?? { initialMs: 15_000, maxMs: 10 * 60_000 };
  }

  async provision(req: HostRequest): Promise<HostLease> {
    const cfg = this.opts.config;
    if (!cfg) throw new HostConfigInvalid('provisioning a gce host needs its host config (project, zones, machine_type, ...)');
    const name = instanceName(req.runId, req.hostIndex);
    const hostId = hostIdOf(req.runId, req.hostIndex);

    for (const zone of cfg.zones) {
      const found = await this.ownInstance(cfg.project, zone, name, req.runId);
      if (found && ALIVE.has(found.status ?? '')) return leaseOf(req, hostId, cfg.project, zone, found);
      if (found) await this.deleteInstance(cfg.project, zone, name);
    }

    const inserted = new Set<string>();
    try {
      return await this.insertSomewhere(cfg, req, name, hostId, inserted);
    } catch (err) {
      // Cancelled, or a failure that ends provisioning: leave no VM behind in any zone we tried.
      if (!(err instanceof ProvisionPending)) {
        for (const zone of inserted) await this.deleteInstance(cfg.project, zone, name).catch(() => undefined);
      }
      throw err;
    }
  }

  async state(lease: HostLease): Promise<HostState> {
    const { project, zone, instance } = detailsOf(lease);
    const found = await this.getInstance(project, zone, instance);
    if (found && ALIVE.has(found.status ?? '')) return { kind: 'running' };
    const preempted = await this.wasPreempted(project, zone, instance, lease.provisionedAt);
    const what = found ? `instance ${instance} in ${zone} is ${found.status}` : `instance ${instance} in ${zone} no longer exists`;
    return preempted
      ? { kind: 'gone', reason: `${what}: preempted by Compute Engine (compute.instances.preempted)`, preempted: true }
      : { kind: 'gone', reason: what, preempted: false };
  }

  async release(lease: HostLease): Promise<void> {
    const { project, zone, instance } = detailsOf(lease);
    await this.deleteInstance(project, zone, instance);
  }

  /** The tail of serial port 1: boot, startup script and agent output. */
  async logTail(lease: HostLease, lines: number): Promise<string[]> {
    const { project, zone, instance } = detailsOf(lease);
    try {
      const [out] = await this.instances.getSerialPortOutput({ project, zone, instance, port: 1 });
      const all = (out.contents ?? '').split('\n');
      if (all.at(-1) === '') all.pop();
      return all.slice(-lines);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /** Every VM we made in these zones: name, zone, run id (exact, from metadata), status. */
  async listManaged(project: string, zones?: readonly string[]): Promise<ManagedInstance[]> {
    const out: ManagedInstance[] = [];
    const filter = `labels.${LABEL_MANAGED_BY} = "${MANAGED_BY}"`;
    for await (const [scope, list] of this.instances.aggregatedListAsync({ project, filter }, { autoPaginate: false })) {
      for (const inst of list.instances ?? []) {
        const zone = (inst.zone ?? scope).split('/').pop() ?? '';
        if (inst.labels?.[LABEL_MANAGED_BY] !== MANAGED_BY) continue;
        if (zones && !zones.includes(zone)) continue;
        const meta = (key: string) => inst.metadata?.items?.find((i) => i.key === key)?.value ?? undefined;
        out.push({
          project,
          zone,
          name: inst.name ?? '',
          status: inst.status ?? '',
          runId: meta(METADATA_RUN_ID),
          runLabel: inst.labels?.[LABEL_RUN_ID] ?? undefined,
          createdAt: inst.creationTimestamp ?? undefined,
        });
      }
    }
    return out;
  }

  /** Deletes one VM and waits for it to be gone; a VM already gone is fine. */
  async deleteInstance(project: string, zone: string, instance: string): Promise<void> {
    let op: IOperation | null | undefined;
    try {
      [{ latestResponse: op }] = (await this.instances.delete({ project, zone, instance })) as unknown as [{ latestResponse: IOperation }];
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const done = await this.waitOperation(project, zone, op, false);
    const errors = errorsOf(done);
    if (errors.length && !errors.every((e) => /not ?found/i.test(e.code + e.message))) {
      throw new Error(`deleting ${instance} in ${zone} failed: ${errors.map((e) => `${e.code}: ${e.message}`).join('; ')}`);
    }
  }

  private async insertSomewhere(cfg: GceHostConfig, req: HostRequest, name: string, hostId: string, inserted: Set<string>): Promise<HostLease> {
    const startedAt = this.opts.startedAt ?? Date.now();
    const capacityDeadline = startedAt + cfg.capacity_wait_s * 1000;
    let zones = await this.zoneOrder(cfg, req);
    const lastErrors: Record<string, string> = {};
    let delay = this.backoff.initialMs;
    for (;;) {
      for (const zone of [...zones]) {
        this.checkCancelled();
        inserted.add(zone);
        const outcome = await this.tryZone(cfg, req, zone, name, hostId);
        if (outcome.kind === 'created') return leaseOf(req, hostId, cfg.project, zone, outcome.instance);
        inserted.delete(zone);
        lastErrors[zone] = outcome.why;
        if (outcome.kind === 'drop') zones = zones.filter((z) => z !== zone);
      }
      if (zones.length === 0) {
        throw new HostConfigInvalid(
          `no configured zone offers ${cfg.machine_type}: ${Object.entries(lastErrors)
            .map(([z, e]) => `${z}: ${e}`)
            .join('; ')}`,
        );
      }
      const now = Date.now();
      if (now + delay > capacityDeadline) {
        throw new CapacityUnavailable(Object.keys(lastErrors), Math.round((now - startedAt) / 1000), lastErrors);
      }
      if (this.opts.mustReturnBy !== undefined && now + delay > this.opts.mustReturnBy) {
        throw new ProvisionPending(`still no capacity in ${Object.keys(lastErrors).join(', ')}; provisioning continues in the next attempt`);
      }
      await this.pause(delay);
      delay = Math.min(delay * 2, this.backoff.maxMs);
    }
  }

  /** One zone: insert, wait, and read the outcome through the decision table. */
  private async tryZone(
    cfg: GceHostConfig,
    req: HostRequest,
    zone: string,
    name: string,
    hostId: string,
  ): Promise<{ kind: 'created'; instance: IInstance } | { kind: 'next' | 'drop'; why: string }> {
    let delay = Math.min(this.backoff.initialMs, 5000);
    for (let attempt = 1; ; attempt++) {
      this.checkCancelled();
      let verdict: Classified;
      try {
        const [{ latestResponse }] = (await this.instances.insert({ project: cfg.project, zone, instanceResource: this.instanceResource(cfg, req, zone, name, hostId) }, {
          timeout: this.opts.insertTimeoutMs ?? 60_000,
          retry: null,
        } as never)) as unknown as [{ latestResponse: IOperation }];
        const done = await this.waitOperation(cfg.project, zone, latestResponse, true);
        const errors = errorsOf(done);
        if (errors.length === 0) {
          const made = await this.getInstance(cfg.project, zone, name);
          if (made) return { kind: 'created', instance: made };
          verdict = { decision: 'next-zone', errors: [{ code: 'VANISHED', message: `${name} was created but is gone (preempted while starting?)` }] };
        } else {
          verdict = classifyOperationErrors(errors);
        }
      } catch (err) {
        if (err instanceof ProvisionCancelled) throw err;
        verdict = classifyThrown(err);
      }
      const why = verdict.errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
      switch (verdict.decision) {
        case 'adopt': {
          const found = await this.ownInstance(cfg.project, zone, name, req.runId);
          if (found && ALIVE.has(found.status ?? '')) return { kind: 'created', instance: found };
          if (found) await this.deleteInstance(cfg.project, zone, name);
          break;
        }
        case 'retry': {
          // The insert may have landed (a timeout): the next insert answers alreadyExists and adopts.
          if (attempt >= TRANSIENT_TRIES) return { kind: 'next', why: `gave up after ${attempt} transient errors: ${why}` };
          break;
        }
        case 'next-zone':
        case 'drop-zone':
          await this.deleteLeftover(cfg.project, zone, name, req.runId);
          return { kind: verdict.decision === 'drop-zone' ? 'drop' : 'next', why };
        case 'quota': {
          await this.deleteLeftover(cfg.project, zone, name, req.runId);
          const q = verdict.errors.find((e) => e.quota)?.quota ?? quotaFromMessage(why);
          throw new QuotaExceeded(q?.metric ?? 'unknown', q?.region, zone, verdict.errors);
        }
        case 'invalid':
          await this.deleteLeftover(cfg.project, zone, name, req.runId);
          throw new HostConfigInvalid(`Compute Engine refused ${name} in ${zone}: ${why}`);
      }
      await this.pause(delay);
      delay = Math.min(delay * 2, this.backoff.maxMs);
    }
  }

  private instanceResource(cfg: GceHostConfig, req: HostRequest, zone: string, name: string, hostId: string): IInstance {
    const agentEnv = { ...(this.opts.agentEnv ?? {}) };
    // Endpoints, never secrets: the agent must reach the same storage and Secret Manager as the worker.
    for (const name of ['STORAGE_EMULATOR_HOST', SECRET_MANAGER_ENDPOINT_ENV]) {
      const value = process.env[name];
      if (value && !agentEnv[name]) agentEnv[name] = value;
    }
    const gpus = req.gpus !== undefined ? req.gpus : expectedGpus({ host: cfg, preflight: { gpus: 'auto' } });
    if (gpus === null) throw new HostConfigInvalid(`the GPUs of machine type ${cfg.machine_type} are not known; set preflight.gpus to the number the VM has`);
    const startup = renderStartupScript({ storeUri: req.storeUri, runId: req.runId, hostId, trainerImage: cfg.trainer_image, gpus, env: agentEnv });
    return {
      name,
      machineType: `zones/${zone}/machineTypes/${cfg.machine_type}`,
      labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_RUN_ID]: runLabel(req.runId), 'host-index': String(req.hostIndex) },
      metadata: {
        items: [
          { key: 'startup-script', value: startup },
          { key: 'shutdown-script', value: renderShutdownScript() },
          { key: METADATA_RUN_ID, value: req.runId },
          { key: METADATA_HOST_ID, value: hostId },
          { key: 'finetune-store', value: req.storeUri },
          { key: 'install-nvidia-driver', value: 'True' },
        ],
      },
      disks: bootDiskOf(cfg, zone, cfg.image),
      networkInterfaces: networkInterfacesOf(cfg, zone),
      serviceAccounts: [{ email: cfg.service_account, scopes: cfg.scopes }],
      scheduling: cfg.spot
        ? { provisioningModel: 'SPOT', instanceTerminationAction: 'DELETE', onHostMaintenance: 'TERMINATE', automaticRestart: false }
        : { provisioningModel: 'STANDARD', onHostMaintenance: 'TERMINATE', automaticRestart: true },
    };
  }

  /** Configured order; after a preemption (config), the zone that preempted the previous host goes last. */
  private async zoneOrder(cfg: GceHostConfig, req: HostRequest): Promise<string[]> {
    if (!cfg.prefer_new_zone_after_preemption || req.hostIndex <= 1 || cfg.zones.length < 2) return [...cfg.zones];
    const previous = instanceName(req.runId, req.hostIndex - 1);
    const preemptedIn: string[] = [];
    for (const zone of cfg.zones) {
      if (await this.wasPreempted(cfg.project, zone, previous).catch(() => false)) preemptedIn.push(zone);
    }
    return [...cfg.zones.filter((z) => !preemptedIn.includes(z)), ...preemptedIn];
  }

  private async wasPreempted(project: string, zone: string, instance: string, since?: string): Promise<boolean> {
    const filter = 'operationType = "compute.instances.preempted"';
    const after = since ? Date.parse(since) : 0;
    for await (const op of this.operations.listAsync({ project, zone, filter }, { autoPaginate: false })) {
      if (!op.targetLink?.endsWith(`/instances/${instance}`)) continue;
      if (!after || !op.insertTime || Date.parse(op.insertTime) >= after - 60_000) return true;
    }
    return false;
  }

  /** ZoneOperationsClient.wait may return before DONE: loop until it is. */
  private async waitOperation(project: string, zone: string, op: IOperation | null | undefined, cancellable: boolean): Promise<IOperation> {
    let current = op ?? {};
    while (String(current.status) !== 'DONE') {
      if (cancellable) this.checkCancelled();
      this.opts.onWait?.();
      if (!current.name) throw new Error(`Compute Engine answered without an operation name in ${zone}`);
      [current] = await this.operations.wait({ project, zone, operation: current.name });
    }
    return current;
  }

  private async getInstance(project: string, zone: string, instance: string): Promise<IInstance | undefined> {
    try {
      const [found] = await this.instances.get({ project, zone, instance });
      return found;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** A failed create can leave a stopped shell of the instance behind; delete it so the name is free. */
  private async deleteLeftover(project: string, zone: string, name: string, runId: string): Promise<void> {
    if (await this.ownInstance(project, zone, name, runId)) await this.deleteInstance(project, zone, name);
  }

  /** The VM of that name if it is this run's, undefined if there is none, VmNameTaken if it is another's. */
  private async ownInstance(project: string, zone: string, name: string, runId: string): Promise<IInstance | undefined> {
    const found = await this.getInstance(project, zone, name);
    if (found && ownerOf(found) !== runId) throw new VmNameTaken(name, zone, runId, ownerOf(found));
    return found;
  }

  private checkCancelled(): void {
    if (this.opts.signal?.aborted) throw new ProvisionCancelled('provisioning was cancelled');
  }

  private async pause(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      this.checkCancelled();
      this.opts.onWait?.();
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, end - Date.now())));
    }
    this.checkCancelled();
  }
}

export interface ManagedInstance {
  project: string;
  zone: string;
  name: string;
  status: string;
  runId: string | undefined;
  runLabel: string | undefined;
  createdAt: string | undefined;
}

/** The one disk a host or a bake builder boots from: made from sourceImage, deleted with the VM. */
export function bootDiskOf(cfg: GceHostConfig, zone: string, sourceImage: string): NonNullable<IInstance['disks']> {
  return [{ boot: true, autoDelete: true, initializeParams: { sourceImage, diskSizeGb: cfg.boot_disk_gb, diskType: `zones/${zone}/diskTypes/pd-balanced` } }];
}

/** The VM's network interface from the config: its VPC, subnetwork and whether it has a public address. */
export function networkInterfacesOf(cfg: GceHostConfig, zone: string): NonNullable<IInstance['networkInterfaces']> {
  const region = zone.replace(/-[a-z]$/, '');
  const subnetwork = cfg.subnetwork ? (cfg.subnetwork.startsWith('regions/') ? cfg.subnetwork : `regions/${region}/subnetworks/${cfg.subnetwork}`) : undefined;
  return [
    {
      network: `global/networks/${cfg.network}`,
      ...(subnetwork ? { subnetwork } : {}),
      accessConfigs: cfg.external_ip ? [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }] : [],
    },
  ];
}

function leaseOf(req: HostRequest, hostId: string, project: string, zone: string, inst: IInstance): HostLease {
  const created = inst.creationTimestamp ? new Date(inst.creationTimestamp) : new Date();
  return {
    provider: 'gce',
    hostId,
    runId: req.runId,
    hostIndex: req.hostIndex,
    details: { project, zone, instance: inst.name ?? instanceName(req.runId, req.hostIndex) },
    provisionedAt: created.toISOString(),
  };
}

function detailsOf(lease: HostLease): { project: string; zone: string; instance: string } {
  const { project, zone, instance } = lease.details;
  if (typeof project !== 'string' || typeof zone !== 'string' || typeof instance !== 'string') {
    throw new Error(`lease of host ${lease.hostId} lacks project, zone or instance: ${JSON.stringify(lease.details)}`);
  }
  return { project, zone, instance };
}

export function errorsOf(op: IOperation): ComputeError[] {
  return (op.error?.errors ?? []).map((e) => {
    const quotaInfo = e.errorDetails?.find((d) => d.quotaInfo)?.quotaInfo;
    const message = e.message ?? '';
    const quota = quotaInfo?.metricName
      ? { metric: quotaInfo.metricName, region: quotaInfo.dimensions?.region ?? undefined, limit: quotaInfo.limit ?? undefined }
      : quotaFromMessage(message);
    return { code: e.code ?? '', message, quota };
  });
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === 5 || e?.code === 404 || /\bnot ?found\b/i.test(String(e?.message ?? ''));
}
