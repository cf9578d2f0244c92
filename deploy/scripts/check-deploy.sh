#!/usr/bin/env bash
# make check-deploy: every offline check of the deployment files. Installs its own pinned tools
# (deploy/scripts/tools.sh, and promtool through deploy/scripts/check-alerts.sh); needs no
# Docker, cluster or network beyond those installs. Runs every check, then fails if any failed.
#   PYTEST   the project's pytest, for tests/system/test_deploy.py (deploy.mk passes the venv's)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=deploy/scripts/lib.sh
. deploy/scripts/lib.sh

bin=$(bash deploy/scripts/tools.sh)
export PATH="$bin:$PATH"
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT

failed=()
check() {
  local name=$1
  shift
  say "$name"
  if "$@"; then
    printf '    ok\n'
  else
    printf '    FAILED: %s\n' "$name"
    failed+=("$name")
  fi
}

# The kustomizations anyone applies: kind (make kind-up), its KEDA part, and EKS.
overlays="deploy/kind deploy/kind/keda deploy/aws"

# render: each overlay into $rendered/<overlay with / as ->.yaml.
render() {
  local overlay
  for overlay in $overlays; do
    kubectl kustomize "$overlay" >"$rendered/${overlay//\//-}.yaml" || return 1
  done
}

# The oldest and the newest Kubernetes a kind node image or EKS is likely to run; --strict
# rejects unknown fields. KEDA's kinds have no bundled schema (warned about, not failed);
# tests/system/test_deploy.py checks them against the worker and the ConfigMap instead.
validate() {
  local version out
  for version in 1.29.0 1.37.0; do
    if ! out=$(kubernetes-validate --strict -k "$version" "$rendered"/*.yaml 2>&1); then
      printf '%s\n' "$out"
      return 1
    fi
    printf '    Kubernetes %s: %d resources passed; no schema (KEDA CRDs): %s\n' "$version" \
      "$(grep -c ' passed for resource ' <<<"$out")" \
      "$(grep -o "for kind [A-Za-z]*" <<<"$out" | sed 's/for kind //' | sort -u | paste -sd, -)"
  done
}

checkov_scan() {
  cp Dockerfile "$rendered/Dockerfile"
  cp deploy/aws/paysys.yaml "$rendered/paysys.cfn.yaml"
  checkov --config-file deploy/checkov.yaml --directory "$rendered" || return 1
  printf '    skipped (reasons in deploy/checkov.yaml): %s\n' \
    "$(grep -oE '^  - CKV[A-Z0-9_]+' deploy/checkov.yaml | sed 's/  - //' | paste -sd, -)"
}

check "kustomize build ($overlays)" render
check "kubernetes-validate --strict (Kubernetes 1.29 and 1.37)" validate
check "check-jsonschema: compose file (builtin compose-spec schema)" \
  check-jsonschema --builtin-schema vendor.compose-spec deploy/localstack/compose.yaml
check "check-jsonschema: kind cluster config (deploy/kind/cluster.schema.json)" \
  check-jsonschema --schemafile deploy/kind/cluster.schema.json deploy/kind/cluster.yaml
check "hadolint Dockerfile" hadolint Dockerfile
check "shellcheck deploy/scripts/*.sh scripts/*.sh" \
  shellcheck --external-sources deploy/scripts/*.sh scripts/*.sh
check "yamllint --strict" yamllint --strict .yamllint deploy
check "cfn-lint deploy/aws/paysys.yaml (all regions' specs; ignores: none)" \
  cfn-lint --regions ALL_REGIONS -- deploy/aws/paysys.yaml
check "checkov (rendered manifests + Dockerfile + CloudFormation template; skips: deploy/checkov.yaml)" \
  checkov_scan
check "promtool check rules + test rules (deploy/prometheus)" bash deploy/scripts/check-alerts.sh
check "pytest tests/system/test_deploy.py test_deploy_scripts.py test_alert_metrics.py" \
  env CHECK_DEPLOY=1 "${PYTEST:-.venv/bin/pytest}" -q tests/system/test_deploy.py \
  tests/system/test_deploy_scripts.py tests/system/test_alert_metrics.py

if ((${#failed[@]})); then
  printf 'check-deploy: %d check(s) failed:\n' "${#failed[@]}"
  printf '  - %s\n' ${failed[@]+"${failed[@]}"}
  exit 1
fi
say "check-deploy: all checks passed"
