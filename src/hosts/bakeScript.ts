/**
 * The startup script of an image bake's builder VM: it waits for the NVIDIA
 * driver the boot image installs at first boot, pulls the trainer image,
 * writes a marker that the bake finished (with the image's digest), says so
 * on the serial console, and powers the VM off. Its disk then becomes the
 * baked image (src/hosts/bake.ts): a host booted from it finds the driver
 * and the trainer image already there.
 *
 * Same quoting rules as the host's startup script (startupScript.ts): one
 * block of validated, single-quoted assignments, then fixed text that reads
 * them as "$VARIABLES". FT_ROOT roots every path in the tests' VM stand-in.
 */
import { checkValue, shellQuote, StartupValueInvalid, VALUES_BEGIN, VALUES_END } from './startupScript';

/** The bake's last word on the serial console; the command reads the digest from it. */
export const BAKE_DONE = 'finetune-bake: done:';
export const BAKE_FAILED = 'finetune-bake: failed:';
/** Where a baked disk says what it holds: trainer_image=, trainer_digest=, baked_at= lines. */
export const BAKE_MARKER = '/etc/durable-finetune/baked';

export interface BakeValues {
  trainerImage: string;
  /** GPUs of the machine type: above 0 the bake waits for a working nvidia-smi. */
  gpus: number;
  /** How long to wait for the driver before giving up (and powering off, so the command learns at once). */
  driverWaitS: number;
}

function checkCount(field: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new StartupValueInvalid(field, `${value} is not a whole number >= ${min}`);
  return value;
}

/** `finetune-bake: done: trainer image <ref> digest sha256:<hex>` in a serial console, parsed. */
export function bakeDoneIn(serial: string): { trainerImage: string; digest: string } | undefined {
  const m = /finetune-bake: done: trainer image (\S+) digest (sha256:[a-f0-9]{64})/.exec(serial);
  return m ? { trainerImage: m[1], digest: m[2] } : undefined;
}

export function renderBakeScript(v: BakeValues): string {
  const values = [
    `FT_IMAGE=${shellQuote(checkValue('host.trainer_image', v.trainerImage))}`,
    `FT_GPUS=${shellQuote(String(checkCount('gpus', v.gpus, 0)))}`,
    `FT_DRIVER_WAIT_S=${shellQuote(String(checkCount('driver wait', v.driverWaitS, 1)))}`,
  ].join('\n');
  return `#!/bin/bash
# durable-finetune image bake: makes this VM's disk a host image with the
# NVIDIA driver and the trainer image on it, then powers off. Rendered by
# \`finetune image bake\`; runs once, as root, at the builder's first boot.
set -uo pipefail
${VALUES_BEGIN}
${values}
${VALUES_END}

root="\${FT_ROOT:-}"
say() { echo "finetune-bake: $*"; }
# Powering off on a failure ends the bake at once: the command sees the VM stop without
# the done line and reports this console's tail instead of waiting out its timeout.
fail() {
  echo "${BAKE_FAILED} $*"
  sync
  systemctl poweroff
  exit 1
}

if [ "$FT_GPUS" -gt 0 ]; then
  say "waiting for the NVIDIA driver (nvidia-smi), at most $FT_DRIVER_WAIT_S s"
  waited=0
  until nvidia-smi -L >/dev/null 2>&1; do
    if [ "$waited" -ge "$FT_DRIVER_WAIT_S" ]; then
      fail "DriverMissing: no working nvidia-smi after $waited s; host.image must install the NVIDIA driver at first boot (the Deep Learning VM family does, from the install-nvidia-driver metadata)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "NVIDIA driver ready after $waited s: $(nvidia-smi -L 2>&1 | head -n 1)"
fi

registry="\${FT_IMAGE%%/*}"
case "$registry" in
  *.pkg.dev | gcr.io | *.gcr.io) gcloud auth configure-docker --quiet "$registry" >/dev/null 2>&1 || true ;;
esac
say "pulling $FT_IMAGE"
docker pull "$FT_IMAGE" || fail "ImagePullFailed: docker pull $FT_IMAGE failed (output above); check host.trainer_image and that the VM's service account may read it"
repo_digest="$(docker image inspect --format '{{index .RepoDigests 0}}' "$FT_IMAGE" 2>&1)" || fail "ImageInspectFailed: $repo_digest"
digest="\${repo_digest##*@}"
case "$digest" in
  sha256:*) ;;
  *) fail "ImageDigestMissing: docker reports no repo digest for $FT_IMAGE ($repo_digest)" ;;
esac

install -d -m 0755 "$root/etc/durable-finetune"
{
  echo "trainer_image=$FT_IMAGE"
  echo "trainer_digest=$digest"
  echo "baked_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$root${BAKE_MARKER}"
sync
echo "${BAKE_DONE} trainer image $FT_IMAGE digest $digest"
systemctl poweroff
`;
}
