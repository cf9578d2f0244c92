#!/usr/bin/env bash
# The lock: requirements/*.txt, every package (transitive ones included) pinned with the
# hashes of all its files, resolved once for every platform and Python 3.11+ by
# `uv pip compile --universal --generate-hashes`. Each file installs with plain pip:
#   pip install --require-hashes -r requirements/FILE.txt
#
#   dev.txt    paysys[dev]: what `make venv` installs (the other files follow its pins)
#   local.txt  paysys[local]: the runtime and the moto emulator (the image with EXTRAS=local)
#   prod.txt   paysys: the runtime alone (the image by default)
#   build.txt  pip and the build backend ([build-system] requires, and editables for
#              pip install -e), so that paysys itself is built by pinned packages too
#              (pip install --no-build-isolation)
#
# Usage (the Makefile passes UV and PYTHON from .venv):
#   scripts/lock.sh lock [UV_ARGS...]  re-resolve after a change to pyproject.toml, keeping
#                                      every pin that still fits; UV_ARGS such as --upgrade or
#                                      --upgrade-package aiohttp move pins on purpose
#   scripts/lock.sh check              fail when pyproject.toml and requirements/ disagree
# Both also check that every pin has binary wheels for CPython 3.11-3.13 on manylinux
# x86_64 and aarch64 (glibc 2.28+). They need the package index; no lock file names it.
set -euo pipefail
cd "$(dirname "$0")/.."

uv=${UV:-.venv/bin/uv}
[[ $uv == */* ]] && uv=$(realpath "$uv")
python=${PYTHON:-python3}
lock_dir=requirements
# --python-version names a target, never a reason to fetch an interpreter.
export UV_PYTHON_DOWNLOADS=never
files=(dev local prod build)

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ -x $uv ]] || command -v "$uv" >/dev/null 2>&1 ||
  die "no uv at '$uv' (make venv installs the pinned one; UV=... names another)"

# The input of build.txt: [build-system] requires; editables, which hatchling asks for to
# build an editable install (`make venv`'s pip install -e .); and pip.
build_requires() {
  "$python" - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["build-system"]["requires"]))
PY
  printf '%s\n' editables pip
}

# compile DIR [UV_ARGS...]: resolve the four files into DIR/requirements/. Files already there
# are the preferred pins; local, prod and build are constrained to dev's pins, so that one
# version of each package serves every file. It runs in DIR, on a copy of pyproject.toml, so
# that the files' "# via" lines name the same relative paths wherever it runs.
compile() {
  local dir=$1
  shift
  local build
  build=$(build_requires)
  cp pyproject.toml README.md "$dir/"
  (
    cd "$dir"
    local uv_compile=("$uv" pip compile --quiet --universal --generate-hashes
      --python-version 3.11 --custom-compile-command "make lock" "$@")
    ${uv_compile[@]+"${uv_compile[@]}"} pyproject.toml --extra dev -o "$lock_dir/dev.txt"
    ${uv_compile[@]+"${uv_compile[@]}"} pyproject.toml --extra local -c "$lock_dir/dev.txt" -o "$lock_dir/local.txt"
    ${uv_compile[@]+"${uv_compile[@]}"} pyproject.toml -c "$lock_dir/dev.txt" -o "$lock_dir/prod.txt"
    ${uv_compile[@]+"${uv_compile[@]}"} - -c "$lock_dir/dev.txt" -o "$lock_dir/build.txt" <<<"$build"
  )
}

# check_wheels DIR: every pin resolves with binary wheels alone, for each target. dev.txt
# holds every pin of local.txt and prod.txt (same versions), so dev and build cover all four.
check_wheels() {
  local dir=$1 arch py status=0
  for arch in x86_64 aarch64; do
    for py in 3.11 3.12 3.13; do
      local wheels_only=("$uv" pip compile --quiet --no-header --only-binary :all:
        --python-platform "$arch-manylinux_2_28" --python-version "$py" -o /dev/null)
      if ! ${wheels_only[@]+"${wheels_only[@]}"} -c "$dir/dev.txt" pyproject.toml --extra dev ||
        ! build_requires | ${wheels_only[@]+"${wheels_only[@]}"} -c "$dir/build.txt" -; then
        printf '    a pin has no wheel for CPython %s, manylinux %s\n' "$py" "$arch" >&2
        status=1
      fi
    done
  done
  return "$status"
}

# The pins of a lock file without its hashes: a package index may add files (a wheel for a
# new Python) to a release that is already pinned, which is no disagreement.
pins() { sed -E -e '/^[[:space:]]+--hash=/d' -e 's/[[:space:]]*\\$//' "$1"; }

mode=${1:-}
shift || true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$lock_dir" "$work/$lock_dir"
for name in ${files[@]+"${files[@]}"}; do
  if [[ -f $lock_dir/$name.txt ]]; then cp "$lock_dir/$name.txt" "$work/$lock_dir/"; fi
done

case $mode in
  lock)
    say "resolving pyproject.toml into $lock_dir/ ($("$uv" --version))"
    compile "$work" "$@"
    say "checking for binary wheels: CPython 3.11-3.13, manylinux x86_64 and aarch64"
    check_wheels "$work/$lock_dir" ||
      die "a pin lacks binary wheels (see above); nothing was written"
    for name in ${files[@]+"${files[@]}"}; do
      # Unchanged files keep their time stamp: make then keeps .venv as it is.
      if cmp -s "$work/$lock_dir/$name.txt" "$lock_dir/$name.txt"; then
        state=unchanged
      else
        cp "$work/$lock_dir/$name.txt" "$lock_dir/$name.txt"
        state=written
      fi
      say "$lock_dir/$name.txt: $(grep -cE '^[A-Za-z0-9]' "$lock_dir/$name.txt") pins, $state"
    done
    ;;
  check)
    [[ $# == 0 ]] || die "check takes no arguments"
    for name in ${files[@]+"${files[@]}"}; do
      [[ -f $lock_dir/$name.txt ]] || die "$lock_dir/$name.txt is missing: run make lock"
    done
    say "checking $lock_dir/ against pyproject.toml ($("$uv" --version))"
    compile "$work"
    status=0
    for name in ${files[@]+"${files[@]}"}; do
      if ! diff -u --label "$lock_dir/$name.txt (committed)" --label "$name.txt (resolved now)" \
        <(pins "$lock_dir/$name.txt") <(pins "$work/$lock_dir/$name.txt"); then
        status=1
      fi
    done
    ((status == 0)) || die "pyproject.toml and $lock_dir/ disagree: run make lock and commit"
    check_wheels "$lock_dir" || die "a pin lacks binary wheels (see above)"
    say "lock check: $lock_dir/ matches pyproject.toml"
    ;;
  *) die "usage: $0 lock [UV_ARGS...] | check" ;;
esac
