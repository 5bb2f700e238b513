/**
 * Running the built `finetune` command as a user would (node bin/finetune.js)
 * and the `temporal` CLI, with their exit code and output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { projectRoot } from '../../src/paths';

export const FINETUNE_BIN = path.join(projectRoot, 'bin', 'finetune.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} ran past ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** `finetune <args>` with the environment given (e.g. TEMPORAL_ADDRESS). */
export function finetune(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs?: number): Promise<CliResult> {
  return runProcess(process.execPath, [FINETUNE_BIN, ...args], env, timeoutMs);
}

/** A long-running `finetune` (dev, run --wait): the child, its output so far, and its exit. */
export function startFinetune(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): {
  child: ChildProcess;
  output: () => { stdout: string; stderr: string };
  exited: Promise<number>;
} {
  const child = spawn(process.execPath, [FINETUNE_BIN, ...args], { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  return { child, output: () => ({ stdout, stderr }), exited };
}

/** The last line of stdout parsed as JSON (--json output). */
export function jsonOf<T = Record<string, unknown>>(r: CliResult): T {
  const lines = r.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]) as T;
  } catch {
    throw new Error(`no JSON on stdout (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** TEMPORAL_ADDRESS pointing at a port where nothing listens. */
export async function freePortEnv(): Promise<NodeJS.ProcessEnv> {
  const { freePort } = await import('./integration');
  return { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` };
}
