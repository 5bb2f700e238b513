/**
 * npm run bench:recovery: what each kind of fault costs, measured on real
 * processes (dev server, worker process, local hosts, the trainer on the
 * tiny model). Three pipeline runs carry the faults one after another:
 *
 *   kills     SIGKILL of the host at four SFT steps (seeded offsets from the
 *             last checkpoint, one per quarter of the interval), a
 *             preemption notice (SIGTERM) in DPO
 *   notices   SIGTERM twice in SFT, a host killed mid-upload, a worker kill in DPO
 *   baseline  a host killed and its checkpoints deleted (what a job without
 *             checkpoints suffers: a restart from step 0), twice; a host killed
 *             mid-upload; a worker kill in SFT
 *
 * Each SIGKILL and SIGTERM strikes at its planned step: the trainer holds at
 * that step (FINETUNE_TEST_HOLD_AT, test/support/faults.ts holdEnv) until the
 * fault comes, and the bench checks every strike landed where planned. A trial
 * that struck elsewhere is left out of the figures and fails the bench: a kill
 * that lands just after a checkpoint would report 0 steps redone and flatter us.
 *
 * Writes bench/results/recovery.json and prints a table. Targets: SIGTERM
 * redoes 0 steps; SIGKILL redoes at most save_steps/2 + 1 on average and
 * save_steps at most; every trial's run completes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { startRun } from '../src/client/runs';
import type { PipelineConfig } from '../src/config/schema';
import { projectRoot } from '../src/paths';
import { openStore } from '../src/store/open';
import { fastConfig, startHarness, type Harness } from '../test/support/integration';
import { HELD_FAULTS, holdEnv, injectFaults, startsPerJob, type FaultPlan, type Trial } from '../test/support/faults';

const SAVE_STEPS = 10;
const SFT_STEPS = 60;
const COMMIT_DELAY_S = '2';

/**
 * Where each SIGKILL strikes after the last checkpoint: one seeded uniform draw
 * in each of the strata [1,2], [3,4], [5,6], [7,9] of 1..save_steps-1, so four
 * kills sample the whole interval (a preemption comes at any time) and a rerun
 * strikes the same steps.
 */
function strikeOffsets(seed: number): number[] {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return [
    [1, 2],
    [3, 4],
    [5, 6],
    [7, SAVE_STEPS - 1],
  ].map(([lo, hi]) => lo + Math.floor(uniform() * (hi - lo + 1)));
}

function benchConfig(dir: string): PipelineConfig {
  return fastConfig(dir, {
    sft: { max_steps: SFT_STEPS, batch_size: 8, save_steps: SAVE_STEPS },
    dpo: { max_steps: 8, batch_size: 4, save_steps: 4 },
    generate: { max_new_tokens: 8 },
    monitor: { poll_interval_s: 1, progress_interval_s: 2, agent_stale_s: 10 },
  });
}

interface Scenario {
  name: string;
  commitDelay: boolean;
  plans: FaultPlan[];
}

const [k1, k2, k3, k4] = strikeOffsets(7);
const [b1, , b2] = strikeOffsets(11);
const SCENARIOS: Scenario[] = [
  {
    name: 'kills',
    commitDelay: false,
    plans: [
      { kind: 'sigkill', stage: 'sft', atStep: k1 },
      { kind: 'sigkill', stage: 'sft', atStep: 10 + k2 },
      { kind: 'sigkill', stage: 'sft', atStep: 30 + k3 },
      { kind: 'sigkill', stage: 'sft', atStep: 40 + k4 },
      { kind: 'sigterm', stage: 'dpo', atStep: 2 },
    ],
  },
  {
    name: 'notices',
    commitDelay: true,
    plans: [
      { kind: 'sigterm', stage: 'sft', atStep: 7 },
      { kind: 'kill_during_upload', stage: 'sft', atStep: 20 },
      { kind: 'sigterm', stage: 'sft', atStep: 34 },
      { kind: 'worker_kill', stage: 'dpo', atStep: 1 },
    ],
  },
  {
    name: 'baseline',
    commitDelay: true,
    plans: [
      { kind: 'baseline_restart', stage: 'sft', atStep: 10 + b1 },
      { kind: 'kill_during_upload', stage: 'sft', atStep: 20 },
      { kind: 'baseline_restart', stage: 'sft', atStep: 30 + b2 },
      { kind: 'worker_kill', stage: 'sft', atStep: 45 },
    ],
  },
];

async function resultOf(handle: WorkflowHandle): Promise<boolean> {
  for (;;) {
    try {
      await handle.result();
      return true;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        console.error(`run ${handle.workflowId} failed: ${err.cause?.message ?? err.message}`);
        return false;
      }
      await sleep(1000);
    }
  }
}

async function runScenario(h: Harness, s: Scenario): Promise<{ trials: Trial[]; seconds: number; starts: Record<string, number> }> {
  const config = benchConfig(path.join(h.dir, s.name));
  const taskQueue = `bench-${s.name}`;
  if (s.commitDelay) process.env.FINETUNE_TEST_COMMIT_DELAY_S = COMMIT_DELAY_S;
  else delete process.env.FINETUNE_TEST_COMMIT_DELAY_S;
  // The worker's hosts inherit the environment: their trainers hold at this scenario's fault steps.
  delete process.env.FINETUNE_TEST_HOLD_AT;
  Object.assign(process.env, holdEnv(s.plans, path.join(h.dir, s.name, 'holds')));
  const worker = h.replaceableWorker(taskQueue);
  const runId = `bench-recovery-${s.name}`;
  const started = Date.now();
  const handle = await startRun(h.client, config, { taskQueue, runId });
  const store = openStore(config.store);
  const faults = injectFaults(
    {
      store,
      runId,
      handle,
      log: (line) => console.error(`[${s.name}] ${line}`),
      replaceWorker: () => worker.replace(),
    },
    s.plans,
  );
  const [trials, completed] = await Promise.all([faults, resultOf(handle)]);
  worker.current().kill('SIGTERM');
  for (const t of trials) t.completed = completed;
  return { trials, seconds: (Date.now() - started) / 1000, starts: await startsPerJob(store, runId) };
}

/** A held fault must have struck at its planned step; any other trial samples what it samples. */
const struckAsPlanned = (t: Trial): boolean => !HELD_FAULTS.includes(t.fault) || t.step_at_fault === t.planned_step;

export function summarise(trials: Trial[]) {
  const kinds = [...new Set(trials.map((t) => t.fault))];
  return Object.fromEntries(
    kinds.map((kind) => {
      const ts = trials.filter((t) => t.fault === kind);
      const redone = ts.map((t) => t.steps_redone ?? NaN);
      const resume = ts.map((t) => t.seconds_to_resume ?? NaN);
      const mean = (xs: number[]) => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 100) / 100;
      // Over the trials that measured the phase (a worker kill has none; detection can go unseen).
      const phase = (name: keyof NonNullable<Trial['phases']>) => {
        const xs = ts.flatMap((t) => (typeof t.phases?.[name] === 'number' ? [t.phases[name]] : []));
        return xs.length ? mean(xs) : null;
      };
      return [
        kind,
        {
          trials: ts.length,
          steps_redone_mean: mean(redone),
          steps_redone_max: Math.max(...redone),
          seconds_to_resume_mean: mean(resume),
          seconds_phases_mean: {
            detection: phase('detection_s'),
            new_host: phase('new_host_s'),
            model_load: phase('model_load_s'),
            first_step: phase('first_step_s'),
          },
          completed: ts.every((t) => t.completed),
        },
      ];
    }),
  );
}

function table(trials: Trial[]): string {
  const head = ['fault', 'stage', 'job', 'planned', 'step at fault', 'resumed from', 'steps redone', 's to resume', 'detect/host/load/step s', 'completed'];
  const secs = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : String(x));
  const rows = trials.map((t) => [
    t.fault,
    t.stage,
    t.job_id,
    String(t.planned_step),
    `${t.step_at_fault}${struckAsPlanned(t) ? '' : ' (MISSED)'}`,
    String(t.resumed_from_step ?? '-'),
    String(t.steps_redone ?? '-'),
    String(t.seconds_to_resume ?? '-'),
    t.phases ? [t.phases.detection_s, t.phases.new_host_s, t.phases.model_load_s, t.phases.first_step_s].map(secs).join('/') : '-',
    t.completed ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  // The seconds to resume move with what else runs on the machine: the JSON says how busy it was.
  const loadAtStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const h = await startHarness('bench-recovery');
  // An interrupted bench still stops its server, worker and hosts.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void h.close().finally(() => process.exit(130)));
  }
  const trials: Trial[] = [];
  const runs: { scenario: string; seconds: number; starts: Record<string, number> }[] = [];
  try {
    for (const s of SCENARIOS) {
      console.error(`bench:recovery: run "${s.name}": ${s.plans.map((p) => `${p.kind}@${p.stage}:${p.atStep}`).join(', ')}`);
      const r = await runScenario(h, s);
      trials.push(...r.trials);
      runs.push({ scenario: s.name, seconds: Math.round(r.seconds), starts: r.starts });
    }
  } finally {
    await h.close();
  }
  // Figures come only from trials that sampled what they claim; a miss fails the bench.
  const missed = trials.filter((t) => !struckAsPlanned(t));
  const sampled = trials.filter(struckAsPlanned);
  const summary = summarise(sampled);
  const sigterm = sampled.filter((t) => t.fault === 'sigterm');
  const sigkill = sampled.filter((t) => t.fault === 'sigkill').map((t) => t.steps_redone ?? Infinity);
  const targets = {
    every_fault_struck_as_planned: missed.length === 0,
    sigterm_zero_redone: sigterm.every((t) => t.steps_redone === 0),
    sigkill_mean_le: SAVE_STEPS / 2 + 1,
    sigkill_mean_ok: sigkill.reduce((a, b) => a + b, 0) / sigkill.length <= SAVE_STEPS / 2 + 1,
    sigkill_max_ok: Math.max(...sigkill) <= SAVE_STEPS,
    all_completed: trials.every((t) => t.completed),
    one_process_per_job: runs.every((r) => Object.values(r.starts).every((n) => n === 1)),
  };
  const out = {
    generated_at: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, ${os.cpus().length} cpus`,
    load_average_at_start: loadAtStart,
    save_steps: SAVE_STEPS,
    sft_max_steps: SFT_STEPS,
    commit_delay_s_in_upload_runs: Number(COMMIT_DELAY_S),
    trials,
    summary,
    targets,
    runs,
  };
  const file = path.join(projectRoot, 'bench/results/recovery.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(table(trials));
  console.log();
  for (const [kind, s] of Object.entries(summary)) {
    const ph = s.seconds_phases_mean;
    console.log(
      `${kind.padEnd(18)} n=${s.trials}  redone mean ${s.steps_redone_mean} max ${s.steps_redone_max}  resume mean ${s.seconds_to_resume_mean} s ` +
        `(detection ${ph.detection}, new host ${ph.new_host}, model load ${ph.model_load}, first step ${ph.first_step})`,
    );
  }
  console.log(`targets: ${JSON.stringify(targets)}`);
  console.log(`wrote ${path.relative(projectRoot, file)}`);
  for (const t of missed) console.log(`MISSED: ${t.fault} in ${t.stage} was planned at step ${t.planned_step} and struck at ${t.step_at_fault}: left out of the figures`);
  const ok =
    targets.every_fault_struck_as_planned &&
    targets.sigterm_zero_redone &&
    targets.sigkill_mean_ok &&
    targets.sigkill_max_ok &&
    targets.all_completed &&
    targets.one_process_per_job;
  process.exitCode = ok ? 0 : 1;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
