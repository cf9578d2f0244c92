#!/usr/bin/env bash
# make smoke: the container image, run for real on this machine.
#
# Starts a private Docker engine (its own data root, exec root and socket in a temp dir; no
# iptables, IP forwarding or masquerading changes on the host, so containers reach nothing but
# each other and the loopback-published API port), makes a Debian base image with debootstrap
# (cached), builds the image from wheels downloaded on the host (the build itself runs with
# --network none), then on a private network runs the moto emulator (our image, extra
# `local`), `paysys provision`, the API and the worker; POSTs a payment from the host and
# waits for Approved (with an API key made by the image's `paysys keygen`; without it the POST
# must be refused); checks the HEALTHCHECK and a clean SIGTERM stop of both roles.
# Everything it started is removed on exit, whatever happens.
#
# Where no engine can be started (not Linux, not root, docker.io not installable, dockerd
# fails) it prints one line `SMOKE SKIPPED: <reason>` and exits 0; with SMOKE_REQUIRED=1 that
# is a failure instead. Any other problem fails (exit 1) with the log's tail.
#
# Environment: PYTHON (3.11+, runs pip and the client; deploy.mk passes the venv's),
# SMOKE_CACHE (base image cache, default ~/.cache/paysys-smoke), SMOKE_SUITE (bookworm),
# SMOKE_KEEP_LOG (copy the full log to .smoke/smoke.log; default on failure only).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=deploy/scripts/lib.sh
. deploy/scripts/lib.sh

PYTHON=${PYTHON:-python3}
SUITE=${SMOKE_SUITE:-bookworm}
CACHE_DIR=${SMOKE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/paysys-smoke}
BASE_IMAGE=paysys-smoke-base:$SUITE
BASE_TAR=$CACHE_DIR/$SUITE-minbase-python3.tar.gz
EMULATOR_PORT=5000

started=$SECONDS
work=""
dockerd_pid=""
log=/dev/null
prefix=paysys-smoke-$$
containers=()
network=""

# Progress lines; until the engine is up they go to the log only, so that a skip prints
# nothing but its one line.
quiet=1
note() {
  if [[ $quiet == 1 ]]; then printf 'smoke: %s\n' "$*" >>"$log"; else printf 'smoke: %s\n' "$*"; fi
}

skip() {
  if [[ ${SMOKE_REQUIRED:-0} == 1 ]]; then
    printf 'SMOKE FAILED: no Docker engine (SMOKE_REQUIRED=1): %s\n' "$*" >&2
    exit 1
  fi
  printf 'SMOKE SKIPPED: %s\n' "$*"
  exit 0
}

fail() {
  printf 'SMOKE FAILED: %s\n' "$*" >&2
  if [[ -s $log ]]; then
    printf -- '--- last lines of the smoke log ---\n' >&2
    tail -n 40 "$log" >&2
  fi
  for name in ${containers[@]+"${containers[@]}"}; do
    if dk inspect "$name" >/dev/null 2>&1; then
      printf -- '--- docker logs %s ---\n' "$name" >&2
      dk_logs --tail 20 "$name" >&2 || true
    fi
  done
  exit 1
}

# dk ARGS...: the docker CLI, talking to our private engine only (stderr to the log).
dk() { DOCKER_HOST="unix://$work/docker.sock" "$DOCKER" "$@" 2>>"$log"; }
# dk_logs ARGS...: a container's stdout and stderr, both on stdout.
dk_logs() { DOCKER_HOST="unix://$work/docker.sock" "$DOCKER" logs "$@" 2>&1; }

cleanup() {
  local rc=$?
  set +e
  if [[ -n $dockerd_pid ]]; then
    for name in ${containers[@]+"${containers[@]}"}; do dk rm --force --volumes "$name" >/dev/null; done
    [[ -n $network ]] && dk network rm "$network" >/dev/null
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  fi
  if [[ -n $work && -d $work ]]; then
    if [[ $rc != 0 || ${SMOKE_KEEP_LOG:-0} == 1 ]] && [[ -s $log ]]; then
      mkdir -p .smoke && cp "$log" .smoke/smoke.log && note "full log: .smoke/smoke.log"
    fi
    # Mounts the engine or debootstrap may leave behind, deepest first, then the files.
    awk -v w="$work" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r |
      while read -r mnt; do umount -l "$mnt"; done
    rm -rf "$work"
  fi
  return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. an engine we may start --------------------------------------------------------------
[[ $(uname -s) == Linux ]] || skip "not Linux: the smoke test starts a private Docker engine, which needs Linux"
[[ $(id -u) == 0 ]] || skip "not root: starting a private Docker engine needs root"

work=$(mktemp -d /tmp/paysys-smoke.XXXXXX) # short: the engine's sockets live under it
log=$work/smoke.log
: >"$log"

apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  # Refresh the package lists once, then install.
  if [[ -z ${apt_updated:-} ]]; then
    apt-get update -qq >>"$log" 2>&1 || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1
}

if ! command -v dockerd >/dev/null 2>&1; then
  note "installing docker.io and iptables (Debian packages)"
  apt_install docker.io iptables || skip "no dockerd, and the Debian package docker.io could not be installed"
fi
# The client that matches the engine: Debian's, when it is there.
if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
command -v "$DOCKER" >/dev/null 2>&1 || skip "dockerd is installed but no docker client is"

note "starting a private Docker engine in $work"
dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
  -H "unix://$work/docker.sock" --bridge=none --iptables=false --ip-forward=false \
  --ip-masq=false >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 60); do
  dk version >/dev/null && break
  kill -0 "$dockerd_pid" 2>/dev/null || break
  sleep 0.5
done
if ! dk version >/dev/null; then
  reason=$(grep -E 'level=(fatal|error)' "$work/dockerd.log" | tail -n 1 | sed -E 's/.*msg="([^"]*)".*/\1/')
  [[ -n $reason ]] || reason=$(tail -n 1 "$work/dockerd.log")
  skip "the Docker engine did not start: ${reason:-no output}"
fi
quiet=0
grep '^smoke: ' "$log" || true # the notes held back until now: this run is no skip
note "engine up: $(dk version --format 'Docker {{.Server.Version}}')"

# --- 2. a base image without a registry: debootstrap + docker import, cached ----------------
debian_mirror() {
  local sources=/etc/apt/sources.list.d/debian.sources
  if [[ -r $sources ]]; then
    awk '/^URIs:/ {print $2; exit}' "$sources"
  elif [[ -r /etc/apt/sources.list ]]; then
    awk '$1 == "deb" && $2 !~ /^\[/ {print $2; exit}' /etc/apt/sources.list
  fi
}

if [[ ! -s $BASE_TAR ]]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    note "installing debootstrap (Debian package)"
    apt_install debootstrap || fail "debootstrap is needed to make a base image and could not be installed"
  fi
  mirror=$(debian_mirror)
  [[ -n $mirror ]] || fail "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  note "making a $SUITE base image with debootstrap (about a minute, cached in $CACHE_DIR)"
  rootfs=$work/rootfs
  timeout 600 debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$rootfs" \
    "$mirror" >>"$log" 2>&1 || fail "debootstrap $SUITE from $mirror failed"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  mkdir -p "$CACHE_DIR"
  tar --numeric-owner -C "$rootfs" -c . | gzip -1 >"$BASE_TAR.tmp"
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  rm -rf "$rootfs"
else
  note "base image from the cache: $BASE_TAR"
fi
dk import "$BASE_TAR" "$BASE_IMAGE" >/dev/null || fail "docker import of $BASE_TAR failed"
pyver=$(dk run --rm --network none "$BASE_IMAGE" python3 -c \
  'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")') ||
  fail "the base image has no working python3"

# --- 3. the image: wheels from the host, built with no network ------------------------------
note "downloading wheels for Python $pyver on the host"
PYTHON=$PYTHON timeout 300 deploy/scripts/wheels.sh wheels "$pyver" local >>"$log" 2>&1 ||
  fail "downloading the wheels failed"
note "building $IMAGE (extras [local], --network none)"
build_started=$SECONDS
DOCKER_HOST="unix://$work/docker.sock" DOCKER=$DOCKER DOCKER_BUILDKIT=0 BASE_IMAGE=$BASE_IMAGE \
  WHEELS=wheels EXTRAS=local DOCKER_BUILD_FLAGS="--network none" \
  timeout 600 deploy/scripts/image.sh >>"$log" 2>&1 || fail "docker build failed"
build_s=$((SECONDS - build_started))
size=$(dk image inspect --format '{{.Size}}' "$IMAGE")
user=$(dk image inspect --format '{{.Config.User}}' "$IMAGE")
[[ $user == 10001:10001 ]] || fail "the image runs as '$user', not the non-root 10001:10001"
shipped=$(dk run --rm -i --network none --entrypoint python "$IMAGE" - <deploy/scripts/shipped_check.py 2>&1) \
  || fail "the image ships dev tooling: $shipped"

# --- 4. emulator, provision, API and worker on a private network ---------------------------
network=$prefix
dk network create "$network" >/dev/null || fail "docker network create failed"
hardened=(--network "$network" --read-only --tmpfs /tmp --cap-drop ALL
  --security-opt no-new-privileges)
paysys_env=(-e "PAYSYS_AWS_ENDPOINT_URL=http://emulator:$EMULATOR_PORT" -e PAYSYS_WORKER_WAIT_SECONDS=2
  -e PAYSYS_AUTH=required)
new_api_key dk || fail "paysys keygen in the image failed"

note "starting the emulator (python -m paysys.local.moto_atomic in our image)"
containers+=("$prefix-emulator")
dk run --detach --name "$prefix-emulator" --network-alias emulator --no-healthcheck \
  ${hardened[@]+"${hardened[@]}"} --entrypoint python "$IMAGE" -m paysys.local.moto_atomic -H 0.0.0.0 -p "$EMULATOR_PORT" \
  >/dev/null || fail "the emulator container did not start"
for _ in $(seq 60); do
  dk exec "$prefix-emulator" python -c "import urllib.request as u; \
u.urlopen('http://127.0.0.1:$EMULATOR_PORT/moto-api/data.json', timeout=2)" >/dev/null 2>&1 && break
  sleep 0.5
done

note "running paysys provision"
containers+=("$prefix-provision")
dk run --name "$prefix-provision" ${hardened[@]+"${hardened[@]}"} ${paysys_env[@]+"${paysys_env[@]}"} "$IMAGE" provision >/dev/null ||
  fail "paysys provision failed"
# Its log line: {"event": "provisioned", "created": [...], ...}
created=$(dk_logs "$prefix-provision" | "$PYTHON" -c '
import json, sys
for line in sys.stdin:
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if isinstance(entry, dict) and entry.get("event") == "provisioned":
        print(", ".join(entry["created"]) or "nothing (all there already)")
        break
else:
    sys.exit("no provisioned line")
') || fail "paysys provision logged no 'provisioned' line"

note "starting the API and the worker"
containers+=("$prefix-api" "$prefix-worker")
health=(--health-interval 2s --health-start-period 5s)
dk run --detach --name "$prefix-api" ${hardened[@]+"${hardened[@]}"} ${paysys_env[@]+"${paysys_env[@]}"} ${health[@]+"${health[@]}"} \
  -e "PAYSYS_API_KEYS=$api_hash" --publish 127.0.0.1::8080 "$IMAGE" >/dev/null ||
  fail "the API container did not start"
dk run --detach --name "$prefix-worker" ${hardened[@]+"${hardened[@]}"} ${paysys_env[@]+"${paysys_env[@]}"} ${health[@]+"${health[@]}"} \
  "$IMAGE" --role worker >/dev/null || fail "the worker container did not start"
api_port=$(dk port "$prefix-api" 8080/tcp | head -n 1 | sed 's/.*://')
[[ -n $api_port ]] || fail "the API port was not published"

# --- 5. a payment from the host -------------------------------------------------------------
note "POST /payments on http://127.0.0.1:$api_port and polling until Approved"
result=$(SMOKE_API_KEY=$api_key "$PYTHON" deploy/scripts/smoke_client.py \
  "http://127.0.0.1:$api_port" --timeout 90 2>&1) ||
  fail "${result:-the smoke client failed}"

health_of() { dk inspect --format '{{.State.Health.Status}}' "$1"; }
for _ in $(seq 40); do
  [[ $(health_of "$prefix-api") == healthy && $(health_of "$prefix-worker") == healthy ]] && break
  sleep 0.5
done
api_health=$(health_of "$prefix-api")
worker_health=$(health_of "$prefix-worker")
[[ $api_health == healthy && $worker_health == healthy ]] ||
  fail "HEALTHCHECK: api is $api_health, worker is $worker_health"

# --- 6. SIGTERM: both roles stop cleanly, well inside a pod's grace period ------------------
stopped_in=""
stop_clean() {
  local name=$1 t0=$SECONDS code
  dk stop --time 30 "$name" >/dev/null || fail "docker stop $name failed"
  code=$(dk inspect --format '{{.State.ExitCode}}' "$name")
  [[ $code == 0 ]] || fail "$name exited with code $code on SIGTERM"
  stopped_in=$((SECONDS - t0))
}
stop_clean "$prefix-api"
api_stop=$stopped_in
stop_clean "$prefix-worker"
worker_stop=$stopped_in

total=$((SECONDS - started))
cat <<EOF
SMOKE PASSED
  image      $IMAGE, $((size / 1000000)) MB, user $user, base $BASE_IMAGE (Python $pyver), built offline in ${build_s}s
  package    $shipped
  provision  created: $created
  payment    $result
  health     api $api_health, worker $worker_health (image HEALTHCHECK)
  SIGTERM    api exited 0 in ${api_stop}s, worker exited 0 in ${worker_stop}s
  total      ${total}s; engine, containers and network removed
EOF
