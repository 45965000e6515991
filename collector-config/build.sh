#!/usr/bin/env bash
# Build our Collector (builder/manifest.yaml) with the official OpenTelemetry Collector
# Builder, once: the binary is cached under ${OTEL_LLM_COST_CACHE:-~/.cache/otel-llm-cost}
# as otelcol-llm-cost-<release>-<manifest hash>, so a changed manifest builds anew and an
# unchanged one costs nothing. Prints the binary's path as the last line.
#   collector-config/build.sh          build if needed, print the path
#   collector-config/build.sh --path   print the path only (the tests use this)
# Needs Go >= 1.24 and the Go module proxy. Go's own caches (GOMODCACHE, GOCACHE) apply.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
MANIFEST="$HERE/builder/manifest.yaml"
RELEASE="$(sed -n 's/^  version: *//p' "$MANIFEST")"
HASH="$(sha256sum "$MANIFEST" | cut -c1-12)"
CACHE="${OTEL_LLM_COST_CACHE:-$HOME/.cache/otel-llm-cost}"
BIN="$CACHE/otelcol-llm-cost-$RELEASE-$HASH"

if [[ "${1:-}" == "--path" ]]; then echo "$BIN"; exit 0; fi
if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi

command -v go >/dev/null || { echo "go not found: install Go >= 1.24" >&2; exit 1; }
mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# Go prints nothing while it compiles: say every 30 s that the build goes on, so a cold
# build on a loaded machine is not mistaken for a hang (on stderr, like the build's own).
started=$SECONDS
( while sleep 30; do echo "[collector] still building ($((SECONDS - started)) s)" >&2; done ) &
HEARTBEAT=$!
trap 'kill $HEARTBEAT 2>/dev/null; rm -rf "$WORK"' EXIT
echo "[collector] building otelcol-llm-cost $RELEASE (manifest $HASH) into $CACHE" >&2
# Two parallel compile jobs: the CI machine has two cores and is shared.
export GOFLAGS="${GOFLAGS:--buildvcs=false} -p=2"
GOBIN="$CACHE/tools-$RELEASE" go install "go.opentelemetry.io/collector/cmd/builder@v$RELEASE" >&2
sed "s#^  output_path: .*#  output_path: $WORK/out#" "$MANIFEST" > "$WORK/manifest.yaml"
"$CACHE/tools-$RELEASE/builder" --config "$WORK/manifest.yaml" --ldflags "-s -w" >&2
mv "$WORK/out/otelcol-llm-cost" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
echo "[collector] built in $((SECONDS - started)) s" >&2
echo "$BIN"
