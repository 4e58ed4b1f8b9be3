#!/usr/bin/env bash
# `buf breaking` of the working tree against the newest earlier commit that has protos
# (override with BUF_AGAINST=<git ref>, e.g. origin/main). The first proto commit has nothing to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
BUF="${BUF:-.cache/bin/buf}"
against="${BUF_AGAINST:-}"
if [ -z "$against" ]; then
  for ref in $(git rev-list HEAD~1 2>/dev/null || true); do
    if git cat-file -e "$ref:buf.yaml" 2>/dev/null && git cat-file -e "$ref:protos" 2>/dev/null; then against="$ref"; break; fi
  done
fi
if [ -z "$against" ]; then
  echo "buf breaking: no earlier commit with protos; nothing to compare"
  exit 0
fi
sha="$(git rev-parse "$against^{commit}")"
# buf clones the repository shallowly: deep enough to reach the commit compared with.
depth=$(($(git rev-list --count "$sha..HEAD") + 2))
echo "buf breaking against $(git rev-parse --short "$sha")"
"$BUF" breaking --against ".git#ref=$sha,depth=$depth"
