/**
 * The `finetune` command as a user runs it: the built bin/finetune.js in a
 * child process against a real dev server, asserting on output and exit
 * codes. The worker runs the real workflow with scripted activities (runs
 * whose id starts with `block-` hold in sft until cancelled), so these tests
 * cost seconds, not a training run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { NativeConnection } from '@temporalio/worker';
import type { RunMetrics } from '../../src/eval/metrics';
import { fileUriToPath } from '../../src/store/uri';
import { blockUntilCancelled, scriptedActivities, succeed } from '../support/scriptedActivities';
import { finetune, freePortEnv, jsonOf, startFinetune, waitFor } from '../support/cli';
import { startHarness, tinyConfig, type Harness } from '../support/integration';
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../../workers/workflowSource';
import { defaultKeyFile } from '../../src/client/codec/keys';
import { dataConverterFor } from '../../src/client/temporalClient';

const taskQueue = 'cli-scripted';
let h: Harness;
let env: NodeJS.ProcessEnv;
let configFile: string;
let storeUri: string;
let worker: Worker;
let workerDone: Promise<void>;
let nativeConnection: NativeConnection;

before(async () => {
  h = await startHarness('cli');
  const config = tinyConfig(h.dir);
  storeUri = config.store;
  configFile = path.join(h.dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  // The CLI's state folder is h.dir; its codec keys are this process's, which the worker below holds.
  env = { TEMPORAL_ADDRESS: h.server.address, TEMPORAL_NAMESPACE: 'default', FINETUNE_HOME: h.dir, FINETUNE_UI_URL: 'http://ui.test', FINETUNE_CODEC_KEYS: defaultKeyFile() };

  const { activities } = scriptedActivities({});
  activities.runJob = (input) => (input.job.stage === 'sft' && input.job.run_id.startsWith('block-') ? blockUntilCancelled(input) : succeed()(input));
  nativeConnection = await NativeConnection.connect({ address: h.server.address });
  worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    dataConverter: await dataConverterFor(h.settings),
    workflowsPath: WORKFLOWS_PATH,
    interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
    activities,
  });
  workerDone = worker.run();
});

after(async () => {
  worker?.shutdown();
  await workerDone?.catch(() => undefined);
  await nativeConnection?.close();
  await h?.close();
});

describe('finetune validate', () => {
  it('accepts the example config and exits 0', async () => {
    const r = await finetune(['validate', 'examples/tiny/config.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /examples\/tiny\/config\.yaml is valid: tiny-tool-calls/);
    const j = jsonOf<{ valid: boolean; config: { sft: { max_steps: number } } }>(await finetune(['validate', 'examples/tiny/config.yaml', '--json']));
    assert.equal(j.valid, true);
    assert.equal(j.config.sft.max_steps, 250);
  });

  it('names each bad field and its fix, and exits 2', async () => {
    const bad = path.join(h.dir, 'bad.yaml');
    fs.writeFileSync(bad, 'name: Bad_Name\nstore: x\nmodel: {base: examples/tiny/model}\ndata: {sft: a.jsonl, preferences: b.jsonl}\nsft: {max_stepz: 3}\n');
    const r = await finetune(['validate', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /name: use 1-40 lowercase letters/);
    assert.match(r.stderr, /data\.eval: is required: add it/);
    assert.match(r.stderr, /sft: unknown field\(s\) max_stepz: remove them or check the spelling/);
    const j = jsonOf<{ exitCode: number; issues: { field: string }[] }>(await finetune(['validate', bad, '--json']));
    assert.equal(j.exitCode, 2);
    assert.deepEqual(j.issues.map((i) => i.field).sort(), ['data.eval', 'name', 'sft']);
  });

  it('says which local file is missing, and exits 2', async () => {
    const missing = path.join(h.dir, 'missing-data.json');
    fs.writeFileSync(
      missing,
      JSON.stringify({ ...JSON.parse(fs.readFileSync(configFile, 'utf8')), data: { sft: '/nowhere/sft.jsonl', preferences: '/nowhere/p.jsonl', eval: '/nowhere/e.jsonl' } }),
    );
    const r = await finetune(['validate', missing]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /data\.sft: no file exists at \/nowhere\/sft\.jsonl/);
    assert.equal((await finetune(['validate', path.join(h.dir, 'no-such.yaml')])).code, 2);
  });

  it('treats a usage mistake as bad input (exit 2)', async () => {
    assert.equal((await finetune(['run'])).code, 2);
    assert.equal((await finetune(['no-such-command'])).code, 2);
  });
});

describe('finetune run, status, list, approve, reject, report, cancel, watch', () => {
  const runId = 'block-cli-1';

  it('starts a run and prints its id as JSON', async () => {
    const r = await finetune(['run', configFile, '--json', '--task-queue', taskQueue, '--run-id', runId], env);
    assert.equal(r.code, 0, r.stderr);
    const j = jsonOf<{ runId: string; status: string; uiUrl: string }>(r);
    assert.equal(j.runId, runId);
    assert.equal(j.status, 'started');
    assert.equal(j.uiUrl, `http://ui.test/namespaces/default/workflows/${runId}`);
  });

  it('shows the run in status and list, with its stage, base model and gate search attributes', async () => {
    const status = await waitFor('the run to reach sft', 60_000, async () => {
      const s = jsonOf<{ status: string; stage: string; baseModel: string; gate: string; progress: { stages: { preflight: { state: string } } } }>(
        await finetune(['status', runId, '--json'], env),
      );
      return s.stage === 'sft' ? s : null;
    });
    assert.equal(status.status, 'RUNNING');
    // A search attribute is not sealed by the codec: it holds the model folder's name, never its path.
    assert.equal(status.baseModel, 'model');
    assert.equal(status.gate, 'pending');
    assert.equal(status.progress.stages.preflight.state, 'succeeded');
    const human = await finetune(['status', runId], env);
    assert.equal(human.code, 0);
    assert.match(human.stdout, new RegExp(`run ${runId}: RUNNING, stage sft`));
    assert.match(human.stdout, /preflight +\[#+\] succeeded/);
    assert.match(human.stdout, /cost: \$0\.00 for \d+ billed host seconds/);

    const list = jsonOf<{ runId: string; status: string }[]>(await finetune(['list', '--json'], env));
    assert.ok(list.some((r) => r.runId === runId && r.status === 'RUNNING'));
    const newest = jsonOf<{ runId: string }>(await finetune(['status', '--json'], env));
    assert.equal(newest.runId, runId);
  });

  it('refuses to start a run id that is still going (exit 2), saying how to follow it', async () => {
    const again = await finetune(['run', configFile, '--task-queue', taskQueue, '--run-id', runId], env);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, new RegExp(`run ${runId} is still going: follow it with \`finetune watch ${runId}\``));
  });

  it('approve and reject are refused, with the reason, on a run without an approval gate (exit 2)', async () => {
    const a = await finetune(['approve', runId, '--note', 'metrics look right'], env);
    assert.equal(a.code, 2, a.stderr);
    assert.match(a.stderr, new RegExp(`approve refused: run ${runId} has no approval gate \\(eval\\.require_approval is off\\)`));
    const r = await finetune(['reject', runId, '--json'], env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /reject refused: run block-cli-1 has no approval gate/);
  });

  it('approve at the gate records this user@host and the note; a second decision is refused', async () => {
    const gated = path.join(h.dir, 'gated.json');
    fs.writeFileSync(gated, JSON.stringify({ ...JSON.parse(fs.readFileSync(configFile, 'utf8')), eval: { require_approval: true } }));
    assert.equal((await finetune(['run', gated, '--task-queue', taskQueue, '--run-id', 'cli-gate-1'], env)).code, 0);
    await waitFor(
      'cli-gate-1 to wait at its gate',
      60_000,
      async () => jsonOf<{ gate: string }>(await finetune(['status', 'cli-gate-1', '--json'], env)).gate === 'awaiting_approval',
    );
    const me = `${os.userInfo().username}@${os.hostname()}`;
    const a = await finetune(['approve', 'cli-gate-1', '--note', 'metrics look right', '--json'], env);
    assert.equal(a.code, 0, a.stderr);
    const recorded = jsonOf<{ decision: string; candidate: string; by: string; note: string; decidedAt: string }>(a);
    assert.deepEqual([recorded.decision, recorded.candidate, recorded.by, recorded.note], ['approve', 'dpo', me, 'metrics look right']);
    // Refused by the gate (already approved), or by the CLI once the run has promoted and ended.
    const again = await finetune(['reject', 'cli-gate-1'], env);
    assert.equal(again.code, 2, again.stderr);
    assert.ok(
      again.stderr.includes(`reject refused: run cli-gate-1 was already approved by ${me} at ${recorded.decidedAt} ("metrics look right")`) ||
        again.stderr.includes('run cli-gate-1 is COMPLETED: only a running run takes a decision'),
      again.stderr,
    );
    const done = await waitFor('cli-gate-1 to finish', 60_000, async () => {
      const s = jsonOf<{ status: string; result?: { gate: { by: string; via: string } } }>(await finetune(['status', 'cli-gate-1', '--json'], env));
      return s.status === 'COMPLETED' ? s : null;
    });
    assert.deepEqual([done.result!.gate.by, done.result!.gate.via], [me, 'update']);
  });

  it('reports "no report yet" with exit 3, then the metrics once the store has them', async () => {
    const early = await finetune(['report', runId], env);
    assert.equal(early.code, 3);
    assert.match(early.stderr, /has no report yet \(RUNNING, stage sft\)/);
    const metrics: RunMetrics = {
      primaryMetric: 'tool_call_match',
      n: 48,
      models: { base: { tool_call_match: 0 }, sft: { tool_call_match: 0.81 }, dpo: { tool_call_match: 0.83 } },
    };
    const file = path.join(fileUriToPath(storeUri), 'runs', runId, 'report', 'metrics.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(metrics));
    const r = await finetune(['report', runId], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tool_call_match/);
    assert.match(r.stdout, /81\.0%|0\.81/);
    assert.ok(r.stdout.includes(`${storeUri}/runs/${runId}/report/metrics.json`));
    const j = jsonOf<{ metrics: RunMetrics; metricsUri: string }>(await finetune(['report', runId, '--json'], env));
    assert.deepEqual(j.metrics, metrics);
  });

  it('cancels the run; watch then exits 1 and says it was cancelled', async () => {
    const c = jsonOf<{ cancelRequested: boolean }>(await finetune(['cancel', runId, '--json'], env));
    assert.equal(c.cancelRequested, true);
    const w = await finetune(['watch', runId, '--json'], env);
    assert.equal(w.code, 1);
    assert.equal(jsonOf<{ status: string }>(w).status, 'cancelled');
    assert.match(w.stderr, new RegExp(`run ${runId} was cancelled`));
    const again = jsonOf<{ cancelRequested: boolean; status: string }>(await finetune(['cancel', runId, '--json'], env));
    assert.deepEqual(again, { runId, cancelRequested: false, status: 'CANCELLED' });
    assert.equal((await finetune(['approve', runId], env)).code, 2);
  });

  it('run --wait follows a run to its end: metrics table, promoted model, exit 0', async () => {
    const r = await finetune(['run', configFile, '--wait', '--task-queue', taskQueue, '--run-id', 'cli-wait-1'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /run cli-wait-1 started: http:\/\/ui\.test/);
    assert.match(r.stdout, /tool_call_match/);
    assert.match(r.stdout, /promoted: dpo -> /);
    assert.match(r.stdout, /report: .*\/runs\/cli-wait-1\/report\/metrics\.json/);
    assert.match(r.stderr, /promote +\[#+\] succeeded/);
    const status = jsonOf<{ status: string; stage: string; result: { promoted: { model: string } } }>(await finetune(['status', 'cli-wait-1', '--json'], env));
    assert.equal(status.status, 'COMPLETED');
    assert.equal(status.stage, 'promote');
    assert.equal(status.result.promoted.model, 'dpo');
  });

  it('run --wait exits 1 when the run is cancelled under it', async () => {
    const waiting = startFinetune(['run', configFile, '--wait', '--json', '--task-queue', taskQueue, '--run-id', 'block-cli-2'], env);
    await waitFor('block-cli-2 to reach sft', 60_000, async () => jsonOf<{ stage: string }>(await finetune(['status', 'block-cli-2', '--json'], env)).stage === 'sft');
    assert.equal((await finetune(['cancel', 'block-cli-2'], env)).code, 0);
    assert.equal(await waiting.exited, 1);
    assert.equal(JSON.parse(waiting.output().stdout.trim().split('\n').pop()!).status, 'cancelled');
  });

  it('exits 3 for a run that does not exist', async () => {
    for (const cmd of [
      ['status', 'no-such-run'],
      ['watch', 'no-such-run'],
      ['cancel', 'no-such-run'],
      ['approve', 'no-such-run'],
      ['report', 'no-such-run'],
    ]) {
      const r = await finetune(cmd, env);
      assert.equal(r.code, 3, `${cmd.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /no run no-such-run/);
    }
  });

  it('eval rescore says what is missing (exit 3); reap without a project is bad input (exit 2)', async () => {
    const r = await finetune(['eval', 'rescore', 'block-cli-1', '--store', storeUri], env);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cannot score run block-cli-1: .* is (missing|not in the store)/);
    const reap = await finetune(['reap'], { ...env, GOOGLE_CLOUD_PROJECT: '' });
    assert.equal(reap.code, 2);
    assert.match(reap.stderr, /pass --project or set GOOGLE_CLOUD_PROJECT/);
  });

  it('exits 4 with what to do when Temporal cannot be reached', async () => {
    const r = await finetune(['list'], { ...env, ...(await freePortEnv()) });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /cannot reach Temporal at 127\.0\.0\.1:\d+.*finetune dev/);
  });
});

describe('finetune schedule', () => {
  const id = 'block-nightly';

  it('starts a run on trigger and skips an overlapping one (overlap SKIP by default)', async () => {
    const created = await finetune(['schedule', 'create', id, configFile, '--every', '1d', '--task-queue', taskQueue, '--json'], env);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(jsonOf<{ overlap: string }>(created).overlap, 'SKIP');

    const first = jsonOf<{ outcome: string; runId: string }>(await finetune(['schedule', 'trigger', id, '--json'], env));
    assert.equal(first.outcome, 'started');
    assert.ok(first.runId.startsWith(`${id}-`));
    await waitFor('the scheduled run to reach sft', 60_000, async () => jsonOf<{ stage: string }>(await finetune(['status', first.runId, '--json'], env)).stage === 'sft');

    const second = await finetune(['schedule', 'trigger', id], env);
    assert.equal(second.code, 0);
    assert.match(second.stdout, new RegExp(`schedule ${id} skipped the trigger: ${first.runId} is still going \\(overlap SKIP\\)`));
    const described = jsonOf<{ runsStarted: number; runsSkippedOverlap: number; running: string[] }>(await finetune(['schedule', 'describe', id, '--json'], env));
    assert.equal(described.runsStarted, 1);
    assert.equal(described.runsSkippedOverlap, 1);
    assert.deepEqual(described.running, [first.runId]);

    const runs = jsonOf<{ runId: string }[]>(await finetune(['list', '--json', '--query', `WorkflowId STARTS_WITH '${id}'`], env));
    assert.deepEqual(
      runs.map((r) => r.runId),
      [first.runId],
    );
    assert.equal((await finetune(['cancel', first.runId], env)).code, 0);
  });

  it('lists, pauses, unpauses and deletes; an unknown schedule exits 3', async () => {
    const listed = jsonOf<{ scheduleId: string; paused: boolean }[]>(await finetune(['schedule', 'list', '--json'], env));
    assert.ok(listed.some((s) => s.scheduleId === id));
    assert.equal((await finetune(['schedule', 'pause', id, '--note', 'holiday'], env)).code, 0);
    const paused = jsonOf<{ paused: boolean; note: string }>(await finetune(['schedule', 'describe', id, '--json'], env));
    assert.deepEqual([paused.paused, paused.note], [true, 'holiday']);
    assert.equal((await finetune(['schedule', 'unpause', id], env)).code, 0);
    assert.equal(jsonOf<{ paused: boolean }>(await finetune(['schedule', 'describe', id, '--json'], env)).paused, false);
    assert.equal((await finetune(['schedule', 'delete', id], env)).code, 0);
    const gone = await finetune(['schedule', 'describe', id], env);
    assert.equal(gone.code, 3);
    assert.match(gone.stderr, /no schedule block-nightly/);
    assert.equal((await finetune(['schedule', 'create', 'x', configFile, '--overlap', 'sometimes'], env)).code, 2);
  });
});
