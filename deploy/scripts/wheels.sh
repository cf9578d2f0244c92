#!/usr/bin/env bash
# Fill DIR with every wheel the image needs, for an image whose build cannot reach an index:
#   deploy/scripts/wheels.sh DIR PYTHON_VERSION [EXTRAS]
#   e.g. deploy/scripts/wheels.sh wheels 3.11 local; then make image WHEELS=wheels BASE_IMAGE=...
# Binary wheels only, for CPython PYTHON_VERSION on this machine's CPU and a base image whose
# glibc is GLIBC (default 2.36, Debian bookworm), whatever Python runs pip here. The project's
# build backend comes along, so the image builds paysys from source with no index.
# PYTHON (default python3, 3.11+) runs pip, which must reach an index.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=deploy/scripts/lib.sh
. deploy/scripts/lib.sh

[[ $# -ge 2 ]] || die "usage: $0 DIR PYTHON_VERSION [EXTRAS]"
dir=$1 pyver=$2 extras=${3:-}
[[ $dir =~ ^[A-Za-z0-9._-]+$ && $dir != . && $dir != .. ]] ||
  die "DIR must be a directory name inside the repository (it is emptied first), got '$dir'"
[[ $pyver =~ ^3\.[0-9]+$ ]] || die "PYTHON_VERSION must look like 3.11, got '$pyver'"
python=${PYTHON:-python3}
glibc_minor=${GLIBC:-2.36}
glibc_minor=${glibc_minor#2.}
arch=$(uname -m)
abi=cp${pyver/./}

platforms=(--platform "manylinux1_$arch" --platform "manylinux2010_$arch" --platform "manylinux2014_$arch")
for ((minor = 5; minor <= glibc_minor; minor++)); do
  platforms+=(--platform "manylinux_2_${minor}_$arch")
done

# The build backend, read from pyproject.toml ([build-system] requires).
mapfile -t backend < <("$python" - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["build-system"]["requires"]))
PY
)

rm -rf "$dir"
mkdir -p "$dir"
say "downloading wheels for CPython $pyver ($arch, glibc 2.$glibc_minor) into $dir/"
"$python" -m pip download --quiet --dest "$dir" --only-binary=:all: \
  --python-version "$pyver" --implementation cp --abi "$abi" --abi abi3 --abi none \
  "${platforms[@]}" ".${extras:+[$extras]}" "${backend[@]}"
say "$(find "$dir" -name '*.whl' | wc -l) wheels in $dir/"
