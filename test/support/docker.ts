/**
 * The real docker daemon and the trainer image, for the container tests: the
 * daemon is started when it does not answer (and only a daemon started here is
 * stopped again), and the image of this tree is built or reused, both through
 * scripts/trainer-image.sh, the same script a user runs.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../src/paths';

/** Debian's CLI, the daemon's own release (scripts/trainer-image.sh says why). */
export const DOCKER = process.env.FINETUNE_DOCKER ?? '/usr/bin/docker';
const SCRIPT = path.join(projectRoot, 'scripts/trainer-image.sh');
const run = promisify(execFile);

/**
 * Runs the image script; its answer is the last line of stdout. Its own progress lines
 * reach our stderr as they come (a cold build takes minutes); a failure carries its tail.
 */
function imageScript(command: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, command], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let tail: string[] = [];
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (line.startsWith('trainer-image:')) process.stderr.write(`${line}\n`);
      tail = [...tail.slice(-24), line];
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout.trim().split('\n').pop() ?? '');
      else reject(new Error(`scripts/trainer-image.sh ${command} failed (${signal ?? `exit ${code}`}):\n${tail.join('\n')}`));
    });
  });
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
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (!inside.has(p.pid) && inside.has(p.ppid)) {
        inside.add(p.pid);
        grew = true;
      }
    }
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
