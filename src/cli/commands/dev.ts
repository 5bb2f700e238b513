/**
 * `finetune dev`: the embedded Temporal dev server (UI included) and a worker
 * in one process, up until SIGINT/SIGTERM. A server already listening on the
 * port is used as is (and left running); one started here stops with it.
 * State (the server's database, hosts' scratch) lives in FINETUNE_HOME,
 * default .finetune/ in the project.
 */
import type { Command } from 'commander';
import * as path from 'node:path';
import { temporalSettings } from '../../client/connection';
import { portOpen, startDevServer, type DevServer } from '../../client/devServer';
import { keyRingFor } from '../../client/codec/dataConverter';
import { installRuntime } from '../../client/runtime';
import { configureLog, log } from '../../log';
import { stateDir } from '../../paths';
import { createFineTuneWorker } from '../../../workers/worker';
import { TASK_QUEUE } from '../../../workflows/messages';
import { action, positiveInt } from '../action';

interface DevOptions {
  port: number;
  uiPort: number;
  dbFile?: string;
  headless?: boolean;
  taskQueue: string;
}

export function devCommand(program: Command): void {
  program
    .command('dev')
    .description('run the embedded Temporal dev server and a worker until interrupted (Ctrl-C)')
    .option('--port <port>', 'Temporal frontend port', positiveInt, 7233)
    .option('--ui-port <port>', 'Temporal UI port', positiveInt, 8233)
    .option('--db-file <file>', 'the dev server database (runs survive a restart); default $FINETUNE_HOME/temporal.db')
    .option('--headless', 'no UI')
    .option('--task-queue <queue>', 'task queue the worker polls', TASK_QUEUE)
    .action(
      action<[], DevOptions>(async ({ out, opts }) => {
        installRuntime('WARN');
        configureLog({ level: 'info', fd: opts.json ? 2 : 1 });
        let server: DevServer | null = null;
        const address = `localhost:${opts.port}`;
        if (!(await portOpen(opts.port))) {
          const dbFile = path.resolve(opts.dbFile ?? path.join(stateDir(), 'temporal.db'));
          server = await startDevServer({
            port: opts.port,
            uiPort: opts.uiPort,
            dbFile,
            ui: !opts.headless,
            logFile: path.join(path.dirname(dbFile), `temporal-${opts.port}.log`),
          });
        }
        const settings = temporalSettings({ ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default' });
        const { worker, close } = await createFineTuneWorker(settings, opts.taskQueue);
        const codecKeys = await keyRingFor(settings.address);
        const uiUrl = opts.headless || !server ? null : server.uiUrl;
        const stop = (signal: string): void => {
          log().info({ signal }, 'finetune dev: stopping the worker');
          worker.shutdown();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
        out.result(
          { address, uiUrl, taskQueue: opts.taskQueue, startedServer: server !== null, metrics: process.env.FINETUNE_METRICS_ADDRESS ?? null, codecKeys: codecKeys.source },
          [
            `Temporal dev server ${server ? 'started' : 'already running'} at ${address}${uiUrl ? `, UI ${uiUrl}` : ''}`,
            `worker polling task queue ${opts.taskQueue}${process.env.FINETUNE_METRICS_ADDRESS ? `, metrics at http://${process.env.FINETUNE_METRICS_ADDRESS}/metrics` : ''}`,
            `history is encrypted with the codec keys in ${codecKeys.source}: \`finetune codec-server\` shows runs decoded in the UI and the temporal CLI (docs/operating.md, Encrypted history)`,
            `use it from another terminal: finetune run <config> --wait (Ctrl-C here stops the worker${server ? ' and the server' : ''})`,
          ],
        );
        try {
          await worker.run();
        } finally {
          await close();
          await server?.stop();
        }
      }),
    );
}
