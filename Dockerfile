# syntax=docker/dockerfile:1
#
# One image for the whole mesh; the command picks the process:
#   python -m pur_svc | routing_svc | dispatch_svc | attendance_adapter   (a service)
#   python -m mesh.commands.migrate [service ...]                         (Alembic migrations)
#   python -m mesh.commands.topics                                        (Kafka topics + .dlq)
#
# Build: docker build -t firstmile-mesh:$(git rev-parse --short HEAD) .
# Pin the base by digest in CI (--build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...).
# tests/unit/test_k8s_manifests.py checks this file's invariants (there is no Docker engine in CI).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# build: a virtualenv with the pinned dependencies, and the byte-compiled sources.
# Compilers live only here (wheels exist for every dependency on amd64/arm64; they are the
# fallback for a platform without one).
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies first, in their own layer: rebuilt only when pyproject.toml changes. The pins are
# read from pyproject.toml, the one place they are kept.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && pip uninstall -y pip

# The sources run from /app as they are in the repository (no packaging step that could drop a
# file), with gen/ as a source root of its own (imported as `firstmile.<area>.v1`).
COPY mesh /app/mesh
COPY pur_svc /app/pur_svc
COPY routing_svc /app/routing_svc
COPY dispatch_svc /app/dispatch_svc
COPY attendance_adapter /app/attendance_adapter
COPY gen /app/gen
# Bytecode now (pip compiled the dependencies already): the root file system is read-only later.
RUN python -m compileall -q --invalidation-mode unchecked-hash /app

# ---------------------------------------------------------------------------------------------
# runtime: the slim Python base, the virtualenv and the sources, nothing else. No compilers, no pip,
# a numeric non-root user (so Kubernetes can verify runAsNonRoot), read-only friendly.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="firstmile-mesh" \
      org.opencontainers.image.description="First Mile mesh: pur_svc, routing_svc, dispatch_svc, attendance_adapter, migrations and topic creation"

RUN groupadd --system --gid 10001 firstmile \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin firstmile \
 && python -m pip uninstall -y -q pip setuptools wheel

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app

# PYTHONDONTWRITEBYTECODE: the root file system is read-only in Kubernetes (bytecode is compiled
# at build time). PYTHONUNBUFFERED: JSON log lines reach stdout at once.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/gen \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
USER 10001:10001

# gRPC 50051-50054, Prometheus metrics 9101-9104 (one pair per service).
EXPOSE 50051 50052 50053 50054 9101 9102 9103 9104

CMD ["python", "-m", "pur_svc"]
