/**
 * A stand-in for the VM behind a fake Compute Engine instance: it runs the
 * instance's own startup script (from its metadata, as GCE's guest agent
 * does) with bash, rooted in a folder (FT_ROOT), with `systemctl` and
 * `docker` played by test/support/vm/*. The agent that ends up running is
 * the one the script's `docker run` asked for, on this checkout's virtualenv.
 *
 * With `docker` (test/container), the VM's docker is that real CLI and its
 * daemon runs the trainer image as the script asked; only systemctl is played.
 *
 * Preemption is played as GCE does it: ACPI soft-off stops the systemd unit
 * (ExecStop: `docker stop`, SIGTERM to the agent), and whatever still runs
 * 30 s later dies with the VM, its container included.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { liveGroupMembers, signalGroup } from '../../src/hosts/processes';
import { projectRoot } from '../../src/paths';
import type { FakeInstance } from './fakeCompute';

const UNIT = 'finetune-agent.service';
/** The container name the startup script gives the agent. */
const CONTAINER = 'finetune-agent';
/** GCE hard-stops a spot VM this long after the preemption notice. */
export const PREEMPTION_GRACE_MS = 30_000;
const BIN = path.join(projectRoot, 'test/support/vm');

export interface DockerRun {
  name: string;
  image: string;
  env: Record<string, string>;
  volumes: { source: string; target: string }[];
  flags: string[];
  command: string[];
}

export interface FakeVm {
  name: string;
  zone: string;
  /** The VM's filesystem root (FT_ROOT). */
  root: string;
  /** Resolves when the startup script has exited; rejects with its output if it failed. */
  booted: Promise<void>;
  /** What the startup script asked the stand-in docker to run, once it has (undefined with a real docker). */
  dockerRun(): DockerRun | undefined;
  /** Boot output and the agent unit's output: what GCE's serial port 1 shows. */
  serial(): string;
  /** ACPI soft-off (preemption notice, or a delete): the unit stops, then the VM dies after at most PREEMPTION_GRACE_MS. */
  shutdown(): Promise<{ stoppedCleanly: boolean; seconds: number }>;
  /** Whether any process of this VM is still alive. */
  running(): Promise<boolean>;
}

export interface FakeVmOptions {
  /** VMs' roots go under dir/vms/<name>. */
  dir: string;
  /** The python that plays the trainer image (the project's .venv). */
  python?: string;
  /** A real docker CLI: the VM runs the real trainer image through it instead of the stand-in. */
  docker?: string;
}

/** A PATH folder with the systemctl stand-in and a real docker. */
function realDockerBin(dir: string, docker: string): string {
  const bin = path.join(dir, 'vm-bin');
  fs.mkdirSync(bin, { recursive: true });
  for (const [name, target] of [
    ['systemctl', path.join(BIN, 'systemctl')],
    ['docker', docker],
  ]) {
    fs.rmSync(path.join(bin, name), { force: true });
    fs.symlinkSync(target, path.join(bin, name));
  }
  return bin;
}

export function bootVm(inst: FakeInstance, opts: FakeVmOptions): FakeVm {
  const root = path.join(opts.dir, 'vms', inst.name);
  fs.mkdirSync(root, { recursive: true });
  const script = inst.metadata.items.find((i) => i.key === 'startup-script')?.value;
  if (!script) throw new Error(`instance ${inst.name} has no startup-script metadata`);
  const scriptFile = path.join(root, 'startup-script');
  fs.writeFileSync(scriptFile, script, { mode: 0o755 });
  const env = {
    PATH: `${opts.docker ? realDockerBin(opts.dir, opts.docker) : BIN}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
    FT_ROOT: root,
    FT_VM_PYTHON: opts.python ?? path.join(projectRoot, '.venv/bin/python'),
    FT_VM_PYTHONPATH: path.join(projectRoot, 'trainer'),
  };
  let boot = `[fake vm] ${inst.name} booting in ${inst.zone}\n`;
  const bootOutput = (d: Buffer) => (boot += d.toString().replace(/^/gm, 'startup-script: '));
  const child = spawn('bash', [scriptFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', bootOutput);
  child.stderr.on('data', bootOutput);
  const booted = new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`startup script of ${inst.name} exited ${code}:\n${boot}`)))),
  );
  booted.catch(() => undefined);

  const read = (rel: string) => {
    try {
      return fs.readFileSync(path.join(root, rel), 'utf8');
    } catch {
      return undefined;
    }
  };
  const servicePid = () => Number(read(`run/${UNIT}.pid`) ?? 0) || undefined;
  // Live members only: an exited process can linger as a zombie until init reaps it.
  const unitRunning = async () => {
    const pid = servicePid();
    return pid !== undefined && (await liveGroupMembers(pid)).length > 0;
  };
  // The daemon's containers outlive a killed `docker run` client: this VM's is the one that mounts its folder.
  const work = path.join(root, 'var/lib/durable-finetune');
  const container = async (): Promise<string | undefined> => {
    if (!opts.docker) return undefined;
    const run = (args: string[]) => promisify(execFile)(opts.docker!, args).then((r) => r.stdout.trim());
    const id = await run(['ps', '-aq', '--filter', `name=^${CONTAINER}$`]).catch(() => '');
    if (!id) return undefined;
    const sources = await run(['inspect', '-f', '{{range .Mounts}}{{.Source}}{{"\\n"}}{{end}}', id]).catch(() => '');
    return sources.split('\n').includes(work) ? id : undefined;
  };
  const running = async () => (await unitRunning()) || (await container()) !== undefined;
  const vm: FakeVm = {
    name: inst.name,
    zone: inst.zone,
    root,
    booted,
    dockerRun() {
      const text = read('run/docker/finetune-agent.json');
      return text ? (JSON.parse(text) as DockerRun) : undefined;
    },
    serial: () => boot + (read(`var/log/${UNIT}.log`) ?? ''),
    running,
    async shutdown() {
      const t0 = Date.now();
      await booted.catch(() => undefined);
      let stoppedCleanly = true;
      if (await running()) {
        // systemd at ACPI soft-off; GCE does not wait past the grace.
        await promisify(execFile)(path.join(BIN, 'systemctl'), ['stop', UNIT], { env, timeout: PREEMPTION_GRACE_MS }).catch(() => {
          stoppedCleanly = false;
        });
      }
      // The VM is gone: nothing of it survives.
      const pid = servicePid();
      if (pid && (await unitRunning())) {
        stoppedCleanly = false;
        signalGroup(pid, 'SIGKILL');
        while (await unitRunning()) await sleep(50);
      }
      const left = await container();
      if (left) {
        stoppedCleanly = false;
        await promisify(execFile)(opts.docker!, ['rm', '-f', left]);
      }
      return { stoppedCleanly, seconds: (Date.now() - t0) / 1000 };
    },
  };
  Object.defineProperty(inst, 'serial', { get: () => vm.serial(), configurable: true });
  return vm;
}
