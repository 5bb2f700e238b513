/**
 * The cluster as users run it: `docker compose up` on docker-compose.yml (Temporal on PostgreSQL,
 * the Temporal UI, the search-attribute setup and our worker) with the real docker daemon, then
 * the tiny pipeline through `finetune run --wait` against TEMPORAL_ADDRESS=127.0.0.1:7233 and the
 * key file the worker gets as its codec-keys secret.
 *
 * No image registry is reachable here: scripts/cluster-images.sh builds the images under their
 * official names (Temporal and its UI from their Go modules, PostgreSQL 16 from its binaries on a
 * Debian base, the worker from our Dockerfile), and test/cluster/compose.test.yml puts every
 * service on the host's network (the daemon has no bridge) and gives the worker the trainer's
 * Python, so that the example's local hosts run inside the worker's container.
 *
 * `npm run test:cluster` runs it (not `npm test`: images and a full run take longer than the suite
 * allows). A daemon this test starts is stopped again; `docker compose down -v` runs even when a
 * step fails, after the services' logs are printed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { projectRoot } from '../../src/paths';
import { finetune, jsonOf, runProcess, waitFor } from '../support/cli';
import { DOCKER, ensureDockerDaemon, type DockerDaemon } from '../support/docker';
import { fastConfig } from '../support/integration';
import { scratchDir } from '../support/scratch';

const PROJECT = 'finetune-cluster-test';
const COMPOSE_FILES = ['-f', 'docker-compose.yml', '-f', 'test/cluster/compose.test.yml'];
const ADDRESS = '127.0.0.1:7233';
const UI = 'http://127.0.0.1:8080';
const TEMPORAL_CLI = path.join(projectRoot, '.venv/bin/temporal');
const EXAMPLE = path.join(projectRoot, 'examples/tiny');
/** The uid of the worker image's user (node in the worker image, trainer in worker-local). */
const WORKER_UID = 1000;
const runId = `cluster-tiny-${Date.now().toString(36)}`;
const run = promisify(execFile);

const timings: Record<string, number> = {};
async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    return await fn();
  } finally {
    timings[what] = Math.round((Date.now() - start) / 100) / 10;
    process.stderr.write(`cluster: ${what} took ${timings[what]} s\n`);
  }
}

/** scripts/cluster-images.sh build: its progress reaches stderr as it comes; the answer is its last stdout line. */
function clusterImages(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(projectRoot, 'scripts/cluster-images.sh'), 'build'], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60 * 60_000,
    });
    let stdout = '';
    let tail: string[] = [];
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (/^(cluster-images|trainer-image):/.test(line)) process.stderr.write(`${line}\n`);
      tail = [...tail.slice(-30), line];
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout.trim().split('\n').pop() ?? '');
      else reject(new Error(`scripts/cluster-images.sh build failed (${signal ?? `exit ${code}`}):\n${tail.join('\n')}`));
    });
  });
}

describe('docker compose up: Temporal on PostgreSQL, the UI, our worker; the tiny pipeline runs on it', () => {
  let daemon: DockerDaemon | undefined;
  let dir = '';
  let composeEnv: NodeJS.ProcessEnv = {};
  let cliEnv: NodeJS.ProcessEnv = {};
  let configFile = '';
  let started = false;
  /** Tests that passed: the services' logs are printed when fewer than all did. */
  let passed = 0;
  const TESTS = 3;

  const compose = async (args: string[], timeoutMs = 10 * 60_000): Promise<string> => {
    const { stdout } = await run(DOCKER, ['compose', '-p', PROJECT, ...COMPOSE_FILES, ...args], {
      cwd: projectRoot,
      env: { ...process.env, ...composeEnv },
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  };
  /** psql in the postgresql service, as its user (trust on the local socket). */
  const sql = async (db: string, query: string): Promise<string> =>
    (await compose(['exec', '-T', 'postgresql', 'psql', '-U', 'temporal', '-d', db, '-At', '-c', query], 60_000)).trim();

  before(async () => {
    daemon = await timed('docker daemon', () => ensureDockerDaemon());
    const workerImage = await timed('images', () => clusterImages());
    assert.match(workerImage, /^durable-finetune\/worker-local:/);

    for (const port of [5432, 7233, 8080, 9464]) {
      const busy = await runProcess('bash', ['-c', `(exec 9<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null`]);
      assert.notEqual(busy.code, 0, `127.0.0.1:${port} is taken already: the cluster's services need it`);
    }

    dir = scratchDir('finetune-cluster-');
    // The worker runs as uid 1000 and writes the store and the hosts' scratch here.
    fs.chmodSync(dir, 0o777);
    const keyFile = path.join(dir, 'codec-keys.json');
    const key = { id: `k-cluster-${randomBytes(3).toString('hex')}`, key: randomBytes(32).toString('base64') };
    fs.writeFileSync(keyFile, JSON.stringify({ keys: [key] }), { mode: 0o600 });
    // The secret is the same file, bind-mounted: readable by the worker's user, by no one else.
    fs.chownSync(keyFile, WORKER_UID, WORKER_UID);
    configFile = path.join(dir, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify(fastConfig(dir), null, 2));

    composeEnv = {
      FINETUNE_CODEC_KEYS_FILE: keyFile,
      FINETUNE_CLUSTER_WORKER_IMAGE: workerImage,
      FINETUNE_CLUSTER_DIR: dir,
      FINETUNE_CLUSTER_EXAMPLE: EXAMPLE,
      FINETUNE_CLUSTER_HOSTNAME: os.hostname(),
      GOOGLE_CLOUD_PROJECT: '',
      FINETUNE_REAPER: '',
    };
    cliEnv = { TEMPORAL_ADDRESS: ADDRESS, TEMPORAL_NAMESPACE: 'default', FINETUNE_CODEC_KEYS: keyFile, FINETUNE_HOME: path.join(dir, 'home') };

    started = true;
    // up -d returns once the worker started: after PostgreSQL is healthy and temporal-setup has
    // registered the search attributes (the compose file's depends_on conditions).
    await timed('docker compose up', () => compose(['up', '-d', '--no-build'], 15 * 60_000));
  });

  after(async () => {
    try {
      if (started) {
        if (passed < TESTS) {
          const logs = await compose(['logs', '--no-color', '--tail', '80']).catch((err: Error) => `(no logs: ${err.message})`);
          process.stderr.write(`cluster: the services' logs\n${logs}\n`);
        }
        await timed('docker compose down -v', () => compose(['down', '-v', '--remove-orphans'], 5 * 60_000)).catch((err: Error) =>
          process.stderr.write(`cluster: docker compose down failed: ${err.message}\n`),
        );
      }
    } finally {
      await daemon?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
      process.stderr.write(`cluster: timings ${JSON.stringify(timings)}\n`);
    }
  });

  it('brings up every service: PostgreSQL 16 healthy, the schema set up, the setup job done, the worker polling', async () => {
    const ps = (await compose(['ps', '-a', '--format', 'json']))
      .trim()
      .split('\n')
      .filter(Boolean)
      .flatMap((line) => JSON.parse(line) as unknown)
      .map((c) => c as { Service: string; State: string; Health: string; ExitCode: number });
    const byService = new Map(ps.map((c) => [c.Service, c]));
    assert.deepEqual([...byService.keys()].sort(), ['postgresql', 'temporal', 'temporal-setup', 'temporal-ui', 'worker']);
    assert.equal(byService.get('postgresql')?.Health, 'healthy');
    for (const s of ['temporal', 'temporal-ui', 'worker']) assert.equal(byService.get(s)?.State, 'running', `${s}: ${JSON.stringify(byService.get(s))}`);
    assert.equal(byService.get('temporal-setup')?.State, 'exited');
    assert.equal(byService.get('temporal-setup')?.ExitCode, 0);

    assert.match(await sql('temporal', 'SHOW server_version'), /^16\./);
    assert.ok(Number(await sql('temporal', 'SELECT count(*) FROM schema_version')) >= 1, 'the temporal database has its schema');
    assert.ok(Number(await sql('temporal_visibility', 'SELECT count(*) FROM schema_version')) >= 1, 'the visibility database has its schema');

    const attrs = await runProcess(TEMPORAL_CLI, ['operator', 'search-attribute', 'list', '--address', ADDRESS, '--namespace', 'default']);
    assert.equal(attrs.code, 0, attrs.stderr);
    for (const name of ['FinetuneStage', 'FinetuneBaseModel', 'FinetuneGate', 'FinetuneCostUsd']) assert.match(attrs.stdout, new RegExp(`\\b${name}\\b`));

    await waitFor('the worker to poll the finetune task queue', 120_000, async () => {
      const r = await runProcess(TEMPORAL_CLI, ['task-queue', 'describe', '--address', ADDRESS, '--task-queue', 'finetune', '--output', 'json']);
      return r.code === 0 && /"identity"/.test(r.stdout);
    });
    passed++;
  });

  it('runs the tiny pipeline on the cluster to COMPLETED with metrics, the work done in the worker container', async () => {
    const r = await timed('the tiny pipeline (finetune run --wait)', () => finetune(['run', configFile, '--wait', '--json', '--run-id', runId], cliEnv, 30 * 60_000));
    assert.equal(r.code, 0, `finetune run exited ${r.code}\n${r.stderr.slice(-4000)}`);
    const summary = jsonOf<{ status: string; runId: string; primaryMetric: string; metrics: Record<string, Record<string, number>> }>(r);
    assert.equal(summary.status, 'succeeded');
    assert.equal(summary.runId, runId);
    assert.equal(summary.primaryMetric, 'tool_call_match');
    for (const model of ['base', 'sft', 'dpo']) {
      const value = summary.metrics[model]?.tool_call_match;
      assert.ok(typeof value === 'number' && value >= 0 && value <= 1, `${model} tool_call_match: ${value}`);
    }

    const status = jsonOf<{ status: string; stage: string }>(await finetune(['status', runId, '--json'], cliEnv));
    assert.equal(status.status, 'COMPLETED');
    assert.equal(status.stage, 'promote');

    // The hosts' agents ran in the worker's container (its user, uid 1000), not on this machine.
    const hostsDir = path.join(dir, 'hosts');
    const agentLogs = fs
      .readdirSync(hostsDir)
      .map((h) => path.join(hostsDir, h, 'agent.log'))
      .filter((f) => fs.existsSync(f));
    assert.ok(agentLogs.length >= 1, `no agent.log under ${hostsDir}`);
    for (const f of agentLogs) assert.equal(fs.statSync(f).uid, WORKER_UID, `${f} was written by uid ${fs.statSync(f).uid}`);
    assert.match(await compose(['logs', '--no-color', 'worker']), new RegExp(runId));
    passed++;
  });

  it('keeps the run in PostgreSQL, finds it by its search attributes, and shows it in the UI encrypted', async () => {
    // Visibility on PostgreSQL: status 2 is COMPLETED; the custom attributes are indexed.
    assert.equal(await sql('temporal_visibility', `SELECT status FROM executions_visibility WHERE workflow_id = '${runId}'`), '2');
    const listed = jsonOf<Array<{ runId?: string; workflowId?: string; id?: string }> | { runs: unknown[] }>(
      await finetune(['list', '--query', "FinetuneStage = 'promote'", '--json'], cliEnv),
    );
    assert.match(JSON.stringify(listed), new RegExp(runId));

    const res = await fetch(`${UI}/api/v1/namespaces/default/workflows/${runId}`);
    assert.equal(res.status, 200, `the UI's API answered ${res.status}`);
    const body = await res.text();
    assert.match(body, new RegExp(runId));
    assert.match(body, /COMPLETED/);
    const index = await fetch(`${UI}/`);
    assert.equal(index.status, 200);
    assert.match(await index.text(), /<html/i);

    // What the server stores is sealed by the codec: the run's input reads binary/encrypted there.
    const shown = await runProcess(TEMPORAL_CLI, ['workflow', 'show', '--address', ADDRESS, '--workflow-id', runId, '--output', 'json']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /binary\/encrypted|YmluYXJ5L2VuY3J5cHRlZA==/);
    assert.doesNotMatch(shown.stdout, new RegExp(EXAMPLE.replace(/[/.]/g, '\\$&')), 'a config path reached the server in the clear');
    passed++;
  });
});
