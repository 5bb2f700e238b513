/**
 * Injected crashes in a real stage (the Python agent on a local host, a file://
 * store) reach the runJob activity as the failure types of src/jobs/failures.ts,
 * with the class, the advice and the log tail: what the Temporal UI shows for a
 * failed run. params.debug_inject is honoured only with FINETUNE_ALLOW_FAULT_INJECTION=1.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { hostActivities } from '../../activities/hosts';
import { jobActivities } from '../../activities/jobs';
import type { ActivityDeps } from '../../activities/deps';
import { MonitorConfig } from '../../src/config/schema';
import type { HostLease } from '../../src/hosts/provider';
import type { JobSpec } from '../../src/jobs/contract';
import { FAILURES } from '../../src/jobs/failures';
import { projectRoot, venvPython } from '../../src/paths';

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
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stage-faults-'));
  storeUri = `file://${dir}/store`;
  const deps: ActivityDeps = { projectRoot, python: venvPython(), reportProgress: async () => undefined };
  acts = { ...hostActivities(deps), ...jobActivities(deps) };
  lease = await env.run(acts.provisionHost, { runId, hostIndex: 1, storeUri, host: { provider: 'local' as const, workdir: path.join(dir, 'hosts') } });
});
after(async () => {
  if (lease) await env.run(acts.releaseHost, lease);
  delete process.env.FINETUNE_ALLOW_FAULT_INJECTION;
});

async function failureOf(jobId: string, fault: string, m = monitor): Promise<ApplicationFailure> {
  const job: JobSpec = {
    job_id: jobId,
    run_id: runId,
    host_id: lease.hostId,
    stage: 'sft',
    resume: false,
    created_at: new Date().toISOString(),
    inputs: {},
    params: { debug_inject: fault },
  };
  try {
    await env.run(acts.runJob, { lease, storeUri, job, monitor: m });
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, String(err));
    return err;
  }
  assert.fail(`${fault}: runJob succeeded`);
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
