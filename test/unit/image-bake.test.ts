/**
 * `finetune image bake` on the fake Compute API (test/support/fakeCompute.ts)
 * through the real @google-cloud/compute client. The builder VM the fake
 * makes runs the rendered bake script for real (test/support/fakeVm.ts): its
 * first-boot driver install, its `docker pull`, its marker and its power-off.
 * The image keeps a copy of the builder's files, so a host booted from it
 * shows what a baked image saves: no driver install, no pull.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { GceHostConfig } from '../../src/config/schema';
import { BakeCancelled, BakeFailed, bakeImage, planBake, BakeInputInvalid, trainerTagOf } from '../../src/hosts/bake';
import { BAKED_IMAGE_FAMILY } from '../../src/hosts/bakedImage';
import { BAKE_MARKER, renderBakeScript } from '../../src/hosts/bakeScript';
import { StartupValueInvalid, VALUES_BEGIN, VALUES_END } from '../../src/hosts/startupScript';
import { GceHostProvider } from '../../src/hosts/gce';
import { startFakeCompute, type FakeCompute } from '../support/fakeCompute';
import { attachVms, DRIVER_LOG, PULL_LOG, type FakeVm, type FakeVmOptions } from '../support/fakeVm';
import { finetune } from '../support/cli';
import { remoteConfig } from '../support/config';
import { scratchDir } from '../support/scratch';

const TRAINER = 'us-docker.pkg.dev/finetune-test/durable-finetune/trainer:v7';
const STOCK = 'projects/deeplearning-platform-release/global/images/family/common-cu124-debian-11-py310';

let fake: FakeCompute;
let dir: string;
let attached: { vms: FakeVm[]; shutdowns: Promise<unknown>[] } | undefined;

before(async () => {
  fake = await startFakeCompute('finetune-test');
  dir = scratchDir('image-bake-');
});
afterEach(async () => {
  if (attached) {
    await Promise.all(attached.shutdowns);
    await Promise.all(attached.vms.map((v) => v.shutdown()));
  }
  attached = undefined;
  fake.reset();
  fake.requests.length = 0;
});
after(async () => {
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function host(patch: Partial<GceHostConfig> = {}): GceHostConfig {
  return GceHostConfig.parse({
    provider: 'gce',
    project: 'finetune-test',
    zones: ['us-central1-a', 'us-central1-b'],
    machine_type: 'a2-highgpu-1g',
    trainer_image: TRAINER,
    ...patch,
  });
}

let vmDir = '';
function vmsOn(opts: Omit<FakeVmOptions, 'dir'> = {}) {
  vmDir = path.join(dir, `vms-${Date.now()}`);
  attached = attachVms(fake, { dir: vmDir, ...opts });
  return attached;
}

/** Every VM the fake made is gone and every stand-in VM has shut down. */
async function nothingLeft(): Promise<void> {
  await Promise.all(attached!.shutdowns);
  assert.deepEqual(
    fake.live().map((i) => `${i.zone}/${i.name} ${i.status}`),
    [],
  );
}

const inserts = () => fake.requests.filter((r) => r.method === 'POST' && /\/instances(\?|$)/.test(r.path));

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('finetune image bake on the fake Compute API', () => {
  it('one on-demand builder runs the bake script; its stopped disk becomes an image in the family, labelled with the tag; the builder is deleted', async () => {
    const { vms } = vmsOn();
    const cfg = host();
    const r = await bakeImage({ config: cfg, clientOptions: fake.clientOptions(), pollMs: 100 });

    assert.equal(inserts().length, 1, 'exactly one builder VM');
    assert.equal(vms.length, 1);
    const builder = vms[0];
    assert.deepEqual(r.builder, { zone: 'us-central1-a', name: builder.name });
    const serial = builder.serial();
    assert.match(serial, /finetune-bake: NVIDIA driver ready after \d+ s: GPU 0: NVIDIA A100/);
    assert.match(serial, new RegExp(`finetune-bake: done: trainer image ${TRAINER.replace(/[.]/g, '\\.')} digest sha256:[a-f0-9]{64}`));
    assert.deepEqual(builder.logLines(PULL_LOG), [`${builder.name} ${TRAINER}`]);
    assert.deepEqual(builder.logLines(DRIVER_LOG), [`${builder.name} installed the NVIDIA driver for a2-highgpu-1g`]);

    assert.equal(r.image, `projects/finetune-test/global/images/${r.name}`);
    assert.match(r.name, new RegExp(`^${BAKED_IMAGE_FAMILY}-v7-\\d{8}-\\d{6}$`));
    assert.match(r.trainerDigest, /^sha256:[a-f0-9]{64}$/);
    assert.equal(r.trainerImage, TRAINER);
    const image = fake.images.get(r.name)!;
    assert.equal(image.family, BAKED_IMAGE_FAMILY);
    assert.deepEqual(image.labels, { 'managed-by': 'durable-finetune', 'trainer-image-tag': 'v7', 'trainer-image-repo': 'durable-finetune-trainer' });
    assert.match(image.sourceDisk, new RegExp(`/projects/finetune-test/zones/us-central1-a/disks/${builder.name}$`));
    assert.match(image.description ?? '', new RegExp(`${r.trainerDigest}.*a2-highgpu-1g.*${STOCK.replace(/[.]/g, '\\.')}`));
    assert.equal(image.diskSizeGb, '200');

    const body = image.sourceInstance.body as Record<string, any>;
    assert.equal(body.machineType, 'zones/us-central1-a/machineTypes/a2-highgpu-1g', 'the machine type of the hosts, so the driver is for their GPU');
    assert.equal(body.scheduling.provisioningModel, 'STANDARD', 'on demand: a preempted builder would waste the bake');
    assert.equal(body.disks[0].initializeParams.sourceImage, STOCK);
    assert.deepEqual(image.sourceInstance.labels, { 'managed-by': 'durable-finetune', role: 'image-bake', 'trainer-image-tag': 'v7' });
    const meta = Object.fromEntries(image.sourceInstance.metadata.items.map((i) => [i.key, i.value]));
    assert.equal(meta['install-nvidia-driver'], 'True');
    assert.match(meta['startup-script'], new RegExp(`^FT_IMAGE='${TRAINER.replace(/[.]/g, '\\.')}'$`, 'm'));

    const marker = fs.readFileSync(path.join(vmDir, 'images', r.name, BAKE_MARKER), 'utf8');
    assert.match(marker, new RegExp(`^trainer_image=${TRAINER.replace(/[.]/g, '\\.')}\\ntrainer_digest=${r.trainerDigest}\\nbaked_at=`));
    assert.deepEqual(GceHostConfig.parse({ ...cfg, image: r.image }).image, r.image, 'the schema takes the printed path as host.image');
    assert.ok(
      fake.operations.some((o) => o.operationType === 'compute.instances.guestTerminate' && o.targetLink.endsWith(`/${builder.name}`)),
      'the guest powered the builder off',
    );
    await nothingLeft();
  });

  it('a host from the baked image installs no driver and pulls nothing; a host from the stock image does both', async () => {
    const { vms } = vmsOn();
    const baked = await bakeImage({ config: host(), clientOptions: fake.clientOptions(), pollMs: 100 });
    const req = (runId: string, image: string, gpus: number) =>
      new GceHostProvider({ config: host({ image }), clientOptions: fake.clientOptions(), backoff: { initialMs: 20, maxMs: 100 } }).provision({
        runId,
        hostIndex: 1,
        storeUri: 'gs://finetune-runs/prefix',
        gpus,
      });
    const bakedLease = await req('run-baked', baked.familyImage, 1);
    // 0 GPUs: the stand-in systemd does not restart the agent unit, which would wait out the stock driver install.
    const stockLease = await req('run-stock', STOCK, 0);
    const [bakedVm, stockVm] = [vms[1], vms[2]];
    assert.equal(bakedVm.name, bakedLease.details.instance);
    assert.equal(stockVm.name, stockLease.details.instance);
    await until('both agents to start', () => bakedVm.dockerRun() !== undefined && stockVm.dockerRun() !== undefined);

    assert.match(bakedVm.serial(), /from projects\/finetune-test\/global\/images\/family\/durable-finetune-trainer \(baked\)/);
    assert.match(bakedVm.serial(), /NVIDIA driver already installed on this disk/);
    assert.match(bakedVm.serial(), /trainer image .* is on this disk \(baked host\.image\): no pull/);
    assert.deepEqual(
      bakedVm.logLines(PULL_LOG).map((l) => l.split(' ')[0]),
      [vms[0].name],
      'the only pull on its disk is the bake',
    );
    assert.deepEqual(
      bakedVm.logLines(DRIVER_LOG).map((l) => l.split(' ')[0]),
      [vms[0].name],
      'the only driver install on its disk is the bake',
    );
    assert.deepEqual(
      bakedVm.dockerRun()!.flags.filter((f) => f.startsWith('--gpus')),
      ['--gpus=all'],
      'the baked driver answers the agent check',
    );

    assert.match(stockVm.serial(), /finetune-agent: pulling trainer image/);
    assert.deepEqual(stockVm.logLines(PULL_LOG), [`${stockVm.name} ${TRAINER}`]);
    assert.deepEqual(stockVm.logLines(DRIVER_LOG), [`${stockVm.name} installed the NVIDIA driver for a2-highgpu-1g`]);

    const provider = new GceHostProvider({ clientOptions: fake.clientOptions() });
    await provider.release(bakedLease);
    await provider.release(stockLease);
    await nothingLeft();
  });

  it('a failed bake (the registry refuses the image) names the cause with the console tail, makes no image and leaves no VM', async () => {
    vmsOn({ pullDenied: TRAINER });
    const err = await bakeImage({ config: host(), clientOptions: fake.clientOptions(), pollMs: 100 }).then(
      () => assert.fail('the bake should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BakeFailed, String(err));
    assert.match(err.message, /powered off without finishing the bake: ImagePullFailed: docker pull us-docker\.pkg\.dev\/.*trainer:v7 failed/);
    assert.ok(
      err.serialTail.some((l) => /manifest unknown/.test(l)),
      err.serialTail.join('\n'),
    );
    assert.equal(fake.images.size, 0);
    assert.equal(inserts().length, 1);
    await nothingLeft();
  });

  it('a bake that does not finish in time (the driver never comes) says so with the console tail and leaves no VM', async () => {
    vmsOn({ driver: 'never' });
    const err = await bakeImage({ config: host(), clientOptions: fake.clientOptions(), pollMs: 100, timeoutS: 2 }).then(
      () => assert.fail('the bake should time out'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BakeFailed, String(err));
    assert.match(err.message, /did not finish the bake within 2 s .*: it is RUNNING, no finetune-bake done line/);
    assert.ok(
      err.serialTail.some((l) => /waiting for the NVIDIA driver/.test(l)),
      err.serialTail.join('\n'),
    );
    assert.equal(fake.images.size, 0);
    await nothingLeft();
  });

  it('cancelled (Ctrl-C) while the builder boots: the builder is deleted', async () => {
    const { vms } = vmsOn({ driver: 'never' });
    const abort = new AbortController();
    const baking = bakeImage({ config: host(), clientOptions: fake.clientOptions(), pollMs: 100, signal: abort.signal });
    await until('the builder', () => vms.length === 1);
    abort.abort();
    await assert.rejects(baking, BakeCancelled);
    await nothingLeft();
  });

  it('a stockout in the first zone puts the builder in the next', async () => {
    vmsOn();
    fake.failInserts('us-central1-a', 1, { kind: 'stockout' });
    const r = await bakeImage({ config: host(), clientOptions: fake.clientOptions(), pollMs: 100 });
    assert.equal(r.builder.zone, 'us-central1-b');
    await nothingLeft();
  });

  it('input a bake cannot use is refused before any VM, naming the field and the fix', () => {
    assert.throws(
      () => planBake(host({ image: `projects/finetune-test/global/images/family/${BAKED_IMAGE_FAMILY}` })),
      (e: Error) => {
        assert.ok(e instanceof BakeInputInvalid);
        assert.match(e.message, /^host\.image .* is an image a bake made.*pass --source-image projects\/deeplearning-platform-release/);
        return true;
      },
    );
    assert.throws(() => planBake(host(), { sourceImage: 'debian-12' }), /--source-image "debian-12": use projects\/<project>\/global\/images/);
    assert.equal(trainerTagOf('r.io/p/trainer'), 'latest');
    assert.equal(trainerTagOf('localhost:5000/p/trainer:V1.2_rc'), 'V1.2_rc');
    assert.equal(trainerTagOf(`r.io/p/trainer@sha256:${'ab'.repeat(32)}`), 'sha256-abababababababab');
    const plan = planBake(host({ trainer_image: 'r.io/p/trainer:V1.2_rc' }), { now: new Date('2026-12-04T10:11:12Z') });
    assert.equal(plan.imageName, 'durable-finetune-trainer-v1-2-rc-20261204-101112');
    assert.equal(plan.labels['trainer-image-tag'], 'v1-2_rc');
    assert.equal(inserts().length, 0);
  });
});

describe('the bake script', () => {
  it('quotes its values as the host startup script does: a hostile one arrives as the same bytes, running nothing', () => {
    const canary = path.join(dir, 'canary');
    const value = `x'; touch ${canary}; echo '$(touch ${canary})\`touch ${canary}\``;
    const script = renderBakeScript({ trainerImage: value, gpus: 1, driverWaitS: 60 });
    execFileSync('bash', ['-n'], { input: script });
    const block = script.split(`${VALUES_BEGIN}\n`)[1].split(`\n${VALUES_END}`)[0];
    assert.equal(execFileSync('bash', ['-c', `${block}\nprintf '%s' "$FT_IMAGE"`]).toString(), value);
    assert.equal(fs.existsSync(canary), false);
    assert.throws(() => renderBakeScript({ trainerImage: 'a\nb', gpus: 1, driverWaitS: 60 }), StartupValueInvalid);
  });
});

describe('finetune image bake (the command)', () => {
  function configFile(name: string, hostSection: Record<string, unknown>): string {
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, stringify({ ...remoteConfig(name), host: hostSection }));
    return file;
  }
  const gce = { provider: 'gce', project: 'finetune-test', zones: ['us-central1-a'], machine_type: 'a2-highgpu-1g', trainer_image: TRAINER };
  const env = () => ({ FINETUNE_GCE_API_ENDPOINT: fake.url });

  it('prints the image path to put in host.image', async () => {
    vmsOn();
    const r = await finetune(['image', 'bake', configFile('bake-ok', gce)], env());
    assert.equal(r.code, 0, r.stderr);
    const [name] = [...fake.images.keys()];
    assert.match(name, /^durable-finetune-trainer-v7-\d{8}-\d{6}$/);
    assert.match(r.stdout, new RegExp(`^ {2}host:\n {4}image: projects/finetune-test/global/images/${name}$`, 'm'));
    assert.match(r.stderr, /deleting builder ft-bake-/);
    await nothingLeft();
  });

  it('bad input exits 2 naming the field and the fix, and creates nothing', async () => {
    vmsOn();
    const cases: [string, Record<string, unknown>, string[], RegExp][] = [
      ['bad-image', { ...gce, trainer_image: 'not an image' }, [], /host\.trainer_image.*use an image reference such as/],
      ['bad-zone', { ...gce, zones: ['Central'] }, [], /host\.zones.*use a zone name such as us-central1-a/],
      ['local', { provider: 'local' }, [], /host\.provider local; set host\.provider gce/],
      ['baked-source', { ...gce, image: `projects/finetune-test/global/images/${BAKED_IMAGE_FAMILY}-v6-20261201-000000` }, [], /host\.image .* is an image a bake made/],
      ['bad-timeout', gce, ['--timeout', '0'], /--timeout.*expected a whole number >= 1/],
      ['short-timeout', gce, ['--timeout', '30'], /--timeout 30: use at least 60 s/],
    ];
    for (const [name, hostSection, extra, why] of cases) {
      const r = await finetune(['image', 'bake', configFile(name, hostSection), ...extra], env());
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, why, name);
    }
    assert.deepEqual(fake.requests, [], 'no call to the Compute API');
  });
});
