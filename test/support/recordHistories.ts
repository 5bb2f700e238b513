/**
 * Records the workflow histories that test/workflow/replay.test.ts replays:
 * fineTunePipeline driven through every path (success, host lost, the gate's
 * wait for a person, budget stop, DPO collapse, bad config) by scripted
 * activities, into test/fixtures/histories/<RECORDED_UNDER>/<scenario>.json:
 *   npm run build && node dist/test/support/recordHistories.js budget-stopped dpo-collapsed-ships-sft
 *   node dist/test/support/recordHistories.js --all
 *
 * The rule for changing the workflow: a change that alters the commands a run
 * makes (an activity or timer more, fewer or in another order, another
 * decision from the same events) goes behind patched('<name>') with the old
 * code path kept, and no history is ever deleted or re-recorded in place. Then
 * set RECORDED_UNDER to the new patch's name and record every scenario into its
 * own folder: the older folders stay as the proof that runs started under
 * older code still replay. The script refuses to overwrite a recording
 * (--replace does, for a scenario whose recording was wrong).
 *
 * What is there: the top-level files were recorded before 'config-resolved'
 * (the config parsed and priced in workflow code). approved-at-gate.json was
 * recorded before the gate took updates: its approve signal, sent right after
 * the start, was held and approved the moment the gate opened (patch
 * gate-updates).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { ApplicationFailure } from '@temporalio/common';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { fineTunePipeline } from '../../workflows';
import { approveUpdate, progressQuery, rejectUpdate } from '../../workflows/messages';
import type { PipelineResult } from '../../workflows/pipeline';
import { installRuntime } from '../../src/client/runtime';
import { projectRoot } from '../../src/paths';
import type { RunMetrics } from '../../src/eval/metrics';
import { testConfig } from './config';
import { failAs, loseHost, scriptedActivities, succeed, type JobScript } from './scriptedActivities';
import { timeSkippingEnv, workflowBundle } from './temporal';
import type { PipelineConfigInput } from '../../src/config/schema';

export const HISTORIES_DIR = path.join(projectRoot, 'test/fixtures/histories');
/** The newest patch that altered the workflow's commands: new recordings go into a folder of its name. */
export const RECORDED_UNDER = 'config-resolved';

export interface Scenario {
  name: string;
  config: PipelineConfigInput;
  scripts: Partial<Record<string, JobScript[]>>;
  metrics?: RunMetrics;
  hosts?: { bootS?: number };
  /** What a person does once the gate waits (eval.require_approval). */
  decide?: 'approve' | 'reject';
  /** How the run must end, checked before the history is written: its outcome or the failure's type. */
  ends: PipelineResult['outcome'] | 'BudgetExceeded' | 'ConfigInvalid';
}

const collapse = () => failAs('DpoCollapsed', 'dpo failed on h1 (dpo_collapsed): DPO collapsed at step 6: logps/chosen fell from -3.10 to -80.20');
const awaitingApproval = testConfig({ eval: { require_approval: true, approval_timeout_s: 3600 } });

export const SCENARIOS: Scenario[] = [
  { name: 'succeeded', config: testConfig(), scripts: {}, ends: 'promoted' },
  { name: 'host-lost-in-sft', config: testConfig(), scripts: { sft: [loseHost(37, 25), succeed(100, 25)] }, ends: 'promoted' },
  { name: 'approved-by-update', config: awaitingApproval, scripts: {}, decide: 'approve', ends: 'promoted' },
  { name: 'rejected-by-update', config: awaitingApproval, scripts: {}, decide: 'reject', ends: 'not_promoted' },
  // Nobody decides: the gate's timer fires after approval_timeout_s (skipped time).
  { name: 'approval-timed-out', config: awaitingApproval, scripts: {}, ends: 'not_promoted' },
  {
    // As test/workflow/cost.test.ts: $1 a second, 100 s boots; after the third loss the next boot could cross $400.
    name: 'budget-stopped',
    config: testConfig({ monitor: { max_host_losses: 5 }, cost: { budget_usd: 400, local_usd_per_hour: 3600, check_interval_s: 10 } }),
    scripts: { sft: [loseHost(20, 10), loseHost(30, 20), loseHost(40, 30)] },
    hosts: { bootS: 100 },
    ends: 'BudgetExceeded',
  },
  {
    name: 'dpo-collapsed-then-succeeded',
    config: testConfig({ dpo: { beta: 0.1, learning_rate: 4e-4 } }),
    scripts: { dpo: [collapse(), succeed(40)] },
    ends: 'promoted',
  },
  {
    name: 'dpo-collapsed-ships-sft',
    config: testConfig({ dpo: { beta: 0.1, learning_rate: 4e-4 } }),
    scripts: { dpo: [collapse(), collapse(), collapse()] },
    metrics: { primaryMetric: 'tool_call_match', n: 10, models: { base: { tool_call_match: 0 }, sft: { tool_call_match: 0.8 } } },
    ends: 'promoted',
  },
  {
    name: 'config-invalid',
    config: { ...testConfig(), sft: { save_steps: 500, max_steps: 100 } } as PipelineConfigInput,
    scripts: {},
    ends: 'ConfigInvalid',
  },
];

/** Decides as recorder@histories once the gate waits (an update sent earlier is refused). */
async function decideAtGate(env: Awaited<ReturnType<typeof timeSkippingEnv>>, workflowId: string, decision: 'approve' | 'reject'): Promise<void> {
  const handle = new Client({ connection: env.connection, identity: 'recorder@histories' }).workflow.getHandle(workflowId);
  while ((await handle.query(progressQuery)).gate?.state !== 'awaiting_approval') await new Promise((r) => setTimeout(r, 50));
  await handle.executeUpdate(decision === 'approve' ? approveUpdate : rejectUpdate, { args: [{ note: 'recorded history' }] });
}

/** How the run ended: its outcome, or the type of the failure it ended with. */
function ending(result: PipelineResult | null, error: unknown): string {
  if (result) return result.outcome;
  if (error instanceof WorkflowFailedError && error.cause instanceof ApplicationFailure) return error.cause.type ?? 'Error';
  return `an error: ${String(error)}`;
}

async function main(args: string[]): Promise<void> {
  const replace = args.includes('--replace');
  const names = args.includes('--all') ? SCENARIOS.map((s) => s.name) : args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (names.length === 0 || unknown.length > 0) {
    throw new Error(`name the scenarios to record (${SCENARIOS.map((s) => s.name).join(', ')}) or --all${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}`);
  }
  const dir = path.join(HISTORIES_DIR, RECORDED_UNDER);
  const taken = names.filter((n) => fs.existsSync(path.join(dir, `${n}.json`)));
  if (taken.length > 0 && !replace) {
    throw new Error(
      `${taken.join(', ')} already recorded in ${dir}: histories stay as tests. A change that alters the workflow's commands goes behind a new patched() ` +
        `and RECORDED_UNDER names it; --replace overwrites a recording that was wrong`,
    );
  }
  installRuntime();
  const env = await timeSkippingEnv();
  const bundle = await workflowBundle();
  fs.mkdirSync(dir, { recursive: true });
  try {
    for (const s of SCENARIOS.filter((x) => names.includes(x.name))) {
      const taskQueue = `record-${s.name}`;
      const { activities } = scriptedActivities(s.scripts, s.metrics, s.hosts);
      const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities });
      const { history, ended } = await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: s.name, args: [s.config] });
        if (s.decide) await decideAtGate(env, s.name, s.decide);
        const [result, error] = await handle.result().then(
          (r) => [r, null] as const,
          (e: unknown) => [null, e] as const,
        );
        return { history: await handle.fetchHistory(), ended: ending(result, error) };
      });
      assert.equal(ended, s.ends, `scenario ${s.name} ended ${ended}, not ${s.ends}: not written`);
      // proto3 JSON as `temporal workflow show --output json` writes it: enum names, 64-bit ints and bytes as strings.
      const json = temporal.api.history.v1.History.toObject(history as temporal.api.history.v1.History, {
        enums: String,
        longs: String,
        bytes: String,
      });
      fs.writeFileSync(path.join(dir, `${s.name}.json`), `${JSON.stringify(json, null, 1)}\n`);
      process.stdout.write(`recorded ${RECORDED_UNDER}/${s.name}: ${history.events?.length} events, ended ${ended}\n`);
    }
  } finally {
    await env.teardown();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
