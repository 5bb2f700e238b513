/**
 * One simulated run: fineTunePipeline on the time-skipping server with the
 * simulated host provider, one policy, one preemption trace. Returns what the
 * run cost and the checks of the simulation's premises; a run whose checks
 * fail must not be reported.
 */
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { fineTunePipeline } from '../../workflows';
import { progressQuery } from '../../workflows/messages';
import type { PipelineConfigInput } from '../../src/config/schema';
import type { Assumptions, BootImage, Policy, UploadMode } from './model';
import { SimWorld } from './simHost';
import type { Preemption } from './traces';

/** Real seconds one simulated run may take before it is abandoned (a sound run takes under 15). */
const STALL_MS = 120_000;

export class SimulationStalled extends Error {
  readonly name = 'SimulationStalled';
  constructor(runId: string, ms: number) {
    super(`simulated run ${runId} did not end within ${ms / 1000} real seconds: the test server's clock is stuck`);
  }
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface RunOutcome {
  policy: Policy;
  image: BootImage;
  uploads: UploadMode;
  seed: number;
  finished: boolean;
  /** The workflow's failure type when it did not finish (TooManyHostLosses, BudgetExceeded). */
  failure: string | null;
  wallS: number;
  billedS: number;
  bootS: number;
  productiveS: number;
  uploadS: number;
  redoneS: number;
  otherS: number;
  usd: number;
  stepsRedone: number;
  hostLosses: number;
  bootLosses: number;
  strikes: number;
  missedPreemptions: number;
  /** What the workflow's own ledger billed (each host from its insert to its delete; boots lost to a preemption are not in it). */
  workflowLedgerUsd: number | null;
  checks: Check[];
  /** The simulated world, for tests that look closer. */
  world: SimWorld;
}

/** The seed-like run as a config: a GCE spot host, the simulated stages' steps and save interval. */
export function benchConfig(a: Assumptions, budgetUsd?: number): PipelineConfigInput {
  const sft = a.stages.sft;
  const dpo = a.stages.dpo;
  return {
    name: 'gpu-share-bench',
    store: 'gs://bench-bucket/runs',
    model: { base: '/tmp/model' },
    data: { sft: '/tmp/sft.jsonl', preferences: '/tmp/prefs.jsonl', eval: '/tmp/eval.jsonl' },
    host: {
      provider: 'gce',
      project: 'gpu-share-bench',
      zones: ['us-central1-a'],
      machine_type: a.machineType,
      spot: a.spot,
      trainer_image: 'us-docker.pkg.dev/gpu-share-bench/r/trainer:1',
    },
    sft: { max_steps: sft.steps!, save_steps: sft.saveSteps! },
    dpo: { max_steps: dpo.steps!, save_steps: dpo.saveSteps! },
    // poll_interval_s sets runJob's heartbeat timeout (3x) in the workflow: 900 s lets the simulated
    // clock move in 200 s sleeps with room for late heartbeats. The simulated loss detection uses the product's default poll (a.pollS).
    monitor: { max_host_losses: a.maxHostLosses, poll_interval_s: 300 },
    ...(budgetUsd !== undefined ? { cost: { budget_usd: budgetUsd } } : {}),
  } as PipelineConfigInput;
}

export async function runOne(
  env: TestWorkflowEnvironment,
  bundle: WorkflowBundleWithSourceMap,
  opts: { a: Assumptions; policy: Policy; image?: BootImage; uploads?: UploadMode; trace: Preemption[]; seed: number; runId: string; budgetUsd?: number },
): Promise<RunOutcome> {
  const { a, policy } = opts;
  const t0Ms = await env.currentTimeMs();
  const image = opts.image ?? 'stock';
  const uploads = opts.uploads ?? a.policies[policy].uploads;
  const world = new SimWorld(env, a, policy, t0Ms, opts.trace, opts.seed, image, uploads);
  const taskQueue = `gpu-share-${opts.runId}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: world.activities(),
    // Simulated minutes pass in real milliseconds: each heartbeat must reach the server at once.
    maxHeartbeatThrottleInterval: '1ms',
    defaultHeartbeatThrottleInterval: '1ms',
  });
  const ran = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: opts.runId, args: [benchConfig(a, opts.budgetUsd)] });
    let result = null;
    let failure: string | null = null;
    let timer: NodeJS.Timeout | undefined;
    const stall = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SimulationStalled(opts.runId, STALL_MS)), STALL_MS);
    });
    try {
      result = await Promise.race([handle.result(), stall]);
    } catch (err) {
      if (err instanceof SimulationStalled) {
        await handle.terminate('simulation stalled').catch(() => undefined);
        return { result: null, failure: 'SimulationStalled', progress: null };
      }
      let e: unknown = (err as { cause?: unknown }).cause;
      while (e instanceof ActivityFailure && e.cause) e = e.cause;
      failure = e instanceof ApplicationFailure ? (e.type ?? 'Error') : String(err);
    } finally {
      clearTimeout(timer);
    }
    const progress = await handle.query(progressQuery).catch(() => null);
    return { result, failure, progress };
  });
  const endMs = world.lastMs;

  // A run that stopped leaves its last host to the workflow's release; bill any that is still open up to now.
  const unreleased = [...world.hosts.values()].filter((h) => h.billedEndMs === null).map((h) => h.hostId);
  const l = world.ledger;
  const finished = ran.result !== null;
  const productiveS = l.productiveS + (finished ? 0 : world.keptUnfinishedSeconds());
  const redoneS = l.redoneS + world.redoneStepSeconds();
  const simRedone = Object.values(world.stepsRedone()).reduce((x, y) => x + y, 0);
  const wfRedone = ran.result?.stepsRedone ?? ran.progress?.stepsRedone ?? null;
  const wfLosses = ran.progress?.losses ?? [];
  const checks: Check[] = [];
  checks.push({
    name: 'every activity ran once, on the simulated clock',
    ok: world.retried.length === 0 && ran.failure !== 'SimulationStalled',
    detail: ran.failure === 'SimulationStalled' ? 'the run stalled' : world.retried.length ? `ran again: ${world.retried.join(', ')}` : 'none ran again',
  });
  checks.push({ name: 'every host released', ok: unreleased.length === 0, detail: unreleased.length ? `never released: ${unreleased.join(', ')}` : 'all released' });

  const late = world.strikes.map((s) => s.observedMs - s.plannedMs);
  checks.push({
    name: 'preemptions struck when planned',
    ok: late.every((d) => d >= 0 && d < 1000),
    detail: `${world.strikes.length} strikes, latest ${Math.max(0, ...late)} ms after its planned time`,
  });
  const lostAtDiff = world.losses.map((loss, i) => (wfLosses[i] ? Math.abs(Date.parse(wfLosses[i].lostAt) - loss.detectedMs) : Infinity));
  checks.push({
    name: 'workflow recorded each loss when the host provider reported it',
    ok: wfLosses.length === world.losses.length && lostAtDiff.every((d) => d <= 1000),
    detail: `workflow ${wfLosses.length} losses, provider ${world.losses.length}; largest clock gap ${Math.max(0, ...lostAtDiff)} ms`,
  });
  const perLoss = world.losses.map((loss, i) => (wfLosses[i] ? wfLosses[i].stepsRedone === loss.lastStep - (loss.committed ?? 0) : false));
  checks.push({
    name: 'steps redone = distance to the last committed checkpoint',
    ok: wfRedone === simRedone && perLoss.every(Boolean),
    detail: `workflow ${wfRedone}, steps the simulated hosts ran twice ${simRedone}`,
  });
  const otherS = l.billedS - l.bootS - productiveS - l.uploadS - redoneS;
  checks.push({ name: 'billed seconds split adds up', ok: otherS >= -1, detail: `other (notice tail, detection, partial steps, delete) ${otherS.toFixed(1)} s` });
  checks.push({
    name: 'run finished, or stopped by the workflow policy',
    ok: finished || ran.failure === 'TooManyHostLosses' || ran.failure === 'BudgetExceeded',
    detail: finished ? `outcome ${ran.result!.outcome}` : `stopped: ${ran.failure}`,
  });

  return {
    policy,
    image,
    uploads,
    seed: opts.seed,
    finished,
    failure: ran.failure,
    wallS: (endMs - t0Ms) / 1000,
    billedS: l.billedS,
    bootS: l.bootS,
    productiveS,
    uploadS: l.uploadS,
    redoneS,
    otherS,
    usd: (l.billedS / 3600) * a.usdPerHour,
    stepsRedone: simRedone,
    hostLosses: world.losses.length,
    bootLosses: world.bootLosses,
    strikes: world.strikes.length,
    missedPreemptions: world.missed(endMs),
    workflowLedgerUsd: ran.result?.cost.spentUsd ?? ran.progress?.cost?.spentUsd ?? null,
    checks,
    world,
  };
}
