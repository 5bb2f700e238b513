/**
 * Billing from create to delete, reconciled with the Compute API's own
 * timestamps: the real workflow with the real provisionHost and releaseHost
 * against the fake Compute API (test/support/fakeCompute.ts), on the
 * time-skipping server. Each VM's agent is played through the store: it
 * heartbeats a set time after its VM was created, or never (a failed
 * provision), or its VM is preempted while it boots (another failed one).
 * The run's ledger must bill each VM from its creationTimestamp to the end
 * of its delete operation (or its preemption), boot and failed provisions
 * included.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Worker } from '@temporalio/worker';
import { hostActivities } from '../../activities/hosts';
import type { Activities } from '../../activities/types';
import { METADATA_HOST_ID, METADATA_RUN_ID } from '../../src/hosts/gce';
import { agentKey, type AgentHeartbeat } from '../../src/jobs/contract';
import type { PipelineConfig, PipelineConfigInput } from '../../src/config/schema';
import { projectRoot } from '../../src/paths';
import { openStore } from '../../src/store/open';
import { fineTunePipeline } from '../../workflows';
import { gceHost, testConfig } from '../support/config';
import { startFakeCompute, type FakeCompute } from '../support/fakeCompute';
import { loseHost, scriptedActivities, succeed, type JobScript } from '../support/scriptedActivities';
import { timeSkippingSuite } from '../support/temporal';
import { scratchDir } from '../support/scratch';

const suite = timeSkippingSuite();
let fake: FakeCompute;
let storeDir: string;
const savedEndpoint = process.env.FINETUNE_GCE_API_ENDPOINT;
const timers: NodeJS.Timeout[] = [];

/** Each VM as the fake Compute API saw it: created (creationTimestamp), heartbeat written, delete operation done. */
interface VmTruth {
  name: string;
  hostId: string;
  createdMs: number;
  heartbeatMs: number | null;
}
const vms: VmTruth[] = [];

before(async () => {
  fake = await startFakeCompute('finetune-test');
  process.env.FINETUNE_GCE_API_ENDPOINT = fake.url;
  storeDir = scratchDir('billing-');
});
after(async () => {
  for (const t of timers) clearTimeout(t);
  await fake?.close();
  fs.rmSync(storeDir, { recursive: true, force: true });
  if (savedEndpoint === undefined) delete process.env.FINETUNE_GCE_API_ENDPOINT;
  else process.env.FINETUNE_GCE_API_ENDPOINT = savedEndpoint;
});

const storeUri = () => pathToFileURL(storeDir).href;

/**
 * The agent of each new VM heartbeats `bootMs` after its creation, except on the silent hosts;
 * the first VM of each `preempted` host is preempted `preemptMs` after its creation, before its agent starts.
 */
function playAgents(bootMs: number, silent: Set<string>, preempted: Set<string>, preemptMs: number): void {
  fake.onCreate = (inst) => {
    const meta = (key: string) => inst.metadata.items.find((i) => i.key === key)?.value ?? '';
    const vm: VmTruth = { name: inst.name, hostId: meta(METADATA_HOST_ID), createdMs: Date.parse(inst.creationTimestamp), heartbeatMs: null };
    vms.push(vm);
    if (silent.has(vm.hostId)) return;
    if (preempted.delete(vm.hostId)) {
      timers.push(setTimeout(() => void fake.preempt(inst.name), preemptMs));
      return;
    }
    timers.push(
      setTimeout(() => {
        const now = new Date().toISOString();
        const beat: AgentHeartbeat = {
          host_id: vm.hostId,
          pid: 1,
          state: 'idle',
          job_id: null,
          stage: null,
          stage_pid: null,
          started_at: now,
          job_started_at: null,
          updated_at: now,
        };
        vm.heartbeatMs = Date.parse(now);
        void openStore(storeUri()).putJson(agentKey(meta(METADATA_RUN_ID), vm.hostId), beat);
      }, bootMs),
    );
  };
}

/** When each VM stopped being billed by the fake's clock (its delete done, or its preemption), in order. */
function billingEnds(): { name: string; doneMs: number }[] {
  return fake.operations
    .filter((op) => op.operationType === 'delete' || op.operationType === 'compute.instances.preempted')
    .map((op) => ({ name: op.targetLink.split('/').pop()!, doneMs: Date.parse(op.endTime!) }));
}

const slow =
  (ms: number, script: JobScript): JobScript =>
  async (input) => {
    await new Promise((r) => setTimeout(r, ms));
    return script(input);
  };

describe('billing from create to delete, against the Compute API', () => {
  it('bills each VM from its insert to its delete: the boot, the failed provision and the work, as the fake timed them', async () => {
    const runId = 'billing-1';
    const BOOT_MS = 1500;
    playAgents(BOOT_MS, new Set([`${runId}-h1`]), new Set([`${runId}-h2`]), 700);
    // A job takes 300 ms; the first sft job loses its host.
    const { activities: scripted } = scriptedActivities({
      preflight: [slow(300, succeed())],
      sft: [slow(300, loseHost(20, 10)), slow(300, succeed())],
      merge: [slow(300, succeed())],
      dpo: [slow(300, succeed())],
      generate: [slow(300, succeed())],
    });
    const deps = { projectRoot, python: 'python3', reportProgress: async () => undefined };
    const activities: Activities = {
      ...scripted,
      ...hostActivities(deps),
      async prepareRun(input) {
        const prepared = await scripted.prepareRun(input);
        // The schema's floor is a minute (real VMs boot for minutes); the silent host needs only 3 s to fail.
        const host = { ...(prepared.config.host as Extract<PipelineConfig['host'], { provider: 'gce' }>), agent_start_timeout_s: 3 };
        return { ...prepared, storeUri: storeUri(), config: { ...prepared.config, host } };
      },
    };
    const config = testConfig({
      store: 'gs://bucket/runs',
      host: gceHost('g2-standard-4'),
      preflight: { gpus: 0 },
      monitor: { poll_interval_s: 0.2, max_host_losses: 3 },
      // A dollar a second, so dollars read as seconds.
      cost: { prices: { 'g2-standard-4': { on_demand: 3600, spot: 3600 } } },
    } as Partial<PipelineConfigInput>);
    const worker = await Worker.create({ connection: suite.env.nativeConnection, taskQueue: 'billing-1', workflowBundle: suite.bundle, activities });
    const result = await worker.runUntil(suite.env.client.workflow.execute(fineTunePipeline, { taskQueue: 'billing-1', workflowId: runId, args: [config] }));

    const split = result.cost.split;
    const ended = billingEnds();
    assert.deepEqual(
      vms.map((v) => v.hostId),
      [`${runId}-h1`, `${runId}-h2`, `${runId}-h2`, `${runId}-h3`],
      'a silent VM, a VM preempted while booting and its successor (lost in sft), the VM that finished',
    );
    assert.deepEqual(fake.live(), [], 'every VM deleted');
    assert.deepEqual(
      split.hosts.map((h) => [h.hostId, h.failed === null ? 'usable' : 'failed']),
      [
        [`${runId}-h1`, 'failed'],
        [`${runId}-h2`, 'failed'],
        [`${runId}-h2`, 'usable'],
        [`${runId}-h3`, 'usable'],
      ],
    );
    // What the activities see lags the fake's clock by an HTTP round trip and a poll of the operation.
    const TOLERANCE_S = 0.5;
    for (const [i, vm] of vms.entries()) {
      const bill = split.hosts[i];
      const end = ended.find((d) => d.name === vm.name && d.doneMs >= vm.createdMs);
      assert.ok(end, `${vm.name} was deleted`);
      const life = (end.doneMs - vm.createdMs) / 1000;
      // A preempted VM is billed until provisionHost saw it gone: up to a poll (500 ms) late.
      const late = /preempted/.test(bill.failed ?? '') ? 0.5 : 0;
      assert.ok(
        bill.lifeSeconds > life - TOLERANCE_S && bill.lifeSeconds < life + late + TOLERANCE_S,
        `${vm.hostId}: billed life ${bill.lifeSeconds} s, the fake's creationTimestamp to the end of its billing ${life} s`,
      );
      assert.equal(bill.billedSeconds, Math.max(60, Math.ceil(life)), `${vm.hostId}: whole seconds, a minute at least`);
      assert.equal(bill.held, false);
      if (vm.heartbeatMs === null && i === 0) {
        assert.equal(bill.bootSeconds, 0);
        assert.match(bill.failed ?? '', /AgentStartTimeout/);
        assert.ok(life >= 3, `the silent VM lived out its agent start timeout (${life} s)`);
      } else if (vm.heartbeatMs === null) {
        assert.match(bill.failed ?? '', /^preempted before its agent started: .*compute\.instances\.preempted/);
        assert.ok(life >= 0.7 && life < BOOT_MS / 1000, `preempted while booting (${life} s)`);
      } else {
        // The activity polls the store every 500 ms.
        const boot = (vm.heartbeatMs - vm.createdMs) / 1000;
        assert.ok(bill.bootSeconds >= boot - TOLERANCE_S && bill.bootSeconds < boot + 0.5 + TOLERANCE_S, `${vm.hostId}: boot ${bill.bootSeconds} s, the fake's ${boot} s`);
      }
    }
    assert.deepEqual(split.failedProvisions, { withVm: 2, withoutVm: 0 });
    assert.equal(split.wastedUsd.failed, 120, 'the silent VM and the preempted one: their one-minute minimums');
    assert.ok(split.bootUsd >= (2 * BOOT_MS) / 1000 - 2 * TOLERANCE_S, `both usable hosts' boots are billed: $${split.bootUsd}`);
    assert.equal(split.totalUsd, 240, 'four VMs, each under a minute');
    const s = split.seconds;
    assert.ok(Math.abs(s.boot + s.productive + s.redone + s.idle + s.failed - split.billedSeconds) < 1e-6);
    assert.equal(result.cost.burnUsdPerHour, 0);
  });
});
