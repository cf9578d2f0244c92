#!/usr/bin/env bash
# make kind-up: paysys on a local kind cluster against LocalStack. Safe to run again: it
# reuses the cluster and LocalStack, reloads the image and re-applies the manifests.
#   deploy/scripts/kind-up.sh --preflight   only check the tools (make runs it first)
#   deploy/scripts/kind-up.sh               the rest, once `make image` has built $IMAGE
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=deploy/scripts/lib.sh
. deploy/scripts/lib.sh

CONTEXT=kind-$KIND_CLUSTER
API_URL=http://127.0.0.1:8080

preflight() {
  need_docker_engine
  need kind "install kind (Kubernetes in Docker)"
  need kubectl "install kubectl"
  compose version >/dev/null
}

preflight
if [[ ${1:-} == --preflight ]]; then
  exit 0
fi

k() { kubectl --context "$CONTEXT" "$@"; }

# --- cluster --------------------------------------------------------------------------------
if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  say "kind cluster $KIND_CLUSTER exists"
else
  say "creating kind cluster $KIND_CLUSTER (API on $API_URL)"
  kind create cluster --name "$KIND_CLUSTER" --config deploy/kind/cluster.yaml --wait 120s
fi

# --- LocalStack, reachable from the pods ---------------------------------------------------
say "starting LocalStack ($LOCALSTACK_CONTAINER)"
compose up --detach --wait localstack
# kind's nodes live on the Docker network "kind". Attached to it, the LocalStack container
# is resolved by name from every pod (CoreDNS forwards to the node's Docker DNS).
if docker inspect --format '{{range $net, $_ := .NetworkSettings.Networks}}{{$net}} {{end}}' \
  "$LOCALSTACK_CONTAINER" | tr ' ' '\n' | grep -qx kind; then
  say "$LOCALSTACK_CONTAINER is on the kind network"
else
  say "attaching $LOCALSTACK_CONTAINER to the kind network"
  docker network connect kind "$LOCALSTACK_CONTAINER"
fi

# --- image ----------------------------------------------------------------------------------
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "image $IMAGE not found: run make image"
say "loading $IMAGE into the cluster"
kind load docker-image "$IMAGE" --name "$KIND_CLUSTER"

# --- manifests ------------------------------------------------------------------------------
# Provision first (namespace, config, Job), so the API and the worker find their resources
# when they start; a Job cannot be changed, so the old one is deleted and run again.
if k -n "$NAMESPACE" get job paysys-provision >/dev/null 2>&1; then
  k -n "$NAMESPACE" delete job paysys-provision --wait=true >/dev/null
fi
say "provisioning (Job paysys-provision)"
k apply -k deploy/kind --selector 'app.kubernetes.io/component notin (api,worker)'
for _ in $(seq 150); do
  succeeded=$(k -n "$NAMESPACE" get job paysys-provision -o jsonpath='{.status.succeeded}')
  failed=$(k -n "$NAMESPACE" get job paysys-provision \
    -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')
  [[ $succeeded == 1 || $failed == True ]] && break
  sleep 2
done
if [[ ${succeeded:-} != 1 ]]; then
  k -n "$NAMESPACE" logs job/paysys-provision --tail 30 || true
  die "the provisioning Job did not succeed (kubectl --context $CONTEXT -n $NAMESPACE describe job paysys-provision)"
fi

# --- API key --------------------------------------------------------------------------------
# The API requires a key (PAYSYS_AUTH=required in the ConfigMap). The Secret holds only its
# hash; the key is printed once, below, and kept nowhere. A re-run keeps the Secret.
api_key=""
if k -n "$NAMESPACE" get secret paysys-api-keys >/dev/null 2>&1; then
  say "Secret paysys-api-keys exists: keeping its key (delete the Secret and re-run for a new one)"
else
  say "generating an API key (paysys keygen in $IMAGE) into the Secret paysys-api-keys"
  new_api_key docker || die "paysys keygen in $IMAGE failed"
  k -n "$NAMESPACE" create secret generic paysys-api-keys \
    --from-literal=PAYSYS_API_KEYS="$api_hash" >/dev/null
fi

say "deploying the API and the worker"
existed=0
k -n "$NAMESPACE" get deployment paysys-api paysys-worker >/dev/null 2>&1 && existed=1
k apply -k deploy/kind
if k get crd scaledobjects.keda.sh >/dev/null 2>&1; then
  say "KEDA found: applying deploy/kind/keda (worker autoscaling on queue depth)"
  k apply -k deploy/kind/keda
else
  say "KEDA not installed: the worker keeps 1 replica (install KEDA, then make kind-up again)"
fi
# A re-run loads a rebuilt image under the same tag (and maybe a changed ConfigMap): restart
# the pods that were already there so they pick both up.
if [[ $existed == 1 ]]; then
  k -n "$NAMESPACE" rollout restart deployment/paysys-api deployment/paysys-worker >/dev/null
fi
for deployment in paysys-api paysys-worker; do
  k -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout=180s
done

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
