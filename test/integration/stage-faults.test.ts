/**
 * Injected crashes in a real stage (the Python agent on a local host, a file://
 * store) reach the runJob activity as the failure types of src/jobs/failures.ts,
 * with the class, the advice and the log tail: what the Temporal UI shows for a
 * failed run. params.debug_inject is honoured only with FINETUNE_ALLOW_FAULT_INJECTION=1.
 * On a gce host (the fake Compute API, a VM that runs its startup script) the
 * failure also carries the tail of the VM's serial console.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { hostActivities } from '../../activities/hosts';
import { jobActivities } from '../../activities/jobs';
import type { ActivityDeps } from '../../activities/deps';
import { MonitorConfig } from '../../src/config/schema';
import type { HostLease } from '../../src/hosts/provider';
import { FAILURES } from '../../src/jobs/failures';
import { projectRoot, venvPython } from '../../src/paths';
import { startFakeCompute, type FakeCompute } from '../support/fakeCompute';
import { bootVm, type FakeVm } from '../support/fakeVm';
import { applicationFailureOf } from '../support/failures';
import { jobOn } from '../support/jobs';
import { scratchDir } from '../support/scratch';

const runId = 'it-faults-1';
let dir: string;
let storeUri: string;
let lease: HostLease;
let acts: ReturnType<typeof hostActivities> & ReturnType<typeof jobActivities>;
const env = new MockActivityEnvironment();
// Long enough for a stage's start (imports) on a busy machine; the hang case uses its own.
const monitor = MonitorConfig.parse({ poll_interval_s: 0.5, hang_timeout_s: 180 });
const hangMonitor = MonitorConfig.parse({ poll_interval_s: 0.5, hang_timeout_s: 45 });

before(async () => {
  process.env.FINETUNE_ALLOW_FAULT_INJECTION = '1';
  dir = scratchDir('stage-faults-');
  storeUri = `file://${dir}/store`;
  const deps: ActivityDeps = { projectRoot, python: venvPython(), reportProgress: async () => undefined };
  acts = { ...hostActivities(deps), ...jobActivities(deps) };
  lease = await env.run(acts.provisionHost, { runId, hostIndex: 1, storeUri, host: { provider: 'local' as const, workdir: path.join(dir, 'hosts') } });
});
after(async () => {
  if (lease) await env.run(acts.releaseHost, lease);
  delete process.env.FINETUNE_ALLOW_FAULT_INJECTION;
});

function failureOf(jobId: string, fault: string, m = monitor, on: HostLease = lease): Promise<ApplicationFailure> {
  const job = jobOn(on, jobId, 'sft', { debug_inject: fault });
  return applicationFailureOf(env.run(acts.runJob, { lease: on, storeUri, job, monitor: m }), `${fault}: runJob`);
}

describe('injected stage crashes reach the activity as classified failures', () => {
  for (const [n, fault, klass, evidence] of [
    [1, 'segfault', 'segfault', /Segmentation fault/],
    [2, 'oom', 'oom', /CUDA out of memory/],
    [3, 'disk_full', 'disk_full', /No space left on device/],
  ] as const) {
    it(`${fault} -> ${FAILURES[klass].type}`, async () => {
      const failure = await failureOf(`sft-${n}`, fault);
      assert.equal(failure.type, FAILURES[klass].type);
      assert.equal(failure.nonRetryable, true);
      assert.ok(failure.message.includes(FAILURES[klass].advice), failure.message);
      const details = failure.details?.[0] as { failureClass: string; logTail: string[] };
      assert.equal(details.failureClass, klass);
      assert.match(details.logTail.join('\n'), evidence);
    });
  }

  it(`preflight on a host whose CUDA sees fewer GPUs than expected -> ${FAILURES.gpu_missing.type}, with the evidence and the fix`, async () => {
    const job = jobOn(lease, 'preflight-1', 'preflight', { ranks: 1, timeout_s: 30, min_free_disk_gb: 0, expected_gpus: 1 });
    const failure = await applicationFailureOf(env.run(acts.runJob, { lease, storeUri, job, monitor }), 'preflight on a machine without a GPU');
    assert.equal(failure.type, FAILURES.gpu_missing.type);
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /expected 1 GPU\(s\), CUDA sees 0: torch .*nvidia-smi.*\/dev\/nvidia/);
    assert.match(failure.message, /Fix: .*docker run --gpus all.*preflight\.gpus/);
    assert.equal((failure.details?.[0] as { failureClass: string }).failureClass, 'gpu_missing');
  });

  it(`a hang -> ${FAILURES.hang.type} after hang_timeout_s, with the log tail`, async () => {
    const t0 = Date.now();
    const failure = await failureOf('sft-4', 'hang', hangMonitor);
    assert.equal(failure.type, FAILURES.hang.type);
    assert.ok(Date.now() - t0 >= hangMonitor.hang_timeout_s * 1000);
    const details = failure.details?.[0] as { failureClass: string; logTail: string[] };
    assert.equal(details.failureClass, 'hang');
    assert.match(details.logTail.join('\n'), /injecting fault 'hang'/);
  });
});

describe('on a gce host, a failed stage carries the serial console tail', () => {
  let fake: FakeCompute;
  let gceLease: HostLease;
  const vms: FakeVm[] = [];
  const saved = process.env.FINETUNE_GCE_API_ENDPOINT;

  before(async () => {
    fake = await startFakeCompute('finetune-test');
    process.env.FINETUNE_GCE_API_ENDPOINT = fake.url;
    fake.onCreate = (inst) => vms.push(bootVm(inst, { dir }));
    fake.onDelete = (inst) => void vms.find((v) => v.name === inst.name)?.shutdown();
    const host = {
      provider: 'gce' as const,
      project: 'finetune-test',
      zones: ['us-central1-a'],
      machine_type: 'a2-highgpu-1g' as const,
      trainer_image: 'us-docker.pkg.dev/finetune-test/durable-finetune/trainer:test',
      agent_start_timeout_s: 120,
    };
    // gpus 0 (preflight.gpus: 0): this machine has no GPU, so the VM runs the image without --gpus.
    gceLease = await env.run(acts.provisionHost, { runId: 'it-faults-gce-1', hostIndex: 1, storeUri, host: host as never, gpus: 0 });
  });
  after(async () => {
    if (gceLease) await env.run(acts.releaseHost, gceLease);
    await Promise.all(vms.map((vm) => vm.shutdown()));
    await fake?.close();
    if (saved === undefined) delete process.env.FINETUNE_GCE_API_ENDPOINT;
    else process.env.FINETUNE_GCE_API_ENDPOINT = saved;
  });

  it('a job without its base model -> BadData, with the stage log and [host] lines from serial port 1', async () => {
    // (Fault injection stays off on the VM: its agent gets only the environment the startup script gives it.)
    const failure = await failureOf('sft-1', 'segfault', monitor, gceLease);
    assert.equal(failure.type, FAILURES.bad_data.type);
    const { logTail } = failure.details?.[0] as { logTail: string[] };
    assert.match(logTail.join('\n'), /job input 'base_model' is missing/);
    const host = logTail.filter((l) => l.startsWith('[host] '));
    assert.ok(
      host.some((l) => /agent: started sft-1/.test(l)),
      `serial lines: ${host.join(' | ')}`,
    );
  });
});
