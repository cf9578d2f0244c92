# paysys: one image for every role. The role is the command:
#   docker run paysys:0.1.0                      -> --role api (the default CMD)
#   docker run paysys:0.1.0 --role worker
#   docker run paysys:0.1.0 provision            (one-shot: table, topic, queues, subscription)
# Settings come from PAYSYS_* variables (`paysys config` lists them).
#
# Build:  make image                                   (base and packages from registries)
# Where the build cannot reach a registry (see deploy/README.md, "Offline builds"):
#   deploy/scripts/wheels.sh wheels 3.11
#   docker build --build-arg BASE_IMAGE=<a local image with python3 + venv> \
#                --build-arg WHEELS=wheels -t paysys:0.1.0 .
# Either way every package comes from the lock (requirements/*.txt, pinned with hashes).

ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- builder: builds paysys's wheel and installs the lock and it into a venv ---------------
FROM ${BASE_IMAGE} AS builder

# Empty: packages come from the index. A directory of the build context (e.g. "wheels",
# filled by deploy/scripts/wheels.sh): packages come only from there (pip --no-index).
ARG WHEELS=""
# Empty: the runtime alone (requirements/prod.txt). "local": the runtime and the moto
# emulator (requirements/local.txt, used by `make smoke`).
ARG EXTRAS=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# .dockerignore lets in only pyproject.toml, README.md, requirements/, src/, wheels/ and the
# healthcheck.
COPY . .

# /opt/build: pinned pip and build backend (requirements/build.txt) to build paysys's wheel.
# /opt/paysys: the lock's packages (--require-hashes), then paysys itself (--no-deps).
RUN if [ -n "$WHEELS" ]; then set -- --no-index --find-links "/src/$WHEELS"; else set --; fi \
 && lock="requirements/${EXTRAS:-prod}.txt" \
 && { [ -f "$lock" ] || { echo "EXTRAS=$EXTRAS: no $lock" >&2; exit 1; }; } \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install "$@" --require-hashes --requirement requirements/build.txt \
 && /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels /src \
 && python3 -m venv /opt/paysys \
 && /opt/paysys/bin/pip install "$@" --require-hashes --requirement "$lock" \
 && /opt/paysys/bin/pip install --no-deps --no-index /wheels/paysys-*.whl \
 && /opt/paysys/bin/pip uninstall --yes pip setuptools \
 && /opt/paysys/bin/python -m compileall -q /opt/paysys/lib \
 && /opt/paysys/bin/paysys config >/dev/null

# --- runtime: the base image, a non-root user and the venv; no compilers, no pip -------------
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="paysys" \
      org.opencontainers.image.description="Event-driven payment system: API, worker and provisioning" \
      org.opencontainers.image.version="0.1.0"

RUN groupadd --system --gid 10001 paysys \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin paysys

COPY --from=builder /opt/paysys /opt/paysys
COPY deploy/docker/healthcheck.py /opt/paysys/healthcheck.py

# Containers listen on every interface of their own network namespace.
ENV PATH=/opt/paysys/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PAYSYS_API_HOST=0.0.0.0 \
    PAYSYS_WORKER_HOST=0.0.0.0

USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 8081

# Passes when the API (PAYSYS_API_PORT) or the worker's health server (PAYSYS_WORKER_PORT)
# answers /healthz; Kubernetes uses its own probes instead.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "/opt/paysys/healthcheck.py"]

ENTRYPOINT ["paysys"]
CMD ["--role", "api"]
