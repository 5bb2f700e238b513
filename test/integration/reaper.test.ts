/**
 * The reaper on real Temporal (dev server, worker) against the fake Compute
 * API: VMs whose run is closed or unknown go, VMs of open runs and VMs we did
 * not make stay; the schedule runs the same workflow.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReapReport } from '../../activities/reaper';
import { ensureReaperSchedule, reaperScheduleId, scheduleReaperOnStart, type ReaperOnStart } from '../../src/client/reaper';
import { GceHostConfig } from '../../src/config/schema';
import { GceHostProvider, instanceName } from '../../src/hosts/gce';
import { startFakeCompute, type FakeCompute } from '../support/fakeCompute';
import { startHarness, type Harness } from '../support/integration';

const taskQueue = 'it-reaper';
let h: Harness;
let fake: FakeCompute;
let report: ReapReport;
let scheduled: ReapReport;
const savedEndpoint = process.env.FINETUNE_GCE_API_ENDPOINT;
let onStart: { first: number[] | undefined; afterSecond: number[] | undefined; next: ReaperOnStart };

before(async () => {
  fake = await startFakeCompute('finetune-test');
  process.env.FINETUNE_GCE_API_ENDPOINT = fake.url;
  h = await startHarness('reaper');
  const cfg = GceHostConfig.parse({
    provider: 'gce',
    project: 'finetune-test',
    zones: ['us-central1-a', 'us-central1-b'],
    machine_type: 'a2-highgpu-1g',
    trainer_image: 'us-docker.pkg.dev/finetune-test/trainer/trainer:1',
  });
  const provider = new GceHostProvider({ config: cfg, clientOptions: fake.clientOptions() });
  // An open run: nobody polls its task queue, so it stays running.
  await h.client.workflow.start('fineTunePipeline', { taskQueue: 'nobody-polls', workflowId: 'run-open', args: [{}] });
  // A closed run: terminated, as from the UI (no workflow code runs, nothing is released).
  const closed = await h.client.workflow.start('fineTunePipeline', { taskQueue: 'nobody-polls', workflowId: 'run-closed', args: [{}] });
  await closed.terminate('test');
  for (const runId of ['run-open', 'run-closed', 'run-unknown']) {
    await provider.provision({ runId, hostIndex: 1, storeUri: 'gs://finetune-runs/p' });
  }
  // A VM someone else made in the same project.
  fake.instances.set('us-central1-b/not-ours', {
    name: 'not-ours',
    zone: 'us-central1-b',
    status: 'RUNNING',
    creationTimestamp: new Date(0).toISOString(),
    labels: { team: 'web' },
    metadata: { items: [] },
    body: {},
    serial: '',
  });

  // Workers of a GCP project schedule the reaper as they start; a second worker finds it and changes nothing.
  const intervals = async () => (await h.client.schedule.getHandle(reaperScheduleId('finetune-test')).describe()).spec.intervals?.map((i) => Number(i.every));
  const savedProject = process.env.GOOGLE_CLOUD_PROJECT;
  process.env.GOOGLE_CLOUD_PROJECT = 'finetune-test';
  const { worker } = await h.worker(taskQueue);
  const first = await intervals();
  // The user tunes it; a second worker starting neither fails nor resets it.
  await ensureReaperSchedule(h.client, { project: 'finetune-test', minAgeS: 0, taskQueue, every: '1 hour' });
  if (savedProject === undefined) delete process.env.GOOGLE_CLOUD_PROJECT;
  else process.env.GOOGLE_CLOUD_PROJECT = savedProject;
  // What the next worker's start does (creating a second worker here would bundle the workflows again: seconds).
  const next = await scheduleReaperOnStart(h.client, taskQueue, { GOOGLE_CLOUD_PROJECT: 'finetune-test' });
  onStart = { first, afterSecond: await intervals(), next };
  await worker.runUntil(async () => {
    const dry = await h.client.workflow.execute('reapOrphanHosts', {
      taskQueue,
      workflowId: 'reap-dry',
      args: [{ project: 'finetune-test', minAgeS: 0, dryRun: true }],
    });
    assert.equal(dry.deleted.length, 2);
    assert.equal(fake.live().length, 4, 'a dry run deletes nothing');

    const schedule = await ensureReaperSchedule(h.client, { project: 'finetune-test', minAgeS: 0, taskQueue, every: '1 hour' });
    // Ensuring it twice updates in place.
    await ensureReaperSchedule(h.client, { project: 'finetune-test', minAgeS: 0, taskQueue, every: '30 minutes' });
    await schedule.trigger();
    let workflowId: string | undefined;
    for (let i = 0; i < 100 && !workflowId; i++) {
      workflowId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
      if (!workflowId) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(workflowId, 'the schedule started a reaper run');
    scheduled = await h.client.workflow.getHandle(workflowId).result();
    report = await h.client.workflow.execute('reapOrphanHosts', { taskQueue, workflowId: 'reap-again', args: [{ project: 'finetune-test', minAgeS: 0 }] });
    const desc = await schedule.describe();
    assert.deepEqual(
      desc.spec.intervals?.map((i) => i.every),
      [30 * 60 * 1000],
    );
    await schedule.delete();
  });
});
after(async () => {
  await h?.close();
  await fake?.close();
  if (savedEndpoint === undefined) delete process.env.FINETUNE_GCE_API_ENDPOINT;
  else process.env.FINETUNE_GCE_API_ENDPOINT = savedEndpoint;
});

describe('reapOrphanHosts', () => {
  it('deletes the VMs of closed and unknown runs and says why', () => {
    const byRun = Object.fromEntries(scheduled.deleted.map((d) => [d.runId, d]));
    assert.deepEqual(Object.keys(byRun).sort(), ['run-closed', 'run-unknown']);
    assert.equal(byRun['run-closed'].reason, 'run is terminated');
    assert.equal(byRun['run-unknown'].reason, 'run is unknown to Temporal');
    assert.equal(byRun['run-closed'].name, instanceName('run-closed', 1));
  });

  it('keeps the VM of an open run and never touches VMs it did not make', () => {
    const names = fake
      .live()
      .map((i) => i.name)
      .sort();
    assert.deepEqual(names, [instanceName('run-open', 1), 'not-ours'].sort());
    assert.deepEqual(
      scheduled.kept.map((k) => [k.runId, k.reason]),
      [['run-open', 'run is open']],
    );
  });

  it('is scheduled by the first worker of a project as it starts, and left alone by the next', () => {
    assert.deepEqual(onStart.first, [30 * 60 * 1000]);
    assert.deepEqual(onStart.next, { scheduled: true, scheduleId: reaperScheduleId('finetune-test'), project: 'finetune-test', every: '30m' });
    assert.deepEqual(onStart.afterSecond, [60 * 60 * 1000], 'the next worker leaves the schedule as the user set it');
  });

  it('is idempotent: a second run finds nothing more to delete', () => {
    assert.equal(report.checked, 1);
    assert.deepEqual(report.deleted, []);
  });
});
