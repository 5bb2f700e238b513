/**
 * The gce host provider through the real @google-cloud/compute client against
 * the in-process fake of the Compute REST API (test/support/fakeCompute.ts).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GceHostConfig } from '../../src/config/schema';
import { CapacityUnavailable, GceHostProvider, instanceName, ProvisionCancelled, QuotaExceeded, runLabel, VmNameTaken, type GceHostOptions } from '../../src/hosts/gce';
import { classifyThrown, DECISIONS } from '../../src/hosts/gceDecisions';
import { startFakeCompute, type FakeCompute } from '../support/fakeCompute';

let fake: FakeCompute;
before(async () => {
  fake = await startFakeCompute('finetune-test');
});
afterEach(() => fake.reset());
after(async () => {
  await fake.close();
});

function config(patch: Partial<GceHostConfig> = {}): GceHostConfig {
  return GceHostConfig.parse({
    provider: 'gce',
    project: 'finetune-test',
    zones: ['us-central1-a', 'us-central1-b', 'us-central1-c'],
    machine_type: 'a2-highgpu-2g',
    trainer_image: 'us-docker.pkg.dev/finetune-test/trainer/trainer:1',
    ...patch,
  });
}

function provider(cfg = config(), opts: Partial<GceHostOptions> = {}): GceHostProvider {
  return new GceHostProvider({ config: cfg, clientOptions: fake.clientOptions(), backoff: { initialMs: 20, maxMs: 100 }, ...opts });
}

const req = (runId: string, hostIndex = 1) => ({ runId, hostIndex, storeUri: 'gs://finetune-runs/prefix' });

describe('gce host provider on the fake Compute API', () => {
  it('makes a spot GPU VM with deterministic name, labels, metadata and a startup script', async () => {
    const lease = await provider().provision(req('run-a'));
    assert.equal(lease.provider, 'gce');
    assert.equal(lease.hostId, 'run-a-h1');
    assert.deepEqual(lease.details, { project: 'finetune-test', zone: 'us-central1-a', instance: instanceName('run-a', 1) });
    const [vm] = fake.live();
    assert.equal(vm.name, instanceName('run-a', 1));
    assert.match(vm.name, /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
    assert.deepEqual(vm.labels, { 'managed-by': 'durable-finetune', 'run-id': runLabel('run-a'), 'host-index': '1' });
    const body = vm.body as Record<string, any>;
    assert.equal(body.machineType, 'zones/us-central1-a/machineTypes/a2-highgpu-2g');
    assert.equal(body.scheduling.provisioningModel, 'SPOT');
    assert.equal(body.scheduling.instanceTerminationAction, 'DELETE');
    assert.equal(body.scheduling.onHostMaintenance, 'TERMINATE');
    const meta = Object.fromEntries(vm.metadata.items.map((i) => [i.key, i.value]));
    assert.equal(meta['finetune-run-id'], 'run-a');
    assert.match(meta['startup-script'], /FT_HOST_ID='run-a-h1'/);
    assert.match(meta['startup-script'], /FT_STORE='gs:\/\/finetune-runs\/prefix'/);
  });

  it("the startup script expects the machine type's GPUs, or the number the run asks for", async () => {
    const script = () => fake.live()[0].metadata.items.find((i) => i.key === 'startup-script')!.value;
    await provider().provision(req('run-gpus'));
    assert.match(script(), /^FT_GPUS='2'$/m, 'a2-highgpu-2g');
    fake.reset();
    await provider().provision({ ...req('run-cpu'), gpus: 0 });
    assert.match(script(), /^FT_GPUS='0'$/m, 'preflight.gpus: 0');
  });

  it('on a stockout in the first zone, makes the VM in the second and leaves nothing in the first', async () => {
    fake.failInserts('us-central1-a', 1, { kind: 'stockout', code: 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS' });
    const lease = await provider().provision(req('run-stockout'));
    assert.equal(lease.details.zone, 'us-central1-b');
    assert.deepEqual(
      fake.live().map((i) => [i.zone, i.name]),
      [['us-central1-b', instanceName('run-stockout', 1)]],
    );
  });

  it('keeps trying the zones with backoff, then ends in CapacityUnavailable naming every zone tried', async () => {
    const cfg = config({ zones: ['us-central1-a', 'us-central1-b'], capacity_wait_s: 1 });
    fake.failInserts('us-central1-a', Infinity, { kind: 'stockout' });
    fake.failInserts('us-central1-b', Infinity, { kind: 'stockout', code: 'UNSUPPORTED_OPERATION' });
    const before = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/instances')).length;
    const t0 = Date.now();
    await assert.rejects(provider(cfg, { backoff: { initialMs: 100, maxMs: 300 } }).provision(req('run-none')), (err) => {
      assert.ok(err instanceof CapacityUnavailable);
      assert.deepEqual(err.zonesTried, ['us-central1-a', 'us-central1-b']);
      assert.match(err.message, /us-central1-a: ZONE_RESOURCE_POOL_EXHAUSTED/);
      assert.match(err.message, /us-central1-b: UNSUPPORTED_OPERATION/);
      return true;
    });
    assert.ok(Date.now() - t0 <= 2500, 'bounded by capacity_wait_s');
    const inserts = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/instances')).length - before;
    assert.ok(inserts >= 4, `more than one round of tries (${inserts} inserts)`);
    assert.deepEqual(fake.live(), []);
  });

  it('a quota error ends provisioning at once as QuotaExceeded with metric and region, and nothing is left running', async () => {
    fake.failInserts('us-central1-a', 1, { kind: 'quota', metric: 'PREEMPTIBLE_NVIDIA_A100_GPUS', region: 'us-central1' });
    const seen = fake.requests.length;
    await assert.rejects(provider().provision(req('run-quota')), (err) => {
      assert.ok(err instanceof QuotaExceeded);
      assert.equal(err.metric, 'PREEMPTIBLE_NVIDIA_A100_GPUS');
      assert.equal(err.region, 'us-central1');
      assert.match(err.message, /Request more PREEMPTIBLE_NVIDIA_A100_GPUS quota/);
      return true;
    });
    assert.deepEqual(fake.live(), []);
    const inserts = fake.requests.slice(seen).filter((r) => r.method === 'POST' && r.path.includes('/instances') && !r.path.includes('us-central1-a'));
    assert.equal(inserts.length, 0, 'no other zone is tried: the quota is regional');
  });

  it('an insert whose answer times out is retried and adopts the VM it made: one VM', async () => {
    fake.slowInserts(1, 1500);
    const lease = await provider(config(), { insertTimeoutMs: 300 }).provision(req('run-timeout'));
    assert.equal(lease.details.zone, 'us-central1-a');
    assert.equal(fake.live().length, 1);
    // And a second provision of the same host (a retried activity) adopts too.
    const again = await provider().provision(req('run-timeout'));
    assert.deepEqual(again.details, lease.details);
    assert.equal(fake.live().length, 1);
  });

  it('reports a preempted VM as gone with preempted: true, confirmed by zone operations', async () => {
    const p = provider();
    const lease = await p.provision(req('run-preempt'));
    await waitFor(async () => (await p.state(lease)).kind === 'running');
    await fake.preempt(String(lease.details.instance));
    const state = await p.state(lease);
    assert.equal(state.kind, 'gone');
    assert.equal(state.kind === 'gone' && state.preempted, true);
    assert.match(state.kind === 'gone' ? state.reason : '', /compute\.instances\.preempted/);
  });

  it('a VM deleted by someone else is gone but not preempted', async () => {
    const p = provider();
    const lease = await p.provision(req('run-deleted'));
    await p.release(lease);
    const state = await p.state(lease);
    assert.deepEqual(state.kind === 'gone' && state.preempted, false);
  });

  it('after a preemption the next host prefers another zone', async () => {
    const p = provider();
    const first = await p.provision(req('run-zones', 1));
    assert.equal(first.details.zone, 'us-central1-a');
    await fake.preempt(String(first.details.instance));
    const second = await p.provision(req('run-zones', 2));
    assert.equal(second.details.zone, 'us-central1-b');
  });

  it('release deletes the VM, is idempotent, and cancelling a provision deletes what it was making', async () => {
    const p = provider();
    const a = await p.provision(req('run-cancel', 1));
    const b = await p.provision(req('run-cancel', 2));
    const abort = new AbortController();
    fake.onCreate = () => abort.abort();
    await assert.rejects(provider(config(), { signal: abort.signal }).provision(req('run-cancel', 3)), ProvisionCancelled);
    await p.release(a);
    await p.release(b);
    await p.release(a);
    await waitFor(async () => fake.live().length === 0);
    assert.deepEqual(fake.live(), []);
  });

  it('logTail returns the last lines of the serial console', async () => {
    const p = provider();
    const lease = await p.provision(req('run-serial'));
    const vm = fake.live()[0];
    vm.serial += Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n') + '\n';
    assert.deepEqual(await p.logTail(lease, 3), ['line 47', 'line 48', 'line 49']);
    await p.release(lease);
    assert.deepEqual(await p.logTail(lease, 3), []);
  });

  it("never adopts or deletes a VM of this run's name whose metadata names another run (VmNameTaken)", async () => {
    await provider().provision(req('run-a'));
    // Two run ids whose 64-bit hashes clash cannot be found, so the clash is made: run-a's VM takes run-b's name.
    const [vm] = fake.live();
    fake.instances.delete(`${vm.zone}/${vm.name}`);
    vm.name = instanceName('run-b', 1);
    fake.instances.set(`${vm.zone}/${vm.name}`, vm);
    await assert.rejects(provider().provision(req('run-b')), (err: unknown) => {
      assert.ok(err instanceof VmNameTaken, String(err));
      assert.match(err.message, /is not run run-b's: its finetune-run-id metadata says "run-a"/);
      return true;
    });
    assert.deepEqual(
      fake.live().map((i) => i.name),
      [instanceName('run-b', 1)],
      "the other run's VM is still there, and no second VM was made",
    );
  });
});

describe('the decision table', () => {
  it('maps stockouts to the next zone, quota to QuotaExceeded, duplicates to adoption', () => {
    assert.equal(DECISIONS.ZONE_RESOURCE_POOL_EXHAUSTED, 'next-zone');
    assert.equal(DECISIONS.ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS, 'next-zone');
    assert.equal(DECISIONS.UNSUPPORTED_OPERATION, 'next-zone');
    assert.equal(DECISIONS.QUOTA_EXCEEDED, 'quota');
    assert.equal(classifyThrown({ code: 6, message: "The resource 'x' already exists" }).decision, 'adopt');
    assert.equal(classifyThrown(new Error('There is insufficient capacity in zone us-central1-a')).decision, 'next-zone');
    assert.equal(classifyThrown({ code: 4, message: 'Total timeout of API exceeded 300 milliseconds' }).decision, 'retry');
  });
});

async function waitFor(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
