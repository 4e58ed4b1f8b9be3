#!/usr/bin/env bash
# Generates the Python protobuf and gRPC code in gen/ from protos/.
#
# Usage:
#   scripts/gen.sh           regenerate gen/ (deletes the old generated files first)
#   scripts/gen.sh --check   generate into a temporary directory and compare with
#                            gen/; exit 1 if gen/ is stale (for CI)
#
# Environment:
#   PYTHON   interpreter with grpcio-tools installed (default: python3)
#
# Offline: uses grpc_tools' bundled protoc and well-known types, no network.
# gen/ is a source root of implicit namespace packages (no __init__.py files):
# with gen/ on sys.path, `import firstmile.pur.v1.pur_pb2` works.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROTO_DIR="protos"
OUT_DIR="gen"

mode="generate"
case "${1:-}" in
  "") ;;
  --check) mode="check" ;;
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "gen.sh: unknown argument: $1 (use --check or nothing)" >&2; exit 2 ;;
esac

cd "$ROOT"

if ! "$PYTHON" -c "import grpc_tools.protoc" 2>/dev/null; then
  echo "gen.sh: $PYTHON cannot import grpc_tools; install grpcio-tools (see pyproject.toml) or set PYTHON" >&2
  exit 2
fi

# Sorted, locale-independent file list so output is reproducible.
mapfile -t protos < <(find "$PROTO_DIR" -name '*.proto' -type f | LC_ALL=C sort)
if [ "${#protos[@]}" -eq 0 ]; then
  echo "gen.sh: no .proto files under $PROTO_DIR/" >&2
  exit 2
fi

# generate DIR: writes the generated tree for every proto into DIR (which must exist).
generate() {
  local out="$1"
  # grpc_tools.protoc adds its bundled well-known types (google/protobuf/*.proto)
  # to the include path itself.
  "$PYTHON" -m grpc_tools.protoc \
    -I "$PROTO_DIR" \
    --python_out="$out" \
    --pyi_out="$out" \
    --grpc_python_out="$out" \
    "${protos[@]}"
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/firstmile-gen.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

generate "$tmp"

if [ "$mode" = "check" ]; then
  if [ ! -d "$OUT_DIR" ] || ! diff -r -q -x '__pycache__' "$tmp" "$OUT_DIR" >/dev/null; then
    echo "gen.sh: $OUT_DIR/ is stale: it does not match protos/. Differences:" >&2
    diff -r -q -x '__pycache__' "$tmp" "$OUT_DIR" >&2 || true
    echo "gen.sh: run scripts/gen.sh and commit the result." >&2
    exit 1
  fi
  echo "gen.sh: $OUT_DIR/ is up to date (${#protos[@]} proto files)."
  exit 0
fi

# Replace the old generated tree only after a successful generation.
rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"
cp -R "$tmp"/. "$OUT_DIR"/
echo "gen.sh: generated $OUT_DIR/ from ${#protos[@]} proto files."
