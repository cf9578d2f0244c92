#!/usr/bin/env bash
# The Prometheus alert rules: `promtool check rules` on deploy/prometheus/alerts.yaml, then
# `promtool test rules` on its unit tests, deploy/prometheus/alerts.test.yaml; then the
# Grafana dashboard's queries (deploy/grafana/paysys.json), each made a recording rule, through
# `promtool check rules`: they parse as PromQL. `make check-deploy` runs it.
#
# promtool: PROMTOOL if set, else the one on PATH, else the one of Debian's `prometheus`
# package, taken out of the .deb (apt-get download + dpkg-deb -x, no dpkg install: no
# service set up, no dependencies) into deploy/.tools/prometheus/ once.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=deploy/scripts/lib.sh
. deploy/scripts/lib.sh

rules=deploy/prometheus/alerts.yaml
tests=deploy/prometheus/alerts.test.yaml
extracted=deploy/.tools/prometheus/promtool

# fetch_promtool: Debian's prometheus package, downloaded and unpacked, keeping promtool only.
fetch_promtool() {
  need apt-get "promtool is needed: Debian's prometheus package ships it (or set PROMTOOL)"
  need dpkg-deb "promtool is needed: Debian's prometheus package ships it (or set PROMTOOL)"
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064  # expand now: $tmp is local
  trap "rm -rf '$tmp'" RETURN
  chmod 755 "$tmp" # apt's download sandbox user must write here
  say "fetching Debian's prometheus package for promtool (into $(dirname "$extracted")/)" >&2
  if ! (cd "$tmp" && apt-get download -qq prometheus) >/dev/null 2>&1; then
    # No package lists yet (a fresh machine): refresh them once, as the smoke test does.
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed (root is needed)"
    (cd "$tmp" && apt-get download -qq prometheus) >/dev/null ||
      die "apt-get download prometheus failed"
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  mkdir -p "$(dirname "$extracted")"
  install -m 0755 "$tmp/root/usr/bin/promtool" "$extracted"
}

if [[ -n ${PROMTOOL:-} ]]; then
  promtool=$PROMTOOL
elif command -v promtool >/dev/null 2>&1; then
  promtool=$(command -v promtool)
else
  [[ -x $extracted ]] || fetch_promtool
  promtool=$extracted
fi
say "$("$promtool" --version 2>&1 | head -n 1)"

"$promtool" check rules "$rules"
"$promtool" test rules "$tests"

# One recording rule per panel query, Grafana's $__rate_interval made 5m (JSON is YAML).
dashboard_rules=$(mktemp --suffix .yaml)
trap 'rm -f "$dashboard_rules"' EXIT
"${PYTHON:-python3}" - deploy/grafana/paysys.json >"$dashboard_rules" <<'PY'
import json
import sys

with open(sys.argv[1], encoding="utf-8") as board:
    panels = json.load(board)["panels"]
exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
rules = [
    {"record": f"paysys:dashboard_query_{n}", "expr": e.replace("$__rate_interval", "5m")}
    for n, e in enumerate(exprs)
]
print(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}, indent=2))
PY
say "the dashboard's queries (deploy/grafana/paysys.json)"
"$promtool" check rules "$dashboard_rules"
