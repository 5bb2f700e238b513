/**
 * The real docker daemon and the trainer image, for the container tests: the
 * daemon is started when it does not answer (and only a daemon started here is
 * stopped again), and the image of this tree is built or reused, both through
 * scripts/trainer-image.sh, the same script a user runs.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../src/paths';

/** Debian's CLI, the daemon's own release (scripts/trainer-image.sh says why). */
export const DOCKER = process.env.FINETUNE_DOCKER ?? '/usr/bin/docker';
const SCRIPT = path.join(projectRoot, 'scripts/trainer-image.sh');
const run = promisify(execFile);

/** Runs the image script; its answer is the last line of stdout, its progress (stderr) goes to ours. */
async function imageScript(command: string, timeoutMs: number): Promise<string> {
  try {
    const { stdout, stderr } = await run('bash', [SCRIPT, command], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    if (stderr) process.stderr.write(stderr.split('\n').filter((l) => l.startsWith('trainer-image:')).join('\n') + '\n');
    return stdout.trim().split('\n').pop() ?? '';
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`scripts/trainer-image.sh ${command} failed: ${(e.stderr ?? e.message).split('\n').slice(-25).join('\n')}`);
  }
}

export async function docker(args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run(DOCKER, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

export interface DockerDaemon {
  /** The daemon's pid when this helper started it; undefined when it was already running. */
  startedPid?: number;
  /** Stops the daemon if this helper started it; leaves one it found running alone. */
  stop(): Promise<void>;
}

export async function ensureDockerDaemon(): Promise<DockerDaemon> {
  const answer = await imageScript('ensure-daemon', 10 * 60_000);
  const startedPid = answer ? Number(answer) : undefined;
  return {
    startedPid,
    async stop() {
      if (!startedPid) return;
      try {
        process.kill(startedPid, 'SIGTERM');
      } catch {
        return;
      }
      const deadline = Date.now() + 30_000;
      while (alive(startedPid) && Date.now() < deadline) await sleep(200);
      if (alive(startedPid)) process.kill(startedPid, 'SIGKILL');
    },
  };
}

/** The trainer image of this tree (durable-finetune/trainer:<hash>), built once and then reused. */
export function trainerImage(): Promise<string> {
  return imageScript('build', 20 * 60_000);
}

function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export interface ContainerProcess {
  pid: number;
  ppid: number;
  uid: number;
  comm: string;
  cmdline: string[];
}

/**
 * The processes of a running container as this machine sees them: its PID 1 first,
 * then every descendant, each with its real uid (read from /proc, not from inside the image).
 */
export async function containerProcesses(name: string): Promise<ContainerProcess[]> {
  const pid1 = Number((await docker(['inspect', '-f', '{{.State.Pid}}', name])).trim());
  if (!pid1) return [];
  const all = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readProcess(Number(d)))
    .filter((p): p is ContainerProcess => p !== undefined);
  const inside = new Set([pid1]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) if (!inside.has(p.pid) && inside.has(p.ppid)) (inside.add(p.pid), (grew = true));
  }
  return all.filter((p) => inside.has(p.pid)).sort((a, b) => (a.pid === pid1 ? -1 : b.pid === pid1 ? 1 : a.pid - b.pid));
}

function readProcess(pid: number): ContainerProcess | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return { pid, ppid, uid, comm, cmdline };
  } catch {
    return undefined;
  }
}
