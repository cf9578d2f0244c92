#!/usr/bin/env bash
# make image: build the paysys image. Every input is optional (deploy.mk passes them on):
#   IMAGE               the tag to build (paysys:0.1.0; the manifests name the same)
#   BASE_IMAGE          the base image (default: the Dockerfile's python:3.11-slim-bookworm)
#   EXTRAS              one extra, e.g. "local" for the moto emulator: the image installs
#                       requirements/EXTRAS.txt instead of requirements/prod.txt
#   WHEELS              a directory inside the repo holding every wheel the image needs
#                       (deploy/scripts/wheels.sh makes one): install them with no index
#   DOCKER              the docker CLI to use (docker)
#   DOCKER_BUILD_FLAGS  more flags for `docker build`, e.g. "--network none"
# Sourced (tests/system/test_deploy_scripts.py), it only defines build_args and main.
set -euo pipefail
# shellcheck source=deploy/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# build_args: the arguments of `docker build` for IMAGE and the optional inputs above, into the
# array `args`. Every input may be unset (set -u).
build_args() {
  args=(--tag "$IMAGE" --file Dockerfile)
  if [[ -n ${BASE_IMAGE:-} ]]; then
    args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
  fi
  if [[ -n ${EXTRAS:-} ]]; then
    args+=(--build-arg "EXTRAS=$EXTRAS")
  fi
  if [[ -n ${WHEELS:-} ]]; then
    local wheels=${WHEELS#./}
    [[ $wheels != /* && $wheels != *..* ]] ||
      die "WHEELS=$WHEELS must be a directory inside the repository (the build context)"
    compgen -G "$wheels/*.whl" >/dev/null ||
      die "WHEELS=$WHEELS holds no wheel (deploy/scripts/wheels.sh DIR PYTHON_VERSION makes them)"
    args+=(--build-arg "WHEELS=$wheels")
  fi
  # Word splitting is wanted: DOCKER_BUILD_FLAGS is a list of flags.
  # shellcheck disable=SC2206
  args+=(${DOCKER_BUILD_FLAGS:-} .)
}

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/../.."
  DOCKER=${DOCKER:-docker}
  need "$DOCKER" "install Docker (the engine and its CLI)"
  "$DOCKER" info >/dev/null 2>&1 ||
    die "$DOCKER cannot reach a Docker engine: is it running, and may this user use it? (try: $DOCKER info)"
  build_args
  say "building $IMAGE${BASE_IMAGE:+ on $BASE_IMAGE}${EXTRAS:+ with extras [$EXTRAS]}${WHEELS:+ from $WHEELS/ (no index)}"
  # ${a[@]+"${a[@]}"}: bash 3.2 (macOS) calls an empty array unbound under set -u.
  "$DOCKER" build ${args[@]+"${args[@]}"}
  say "built $IMAGE"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
