/**
 * Preemption mid-SFT on a gce host, a new VM, resume from the checkpoint: one
 * run, end to end. The worker's GCE provider talks through the real
 * @google-cloud/compute client to the fake Compute API; each VM the fake
 * creates runs the startup script the provider rendered (test/support/fakeVm.ts),
 * whose `docker run` starts the real agent and trainer against a gs:// store
 * on the GCS emulator. Mid-SFT, GCE preempts the VM: a
 * compute.instances.preempted operation, ACPI soft-off (systemd stops the
 * unit: `docker stop`, SIGTERM, a committed checkpoint), the VM deleted.
 * Its webhook signing keys are canary secrets (one secret:gcp: in the fake
 * Secret Manager, one secret:env:), searched for afterwards in everything the
 * run left: the store, the raw history, the worker's log, the VMs' files and
 * serial consoles (agent logs), and what the Compute API was sent.
 * Then two shorter runs on the same fakes: one that meets a quota error
 * (ends at once, nothing made), one cancelled mid-SFT (every VM deleted).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { startRun } from '../../src/client/runs';
import type { GceHostConfig } from '../../src/config/schema';
import { finetuneDataConverter } from '../../src/client/codec/dataConverter';
import { instanceName } from '../../src/hosts/gce';
import { hostIdOf } from '../../src/hosts/provider';
import { stageKey, type StageProgressFile, type StageStatusFile } from '../../src/jobs/contract';
import { configureLog } from '../../src/log';
import { SECRET_MANAGER_ENDPOINT_ENV } from '../../src/secrets/ref';
import { GcsStore } from '../../src/store/gcs';
import { openStore } from '../../src/store/open';
import { progressQuery } from '../../workflows/messages';
import type { PipelineResult } from '../../workflows/pipeline';
import type { RunProgress } from '../../workflows/progress';
import { canary, filesUnder, historyPlaces, leaks, storeObjects, textPlace, type Place } from '../support/canary';
import type { FakeCompute, FakeInstance } from '../support/fakeCompute';
import { bootVm, PREEMPTION_GRACE_MS, type FakeVm } from '../support/fakeVm';
import type { GcsEmulator } from '../support/gcsEmulator';
import { startGceWorld, type GceWorld } from '../support/gceWorld';
import { fastConfig, type Harness } from '../support/integration';
import { startFakeSecretManager, type FakeSecretManager } from '../support/fakeSecretManager';
import { startReceiver, type Receiver } from '../support/webhookReceiver';

const BUCKET = 'finetune-runs';
const STORE = `gs://${BUCKET}/finetune`;
const runId = 'it-gce-preempt-1';
const taskQueue = 'it-gce-preemption';
const ZONES = ['us-central1-a', 'us-central1-b'];
const host: Partial<GceHostConfig> = {
  provider: 'gce',
  project: 'finetune-test',
  zones: ZONES,
  machine_type: 'a2-highgpu-2g',
  trainer_image: 'us-docker.pkg.dev/finetune-test/durable-finetune/trainer:test',
  agent_start_timeout_s: 120,
};

let world: GceWorld;
let h: Harness;
let config: ReturnType<typeof fastConfig>;
let gcs: GcsEmulator;
let fake: FakeCompute;
let vms: FakeVm[];
let shutdowns: Promise<unknown>[];
let result: PipelineResult;
let progress: RunProgress;
let preempted: { step: number; checkpoint: number; serial: string; shutdown: { stoppedCleanly: boolean; seconds: number } };
let history: unknown;
/** The run's secrets: webhook signing keys, one in Secret Manager, one in the worker's environment. */
const secrets = { gcpKey: canary('webhook-gcp'), envKey: canary('webhook-env') };
const CANARY_ENV = 'FINETUNE_IT_CANARY_WEBHOOK_KEY';
let sm: FakeSecretManager;
let receivers: Receiver[] = [];
/** Every VM the Compute API was asked to make, as it was sent (startup script, metadata, labels). */
const inserted: FakeInstance[] = [];

/** Waits until SFT on the first VM has committed a checkpoint, then GCE preempts that VM. */
async function preemptMidSft(): Promise<typeof preempted> {
  const store = openStore(STORE);
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const p = await store.getJson<StageProgressFile>(stageKey(runId, 'sft', 'progress.json'));
    if (p?.job_id === 'sft-1' && (p.last_checkpoint_step ?? 0) >= 10) {
      const vm = vms[0];
      let shutdown!: { stoppedCleanly: boolean; seconds: number };
      const serialBefore = vm.serial();
      await fake.preempt(vm.name, async () => {
        shutdown = await vm.shutdown();
      });
      return { step: p.step, checkpoint: p.last_checkpoint_step!, serial: serialBefore, shutdown };
    }
    if (Date.now() > deadline) throw new Error('SFT never reached a committed checkpoint on the first VM');
    await sleep(200);
  }
}

before(async () => {
  sm = await startFakeSecretManager();
  process.env[SECRET_MANAGER_ENDPOINT_ENV] = sm.url;
  process.env[CANARY_ENV] = secrets.envKey.value;
  world = await startGceWorld('gce-preemption', [BUCKET]);
  ({ h, gcs, fake, vms, shutdowns } = world);
  const boot = fake.onCreate;
  fake.onCreate = (inst) => {
    inserted.push(structuredClone({ ...inst, serial: '' }));
    boot?.(inst);
  };
  configureLog({ copyTo: path.join(h.dir, 'worker.log') });
  receivers = [await startReceiver(secrets.gcpKey.value), await startReceiver(secrets.envKey.value)];
  config = fastConfig(h.dir, {
    store: STORE,
    // Two ranks, as on a 2-GPU VM (gloo here): the preemption's SIGTERM must reach both.
    sft: { max_steps: 30, save_steps: 10, ranks: 2 },
    dpo: { max_steps: 4, save_steps: 4 },
    generate: { max_new_tokens: 32 },
    // This machine has no GPU: the fake VM runs the gce path on the CPU, on purpose.
    preflight: { gpus: 0 },
  });
  config.host = host as GceHostConfig;
  config.notify = {
    webhooks: [
      { url: receivers[0].url, secret: sm.put('finetune-test', 'webhook-key', secrets.gcpKey.value), events: ['succeeded'] },
      { url: receivers[1].url, secret: `secret:env:${CANARY_ENV}`, events: ['succeeded'] },
    ],
  };
  const { worker } = await h.worker(taskQueue);
  const handle = await startRun(h.client, config, { taskQueue, runId });
  await worker.runUntil(async () => {
    // A run that ends first (e.g. a config error) fails the wait at once.
    const ended = handle.result().then((r) => Promise.reject(new Error(`the run ended before SFT was preempted: ${JSON.stringify(r)}`)));
    ended.catch(() => undefined);
    preempted = await Promise.race([preemptMidSft(), ended]);
    result = await handle.result();
    progress = await handle.query(progressQuery);
  });
  history = await handle.fetchHistory();
});

after(async () => {
  await world?.close();
  for (const r of receivers) await r.close();
  await sm?.close();
  delete process.env[SECRET_MANAGER_ENDPOINT_ENV];
  delete process.env[CANARY_ENV];
});

describe('preemption mid-SFT on a gce host: a new VM resumes from the checkpoint', () => {
  const status = (stage: string) => openStore(STORE).getJson<StageStatusFile>(stageKey(runId, stage as never, 'status.json'));

  it('finishes and promotes a model into the bucket', async () => {
    assert.equal(progress.state, 'succeeded');
    assert.ok(result.promoted.uri.startsWith(`${STORE}/models/${runId}/model`), result.promoted.uri);
    assert.ok((await new GcsStore(`${STORE}/models`).list(`${runId}/model`)).some((k) => k.endsWith('.safetensors')));
  });

  it('each VM ran its own startup script, whose docker run started the agent for its host', () => {
    assert.equal(vms.length, 2, `VMs made: ${vms.map((v) => `${v.name} in ${v.zone}`).join(', ')}`);
    vms.forEach((vm, i) => {
      assert.equal(vm.name, instanceName(runId, i + 1));
      const run = vm.dockerRun();
      assert.ok(run, `${vm.name}: the startup script never reached docker run:\n${vm.serial()}`);
      assert.equal(run.image, host.trainer_image);
      const after = (flag: string) => run.command[run.command.indexOf(flag) + 1];
      assert.deepEqual(run.command.slice(0, 3), ['python', '-m', 'durable_finetune.agent']);
      assert.equal(after('--store'), STORE);
      assert.equal(after('--run'), runId);
      assert.equal(after('--host'), hostIdOf(runId, i + 1));
      assert.equal(run.env.STORAGE_EMULATOR_HOST, gcs.host);
      assert.deepEqual(
        run.volumes.map((v) => v.target),
        ['/work'],
      );
    });
    assert.match(preempted.serial, /agent: started sft-1/, 'the first VM ran SFT (serial console)');
  });

  it('GCE preempted the first VM; the second went to the other zone', () => {
    const op = fake.operations.find((o) => o.operationType === 'compute.instances.preempted');
    assert.ok(op, 'a compute.instances.preempted operation');
    assert.ok(op.targetLink.endsWith(`/instances/${vms[0].name}`));
    assert.deepEqual(
      vms.map((v) => v.zone),
      ZONES,
      'prefer_new_zone_after_preemption',
    );
  });

  it('the agent stopped at the ACPI soft-off within the 30 s GCE gives', (t) => {
    t.diagnostic(`unit stopped in ${preempted.shutdown.seconds.toFixed(1)} s`);
    assert.equal(preempted.shutdown.stoppedCleanly, true);
    assert.ok(preempted.shutdown.seconds * 1000 < PREEMPTION_GRACE_MS);
  });

  it('counts one preempted host and redoes no step: SFT resumed where SIGTERM committed', async (t) => {
    const sft = (await status('sft'))!;
    const loss = progress.losses.find((l) => l.stage === 'sft')!;
    t.diagnostic(`checkpoint ${preempted.checkpoint} at step ${preempted.step} when preempted; lost at ${loss.atStep}; sft-2 resumed from ${sft.resumed_from_step}`);
    assert.equal(result.hostLosses, 1);
    assert.equal(loss.preempted, true);
    assert.equal(sft.state, 'succeeded');
    assert.equal(sft.job_id, 'sft-2');
    assert.ok((sft.resumed_from_step ?? -1) >= preempted.checkpoint, `resumed from ${sft.resumed_from_step}`);
    assert.equal(sft.resumed_from_step, loss.atStep, 'the step the stage reached is the step it committed');
    assert.equal(loss.stepsRedone, 0);
    const committed = await openStore(STORE).getJson<{ step: number }>(stageKey(runId, 'sft', `checkpoints/checkpoint-${sft.resumed_from_step}/COMMITTED.json`));
    assert.equal(committed?.step, sft.resumed_from_step);
    for (const stage of ['merge', 'dpo', 'generate']) assert.equal((await status(stage))?.state, 'succeeded', stage);
    assert.equal(sft.metrics.ranks, 2, 'SFT trained on two ranks');
  });

  it('signs with its secrets, and no secret is in anything the run left', async (t) => {
    const t0 = Date.now();
    // Each receiver verified the body with its key: the worker resolved both references.
    for (const r of receivers) await r.waitFor('succeeded', 10_000);
    assert.ok(
      sm.accesses.some((a) => a.status === 200 && a.client === 'node'),
      'the worker read the key from Secret Manager',
    );
    const codec = (await finetuneDataConverter(h.server.address)).payloadCodecs?.[0];
    const places: Place[] = [
      ...(await storeObjects(openStore(STORE), gcs.host)),
      ...(await historyPlaces(history, codec)),
      // The worker's log, the dev server's database and log, and every VM's files (the agent's log, its unit, its vars).
      ...filesUnder(h.dir),
      ...vms.map((vm) => textPlace(`${vm.name} serial console`, vm.serial())),
      ...inserted.map((inst) => textPlace(`instances.insert ${inst.name} (startup script, metadata, labels)`, JSON.stringify(inst))),
      textPlace('Compute API request lines', fake.requests.map((r) => `${r.method} ${r.path}`).join('\n')),
      textPlace('progress and result', JSON.stringify({ progress, result })),
    ];
    assert.ok(
      places.some((p) => p.name.endsWith('worker.log') && p.bytes.includes('"msg"')),
      'the worker log was captured',
    );
    assert.ok(inserted.length >= 2 && inserted.every((i) => i.metadata.items.some((m) => m.key === 'startup-script')));
    assert.deepEqual(leaks(Object.values(secrets), places), []);
    t.diagnostic(`searched ${places.length} places (${(places.reduce((n, p) => n + p.bytes.length, 0) / 1e6).toFixed(1)} MB) in ${Date.now() - t0} ms`);
  });

  it('leaves no VM and no process of either VM behind', async () => {
    await Promise.all(shutdowns);
    assert.deepEqual(
      fake.live().map((i) => i.name),
      [],
    );
    for (const vm of vms) assert.equal(await vm.running(), false, `${vm.name} still has processes`);
  });
});

describe('a quota error and a cancel, on the same fakes', () => {
  let quota: { error: unknown; seconds: number; inserts: number };
  let cancel: { error: unknown; liveBefore: string[]; vms: FakeVm[] };

  before(async () => {
    const { worker } = await h.worker(`${taskQueue}-2`);
    await worker.runUntil(async () => {
      // Quota: every zone answers QUOTA_EXCEEDED for the GPUs.
      for (const zone of ZONES) fake.failInserts(zone, Infinity, { kind: 'quota', metric: 'PREEMPTIBLE_NVIDIA_A100_GPUS', region: 'us-central1' });
      const inserts = () => fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/instances')).length;
      const before = inserts();
      const t0 = Date.now();
      const quotaRun = await startRun(h.client, config, { taskQueue: `${taskQueue}-2`, runId: 'it-gce-quota-1' });
      const error = await quotaRun.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      quota = { error, seconds: (Date.now() - t0) / 1000, inserts: inserts() - before };
      fake.reset();

      // Cancel: once SFT runs on the first VM of this run.
      const booted: FakeVm[] = [];
      fake.onCreate = (inst) => booted.push(bootVm(inst, { dir: h.dir }));
      fake.onDelete = (inst) => {
        const vm = booted.find((v) => v.name === inst.name);
        if (vm) shutdowns.push(vm.shutdown());
      };
      const cancelRun = await startRun(h.client, config, { taskQueue: `${taskQueue}-2`, runId: 'it-gce-cancel-1' });
      const store = openStore(STORE);
      const deadline = Date.now() + 5 * 60_000;
      while ((await store.getJson<StageProgressFile>(stageKey('it-gce-cancel-1', 'sft', 'progress.json')))?.job_id !== 'sft-1') {
        if (Date.now() > deadline) throw new Error('SFT never started on the cancelled run');
        await sleep(200);
      }
      const liveBefore = fake.live().map((i) => i.name);
      await cancelRun.cancel();
      const cancelError = await cancelRun.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      cancel = { error: cancelError, liveBefore, vms: booted };
    });
    vms.push(...cancel.vms);
  });

  it('a quota error ends the run at once as QuotaExceeded, naming the quota, with no VM made', (t) => {
    t.diagnostic(`failed after ${quota.seconds.toFixed(1)} s and ${quota.inserts} insert(s)`);
    assert.ok(quota.error instanceof WorkflowFailedError, String(quota.error));
    let cause: unknown = quota.error.cause;
    while (cause && !(cause instanceof ApplicationFailure && cause.type === 'QuotaExceeded')) cause = (cause as Error).cause;
    assert.ok(cause instanceof ApplicationFailure, `no QuotaExceeded in the failure chain of ${String(quota.error)}`);
    assert.match(cause.message, /PREEMPTIBLE_NVIDIA_A100_GPUS/);
    assert.match(cause.message, /us-central1/);
    assert.equal(quota.inserts, 1, 'one insert, no retries through the zones');
    assert.deepEqual(
      fake.live().filter((i) => i.labels['run-id']?.startsWith('it-gce-quota')),
      [],
    );
  });

  it('cancelling a run mid-SFT deletes its VM and stops its processes', async () => {
    assert.deepEqual(cancel.liveBefore, [instanceName('it-gce-cancel-1', 1)]);
    let cause: unknown = cancel.error;
    while (cause && !(cause instanceof CancelledFailure)) cause = (cause as Error).cause;
    assert.ok(cause instanceof CancelledFailure, `cancelled: ${String(cancel.error)}`);
    assert.deepEqual(
      fake.live().map((i) => i.name),
      [],
    );
    await Promise.all(shutdowns);
    for (const vm of cancel.vms) assert.equal(await vm.running(), false, `${vm.name} still has processes`);
  });
});
