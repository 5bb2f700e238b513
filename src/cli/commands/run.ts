/**
 * `finetune run <config> [--wait] [--worker]`: starts a run; --wait follows it
 * with live progress bars to its end; --worker also runs a worker in this
 * process (and the embedded dev server when TEMPORAL_ADDRESS is unset), so one
 * command runs the whole pipeline. `npm run demo` is `run --worker` on the
 * tiny example.
 */
import type { Command } from 'commander';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { temporalSettings, type TemporalSettings } from '../../client/connection';
import { installRuntime } from '../../client/runtime';
import { startRun } from '../../client/runs';
import { loadConfigFile, resolveLocalPaths } from '../../config/load';
import { checkDataFiles } from '../../data/check';
import { RunIdInvalid, runIdProblem } from '../../jobs/runId';
import { configureLog } from '../../log';
import { createFineTuneWorker, type FineTuneWorker } from '../../../workers/worker';
import { TASK_QUEUE } from '../../../workflows/messages';
import { action } from '../action';
import { CliError, EXIT } from '../errors';
import { connectTemporal, embeddedOrConfigured, uiBaseFor } from '../connect';
import { followToEnd } from '../follow';
import type { Output } from '../output';

export interface RunOptions {
  wait?: boolean;
  worker?: boolean;
  runId?: string;
  taskQueue?: string;
}

/** Loads, validates and resolves a config file: relative paths read from `cwd`. */
export function readConfig(file: string, cwd = process.cwd()) {
  return resolveLocalPaths(loadConfigFile(file), cwd);
}

/** The whole `run` command; the demo calls it too. Returns the exit code. */
export async function runPipeline(out: Output, configFile: string, opts: RunOptions, cwd = process.cwd()): Promise<number> {
  // Before anything starts: the run id becomes a store folder, a VM name and an agent argument.
  const badId = opts.runId === undefined ? undefined : runIdProblem(opts.runId);
  if (badId) throw new CliError(new RunIdInvalid('--run-id', opts.runId, badId).message, EXIT.badInput);
  const config = readConfig(configFile, cwd);
  // A bad local data line fails here (exit 2) instead of after a workflow start; gs:// data is read by prepareRun.
  await checkDataFiles(config.data, { remote: false });
  const taskQueue = opts.taskQueue ?? TASK_QUEUE;
  let settings: TemporalSettings = temporalSettings();
  let uiBase = uiBaseFor(settings);
  let worker: FineTuneWorker | null = null;
  if (opts.worker) {
    installRuntime();
    configureLog({ level: 'warn', fd: 2 });
    ({ settings, uiBase } = await embeddedOrConfigured(out));
  }
  const temporal = await connectTemporal(settings, uiBase);
  try {
    if (opts.worker) worker = await createFineTuneWorker(settings, taskQueue);
    const startedMs = Date.now();
    const handle = await startRun(temporal.client, config, { runId: opts.runId, taskQueue }).catch((err: unknown) => {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new CliError(`run ${opts.runId} is still going: follow it with \`finetune watch ${opts.runId}\`, or cancel it before starting it again`, EXIT.badInput);
      }
      throw err;
    });
    const link = temporal.link(handle.workflowId);
    out.say(`run ${handle.workflowId} started${link ? `: ${link}` : ''}`);
    if (!worker && !(await hasWorker(temporal.client, settings.namespace, taskQueue))) {
      out.warn(`no worker polls task queue ${taskQueue} yet: the run waits for one (\`finetune dev\`, or node dist/workers/main.js)`);
    }
    if (!opts.wait && !opts.worker) {
      out.result({ runId: handle.workflowId, status: 'started', taskQueue, uiUrl: link }, []);
      return 0;
    }
    const outcome = await followToEnd(handle, { out, link, worker: worker?.worker, startedMs });
    out.result(outcome.summary, []);
    return outcome.exit;
  } finally {
    await worker?.close();
    await temporal.close();
  }
}

async function hasWorker(client: Client, namespace: string, taskQueue: string): Promise<boolean> {
  try {
    const res = await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType: 1 });
    return (res.pollers?.length ?? 0) > 0;
  } catch {
    return true;
  }
}

export function runCommand(program: Command): void {
  program
    .command('run')
    .description('start a fine-tune run from a config file')
    .argument('<config>', 'pipeline config, YAML or JSON')
    .option('--wait', 'follow the run with live progress bars until it ends (exit 1 if it fails)')
    .option('--worker', 'also run a worker in this process (and the embedded dev server if TEMPORAL_ADDRESS is unset); implies --wait')
    .option('--run-id <id>', 'the run id (workflow id); default <name>-<time>-<random>')
    .option('--task-queue <queue>', 'task queue of the workers', TASK_QUEUE)
    .action(action<[string], RunOptions>(({ out, opts }, file) => runPipeline(out, file, opts)));
}
