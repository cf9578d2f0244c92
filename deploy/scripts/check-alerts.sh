#!/usr/bin/env bash
# The Prometheus alert rules: `promtool check rules` on deploy/prometheus/alerts.yaml, then
# `promtool test rules` on its unit tests, deploy/prometheus/alerts.test.yaml. `make
# check-deploy` runs it.
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
