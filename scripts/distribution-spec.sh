#!/usr/bin/env bash
# npm run test:distribution-spec: the OCI distribution-spec conformance suite (v1.1.1, compiled,
# from ../shared/tools/conformance) against `imgpack serve` on a fresh store: pull, push, content
# discovery (tags, referrers) and content management (deletes). Fails on any failing spec.
# Needs a build (npm run build). Skips, saying so, where ../shared is absent (a fresh clone).
set -uo pipefail
cd "$(dirname "$0")/.."
SUITE=../shared/tools/conformance/run.sh
if [ ! -f "$SUITE" ]; then
  echo "distribution-spec conformance: skipped ($SUITE is absent)"
  exit 0
fi
OUT=$(mktemp -d "${TMPDIR:-/tmp}/imgpack-distribution-spec.XXXXXX")
PORT=${PORT:-$((5400 + RANDOM % 500))}
bash "$SUITE" "node $(pwd)/bin/imgpack.cjs" "$OUT" "$PORT"
rc=$?
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/suite.out" | grep -aE 'Ran [0-9]+ of|Passed|Failed' | tail -2 | tr '\n' ' ')
echo "distribution-spec conformance: $summary"
if [ $rc -eq 0 ]; then rm -rf "$OUT"; else echo "reports kept in $OUT" >&2; fi
exit $rc
