#!/usr/bin/env bash
# Fill DIR with every wheel the image needs, for an image whose build cannot reach an index:
#   deploy/scripts/wheels.sh DIR PYTHON_VERSION [EXTRAS]
#   e.g. deploy/scripts/wheels.sh wheels 3.11 local; then make image WHEELS=wheels BASE_IMAGE=...
# The wheels are the lock's: requirements/prod.txt (or requirements/EXTRAS.txt, e.g. local)
# and requirements/build.txt (pip and the build backend, so the image builds paysys from
# source with no index), downloaded with --require-hashes, so the hashes the image checks
# are the ones the lock holds. Binary wheels only, for CPython PYTHON_VERSION on this
# machine's CPU and a base image whose glibc is GLIBC (default 2.36, Debian bookworm).
# PYTHON (default python3, 3.11+) runs pip, which must reach an index. pip evaluates the
# lock's environment markers for the Python that runs it: use the same minor version as
# PYTHON_VERSION where a marker tells versions apart (none of prod.txt's or local.txt's
# does today, beyond typing-extensions for < 3.13, which is merely extra).
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

[[ -z $extras || $extras =~ ^[a-z0-9_-]+$ ]] || die "EXTRAS must be one name such as local, got '$extras'"
lock=requirements/${extras:-prod}.txt
[[ -f $lock ]] || die "no $lock: EXTRAS names one of requirements/*.txt (e.g. local), or none"

rm -rf "$dir"
mkdir -p "$dir"
say "downloading the wheels of $lock and requirements/build.txt" \
  "for CPython $pyver ($arch, glibc 2.$glibc_minor) into $dir/"
download=("$python" -m pip download --quiet --dest "$dir" --only-binary=:all: --require-hashes
  --python-version "$pyver" --implementation cp --abi "$abi" --abi abi3 --abi none ${platforms[@]+"${platforms[@]}"})
${download[@]+"${download[@]}"} --requirement "$lock"
${download[@]+"${download[@]}"} --requirement requirements/build.txt
say "$(find "$dir" -name '*.whl' | wc -l) wheels in $dir/"
