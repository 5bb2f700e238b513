/**
 * `finetune image bake`: a host image with the NVIDIA driver and the trainer
 * image already on its disk, so a new host skips both at boot (the two
 * longest phases of a stock Deep Learning VM's boot; bench/gpuShare).
 *
 * A builder VM boots from host.image, on demand (a preemption would only
 * waste the bake) with the config's machine type, so the driver that installs
 * is the one for that GPU. Its startup script (bakeScript.ts) waits for the
 * driver, pulls host.trainer_image, writes a marker and powers off. The disk
 * of the stopped VM becomes an image in the family durable-finetune-trainer,
 * labelled with the trainer image's tag. The builder is deleted whatever
 * happens: done, failed, timed out or cancelled (Ctrl-C).
 */
import type { GlobalOperationsClient, ImagesClient, InstancesClient, ZoneOperationsClient, protos } from '@google-cloud/compute';
import { createHash } from 'node:crypto';
import { gpusOfMachineType } from '../config/machineGpus';
import { BAKED_IMAGE_FAMILY } from './bakedImage';
import type { GceHostConfig } from '../config/schema';
import { BAKE_FAILED, bakeDoneIn, renderBakeScript } from './bakeScript';
import { clientOptionsFromEnv, errorsOf, isNotFound, LABEL_MANAGED_BY, MANAGED_BY, bootDiskOf, networkInterfacesOf, type ComputeClientOptions } from './gce';
import { classifyOperationErrors, classifyThrown, type Classified } from './gceDecisions';

type IInstance = protos.google.cloud.compute.v1.IInstance;
type IOperation = protos.google.cloud.compute.v1.IOperation;

/** The builder's role label: a `finetune reap` finds a builder left by a killed bake (it carries no run id). */
export const LABEL_ROLE = 'role';
export const ROLE_BAKE = 'image-bake';
export const LABEL_TRAINER_TAG = 'trainer-image-tag';
export const LABEL_TRAINER_REPO = 'trainer-image-repo';
const SERIAL_TAIL_LINES = 30;

/** The config cannot be baked as it is: nothing was created. */
export class BakeInputInvalid extends Error {
  readonly name = 'BakeInputInvalid';
}

/** The bake ran and did not make an image; the builder VM is deleted. */
export class BakeFailed extends Error {
  readonly name = 'BakeFailed';
  constructor(
    message: string,
    readonly serialTail: string[] = [],
  ) {
    super(serialTail.length ? `${message}\nbuilder serial console (last ${serialTail.length} lines):\n${serialTail.map((l) => `  ${l}`).join('\n')}` : message);
  }
}

export class BakeCancelled extends Error {
  readonly name = 'BakeCancelled';
}

export interface BakeOptions {
  config: GceHostConfig;
  /** The image the builder boots; default host.image. */
  sourceImage?: string;
  clientOptions?: ComputeClientOptions;
  /** Aborting (Ctrl-C) ends the wait and deletes the builder. */
  signal?: AbortSignal;
  /** How long the builder has to finish once it exists; default host.agent_start_timeout_s. */
  timeoutS?: number;
  /** The longest wait between looks at the builder's status (the first is after 1 s, then doubling); default 10 s. */
  pollMs?: number;
  /** Progress lines for the user. */
  log?: (line: string) => void;
  now?: () => Date;
}

export interface BakeResult {
  /** What to put in host.image. */
  image: string;
  /** Always the newest bake: projects/<p>/global/images/family/durable-finetune-trainer. */
  familyImage: string;
  name: string;
  family: string;
  labels: Record<string, string>;
  trainerImage: string;
  trainerDigest: string;
  sourceImage: string;
  builder: { zone: string; name: string };
  seconds: number;
}

/** The names a bake will use, from the config and the time: checked before anything is created. */
export interface BakePlan {
  imageName: string;
  builderName: string;
  labels: Record<string, string>;
  sourceImage: string;
  gpus: number;
  timeoutS: number;
}

/** A GCE label value: lowercase letters, digits, _ and -, at most 63. */
export function labelValue(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 63)
      .replace(/-+$/, '') || 'none'
  );
}

/** The tag of an image reference (`latest` when it names none; the digest's start when pinned by digest). */
export function trainerTagOf(ref: string): string {
  const digest = /@sha256:([a-f0-9]{64})$/.exec(ref);
  const name = ref.replace(/@sha256:[a-f0-9]{64}$/, '');
  const tag = /:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(name.slice(name.lastIndexOf('/')))?.[1];
  if (tag) return tag;
  return digest ? `sha256-${digest[1].slice(0, 16)}` : 'latest';
}

function repoOf(ref: string): string {
  const name = ref.replace(/@sha256:[a-f0-9]{64}$/, '');
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? name.slice(0, colon) : name;
}

/** Every check of the input, before the first API call: a bad field is named with its fix. */
export function planBake(cfg: GceHostConfig, opts: { sourceImage?: string; timeoutS?: number; now?: Date } = {}): BakePlan {
  const gpus = gpusOfMachineType(cfg.machine_type);
  if (gpus === undefined || gpus < 1) {
    throw new BakeInputInvalid(
      `host.machine_type ${cfg.machine_type}: its GPUs are not known, so the bake cannot tell which driver to wait for; use a machine type from the schema's list (docs/config.md)`,
    );
  }
  const sourceImage = opts.sourceImage ?? cfg.image;
  if (!/^projects\/[a-z][-a-z0-9]{4,28}[a-z0-9]\/global\/images\/(family\/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(sourceImage)) {
    throw new BakeInputInvalid(`--source-image ${JSON.stringify(sourceImage)}: use projects/<project>/global/images/<image> or .../images/family/<family>`);
  }
  const sourceName = sourceImage.split('/').pop()!;
  if (sourceName.startsWith(BAKED_IMAGE_FAMILY)) {
    throw new BakeInputInvalid(
      `${opts.sourceImage ? '--source-image' : 'host.image'} ${sourceImage} is an image a bake made: baking on it would keep the old trainer image on the disk too. ` +
        'Bake from the stock image: pass --source-image projects/deeplearning-platform-release/global/images/family/common-cu124-debian-11-py310 (the default host.image) or your own driver image',
    );
  }
  const timeoutS = opts.timeoutS ?? cfg.agent_start_timeout_s;
  if (!Number.isInteger(timeoutS) || timeoutS < 1) throw new BakeInputInvalid(`--timeout ${timeoutS}: use a whole number of seconds`);
  const tag = trainerTagOf(cfg.trainer_image);
  const stamp = (opts.now ?? new Date()).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15).toLowerCase();
  const tagPart = labelValue(tag).replace(/_/g, '-');
  // durable-finetune-trainer-<tag>-<yyyymmdd-hhmmss>: a valid image name (63 at most) that sorts by time.
  const imageName = `${BAKED_IMAGE_FAMILY}-${tagPart.slice(0, 63 - BAKED_IMAGE_FAMILY.length - 2 - stamp.length).replace(/-+$/, '')}-${stamp}`.replace(/--+/g, '-');
  const builderName = `ft-bake-${stamp}-${createHash('sha256').update(imageName).digest('hex').slice(0, 8)}`;
  return {
    imageName,
    builderName,
    labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_TRAINER_TAG]: labelValue(tag), [LABEL_TRAINER_REPO]: labelValue(repoOf(cfg.trainer_image).split('/').slice(-2).join('-')) },
    sourceImage,
    gpus,
    timeoutS,
  };
}

export async function bakeImage(opts: BakeOptions): Promise<BakeResult> {
  const cfg = opts.config;
  const now = opts.now ?? (() => new Date());
  const started = now().getTime();
  const plan = planBake(cfg, { sourceImage: opts.sourceImage, timeoutS: opts.timeoutS, now: now() });
  const c = clients(opts.clientOptions ?? clientOptionsFromEnv());
  const log = opts.log ?? (() => undefined);
  const pollMs = opts.pollMs ?? 10_000;
  const checkCancelled = () => {
    if (opts.signal?.aborted) throw new BakeCancelled('the bake was cancelled; its builder VM is deleted');
  };
  let zone: string | undefined;
  let failed = false;
  try {
    zone = await insertBuilder(c, cfg, plan, log, checkCancelled);
    log(
      `builder ${plan.builderName} in ${zone} boots from ${plan.sourceImage}; waiting for it to install the driver, pull ${cfg.trainer_image} and power off (at most ${plan.timeoutS} s)`,
    );
    const stopped = await waitStopped(c, cfg.project, zone, plan, pollMs, checkCancelled);
    const serial = await serialOf(c, cfg.project, zone, plan.builderName);
    const done = bakeDoneIn(serial);
    if (!done) {
      const why = serial.split('\n').find((l) => l.includes(BAKE_FAILED));
      throw new BakeFailed(
        `builder ${plan.builderName} in ${zone} powered off without finishing the bake${why ? `: ${why.slice(why.indexOf(BAKE_FAILED) + BAKE_FAILED.length).trim()}` : ' (no finetune-bake line on its console)'}`,
        tail(serial),
      );
    }
    const sourceDisk = stopped.disks?.find((d) => d.boot)?.source ?? `projects/${cfg.project}/zones/${zone}/disks/${plan.builderName}`;
    log(`bake finished (${done.trainerImage} ${done.digest}); making image ${plan.imageName} from ${sourceDisk.split('/').slice(-4).join('/')}`);
    const labels = { ...plan.labels };
    const description =
      `durable-finetune baked host image: trainer image ${done.trainerImage} (${done.digest}) and the NVIDIA driver for ${cfg.machine_type}, ` +
      `on ${plan.sourceImage}; made by finetune image bake at ${now().toISOString()}`;
    await insertImage(c, cfg.project, { name: plan.imageName, family: BAKED_IMAGE_FAMILY, sourceDisk, labels, description });
    return {
      image: `projects/${cfg.project}/global/images/${plan.imageName}`,
      familyImage: `projects/${cfg.project}/global/images/family/${BAKED_IMAGE_FAMILY}`,
      name: plan.imageName,
      family: BAKED_IMAGE_FAMILY,
      labels,
      trainerImage: done.trainerImage,
      trainerDigest: done.digest,
      sourceImage: plan.sourceImage,
      builder: { zone, name: plan.builderName },
      seconds: Math.round((now().getTime() - started) / 1000),
    };
  } catch (err) {
    failed = true;
    if (zone) await deleteBuilder(c, cfg.project, zone, plan.builderName).catch((e: Error) => appendTo(err, e.message));
    throw err;
  } finally {
    if (zone && !failed) {
      log(`deleting builder ${plan.builderName} in ${zone}`);
      await deleteBuilder(c, cfg.project, zone, plan.builderName);
    }
  }
}

/** A failed delete after a failed bake: both are said, the bake's failure first. */
function appendTo(err: unknown, more: string): void {
  if (err instanceof Error) err.message += `\nand the builder could not be deleted: ${more}`;
}

interface Clients {
  instances: InstancesClient;
  zoneOps: ZoneOperationsClient;
  images: ImagesClient;
  globalOps: GlobalOperationsClient;
}

function clients(clientOptions: ComputeClientOptions | undefined): Clients {
  // Loaded here, not on import, as in gce.ts: the client takes about a second of CPU to load.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const compute = require('@google-cloud/compute') as typeof import('@google-cloud/compute');
  const o = () => (clientOptions ? { ...clientOptions } : undefined);
  return {
    instances: new compute.InstancesClient(o()),
    zoneOps: new compute.ZoneOperationsClient(o()),
    images: new compute.ImagesClient(o()),
    globalOps: new compute.GlobalOperationsClient(o()),
  };
}

/** Inserts the builder in the first zone that has room; returns that zone. A refusal no zone can fix ends the bake. */
async function insertBuilder(c: Clients, cfg: GceHostConfig, plan: BakePlan, log: (line: string) => void, checkCancelled: () => void): Promise<string> {
  const why: string[] = [];
  for (const zone of cfg.zones) {
    for (let attempt = 1; attempt <= 3; attempt++) {
      checkCancelled();
      let verdict: Classified;
      try {
        const [{ latestResponse }] = (await c.instances.insert({ project: cfg.project, zone, instanceResource: builderResource(cfg, plan, zone) })) as unknown as [
          { latestResponse: IOperation },
        ];
        const errors = errorsOf(await waitZoneOp(c, cfg.project, zone, latestResponse));
        if (errors.length === 0) return zone;
        verdict = classifyOperationErrors(errors);
      } catch (err) {
        verdict = classifyThrown(err);
      }
      const text = verdict.errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
      // A failed create can leave a stopped shell of the instance: gone before the next zone.
      await deleteBuilder(c, cfg.project, zone, plan.builderName).catch(() => undefined);
      if (verdict.decision === 'quota' || verdict.decision === 'invalid') {
        throw new BakeFailed(`Compute Engine refused the builder VM ${plan.builderName} (${cfg.machine_type}, on demand) in ${zone}: ${text}`);
      }
      if (verdict.decision !== 'retry' || attempt === 3) {
        why.push(`${zone}: ${text}`);
        log(`no builder in ${zone}: ${text}`);
        break;
      }
    }
  }
  throw new BakeFailed(`no zone of host.zones could make the on-demand builder VM (${cfg.machine_type}): ${why.join('; ')}. Try other zones, or bake later`);
}

function builderResource(cfg: GceHostConfig, plan: BakePlan, zone: string): IInstance {
  // The driver wait takes half the time: the other half is for the pull, and a driver that never
  // comes is then named on the console instead of ending in a bare timeout.
  const script = renderBakeScript({ trainerImage: cfg.trainer_image, gpus: plan.gpus, driverWaitS: Math.max(60, Math.floor(plan.timeoutS / 2)) });
  return {
    name: plan.builderName,
    machineType: `zones/${zone}/machineTypes/${cfg.machine_type}`,
    labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_ROLE]: ROLE_BAKE, [LABEL_TRAINER_TAG]: plan.labels[LABEL_TRAINER_TAG] },
    metadata: {
      items: [
        { key: 'startup-script', value: script },
        { key: 'install-nvidia-driver', value: 'True' },
      ],
    },
    disks: bootDiskOf(cfg, zone, plan.sourceImage),
    networkInterfaces: networkInterfacesOf(cfg, zone),
    serviceAccounts: [{ email: cfg.service_account, scopes: cfg.scopes }],
    // On demand: a preempted builder is a wasted bake. No restart: its power-off is the end.
    scheduling: { provisioningModel: 'STANDARD', onHostMaintenance: 'TERMINATE', automaticRestart: false },
  };
}

/** Waits until the builder is TERMINATED (its own power-off); a timeout or a vanished VM is a BakeFailed with its console. */
async function waitStopped(c: Clients, project: string, zone: string, plan: BakePlan, pollMs: number, checkCancelled: () => void): Promise<IInstance> {
  const deadline = Date.now() + plan.timeoutS * 1000;
  let delay = Math.min(1000, pollMs);
  for (;;) {
    checkCancelled();
    let inst: IInstance;
    try {
      [inst] = await c.instances.get({ project, zone, instance: plan.builderName });
    } catch (err) {
      if (isNotFound(err)) throw new BakeFailed(`builder ${plan.builderName} in ${zone} was deleted before it finished (by someone else, or finetune reap)`);
      throw err;
    }
    if (inst.status === 'TERMINATED' || inst.status === 'STOPPED') return inst;
    if (Date.now() >= deadline) {
      const serial = await serialOf(c, project, zone, plan.builderName);
      throw new BakeFailed(
        `builder ${plan.builderName} in ${zone} did not finish the bake within ${plan.timeoutS} s (host.agent_start_timeout_s, or --timeout): it is ${inst.status}, ` +
          `${bakeDoneIn(serial) ? 'its bake done but the VM not powered off' : 'no finetune-bake done line on its console'}`,
        tail(serial),
      );
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), checkCancelled);
    delay = Math.min(delay * 2, pollMs);
  }
}

/** Sleeps, looking at the cancel check every 200 ms so Ctrl-C is not held by a long poll. */
async function sleep(ms: number, checkCancelled: () => void): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    checkCancelled();
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, end - Date.now())));
  }
}

async function insertImage(c: Clients, project: string, image: protos.google.cloud.compute.v1.IImage): Promise<void> {
  const [{ latestResponse }] = (await c.images.insert({ project, imageResource: image })) as unknown as [{ latestResponse: IOperation }];
  let op: IOperation = latestResponse ?? {};
  while (String(op.status) !== 'DONE') {
    if (!op.name) throw new BakeFailed(`Compute Engine answered the image insert of ${image.name} without an operation name`);
    [op] = await c.globalOps.wait({ project, operation: op.name });
  }
  const errors = errorsOf(op);
  if (errors.length) throw new BakeFailed(`making image ${image.name} from ${image.sourceDisk} failed: ${errors.map((e) => `${e.code}: ${e.message}`).join('; ')}`);
  const [made] = await c.images.get({ project, image: image.name! });
  if (made.status !== 'READY') throw new BakeFailed(`image ${image.name} is ${made.status} after its insert finished, not READY`);
}

async function waitZoneOp(c: Clients, project: string, zone: string, op: IOperation | null | undefined): Promise<IOperation> {
  let current = op ?? {};
  while (String(current.status) !== 'DONE') {
    if (!current.name) throw new Error(`Compute Engine answered without an operation name in ${zone}`);
    [current] = await c.zoneOps.wait({ project, zone, operation: current.name });
  }
  return current;
}

/** Deletes the builder and waits for it to be gone; one already gone is fine. */
async function deleteBuilder(c: Clients, project: string, zone: string, name: string): Promise<void> {
  let op: IOperation | null | undefined;
  try {
    [{ latestResponse: op }] = (await c.instances.delete({ project, zone, instance: name })) as unknown as [{ latestResponse: IOperation }];
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  const errors = errorsOf(await waitZoneOp(c, project, zone, op));
  if (errors.length && !errors.every((e) => /not ?found/i.test(e.code + e.message))) {
    throw new Error(
      `deleting builder ${name} in ${zone} failed: ${errors.map((e) => `${e.code}: ${e.message}`).join('; ')}; delete it by hand (gcloud compute instances delete ${name} --zone ${zone})`,
    );
  }
}

async function serialOf(c: Clients, project: string, zone: string, instance: string): Promise<string> {
  try {
    const [out] = await c.instances.getSerialPortOutput({ project, zone, instance, port: 1 });
    return out.contents ?? '';
  } catch (err) {
    return `(serial console unreadable: ${(err as Error).message})`;
  }
}

function tail(serial: string): string[] {
  const lines = serial.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-SERIAL_TAIL_LINES);
}
