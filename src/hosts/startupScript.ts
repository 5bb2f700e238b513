/**
 * The VM's startup script: runs the trainer image's agent against the run's
 * store with its host id, as a systemd unit whose stop (GCE's ACPI soft-off,
 * also 30 s before a spot VM is stopped) is a SIGTERM to the agent, which
 * then commits a checkpoint.
 *
 * The only variable part is one block of shell assignments. Each value is
 * validated (no control characters, bounded length) and single-quoted, and
 * every line after the block is fixed text that reads the values as quoted
 * "$VARIABLES": a value can carry quotes, $(), backticks or any unicode and
 * still arrive as the same bytes, never as code.
 *
 * FT_ROOT is unset on a VM (the script runs as root at boot, with a clean
 * environment). The VM stand-in of the tests (test/support/fakeVm.ts) sets it
 * to a folder, so the very script that a VM runs also runs there, files and
 * all, without touching this machine's /etc.
 */
import { runIdProblem } from '../jobs/runId';

/**
 * The uid:gid the agent runs as in the trainer image: the startup script passes it to
 * `docker run --user` and gives it the work folder mounted at /work. trainer/Dockerfile
 * creates this user (its TRAINER_UID build arg); test/container checks the two agree.
 */
export const AGENT_UID = 1000;

export interface StartupValues {
  storeUri: string;
  runId: string;
  hostId: string;
  trainerImage: string;
  /**
   * GPUs the VM must have (expectedGpus of the config): above 0 the agent runs with
   * `--gpus all`, and a VM without the NVIDIA driver stops at boot instead of training on
   * the CPU; 0 runs it without GPUs.
   */
  gpus: number;
  /** Extra environment for the agent container (e.g. STORAGE_EMULATOR_HOST in tests). */
  env?: Record<string, string>;
}

export class StartupValueInvalid extends Error {
  readonly name = 'StartupValueInvalid';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`startup script value ${field} is invalid: ${reason}`);
  }
}

const MAX_VALUE = 2048;
export const VALUES_BEGIN = '# --- values (rendered, single-quoted) ---';
export const VALUES_END = '# --- end of values ---';

/** Single-quotes a string for bash: the only character that needs care is ' itself. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function checkValue(field: string, value: string): string {
  if (typeof value !== 'string') throw new StartupValueInvalid(field, 'not a string');
  if (value.length === 0) throw new StartupValueInvalid(field, 'empty');
  if (value.length > MAX_VALUE) throw new StartupValueInvalid(field, `longer than ${MAX_VALUE} characters`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new StartupValueInvalid(field, 'contains a control character (newline, tab, NUL, ...)');
  return value;
}

/** A run or host id: a value, and the run id rule (src/jobs/runId.ts) too. */
function checkId(field: string, value: string): string {
  const problem = runIdProblem(checkValue(field, value));
  if (problem) throw new StartupValueInvalid(field, problem);
  return value;
}

function checkCount(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new StartupValueInvalid(field, `${value} is not a whole number >= 0`);
  return value;
}

/** The assignment block alone: also what tests run through bash to prove values arrive inert. */
export function renderValues(v: StartupValues): string {
  const lines = [
    `FT_STORE=${shellQuote(checkValue('store', v.storeUri))}`,
    // Quoting makes any value safe for bash; the run id rule also keeps an id from reading as an agent option.
    `FT_RUN_ID=${shellQuote(checkId('run id', v.runId))}`,
    `FT_HOST_ID=${shellQuote(checkId('host id', v.hostId))}`,
    `FT_IMAGE=${shellQuote(checkValue('host.trainer_image', v.trainerImage))}`,
    `FT_GPUS=${shellQuote(String(checkCount('gpus', v.gpus)))}`,
    `FT_AGENT_UID=${shellQuote(String(AGENT_UID))}`,
    'FT_ENV=()',
  ];
  for (const [name, value] of Object.entries(v.env ?? {})) {
    if (!/^[A-Z_][A-Z0-9_]{0,63}$/.test(name)) throw new StartupValueInvalid(`env ${JSON.stringify(name)}`, 'use UPPER_CASE letters, digits and _');
    lines.push(`FT_ENV+=(-e ${shellQuote(`${name}=${checkValue(`env ${name}`, value)}`)})`);
  }
  return [VALUES_BEGIN, ...lines, VALUES_END].join('\n');
}

export function renderStartupScript(v: StartupValues): string {
  return `#!/bin/bash
# durable-finetune host: runs the agent of one run on this VM. Rendered by the
# control plane; runs as root at every boot.
set -euo pipefail
${renderValues(v)}

root="\${FT_ROOT:-}"
install -d -m 0755 "$root/etc/durable-finetune" "$root/etc/systemd/system"
# The container's /work: the agent's user must own it, or its first mkdir there fails.
install -d -m 0750 -o "$FT_AGENT_UID" -g "$FT_AGENT_UID" "$root/var/lib/durable-finetune"
# bash writes the values back out in its own quoting; the unit's script sources them.
declare -p FT_STORE FT_RUN_ID FT_HOST_ID FT_IMAGE FT_GPUS FT_AGENT_UID FT_ENV > "$root/etc/durable-finetune/agent.vars"

cat > "$root/etc/durable-finetune/run-agent.sh" <<'FT_RUN_AGENT'
#!/bin/bash
set -euo pipefail
source "\${FT_ROOT:-}/etc/durable-finetune/agent.vars"
gpus=()
if [ "$FT_GPUS" -gt 0 ]; then
  # A GPU machine type without a driver must not train on the CPU. Exiting fails the unit,
  # which systemd restarts every 10 s: a driver the boot image installs later is picked up,
  # and until then this line is on the serial console (and in the run's failure).
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "finetune-agent: GpuMissing: this VM should have $FT_GPUS GPU(s) but has no nvidia-smi (no NVIDIA driver); not starting a CPU run. Fix: a host.image with the driver (the Deep Learning VM family, which installs it at first boot from the install-nvidia-driver metadata), or install the driver and the NVIDIA container toolkit in your image" >&2
    exit 3
  fi
  gpus=(--gpus all)
fi
registry="\${FT_IMAGE%%/*}"
case "$registry" in
  *.pkg.dev | gcr.io | *.gcr.io) gcloud auth configure-docker --quiet "$registry" >/dev/null 2>&1 || true ;;
esac
# A baked host.image (finetune image bake) has the trainer image on its disk: no pull. Any
# other image pulls it here, where the console shows the pull, not inside docker run.
if docker image inspect "$FT_IMAGE" >/dev/null 2>&1; then
  echo "finetune-agent: trainer image $FT_IMAGE is on this disk (baked host.image): no pull"
else
  echo "finetune-agent: pulling trainer image $FT_IMAGE"
  docker pull "$FT_IMAGE"
fi
docker rm -f finetune-agent >/dev/null 2>&1 || true
# --init: the agent gets SIGTERM from docker stop and its stage processes are reaped.
exec docker run --rm --init --name finetune-agent --network host --shm-size 16g \\
  --user "$FT_AGENT_UID:$FT_AGENT_UID" "\${gpus[@]}" "\${FT_ENV[@]}" \\
  -v "\${FT_ROOT:-}/var/lib/durable-finetune:/work" \\
  "$FT_IMAGE" \\
  python -m durable_finetune.agent --store "$FT_STORE" --run "$FT_RUN_ID" --host "$FT_HOST_ID" --workdir /work/agent
FT_RUN_AGENT
chmod 0755 "$root/etc/durable-finetune/run-agent.sh"

cat > "$root/etc/systemd/system/finetune-agent.service" <<'FT_UNIT'
[Unit]
Description=durable-finetune host agent
Wants=network-online.target
After=network-online.target docker.service
Requires=docker.service

[Service]
ExecStart=/etc/durable-finetune/run-agent.sh
# ACPI soft-off (shutdown, spot preemption) stops this unit: SIGTERM to the
# agent, which commits a checkpoint; GCE hard-stops a spot VM 30 s later.
ExecStop=/usr/bin/docker stop --time 25 finetune-agent
TimeoutStopSec=28
Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
FT_UNIT

systemctl daemon-reload
systemctl enable --now finetune-agent.service
`;
}

/** The shutdown script: the same SIGTERM when GCE runs shutdown scripts before systemd stops units. */
export function renderShutdownScript(): string {
  return `#!/bin/bash
docker stop --time 25 finetune-agent || true
`;
}
