#!/usr/bin/env bash
# Proves offline what can be proved about k8s/ and the Dockerfile without a cluster or a Docker
# engine:
#   1. every overlay builds (kustomize), the output lands in .cache/k8s/<overlay>.yaml;
#   2. every rendered object validates against the Kubernetes API schemas in strict mode, for each
#      Kubernetes version in KUBE_VERSIONS (kubernetes-validate ships the schemas: no download);
#   3. tests/unit/test_k8s_manifests.py: probes, limits, security, PDB/HPA, Services, NetworkPolicy
#      ports, configuration keys against the code's settings classes, timings, Dockerfile, and that
#      what the services share is written once (k8s/components/service-defaults).
# Installs what it lacks (package registries only): kustomize with `go install` into .cache/bin,
# kubernetes-validate and PyYAML with pip into the project's virtualenv (.cache/venv).
#
#   bash scripts/k8s-validate.sh               everything
#   bash scripts/k8s-validate.sh --tools-only  install the tools and stop
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="$ROOT/.cache"
BIN="$CACHE/bin"
OUT="$CACHE/k8s"
VENV="$CACHE/venv"
PY="$VENV/bin/python"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.7.1}"   # v5.8 needs Go 1.27
KUBE_VERSIONS="${KUBE_VERSIONS:-1.30 1.37}"      # oldest and newest Kubernetes we deploy to

log() { printf 'k8s-validate: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

ensure_kustomize() {
  if [ -x "$BIN/kustomize" ] && [ "$("$BIN/kustomize" version 2>/dev/null)" = "$KUSTOMIZE_VERSION" ]; then
    KUSTOMIZE_CMD=("$BIN/kustomize" build)
  elif command -v go >/dev/null 2>&1; then
    log "installing kustomize $KUSTOMIZE_VERSION with go install"
    mkdir -p "$BIN" "$CACHE/logs"
    GOBIN="$BIN" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
      go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >"$CACHE/logs/kustomize-install.log" 2>&1 \
      || { tail -20 "$CACHE/logs/kustomize-install.log" >&2; die "go install kustomize failed"; }
    KUSTOMIZE_CMD=("$BIN/kustomize" build)
  elif command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
    log "no Go: using kubectl's built-in kustomize"
    KUSTOMIZE_CMD=(kubectl kustomize)
  else
    die "need Go (to install kustomize) or kubectl"
  fi
}

# The dev extra's pins, read from pyproject.toml so there is one place to change them.
dev_pin() {
  "$PY" - "$1" "$ROOT/pyproject.toml" <<'EOF'
import sys, tomllib
name, path = sys.argv[1], sys.argv[2]
pins = tomllib.load(open(path, "rb"))["project"]["optional-dependencies"]["dev"]
print(next(p for p in pins if p.split("==")[0].lower() == name))
EOF
}

ensure_python() {
  if [ ! -x "$PY" ]; then
    log "creating $VENV with the project and its dev extra"
    python3 -m venv "$VENV"
    "$PY" -m pip install -q -e "$ROOT[dev]" || die "pip install failed"
  fi
  if ! "$PY" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
    log "installing $(dev_pin kubernetes-validate) and $(dev_pin pyyaml)"
    "$PY" -m pip install -q "$(dev_pin kubernetes-validate)" "$(dev_pin pyyaml)" || die "pip install failed"
  fi
}

ensure_kustomize
ensure_python
if [ "${1:-}" = "--tools-only" ]; then
  exit 0
fi

started=$SECONDS
mkdir -p "$OUT"
status=0
for dir in "$ROOT"/k8s/overlays/*/; do
  overlay="$(basename "$dir")"
  rendered="$OUT/$overlay.yaml"
  "${KUSTOMIZE_CMD[@]}" "$dir" >"$rendered" || die "kustomize build k8s/overlays/$overlay failed"
  log "$overlay: built $(grep -c '^kind:' "$rendered") objects -> ${rendered#"$ROOT"/}"
  for version in $KUBE_VERSIONS; do
    # A missing schema (an unknown kind or API version) is only a WARN for the tool: fail on it too.
    if report="$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$rendered" 2>&1)" \
      && ! grep -qE '^(ERROR|WARN)' <<<"$report"; then
      log "$overlay: strict schemas of Kubernetes $version: ok"
    else
      grep -E '^(ERROR|WARN)' <<<"$report" >&2 || printf '%s\n' "$report" | tail -20 >&2
      log "$overlay: strict schemas of Kubernetes $version: FAILED"
      status=1
    fi
  done
done

# The test renders the overlays with the same kustomize.
KUSTOMIZE="$(printf '%q ' "${KUSTOMIZE_CMD[@]}")"
export KUSTOMIZE KUBE_VERSIONS
(cd "$ROOT" && "$PY" -m pytest -q -p no:cacheprovider tests/unit/test_k8s_manifests.py) || status=1
log "finished in $((SECONDS - started)) s ($([ $status = 0 ] && echo ok || echo FAILED))"
exit $status
