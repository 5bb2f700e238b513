/**
 * `npm run demo`: the whole pipeline on the embedded default (dev server,
 * local host, local store, the tiny example model), ending with the metrics
 * table, the report path and the UI link. `-- --json` ends stdout with one
 * JSON object instead, for scripts.
 */
import { Client, Connection } from '@temporalio/client';
import * as path from 'node:path';
import { loadConfigFile, resolveLocalPaths } from '../config/load';
import { temporalSettings, type TemporalSettings } from '../client/connection';
import { ensureDevServer } from '../client/embedded';
import { installRuntime } from '../client/runtime';
import { followRun, startRun, uiLink } from '../client/runs';
import { formatMetricsTable } from '../report/table';
import { projectRoot } from '../paths';
import { createFineTuneWorker } from '../../workers/worker';
import { ProgressView } from './progressBars';

interface Args {
  json: boolean;
  config: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, config: path.join(projectRoot, 'examples/tiny/config.yaml') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') args.json = true;
    else if (argv[i] === '--config') args.config = path.resolve(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}; use --json and/or --config <file>`);
  }
  return args;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const say = (line: string): void => void (args.json ? process.stderr : process.stdout).write(`${line}\n`);
  const config = resolveLocalPaths(loadConfigFile(args.config), projectRoot);
  installRuntime();

  let settings: TemporalSettings = temporalSettings();
  let uiBase = process.env.FINETUNE_UI_URL ?? null;
  if (!process.env.TEMPORAL_ADDRESS) {
    const server = await ensureDevServer();
    settings = temporalSettings({ ...process.env, TEMPORAL_ADDRESS: server.address });
    uiBase ??= server.uiUrl;
    say(server.started ? `started the Temporal dev server (${server.address}, UI ${server.uiUrl})` : `using the Temporal dev server at ${server.address}`);
  }

  const { worker, close } = await createFineTuneWorker(settings);
  const connection = await Connection.connect(settings.connection);
  const client = new Client({ connection, namespace: settings.namespace });
  const started = Date.now();
  const handle = await startRun(client, config);
  const link = uiBase ? uiLink(uiBase, settings.namespace, handle.workflowId) : null;
  say(`run ${handle.workflowId} started${link ? `: ${link}` : ''}`);

  const view = new ProgressView(process.stderr);
  let status = 'succeeded';
  let exit = 0;
  let summary: Record<string, unknown> = { runId: handle.workflowId, storeUri: config.store };
  try {
    const result = await worker.runUntil(followRun(handle, (p) => view.update(p)));
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    say('');
    say(formatMetricsTable(result.metrics, result.metrics.primaryMetric));
    say('');
    say(`promoted: ${result.promoted.model} -> ${result.promoted.uri}`);
    say(`report: ${result.storeUri.replace(/\/$/, '')}/runs/${result.runId}/report/metrics.json`);
    if (link) say(`Temporal UI: ${link}`);
    say(`finished in ${seconds} s (host losses ${result.hostLosses}, steps redone ${result.stepsRedone})`);
    summary = {
      runId: result.runId,
      status,
      storeUri: result.storeUri,
      primaryMetric: result.metrics.primaryMetric,
      metrics: result.metrics.models,
      promoted: result.promoted,
      seconds: Number(seconds),
      uiUrl: link,
    };
  } catch (err) {
    status = 'failed';
    exit = 1;
    const cause = (err as { cause?: { message?: string } }).cause;
    process.stderr.write(`run ${handle.workflowId} failed: ${cause?.message ?? (err as Error).message}\n`);
    if (link) process.stderr.write(`Temporal UI: ${link}\n`);
    summary = { ...summary, status, error: cause?.message ?? (err as Error).message };
  } finally {
    await connection.close();
    await close();
  }
  if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  return exit;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  },
);
