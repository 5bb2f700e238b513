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
 *
 * The disk is played too: a VM whose boot image has GPUs to drive and the
 * install-nvidia-driver metadata gets an nvidia-smi in its /usr/bin after a
 * moment (what a Deep Learning VM image does at first boot), unless its disk
 * has one already; the stand-in docker keeps pulled images on the disk; a
 * VM made from an image a bake made (attachVms) starts from a copy of that
 * builder's files. `systemctl poweroff` in the VM powers its instance off.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { gpusOfMachineType } from '../../src/config/machineGpus';
import { liveGroupMembers, signalGroup } from '../../src/hosts/processes';
import { projectRoot } from '../../src/paths';
import { GCE_PREEMPTION_NOTICE_S } from '../../src/hosts/provider';
import type { FakeCompute, FakeInstance } from './fakeCompute';

const UNIT = 'finetune-agent.service';
/** The container name the startup script gives the agent. */
const CONTAINER = 'finetune-agent';
/** GCE hard-stops a spot VM this long after the preemption notice. */
export const PREEMPTION_GRACE_MS = GCE_PREEMPTION_NOTICE_S * 1000;
const BIN = path.join(projectRoot, 'test/support/vm');
/** How long the fake first-boot driver install takes. */
const DRIVER_INSTALL_MS = 300;
/** Where the VM's disk logs what was installed and pulled, a line per event with the VM's name: a copy of the disk keeps them. */
export const DRIVER_LOG = 'var/log/nvidia-driver-install.log';
export const PULL_LOG = 'var/log/docker-pulls.log';

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
  /** Lines of a log on the VM's disk (DRIVER_LOG, PULL_LOG): `<vm name> <what>`. */
  logLines(rel: string): string[];
}

export interface FakeVmOptions {
  /** VMs' roots go under dir/vms/<name>. */
  dir: string;
  /** The python that plays the trainer image (the project's .venv). */
  python?: string;
  /** A real docker CLI: the VM runs the real trainer image through it instead of the stand-in. */
  docker?: string;
  /** The files a VM booted from this image starts with (a baked image's), or undefined for a stock image. */
  imageRoot?: (sourceImage: string) => string | undefined;
  /** The guest ran `systemctl poweroff`. */
  onPowerOff?: () => void;
  /** 'never': the first-boot driver install never finishes (a broken image). */
  driver?: 'installs' | 'never';
  /** An image reference the stand-in registry refuses to serve (docker pull fails). */
  pullDenied?: string;
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
  const sourceImage = ((inst.body.disks ?? []) as { initializeParams?: { sourceImage?: string } }[])[0]?.initializeParams?.sourceImage ?? '';
  const imageRoot = opts.imageRoot?.(sourceImage);
  // A disk made from a baked image holds the builder's files; /run is a tmpfs on a real VM, so none of it.
  if (imageRoot) fs.cpSync(imageRoot, root, { recursive: true });
  fs.mkdirSync(root, { recursive: true });
  const script = inst.metadata.items.find((i) => i.key === 'startup-script')?.value;
  if (!script) throw new Error(`instance ${inst.name} has no startup-script metadata`);
  const scriptFile = path.join(root, 'startup-script');
  fs.writeFileSync(scriptFile, script, { mode: 0o755 });
  const env = {
    // The VM's own /usr/bin first: where the first-boot driver install puts nvidia-smi.
    PATH: `${path.join(root, 'usr/bin')}:${opts.docker ? realDockerBin(opts.dir, opts.docker) : BIN}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
    FT_ROOT: root,
    FT_VM_NAME: inst.name,
    FT_VM_PYTHON: opts.python ?? path.join(projectRoot, '.venv/bin/python'),
    FT_VM_PYTHONPATH: path.join(projectRoot, 'trainer'),
    ...(opts.pullDenied ? { FT_VM_PULL_DENIED: opts.pullDenied } : {}),
  };
  let boot = `[fake vm] ${inst.name} booting in ${inst.zone}${imageRoot ? ` from ${sourceImage} (baked)` : ''}\n`;
  installDriver(inst, root, opts, (line) => (boot += line));
  const bootOutput = (d: Buffer) => (boot += d.toString().replace(/^/gm, 'startup-script: '));
  const child = spawn('bash', [scriptFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', bootOutput);
  child.stderr.on('data', bootOutput);
  const booted = new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => {
      // `systemctl poweroff` (the stand-in) left its mark: the guest shuts the VM down.
      if (fs.existsSync(path.join(root, 'run/poweroff'))) opts.onPowerOff?.();
      if (code === 0) resolve();
      else reject(new Error(`startup script of ${inst.name} exited ${code}:\n${boot}`));
    }),
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
    logLines: (rel) => (read(rel) ?? '').split('\n').filter(Boolean),
    async shutdown() {
      const t0 = Date.now();
      // A startup script still running (a bake waiting for its driver) dies with the VM.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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

/**
 * The first-boot driver install of a Deep Learning VM image: with GPUs to drive and the
 * install-nvidia-driver metadata, an nvidia-smi appears on the disk after a moment; a disk
 * that has one (a baked image) installs nothing.
 */
function installDriver(inst: FakeInstance, root: string, opts: FakeVmOptions, say: (line: string) => void): void {
  const machineType =
    String(inst.body.machineType ?? '')
      .split('/')
      .pop() ?? '';
  const wanted = inst.metadata.items.some((i) => i.key === 'install-nvidia-driver' && i.value === 'True');
  const smi = path.join(root, 'usr/bin/nvidia-smi');
  if (!wanted || !(gpusOfMachineType(machineType) ?? 0)) return;
  if (fs.existsSync(smi)) {
    say('[fake vm] NVIDIA driver already installed on this disk\n');
    return;
  }
  if (opts.driver === 'never') {
    say('[fake vm] installing the NVIDIA driver (it will never finish)\n');
    return;
  }
  say('[fake vm] installing the NVIDIA driver\n');
  setTimeout(() => {
    fs.mkdirSync(path.dirname(smi), { recursive: true });
    const gpus = gpusOfMachineType(machineType) ?? 0;
    const lines = Array.from({ length: gpus }, (_, n) => `echo 'GPU ${n}: NVIDIA A100-SXM4-40GB (UUID: GPU-fake-${n})'`).join('\n');
    fs.writeFileSync(smi, `#!/bin/bash\n${lines}\n`, { mode: 0o755 });
    fs.mkdirSync(path.join(root, path.dirname(DRIVER_LOG)), { recursive: true });
    fs.appendFileSync(path.join(root, DRIVER_LOG), `${inst.name} installed the NVIDIA driver for ${machineType}\n`);
    say('[fake vm] NVIDIA driver installed\n');
  }, DRIVER_INSTALL_MS).unref();
}

/**
 * Every VM the fake makes boots here (bootVm), a deleted one shuts down, a guest power-off
 * stops its instance, and an image made from a VM's disk keeps a copy of that VM's files,
 * which VMs booted from the image (by name or family) start from.
 */
export function attachVms(fake: FakeCompute, opts: FakeVmOptions): { vms: FakeVm[]; shutdowns: Promise<unknown>[] } {
  const vms: FakeVm[] = [];
  const shutdowns: Promise<unknown>[] = [];
  const imagesDir = path.join(opts.dir, 'images');
  const imageRoot = (sourceImage: string): string | undefined => {
    const family = /\/global\/images\/family\/([^/]+)$/.exec(sourceImage)?.[1];
    const name = family
      ? [...fake.images.values()]
          .filter((i) => i.family === family)
          .sort((a, b) => a.creationTimestamp.localeCompare(b.creationTimestamp))
          .pop()?.name
      : /\/global\/images\/([^/]+)$/.exec(sourceImage)?.[1];
    return name && fs.existsSync(path.join(imagesDir, name)) ? path.join(imagesDir, name) : undefined;
  };
  fake.onCreate = (inst) => vms.push(bootVm(inst, { ...opts, imageRoot, onPowerOff: () => fake.guestPowerOff(inst.zone, inst.name) }));
  fake.onDelete = (inst) => {
    const found = vms.find((v) => v.name === inst.name && v.zone === inst.zone);
    if (found) shutdowns.push(found.shutdown());
  };
  fake.onImage = (image) => {
    const vm = vms.find((v) => v.name === image.sourceInstance.name && v.zone === image.sourceInstance.zone);
    if (!vm) return;
    fs.cpSync(vm.root, path.join(imagesDir, image.name), { recursive: true, filter: (src) => src !== path.join(vm.root, 'run') && src !== path.join(vm.root, 'startup-script') });
  };
  return { vms, shutdowns };
}
