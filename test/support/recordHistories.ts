/**
 * Records the workflow histories that test/workflow/replay.test.ts replays:
 * fineTunePipeline driven through its main paths by scripted activities.
 * Re-record only for a deliberate, versioned change of the workflow, and only
 * the scenarios named (an older history stays to prove its runs still replay):
 *   node dist/test/support/recordHistories.js approved-by-update
 * approved-at-gate.json was recorded before the gate took updates: its approve
 * signal, sent right after the start, was held and approved the moment the
 * gate opened. It stays as the proof that such runs still replay (patch gate-updates).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { fineTunePipeline } from '../../workflows';
import { Client } from '@temporalio/client';
import { approveUpdate, progressQuery } from '../../workflows/messages';
import { installRuntime } from '../../src/client/runtime';
import { projectRoot } from '../../src/paths';
import { testConfig } from './config';
import { loseHost, scriptedActivities, succeed, type JobScript } from './scriptedActivities';
import { timeSkippingEnv, workflowBundle } from './temporal';
import type { PipelineConfigInput } from '../../src/config/schema';

export const HISTORIES_DIR = path.join(projectRoot, 'test/fixtures/histories');

interface Scenario {
  name: string;
  config: PipelineConfigInput;
  scripts: Partial<Record<string, JobScript[]>>;
  approve?: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'succeeded', config: testConfig(), scripts: {} },
  { name: 'host-lost-in-sft', config: testConfig(), scripts: { sft: [loseHost(37, 25), succeed(100, 25)] } },
  {
    name: 'approved-by-update',
    config: testConfig({ eval: { require_approval: true, approval_timeout_s: 3600 } }),
    scripts: {},
    approve: true,
  },
];

/** Approves as recorder@histories once the gate waits (an update sent earlier is refused). */
async function approveAtGate(env: Awaited<ReturnType<typeof timeSkippingEnv>>, workflowId: string): Promise<void> {
  const handle = new Client({ connection: env.connection, identity: 'recorder@histories' }).workflow.getHandle(workflowId);
  while ((await handle.query(progressQuery)).gate?.state !== 'awaiting_approval') await new Promise((r) => setTimeout(r, 50));
  await handle.executeUpdate(approveUpdate, { args: [{ note: 'recorded history' }] });
}

async function main(names: string[]): Promise<void> {
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (names.length === 0 || unknown.length > 0) {
    throw new Error(`name the scenarios to record (${SCENARIOS.map((s) => s.name).join(', ')})${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}`);
  }
  installRuntime();
  const env = await timeSkippingEnv();
  const bundle = await workflowBundle();
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  try {
    for (const s of SCENARIOS.filter((x) => names.includes(x.name))) {
      const taskQueue = `record-${s.name}`;
      const { activities } = scriptedActivities(s.scripts);
      const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities });
      const history = await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(fineTunePipeline, { taskQueue, workflowId: s.name, args: [s.config] });
        if (s.approve) await approveAtGate(env, s.name);
        await handle.result();
        return handle.fetchHistory();
      });
      // proto3 JSON as `temporal workflow show --output json` writes it: enum names, 64-bit ints and bytes as strings.
      const json = temporal.api.history.v1.History.toObject(history as temporal.api.history.v1.History, {
        enums: String,
        longs: String,
        bytes: String,
      });
      fs.writeFileSync(path.join(HISTORIES_DIR, `${s.name}.json`), `${JSON.stringify(json, null, 1)}\n`);
      process.stdout.write(`recorded ${s.name}: ${history.events?.length} events\n`);
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
