/**
 * Hosts that are processes on this machine: the agent runs detached in its
 * own process group with its output in <workdir>/agent.log, so it survives the
 * worker that started it, and a retried provision finds it through
 * <workdir>/agent.pid instead of starting a second one.
 */
import { spawn } from 'node:child_process';
import { promises as fs, openSync, closeSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HostLease, HostProvider, HostRequest, HostState, hostIdOf } from './provider';
import { commandLine, groupEmpty, isAlive, liveGroupMembers, processInfo, signalGroup, stillInGroup } from './processes';

export interface LocalHostOptions {
  /** The python that runs the agent (the project's .venv/bin/python). */
  python: string;
  /** Folder that holds the durable_finetune package; prepended to PYTHONPATH. */
  trainerDir: string;
  /** Each host gets <workdirRoot>/<hostId>. */
  workdirRoot: string;
  /** How long release waits after SIGTERM (the agent commits a checkpoint) before SIGKILL. */
  releaseGraceMs?: number;
  /** How long provision watches a fresh agent so an instant crash fails provision with its log. */
  startupCheckMs?: number;
}

export class AgentStartFailed extends Error {
  readonly name = 'AgentStartFailed';
  constructor(
    readonly hostId: string,
    readonly reason: string,
    readonly logTail: string[],
  ) {
    super(`local agent for host ${hostId} did not start: ${reason}${logTail.length ? `\n${logTail.join('\n')}` : ''}`);
  }
}

const POLL_MS = 100;
/** After SIGKILL the kernel needs only moments; waiting longer would hide a stuck (D-state) process. */
const KILL_WAIT_MS = 5000;

export class LocalHostProvider implements HostProvider {
  private readonly releaseGraceMs: number;
  private readonly startupCheckMs: number;
  /** Concurrent provisions of one host in this worker share one attempt. */
  private readonly provisioning = new Map<string, Promise<HostLease>>();

  constructor(private readonly opts: LocalHostOptions) {
    this.releaseGraceMs = opts.releaseGraceMs ?? 30_000;
    this.startupCheckMs = opts.startupCheckMs ?? 1000;
  }

  provision(req: HostRequest): Promise<HostLease> {
    const hostId = hostIdOf(req.runId, req.hostIndex);
    const pending = this.provisioning.get(hostId);
    if (pending) return pending;
    const attempt = this.adoptOrStart(req, hostId).finally(() => this.provisioning.delete(hostId));
    this.provisioning.set(hostId, attempt);
    return attempt;
  }

  async state(lease: HostLease): Promise<HostState> {
    const pid = pidOf(lease);
    const info = await processInfo(pid);
    if (info === undefined || !isAlive(info)) {
      const last = (await this.logTail(lease, 1))[0];
      return { kind: 'gone', reason: `agent process ${pid} has exited${last ? `; last log line: ${last}` : ''}` };
    }
    if (!(await isAgentOf(pid, lease.hostId))) {
      return { kind: 'gone', reason: `agent process ${pid} has exited and its pid now belongs to another program` };
    }
    return { kind: 'running' };
  }

  async release(lease: HostLease): Promise<void> {
    const pid = pidOf(lease);
    const leader = await processInfo(pid);
    // A live leader with someone else's command line means the pid was reused
    // after our whole group died (Linux keeps a pgid's number while the group lives).
    const stranger = isAlive(leader) && !(await isAgentOf(pid, lease.hostId));
    if (!stranger) {
      signalGroup(pid, 'SIGTERM');
      // A stopped (hung, SIGSTOPped) process acts on SIGTERM only once continued.
      signalGroup(pid, 'SIGCONT');
      if (!(await groupExits(pid, this.releaseGraceMs))) {
        signalGroup(pid, 'SIGKILL');
        const left = await groupExits(pid, KILL_WAIT_MS);
        if (!left) throw new Error(`host ${lease.hostId}: processes of group ${pid} survived SIGKILL: ${(await liveGroupMembers(pid)).join(', ')}`);
      }
    }
    await fs.rm(path.join(workdirOf(lease), 'agent.pid'), { force: true });
  }

  async logTail(lease: HostLease, lines: number): Promise<string[]> {
    return tailLines(path.join(workdirOf(lease), 'agent.log'), lines);
  }

  private async adoptOrStart(req: HostRequest, hostId: string): Promise<HostLease> {
    const workdir = path.join(this.opts.workdirRoot, hostId);
    await fs.mkdir(workdir, { recursive: true });
    const adopted = await this.adopt(workdir, hostId);
    if (adopted) return adopted;

    const logFile = path.join(workdir, 'agent.log');
    const pid = await this.startAgent(req, hostId, workdir, logFile);
    const lease: HostLease = {
      provider: 'local',
      hostId,
      runId: req.runId,
      hostIndex: req.hostIndex,
      details: { pid, workdir },
      provisionedAt: new Date().toISOString(),
    };
    await writeWhole(path.join(workdir, 'lease.json'), JSON.stringify(lease, null, 2));
    await writeWhole(path.join(workdir, 'agent.pid'), `${pid}\n`);

    await sleep(this.startupCheckMs);
    const state = await this.state(lease);
    if (state.kind === 'gone') {
      await fs.rm(path.join(workdir, 'agent.pid'), { force: true });
      throw new AgentStartFailed(hostId, state.reason, await tailLines(logFile, 20));
    }
    return lease;
  }

  /** The lease of an agent already running for this host, if any. */
  private async adopt(workdir: string, hostId: string): Promise<HostLease | undefined> {
    const pidText = await fs.readFile(path.join(workdir, 'agent.pid'), 'utf8').catch(() => undefined);
    const pid = Number(pidText?.trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    if (!isAlive(await processInfo(pid)) || !(await isAgentOf(pid, hostId))) return undefined;
    const lease = await fs
      .readFile(path.join(workdir, 'lease.json'), 'utf8')
      .then((text) => JSON.parse(text) as HostLease)
      .catch(() => undefined);
    if (lease && lease.details.pid === pid) return lease;
    const [runId, hostIndex] = splitHostId(hostId);
    return { provider: 'local', hostId, runId, hostIndex, details: { pid, workdir }, provisionedAt: new Date().toISOString() };
  }

  private async startAgent(req: HostRequest, hostId: string, workdir: string, logFile: string): Promise<number> {
    const args = ['-m', 'durable_finetune.agent', '--store', req.storeUri, '--run', req.runId, '--host', hostId, '--workdir', workdir];
    const env = {
      ...process.env,
      PYTHONPATH: [this.opts.trainerDir, process.env.PYTHONPATH].filter((p) => p).join(path.delimiter),
      // Unbuffered, so agent.log shows the last words of an agent that dies.
      PYTHONUNBUFFERED: '1',
    };
    const log = openSync(logFile, 'a');
    try {
      const child = spawn(this.opts.python, args, { cwd: workdir, env, detached: true, stdio: ['ignore', log, log] });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) => reject(new AgentStartFailed(hostId, `cannot run ${this.opts.python}: ${err.message}`, [])));
      });
      child.unref();
      return child.pid as number;
    } finally {
      closeSync(log);
    }
  }
}

/** How long an empty command line may last before it counts: a process in the middle of an exec shows none. */
const EXEC_WAIT_MS = 2000;

async function isAgentOf(pid: number, hostId: string): Promise<boolean> {
  // An agent started through a wrapper that execs python (FINETUNE_AGENT_PYTHON, a pyenv shim) shows an
  // empty cmdline while each exec runs; read then, it passed for a stranger's and the new host was
  // refused as "did not start" (bench:scale at 200 runs: 2 of 200 hosts, with their CPU short).
  const until = Date.now() + EXEC_WAIT_MS;
  let argv = await commandLine(pid);
  while (argv.length === 0 && Date.now() < until) {
    await sleep(POLL_MS);
    if (!isAlive(await processInfo(pid))) return false;
    argv = await commandLine(pid);
  }
  const at = argv.indexOf('--host');
  return at >= 0 && argv[at + 1] === hostId;
}

/**
 * Waits for every live process of the group to exit. A scan of /proc reads every process's stat
 * (hundreds of files on a worker with many local hosts), so it is done to find the members and to
 * confirm they are gone, and the members found are re-checked in between (at 200 runs, scans every
 * 100 ms made releasing hosts the worker's largest file-read cost). A group with no process at all,
 * zombies included, needs no scan.
 */
async function groupExits(pgid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  const scan = async () => (groupEmpty(pgid) ? [] : await liveGroupMembers(pgid));
  let members = await scan();
  while (members.length > 0) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
    members = await stillInGroup(pgid, members);
    // Confirmed by a scan: a member may have started another process since the last one.
    if (members.length === 0) members = await scan();
  }
  return true;
}

function pidOf(lease: HostLease): number {
  const pid = Number(lease.details.pid);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`lease of host ${lease.hostId} carries no valid pid: ${JSON.stringify(lease.details)}`);
  return pid;
}

function workdirOf(lease: HostLease): string {
  return String(lease.details.workdir);
}

/** hostIdOf's inverse, for a lease rebuilt from agent.pid alone. */
function splitHostId(hostId: string): [string, number] {
  const m = /^(.*)-h(\d+)$/.exec(hostId);
  return m ? [m[1], Number(m[2])] : [hostId, 0];
}

async function writeWhole(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}

/** The last lines of a log that may be large: reads only its end. */
export async function tailLines(file: string, lines: number): Promise<string[]> {
  if (lines <= 0) return [];
  let handle;
  try {
    handle = await fs.open(file, 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, Math.max(64 * 1024, lines * 512));
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    const all = buf.toString('utf8').split('\n');
    if (all.at(-1) === '') all.pop();
    if (length < size) all.shift();
    return all.slice(-lines);
  } finally {
    await handle.close();
  }
}
