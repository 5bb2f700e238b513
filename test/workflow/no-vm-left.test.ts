/**
 * No VM outlives its run: the real workflow and the real host and job
 * activities (provisionHost, runJob, releaseHost) against the fake Compute
 * API, on the time-skipping server. A run cancelled in any of its stages
 * leaves no VM, and a VM whose agent never heartbeats is deleted at once and
 * replaced. The agent is played through the store (the contract the real
 * agent keeps): it heartbeats and finishes every job except the one a test holds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { hostActivities } from '../../activities/hosts';
import { jobActivities } from '../../activities/jobs';
import type { Activities } from '../../activities/types';
import { instanceName, METADATA_HOST_ID, METADATA_RUN_ID } from '../../src/hosts/gce';
import { agentKey, jobKey, stageKey, type AgentHeartbeat, type JobSpec, type StageName, type StageStatusFile } from '../../src/jobs/contract';
import type { PipelineConfig, PipelineConfigInput } from '../../src/config/schema';
import { projectRoot } from '../../src/paths';
import { configureLog } from '../../src/log';
import { openStore } from '../../src/store/open';
import { fineTunePipeline } from '../../workflows';
import { progressQuery } from '../../workflows/messages';
import type { PipelineStage, RunProgress } from '../../workflows/progress';
import { gceHost, testConfig } from '../support/config';
import { startFakeCompute, type FakeCompute, type FakeInstance } from '../support/fakeCompute';
import { blockUntilCancelled, scriptedActivities } from '../support/scriptedActivities';
import { timeSkippingSuite } from '../support/temporal';
import { scratchDir } from '../support/scratch';

const suite = timeSkippingSuite();
let fake: FakeCompute;
let storeDir: string;
const savedEndpoint = process.env.FINETUNE_GCE_API_ENDPOINT;

/** What the played agents do: hosts that never heartbeat, and the stage whose job never ends. */
const agents = { silent: new Set<string>(), hold: null as StageName | null, posted: new Set<string>(), events: [] as string[] };
let ticker: NodeJS.Timeout;

before(async () => {
  // The real activities log every job; the assertions say what matters.
  configureLog({ level: 'error' });
  fake = await startFakeCompute('finetune-test');
  process.env.FINETUNE_GCE_API_ENDPOINT = fake.url;
  storeDir = scratchDir('no-vm-left-');
  fake.onCreate = (inst) => agents.events.push(`create ${inst.name}`);
  fake.onDelete = (inst) => agents.events.push(`delete ${inst.name}`);
  const started = new Map<string, string>();
  let busy = false;
  ticker = setInterval(() => {
    if (busy) return;
    busy = true;
    Promise.all(fake.live().map((vm) => playAgent(vm, started))).finally(() => (busy = false));
  }, 100);
});
after(async () => {
  clearInterval(ticker);
  await fake?.close();
  fs.rmSync(storeDir, { recursive: true, force: true });
  if (savedEndpoint === undefined) delete process.env.FINETUNE_GCE_API_ENDPOINT;
  else process.env.FINETUNE_GCE_API_ENDPOINT = savedEndpoint;
});

/** One beat of the agent of one VM: heartbeat, then finish its job unless the test holds that stage. */
async function playAgent(vm: FakeInstance, started: Map<string, string>): Promise<void> {
  const meta = (key: string) => vm.metadata.items.find((i) => i.key === key)?.value ?? '';
  const [runId, hostId] = [meta(METADATA_RUN_ID), meta(METADATA_HOST_ID)];
  if (vm.status !== 'RUNNING' || agents.silent.has(hostId)) return;
  const store = openStore(storeUri());
  const now = new Date().toISOString();
  if (!started.has(vm.name)) started.set(vm.name, now);
  const job = await store.getJson<JobSpec>(jobKey(runId, hostId));
  const beat: AgentHeartbeat = {
    host_id: hostId,
    pid: 1,
    state: job ? 'running' : 'idle',
    job_id: job?.job_id ?? null,
    stage: job?.stage ?? null,
    stage_pid: null,
    started_at: started.get(vm.name)!,
    job_started_at: job ? now : null,
    updated_at: now,
  };
  await store.putJson(agentKey(runId, hostId), beat);
  if (!job) return;
  agents.posted.add(`${runId}/${job.stage}`);
  if (job.stage === agents.hold) return;
  const statusKey = stageKey(runId, job.stage, 'status.json');
  if ((await store.getJson<StageStatusFile>(statusKey))?.job_id === job.job_id) return;
  const status: StageStatusFile = {
    job_id: job.job_id,
    stage: job.stage,
    state: 'succeeded',
    failure_class: null,
    message: '',
    exit_code: 0,
    signal: null,
    log_tail: [],
    output: { key: stageKey(runId, job.stage, 'output/model'), fingerprint: `sha256:${job.stage}` },
    metrics: {},
    steps_done: 10,
    resumed_from_step: 0,
    started_at: now,
    finished_at: now,
    duration_s: 0,
  };
  await store.putJson(statusKey, status);
}

const storeUri = () => pathToFileURL(storeDir).href;

let n = 0;
type Handle = WorkflowHandle<typeof fineTunePipeline>;
interface Scenario {
  /** The stage whose job the agents never finish. */
  hold?: StageName | null;
  /** Host indexes whose agents never heartbeat. */
  silent?: number[];
  /** host.agent_start_timeout_s as prepareRun resolves it. */
  agentStartS?: number;
  config?: Partial<PipelineConfigInput>;
  /** A control-plane activity that runs until the run is cancelled. */
  blockIn?: 'scoreRun' | 'promoteModel';
}
/** What the next run does; the worker's activities read it (runs go one at a time). */
let scenario: Scenario = {};
let taskQueue = '';

/** The real host and job activities; the rest scripted, as the scenario says. */
function activities(): Activities {
  const { activities: scripted } = scriptedActivities({});
  const deps = { projectRoot, python: 'python3', reportProgress: async () => undefined };
  const blockOr = <K extends 'scoreRun' | 'promoteModel'>(name: K): Activities[K] =>
    ((input: never) => (scenario.blockIn === name ? blockUntilCancelled(input) : (scripted[name] as (i: never) => unknown)(input))) as Activities[K];
  return {
    ...scripted,
    ...hostActivities(deps),
    ...jobActivities(deps),
    async prepareRun(input) {
      const prepared = await scripted.prepareRun(input);
      const host = { ...(prepared.config.host as Extract<PipelineConfig['host'], { provider: 'gce' }>) };
      // The schema's floor is a minute (real VMs boot for minutes); the played agent needs none of it.
      if (scenario.agentStartS !== undefined) host.agent_start_timeout_s = scenario.agentStartS;
      return { ...prepared, storeUri: storeUri(), config: { ...prepared.config, host } };
    },
    scoreRun: blockOr('scoreRun'),
    promoteModel: blockOr('promoteModel'),
  };
}

/** One worker for the runs `fn` starts (creating a worker takes a second or more). */
async function onWorker<T>(fn: () => Promise<T>): Promise<T> {
  taskQueue = `no-vm-left-q${n}`;
  const worker = await Worker.create({
    connection: suite.env.nativeConnection,
    taskQueue,
    workflowBundle: suite.bundle,
    activities: activities(),
    // A cancellation reaches an activity in its next heartbeat's answer: let that be soon.
    maxHeartbeatThrottleInterval: '100 milliseconds',
  });
  return worker.runUntil(fn);
}

/** Starts a GCE run as the scenario says (on the worker of onWorker); `during` acts on it before its result is awaited. */
async function run(next: Scenario, during?: (h: Handle, runId: string) => Promise<void>) {
  const runId = `no-vm-left-${++n}`;
  scenario = next;
  agents.hold = next.hold ?? null;
  agents.silent = new Set((next.silent ?? []).map((i) => `${runId}-h${i}`));
  const config = testConfig({
    store: 'gs://bucket/runs',
    host: { ...gceHost('g2-standard-4'), zones: ['us-central1-a', 'us-central1-b'] },
    preflight: { gpus: 0 },
    monitor: { poll_interval_s: 0.2, max_host_losses: 2 },
    ...next.config,
  } as Partial<PipelineConfigInput>);
  const handle = await suite.env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: runId, args: [config] });
  if (during) await during(handle, runId);
  const error = await handle.result().then(
    () => null,
    (e: unknown) => e,
  );
  const progress = await handle.query(progressQuery).catch(() => null);
  // This run's VMs only: a leak is charged to the stage that made it.
  const live = fake
    .live()
    .filter((i) => i.metadata.items.some((m) => m.key === METADATA_RUN_ID && m.value === runId))
    .map((i) => i.name);
  return { runId, error, progress, live };
}

/** Polls until `ready` holds for the run's progress (queries do not advance time). */
async function until(handle: Handle, what: string, ready: (p: RunProgress) => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const p = await handle.query(progressQuery).catch(() => null);
    if (p && ready(p)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the run never reached: ${what}`);
}

const HOST_STAGES: StageName[] = ['preflight', 'sft', 'merge', 'dpo', 'generate'];
const SWEEP: PipelineStage[] = ['provision', ...HOST_STAGES, 'score', 'gate', 'promote'];

describe('no VM outlives its run', () => {
  it('a run cancelled in any of its stages leaves no VM behind', async () => {
    const left: Record<string, string[]> = {};
    await onWorker(async () => {
      for (const stage of SWEEP) {
        const host = HOST_STAGES.includes(stage as StageName);
        const outcome = await run(
          {
            hold: host ? (stage as StageName) : null,
            // provision: the VM is booting (its agent has not yet written a heartbeat) when the run is cancelled.
            silent: stage === 'provision' ? [1] : [],
            blockIn: stage === 'score' ? 'scoreRun' : stage === 'promote' ? 'promoteModel' : undefined,
            config: stage === 'gate' ? { eval: { require_approval: true, approval_timeout_s: 6 * 3600 } } : {},
          },
          async (handle, runId) => {
            await until(handle, stage, (p) => p.stage === stage);
            if (stage === 'provision') await waitFor(`a VM of ${runId}`, () => fake.live().length > 0);
            if (host) await waitFor(`the ${stage} job on a host`, () => agents.posted.has(`${runId}/${stage}`));
            if (stage === 'gate') await until(handle, 'the approval wait', (p) => p.gate?.state === 'awaiting_approval');
            await handle.cancel();
          },
        );
        assert.ok(outcome.error instanceof WorkflowFailedError && outcome.error.cause instanceof CancelledFailure, `${stage}: ${String(outcome.error)}`);
        assert.equal(outcome.progress?.state, 'cancelled', stage);
        assert.equal(outcome.progress?.stage, stage, 'cancelled where the sweep meant to');
        left[stage] = outcome.live;
      }
    });
    assert.deepEqual(left, Object.fromEntries(SWEEP.map((s) => [s, []])), 'VMs still alive when each run had closed');
    assert.equal(agents.events.filter((e) => e.startsWith('create')).length, SWEEP.length, 'each run made one VM before it was cancelled');
  });

  it('deletes the booting VM of a run terminated from the UI without waiting for the reaper', async () => {
    let leftAfterTerminate: string[] = ['?'];
    await onWorker(() =>
      run({ silent: [1] }, async (handle, runId) => {
        await waitFor(`a VM of ${runId}`, () => fake.live().length > 0);
        // Terminate runs no workflow code: the provisioning activity learns it from its next heartbeat.
        await handle.terminate('from the UI');
        await waitFor('the VM deleted', () => fake.live().length === 0);
        leftAfterTerminate = fake.live().map((i) => i.name);
      }),
    );
    assert.deepEqual(leftAfterTerminate, []);
  });

  it('deletes a VM whose agent never heartbeats at once, and goes on on the next host', async () => {
    agents.events = [];
    const { runId, error, progress, live } = await onWorker(() => run({ silent: [1], agentStartS: 1 }));
    assert.equal(error, null);
    assert.equal(progress?.state, 'succeeded');
    const [h1, h2] = [instanceName(runId, 1), instanceName(runId, 2)];
    assert.deepEqual(agents.events.slice(0, 3), [`create ${h1}`, `delete ${h1}`, `create ${h2}`], 'the silent VM is gone before the next one is made');
    assert.equal(progress?.hostLosses, 1);
    assert.equal(progress?.losses[0].stage, 'provision');
    assert.equal(progress?.losses[0].hostId, `${runId}-h1`);
    assert.match(progress?.losses[0].reason ?? '', /AgentStartTimeout: the agent on .*-h1 wrote no heartbeat within 1 s \(host\.agent_start_timeout_s\); the host was deleted/);
    assert.deepEqual(live, []);
  });

  it('counts a silent VM against monitor.max_host_losses, leaving none', async () => {
    const { error, live } = await onWorker(() => run({ silent: [1, 2], agentStartS: 1, config: { monitor: { poll_interval_s: 0.2, max_host_losses: 1 } } }));
    assert.ok(error instanceof WorkflowFailedError && error.cause instanceof ApplicationFailure, String(error));
    assert.equal(error.cause.type, 'TooManyHostLosses');
    assert.match(error.cause.message, /lost 2 hosts.*AgentStartTimeout/);
    assert.deepEqual(live, []);
  });
});

async function waitFor(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!ok()) throw new Error(`never saw ${what}`);
}
