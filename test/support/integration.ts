/**
 * Real parts for integration tests: a `temporal` dev server on a free port
 * and a database file, a worker on its own task queue (in this process or as
 * a separate process that a test can kill), and the tiny example config
 * pointed at a temporary store.
 */
import type { Client } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { startDevServer, type DevServer } from '../../src/client/devServer';
import { temporalSettings, type TemporalSettings } from '../../src/client/connection';
import { installRuntime } from '../../src/client/runtime';
import { connectClient } from '../../src/client/temporalClient';
import { loadConfigFile, resolveLocalPaths } from '../../src/config/load';
import type { PipelineConfig } from '../../src/config/schema';
import { projectRoot } from '../../src/paths';
import { createFineTuneWorker, type FineTuneWorker } from '../../workers/worker';
import { removeScratch, scratchDir } from './scratch';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

export interface ReplaceableWorker {
  current(): ChildProcess;
  /** SIGKILLs the current worker, waits for it to exit, and starts a new one. */
  replace(): Promise<void>;
}

export interface Harness {
  dir: string;
  server: DevServer;
  settings: TemporalSettings;
  client: Client;
  /** A worker in this process, on the given task queue. */
  worker(taskQueue: string): Promise<FineTuneWorker>;
  /** A worker as its own process (node dist/workers/main.js), for kill tests. */
  workerProcess(taskQueue: string): ChildProcess;
  /** A worker process that a fault can SIGKILL and replace with a fresh one on the same queue. */
  replaceableWorker(taskQueue: string): ReplaceableWorker;
  /** Stops the dev server (keeping its database) and starts it again on the same port. */
  restartServer(): Promise<void>;
  /** Stops everything it started and removes dir (kept when FINETUNE_TEST_KEEP_DIRS is set). */
  close(): Promise<void>;
}

export async function startHarness(name: string): Promise<Harness> {
  installRuntime();
  const dir = scratchDir(`finetune-${name}-`);
  const port = await freePort();
  const dbFile = path.join(dir, 'temporal.db');
  const serverOpts = { port, ui: false, dbFile, logFile: path.join(dir, 'temporal.log') };
  let server = await startDevServer(serverOpts);
  const settings = temporalSettings({ TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: 'default' });
  const { connection, client } = await connectClient(settings);
  const children: ChildProcess[] = [];
  const workers: FineTuneWorker[] = [];
  const workerProcess = (taskQueue: string): ChildProcess => {
    const child = spawn(process.execPath, [path.join(projectRoot, 'dist/workers/main.js')], {
      env: { ...process.env, TEMPORAL_ADDRESS: server.address, FINETUNE_TASK_QUEUE: taskQueue, FINETUNE_LOG_LEVEL: 'WARN' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    return child;
  };
  return {
    dir,
    get server() {
      return server;
    },
    settings,
    client,
    async worker(taskQueue) {
      const w = await createFineTuneWorker(settings, taskQueue);
      workers.push(w);
      return w;
    },
    workerProcess,
    replaceableWorker(taskQueue) {
      let proc = workerProcess(taskQueue);
      return {
        current: () => proc,
        replace: async () => {
          const exited = new Promise((r) => proc.once('exit', r));
          proc.kill('SIGKILL');
          await exited;
          proc = workerProcess(taskQueue);
        },
      };
    },
    async restartServer() {
      await server.stop();
      server = await startDevServer(serverOpts);
    },
    async close() {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      await connection.close();
      for (const w of workers) await w.close().catch(() => undefined);
      await server.stop();
      // Each harness holds a store, hosts' workdirs and a server database (hundreds of MB; in
      // memory when TMPDIR is /dev/shm, as bench:scale sets): left behind, every run of the suite
      // or a bench kept them. FINETUNE_TEST_KEEP_DIRS=1 keeps them to look into a failure.
      removeScratch(dir);
    },
  };
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

function merge<T>(base: T, patch: DeepPartial<T> | undefined): T {
  if (!patch) return base;
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' ? merge(b, v as never) : v;
  }
  return out as T;
}

/** The tiny example config, storing into dir/store, with hosts' scratch in dir/hosts. */
export function tinyConfig(dir: string, patch?: DeepPartial<PipelineConfig>): PipelineConfig {
  const config = resolveLocalPaths(loadConfigFile(path.join(projectRoot, 'examples/tiny/config.yaml')), projectRoot);
  return merge(config, {
    store: `file://${path.join(dir, 'store')}`,
    host: { provider: 'local', workdir: path.join(dir, 'hosts') },
    ...patch,
  } as DeepPartial<PipelineConfig>);
}

/**
 * A shorter run for fault tests: fewer steps and checkpoints every 10 steps,
 * so a fault lands mid-stage and a run still finishes in about a minute.
 */
export function fastConfig(dir: string, patch?: DeepPartial<PipelineConfig>): PipelineConfig {
  return merge(
    tinyConfig(dir, {
      sft: { max_steps: 60, save_steps: 10 },
      dpo: { max_steps: 10, save_steps: 5 },
      preflight: { ranks: 1 },
    }),
    patch,
  );
}
