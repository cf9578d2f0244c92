#!/usr/bin/env bash
# make kind-down: delete the kind cluster and stop LocalStack. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=deploy/scripts/lib.sh
. deploy/scripts/lib.sh

need_docker_engine
need kind "install kind (Kubernetes in Docker)"

if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  say "deleting kind cluster $KIND_CLUSTER"
  kind delete cluster --name "$KIND_CLUSTER"
else
  say "no kind cluster $KIND_CLUSTER"
fi
say "stopping LocalStack and anything else of deploy/localstack/compose.yaml"
compose --profile app down --volumes --remove-orphans
