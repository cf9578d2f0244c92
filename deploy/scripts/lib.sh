# shellcheck shell=bash disable=SC2034  # constants used by the scripts that source this file
# Helpers shared by deploy/scripts/*.sh (sourced, never run). Each script runs from the
# repository root with `set -euo pipefail`.

# The image every manifest names; deploy.mk passes it, tests/system/test_deploy.py keeps them equal.
IMAGE=${IMAGE:-paysys:0.1.0}
KIND_CLUSTER=${KIND_CLUSTER:-payment-system}
NAMESPACE=paysys
LOCALSTACK_CONTAINER=paysys-localstack
COMPOSE_FILE=deploy/localstack/compose.yaml

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need TOOL HINT: stop with a clear message when TOOL is not on PATH.
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed or not on PATH: $2"
}

need_docker_engine() {
  need docker "install Docker (the engine and its CLI)"
  docker info >/dev/null 2>&1 ||
    die "docker cannot reach a Docker engine: is it running, and may this user use it? (try: docker info)"
}

# compose ARGS...: Docker Compose v2 (`docker compose`), or the standalone docker-compose.
compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -f "$COMPOSE_FILE" "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f "$COMPOSE_FILE" "$@"
  else
    die "Docker Compose is not installed (neither 'docker compose' nor 'docker-compose')"
  fi
}

# new_api_key DOCKER...: run `paysys keygen` in $IMAGE through the given docker command (the
# CLI, or a function wrapping it); sets api_key (for the client) and api_hash (for
# PAYSYS_API_KEYS). Fails when keygen fails or prints no key and hash.
new_api_key() {
  local printed
  printed=$("$@" run --rm --network none "$IMAGE" keygen) || return 1
  api_key=$(awk '$1 == "key:" {print $2}' <<<"$printed")
  api_hash=$(awk '$1 == "hash:" {print $2}' <<<"$printed")
  [[ -n $api_key && -n $api_hash ]]
}
