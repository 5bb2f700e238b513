#!/usr/bin/env bash
# Builds the trainer image (trainer/Dockerfile) on a machine that reaches no
# image registry and no package index from inside a build: the base image is
# made from Debian packages (debootstrap, docker import), and the pinned Python
# packages come from a wheel folder served on 127.0.0.1 during the build.
#
#   scripts/trainer-image.sh ensure-daemon  start dockerd if it does not answer (installs docker.io
#                                           when missing, as root); prints its pid if this call started it
#   scripts/trainer-image.sh base           the Debian base image (built once, then reused)
#   scripts/trainer-image.sh wheels         the wheel folder of trainer/requirements.txt (cached)
#   scripts/trainer-image.sh tag            the image name for this tree (no docker needed)
#   scripts/trainer-image.sh build          all of the above; prints the image name last on stdout
#
# Progress goes to stderr; stdout carries only the answer (a pid, a path, an image name).
#
# Docker CLI: Debian's /usr/bin/docker (docker.io, the same 20.10 release as the daemon) with
# the classic builder (DOCKER_BUILDKIT=0). A newer CLI without buildx refuses BuildKit builds,
# and the classic builder runs each RUN as a plain container with --network host, so the wheel
# server on 127.0.0.1 is reachable without BuildKit entitlements. FINETUNE_DOCKER overrides.
#
# Environment: FINETUNE_CACHE (default ~/.cache/durable-finetune) holds the wheels and the
# daemon's log; FINETUNE_WHEELS_PORT (default 39517) is the wheel server's port, fixed so that
# the pip layer's cache key (its build args) stays the same from build to build;
# FINETUNE_DEBIAN_MIRROR (default http://deb.debian.org/debian) feeds debootstrap.
set -euo pipefail
exec 3>&1 1>&2
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DOCKER=${FINETUNE_DOCKER:-/usr/bin/docker}
CACHE=${FINETUNE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/durable-finetune}
PORT=${FINETUNE_WHEELS_PORT:-39517}
MIRROR=${FINETUNE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=durable-finetune/debian-python:bookworm
IMAGE_REPO=durable-finetune/trainer
# What the base must hold for the Dockerfile and the agent: python3 with venv (the image's
# virtualenv), certificates (gs:// over TLS on a VM), passwd (useradd for the image's user).
BASE_PACKAGES=python3,python3-venv,ca-certificates,passwd

SCRIPT=trainer-image
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

as_root_apt() {
  [ "$(id -u)" -eq 0 ] || die "$1 is missing and installing it needs root: run 'sudo apt-get install -y $2' and retry"
  command -v apt-get >/dev/null || die "$1 is missing and this machine has no apt-get: install $2 (a Debian package) yourself"
  say "installing $2 (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null ||
    die "apt-get install $2 failed; install it by hand and retry"
}

daemon_answers() { "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# dockerd keeps only its log: an inherited pipe (this script's answer on fd 3, a test
# runner's stdout) would keep the caller waiting for as long as the daemon runs.
# No bridge and no iptables rules: containers get --network host or none, nothing else.
run_dockerd() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
  exec setsid dockerd --bridge=none --iptables=false >>"$CACHE/dockerd.log" 2>&1 </dev/null
}

ensure_daemon() {
  if [ ! -x "$DOCKER" ] || ! command -v dockerd >/dev/null; then as_root_apt "docker ($DOCKER, dockerd)" docker.io; fi
  [ -x "$DOCKER" ] || die "$DOCKER is not there even after installing docker.io; set FINETUNE_DOCKER to a docker CLI"
  daemon_answers && return 0
  [ "$(id -u)" -eq 0 ] || die "the docker daemon does not answer and starting it needs root: run 'sudo dockerd --bridge=none --iptables=false &' and retry"
  mkdir -p "$CACHE"
  say "starting dockerd (log: $CACHE/dockerd.log)"
  run_dockerd &
  local pid=$! i
  for i in $(seq 1 120); do
    if daemon_answers; then
      answer "$pid"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "dockerd exited at start; the end of $CACHE/dockerd.log:
$(tail -n 15 "$CACHE/dockerd.log")"
    sleep 0.5
  done
  die "dockerd (pid $pid) did not answer within 60 s; see $CACHE/dockerd.log"
}

ensure_base() {
  if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "base image $BASE_IMAGE is there"
    return 0
  fi
  command -v debootstrap >/dev/null || as_root_apt debootstrap debootstrap
  [ "$(id -u)" -eq 0 ] || die "debootstrap needs root to make $BASE_IMAGE"
  local rootfs start=$SECONDS
  rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/ft-rootfs.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$rootfs'" EXIT
  say "debootstrap bookworm ($BASE_PACKAGES) from $MIRROR"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 ||
    die "debootstrap failed; the end of its log:
$(tail -n 20 "$rootfs.log")"
  rm -f "$rootfs.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | import_rootfs - "$BASE_IMAGE"
  rm -rf "$rootfs"
  trap - EXIT
  say "made $BASE_IMAGE in $((SECONDS - start)) s"
}

requirements_hash() { sha256sum trainer/requirements.txt | cut -c1-16; }

# The whole requirements file, test-only packages too: the Dockerfile's filter is the one
# place that says what the image leaves out, and a few unused wheels in the folder cost nothing.
ensure_wheels() {
  local dir start=$SECONDS
  dir="$CACHE/wheels-$(requirements_hash)"
  if [ -f "$dir/.complete" ]; then
    say "wheels are there ($dir)"
    answer "$dir"
    return 0
  fi
  [ -x .venv/bin/pip ] || die "no .venv: run 'npm run setup' first (the wheels come from the same pinned set)"
  mkdir -p "$dir"
  say "downloading the wheels of trainer/requirements.txt into $dir (pip's cache makes a repeat fast)"
  .venv/bin/pip download --disable-pip-version-check -q --only-binary=:all: -r trainer/requirements.txt -d "$dir" ||
    die "pip download failed; the image needs a wheel for every pinned package"
  touch "$dir/.complete"
  # Wheels of earlier pins are 3 GB each and no longer built from.
  find "$CACHE" -maxdepth 1 -name 'wheels-*' -not -path "$dir" -exec rm -rf {} +
  say "wheels ready in $((SECONDS - start)) s"
  answer "$dir"
}

# Everything the Dockerfile reads, so an unchanged tree maps to an existing image.
image_tag() {
  local files
  files=$(find trainer/Dockerfile trainer/.dockerignore trainer/requirements.txt trainer/durable_finetune -type f \
    -not -path '*/__pycache__/*' -not -name '*.pyc' | LC_ALL=C sort)
  # shellcheck disable=SC2086
  echo "$IMAGE_REPO:$({ echo "base=$BASE_IMAGE"; sha256sum $files; } | sha256sum | cut -c1-16)"
}

build() {
  local image wheels server start=$SECONDS
  image=$(image_tag)
  ensure_daemon 3>/dev/null
  if "$DOCKER" image inspect "$image" >/dev/null 2>&1; then
    say "$image is there"
    answer "$image"
    return 0
  fi
  ensure_base
  wheels=$(ensure_wheels 3>&1 1>&2)
  local port=$PORT
  if (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    say "port $PORT is taken; serving the wheels on $port (the pip layer is rebuilt, its build args changed)"
  fi
  .venv/bin/python -m http.server --bind 127.0.0.1 --directory "$wheels" "$port" >/dev/null 2>&1 &
  server=$!
  # shellcheck disable=SC2064
  trap "kill $server 2>/dev/null || true" EXIT
  for _ in $(seq 1 100); do
    (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || die "the wheel server on 127.0.0.1:$port did not start"
    sleep 0.1
  done
  say "building $image from trainer/Dockerfile (base $BASE_IMAGE, wheels on 127.0.0.1:$port)"
  DOCKER_BUILDKIT=0 "$DOCKER" build --network host \
    --build-arg BASE_IMAGE="$BASE_IMAGE" \
    --build-arg PIP_NO_INDEX=1 \
    --build-arg PIP_FIND_LINKS="http://127.0.0.1:$port/" \
    -t "$image" trainer/ || die "docker build of $image failed (its output is above)"
  kill "$server" 2>/dev/null || true
  trap - EXIT
  say "built $image in $((SECONDS - start)) s"
  # Earlier trees' images differ only in their small code layer: untag them (one in use stays).
  "$DOCKER" images --format '{{.Repository}}:{{.Tag}}' "$IMAGE_REPO" | grep -vxF "$image" | xargs -r "$DOCKER" rmi >/dev/null 2>&1 || true
  answer "$image"
}

case "${1:-}" in
  ensure-daemon) ensure_daemon ;;
  base)
    ensure_daemon 3>/dev/null
    ensure_base
    ;;
  wheels) ensure_wheels ;;
  tag) answer "$(image_tag)" ;;
  build) build ;;
  *)
    echo "usage: scripts/trainer-image.sh ensure-daemon|base|wheels|tag|build" >&2
    exit 2
    ;;
esac
