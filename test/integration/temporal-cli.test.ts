/**
 * The `temporal` CLI path, run exactly as the README shows it, against a
 * `finetune dev` process (dev server + worker) that this test starts on free
 * ports: `temporal workflow start --input-file examples/tiny/run.json`, then
 * `workflow query --name progress` and `workflow update execute --name approve`.
 * The same dev process proves the observability: JSON log lines with run id
 * and stage, and the Prometheus endpoint with the SDK's and our metrics.
 * Runs are cancelled once they have shown what they must, to save CPU.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { portOpen } from '../../src/client/devServer';
import { projectRoot, venvBin } from '../../src/paths';
import type { RunProgress } from '../../workflows/progress';
import { finetune, jsonOf, runProcess, startFinetune, waitFor } from '../support/cli';
import { historyText } from '../support/history';
import { freePort } from '../support/integration';
import { scratchDir } from '../support/scratch';

const suffix = Math.random().toString(36).slice(2, 7);
const plainRun = `tcli-plain-${suffix}`;
const trackedRun = `tcli-tracked-${suffix}`;
let dir: string;
let port: number;
let metricsAddress: string;
let dev: ReturnType<typeof startFinetune>;
let address: string;
let codecServer: ReturnType<typeof startFinetune>;
/** TEMPORAL_CODEC_ENDPOINT and TEMPORAL_CODEC_AUTH: the `temporal` CLI encodes and decodes through `finetune codec-server`. */
let codecEnv: Record<string, string>;

const temporal = (...args: string[]) => runProcess(venvBin('temporal'), [...args, '--address', address], codecEnv, 60_000);
const env = () => ({ TEMPORAL_ADDRESS: address, FINETUNE_HOME: dir });

async function progressOf(runId: string): Promise<RunProgress | null> {
  const r = await temporal('workflow', 'query', '--workflow-id', runId, '--name', 'progress', '-o', 'json');
  if (r.code !== 0) return null;
  return (JSON.parse(r.stdout) as { queryResult: RunProgress[] }).queryResult[0];
}

function logLines(): Record<string, unknown>[] {
  return dev
    .output()
    .stdout.split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

before(async () => {
  dir = scratchDir('finetune-temporal-cli-');
  port = await freePort();
  metricsAddress = `127.0.0.1:${await freePort()}`;
  address = `localhost:${port}`;
  dev = startFinetune(['dev', '--port', String(port), '--headless', '--db-file', path.join(dir, 'temporal.db')], {
    FINETUNE_HOME: dir,
    FINETUNE_METRICS_ADDRESS: metricsAddress,
  });
  const codecPort = await freePort();
  codecServer = startFinetune(['codec-server', '--port', String(codecPort)], { FINETUNE_HOME: dir });
  await waitFor('finetune dev to start its server and worker', 90_000, async () => dev.output().stdout.includes('worker polling task queue finetune'));
  await waitFor('finetune codec-server to start', 30_000, async () => codecServer.output().stdout.includes('codec server at'));
  codecEnv = {
    TEMPORAL_CODEC_ENDPOINT: `http://127.0.0.1:${codecPort}`,
    TEMPORAL_CODEC_AUTH: `Bearer ${fs.readFileSync(path.join(dir, 'codec-token'), 'utf8').trim()}`,
  };
});

after(async () => {
  for (const id of [plainRun, trackedRun]) await temporal('workflow', 'cancel', '--workflow-id', id).catch(() => undefined);
  if (dev && dev.child.exitCode === null) {
    dev.child.kill('SIGTERM');
    await dev.exited;
  }
  codecServer?.child.kill('SIGTERM');
  // examples/tiny/run.json stores into the project's .finetune/store, like the demo.
  for (const id of [plainRun, trackedRun]) fs.rmSync(path.join(projectRoot, '.finetune/store/runs', id), { recursive: true, force: true });
});

describe('the temporal CLI on finetune dev', () => {
  it('starts a run from examples/tiny/run.json, answers the progress query, and refuses an approve update (no approval gate)', async () => {
    const start = await temporal(
      'workflow',
      'start',
      '--type',
      'fineTunePipeline',
      '--task-queue',
      'finetune',
      '--input-file',
      'examples/tiny/run.json',
      '--workflow-id',
      plainRun,
    );
    assert.equal(start.code, 0, start.stderr);

    const progress = await waitFor('the progress query to answer', 60_000, () => progressOf(plainRun));
    assert.equal(progress.runId, plainRun);
    assert.equal(progress.name, 'tiny-tool-calls');
    assert.equal(progress.state, 'running');
    assert.equal(progress.baseModel, 'examples/tiny/model');

    // approve is an update: this run has no approval gate, and says so (decoded through the codec server).
    const refused = await temporal('workflow', 'update', 'execute', '--workflow-id', plainRun, '--name', 'approve', '--input', '{"note":"looks right"}');
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.match(refused.stdout + refused.stderr, new RegExp(`run ${plainRun} has no approval gate \\(eval\\.require_approval is off\\)`));

    // History is sealed: read without the codec server, the input (encoded by the CLI through it) is
    // binary/encrypted and no path of the config reads; through it, the input shows.
    const sealed = await runProcess(venvBin('temporal'), ['workflow', 'show', '--workflow-id', plainRun, '--address', address, '-o', 'json'], {}, 60_000);
    assert.equal(sealed.code, 0, sealed.stderr);
    assert.ok(sealed.stdout.includes(Buffer.from('binary/encrypted').toString('base64')));
    assert.ok(!historyText(JSON.parse(sealed.stdout)).includes('examples/tiny'), 'a config path reads in the raw history');
    const decoded = await temporal('workflow', 'show', '--workflow-id', plainRun, '-o', 'json');
    assert.ok(historyText(JSON.parse(decoded.stdout)).includes('examples/tiny/model'), 'the decoded history shows the input');

    // Started without --search-attribute FinetuneStage=..., the run does not track its stage.
    const status = jsonOf<{ status: string; stage: string | null }>(await finetune(['status', plainRun, '--json'], env()));
    assert.deepEqual([status.status, status.stage], ['RUNNING', null]);
    const cancel = await temporal('workflow', 'cancel', '--workflow-id', plainRun);
    assert.equal(cancel.code, 0, cancel.stderr);
  });

  it('with --search-attribute FinetuneStage="queued" the stage is searchable; logs and metrics follow the run', async () => {
    const fast = path.join(dir, 'run-fast.json');
    const config = JSON.parse(fs.readFileSync(path.join(projectRoot, 'examples/tiny/run.json'), 'utf8'));
    fs.writeFileSync(fast, JSON.stringify({ ...config, preflight: { ranks: 1 }, sft: { ...config.sft, save_steps: 2 } }));
    const start = await temporal(
      'workflow',
      'start',
      '--type',
      'fineTunePipeline',
      '--task-queue',
      'finetune',
      '--input-file',
      fast,
      '--workflow-id',
      trackedRun,
      '--search-attribute',
      'FinetuneStage="queued"',
    );
    assert.equal(start.code, 0, start.stderr);

    const listed = await waitFor('FinetuneStage = sft to find the run', 180_000, async () => {
      const r = await temporal('workflow', 'list', '--query', `FinetuneStage = 'sft' AND WorkflowId = '${trackedRun}'`, '-o', 'json');
      return r.code === 0 && r.stdout.includes(trackedRun) ? r.stdout : null;
    });
    assert.ok(listed);

    const metrics = await waitFor('our metrics on the Prometheus endpoint', 180_000, async () => {
      const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
      return /finetune_training_steps_per_second\{[^}]*stage="sft"/.test(text) && /finetune_checkpoint_upload_seconds_count\{[^}]*stage="sft"/.test(text) ? text : null;
    });
    assert.match(metrics, /temporal_activity_execution_latency_count\{[^}]*activity_type="runJob"/);
    const speed = Number(/finetune_training_steps_per_second\{[^}]*\} ([0-9.e+-]+)/.exec(metrics)![1]);
    assert.ok(speed > 0, `steps per second ${speed}`);

    const lines = logLines().filter((l) => l.runId === trackedRun);
    assert.ok(lines.some((l) => l.msg === 'host up' && l.stage === 'provision'));
    assert.ok(lines.some((l) => l.msg === 'job finished' && l.stage === 'preflight' && l.jobId === 'preflight-1'));
    assert.ok(lines.some((l) => l.msg === 'job started' && l.stage === 'sft' && typeof l.hostId === 'string'));
    assert.ok(lines.some((l) => l.msg === 'checkpoint committed' && l.stage === 'sft' && typeof l.uploadSeconds === 'number'));

    assert.equal((await finetune(['cancel', trackedRun], env())).code, 0);
    assert.equal((await finetune(['watch', trackedRun], env())).code, 1);
  });

  it('finetune dev stops its worker and server on SIGTERM', async () => {
    dev.child.kill('SIGTERM');
    assert.equal(await dev.exited, 0);
    assert.equal(await portOpen(port), false);
  });
});
