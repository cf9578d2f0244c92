#!/usr/bin/env bash
# make kind-up: paysys on a local kind cluster against LocalStack, in the steps of main() below
# (deploy/README.md lists the same, in the same order). Safe to run again: it reuses the
# cluster and LocalStack, rebuilds and reloads the image, re-applies the manifests and
# restarts the pods. Inputs: IMAGE, KIND_CLUSTER (deploy.mk passes them) and the optional
# ones of deploy/scripts/image.sh (BASE_IMAGE, EXTRAS, WHEELS, DOCKER_BUILD_FLAGS).
# Sourced (tests/system/test_deploy_scripts.py), it only defines its functions.
set -euo pipefail
# shellcheck source=deploy/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONTEXT=kind-$KIND_CLUSTER
API_URL=http://127.0.0.1:8080
JOB_TIMEOUT_SECONDS=${JOB_TIMEOUT_SECONDS:-300}
POLL_SECONDS=${POLL_SECONDS:-2}

k() { kubectl --context "$CONTEXT" "$@"; }

step_count=0
step() {
  step_count=$((step_count + 1))
  say "step $step_count: $*"
}

preflight() {
  need_docker_engine
  need kind "install kind (Kubernetes in Docker)"
  need kubectl "install kubectl"
  compose version >/dev/null
}

ensure_cluster() {
  if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
    say "kind cluster $KIND_CLUSTER exists"
  else
    say "creating kind cluster $KIND_CLUSTER (API on $API_URL)"
    kind create cluster --name "$KIND_CLUSTER" --config deploy/kind/cluster.yaml --wait 120s
  fi
}

# start_localstack: LocalStack, reachable from the pods. kind's nodes live on the Docker
# network "kind"; attached to it, the LocalStack container is resolved by name from every pod
# (CoreDNS forwards to the node's Docker DNS).
start_localstack() {
  compose up --detach --wait localstack
  if docker inspect --format '{{range $net, $_ := .NetworkSettings.Networks}}{{$net}} {{end}}' \
    "$LOCALSTACK_CONTAINER" | tr ' ' '\n' | grep -qx kind; then
    say "$LOCALSTACK_CONTAINER is on the kind network"
  else
    say "attaching $LOCALSTACK_CONTAINER to the kind network"
    docker network connect kind "$LOCALSTACK_CONTAINER"
  fi
}

# load_image: put $IMAGE on the node. `kind load docker-image` fails with Docker's containerd
# image store (the default of recent Docker Desktop installs); an archive works with either.
load_image() {
  if kind load docker-image "$IMAGE" --name "$KIND_CLUSTER"; then
    return 0
  fi
  say "kind load docker-image failed: loading $IMAGE from an archive (docker save) instead"
  local archive status=0
  archive=$(mktemp -d)
  docker save --output "$archive/image.tar" "$IMAGE" &&
    kind load image-archive "$archive/image.tar" --name "$KIND_CLUSTER" || status=$?
  rm -rf "$archive"
  return "$status"
}

# wait_for_job NAME SECONDS: 0 once the Job succeeded, 1 once it failed or SECONDS passed. A
# failing `kubectl get` (an API server that blinks) is retried until then, never fatal.
wait_for_job() {
  local name=$1 deadline=$((SECONDS + $2)) state
  while ((SECONDS < deadline)); do
    if state=$(k -n "$NAMESPACE" get job "$name" -o \
      jsonpath='{.status.succeeded}/{.status.conditions[?(@.type=="Failed")].status}'); then
      case $state in
        1/*) return 0 ;;
        */True) return 1 ;;
      esac
    fi
    sleep "$POLL_SECONDS"
  done
  return 1
}

# provision: namespace, config and the Job first, so the API and the worker find their
# resources when they start. A Job cannot be changed: the old one is deleted and run again.
provision() {
  if k -n "$NAMESPACE" get job paysys-provision >/dev/null 2>&1; then
    k -n "$NAMESPACE" delete job paysys-provision --wait=true >/dev/null
  fi
  k apply -k deploy/kind --selector 'app.kubernetes.io/component notin (api,worker)'
  if ! wait_for_job paysys-provision "$JOB_TIMEOUT_SECONDS"; then
    k -n "$NAMESPACE" logs job/paysys-provision --tail 30 || true
    die "the provisioning Job did not succeed (kubectl --context $CONTEXT -n $NAMESPACE describe job paysys-provision)"
  fi
}

# ensure_api_key: the API requires a key (PAYSYS_AUTH=required). The Secret holds only its
# hash; the key is printed once, at the end, and kept nowhere. A re-run keeps the Secret.
api_key=""
ensure_api_key() {
  if k -n "$NAMESPACE" get secret paysys-api-keys >/dev/null 2>&1; then
    say "Secret paysys-api-keys exists: keeping its key (delete the Secret and re-run for a new one)"
  else
    say "generating an API key (paysys keygen in $IMAGE) into the Secret paysys-api-keys"
    new_api_key docker || die "paysys keygen in $IMAGE failed"
    k -n "$NAMESPACE" create secret generic paysys-api-keys \
      --from-literal=PAYSYS_API_KEYS="$api_hash" >/dev/null
  fi
}

# deploy_app: apply the API and the worker; restart each one that was already there (a rebuilt
# image under the same tag, or a changed ConfigMap, reaches new pods only); wait for both.
deploy_app() {
  local existing="" deployment
  for deployment in paysys-api paysys-worker; do
    if k -n "$NAMESPACE" get deployment "$deployment" >/dev/null 2>&1; then
      existing="$existing $deployment"
    fi
  done
  k apply -k deploy/kind
  for deployment in $existing; do
    k -n "$NAMESPACE" rollout restart "deployment/$deployment" >/dev/null
  done
  for deployment in paysys-api paysys-worker; do
    k -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout=180s
  done
}

apply_keda() {
  if k get crd scaledobjects.keda.sh >/dev/null 2>&1; then
    say "KEDA found: applying deploy/kind/keda (worker autoscaling on queue depth)"
    k apply -k deploy/kind/keda
  else
    say "KEDA not installed: the worker keeps 1 replica (install KEDA, then make kind-up again)"
  fi
}

print_usage() {
  say "paysys is up: $API_URL"
  if [[ -n $api_key ]]; then
    say "API key (shown once; only its hash is stored): $api_key"
  fi
  cat <<EOM
    export API_KEY=${api_key:-<the key printed when the Secret was made>}
    curl -s -XPOST $API_URL/payments -H "Authorization: Bearer \$API_KEY" \\
         -H 'Content-Type: application/json' -d '{"amount": "12.50", "currency": "BRL"}'
    curl -s -H "Authorization: Bearer \$API_KEY" $API_URL/payments/<id>
    kubectl --context $CONTEXT -n $NAMESPACE logs deploy/paysys-worker -f
EOM
}

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/../.."
  step "check the tools"
  preflight
  step "build the image"
  bash deploy/scripts/image.sh
  step "create the kind cluster"
  ensure_cluster
  step "start LocalStack"
  start_localstack
  step "load the image"
  load_image
  step "provision"
  provision
  step "create the API key"
  ensure_api_key
  step "deploy the API and the worker"
  deploy_app
  step "apply KEDA"
  apply_keda
  step "print the URL"
  print_usage
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
