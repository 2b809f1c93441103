#!/bin/sh
# Concurrency sweep behind docs/performance-throughput.png: hookgate bench at
# 1, 4, 16, 64 and 256 connections on SQLite and PostgreSQL, then the plot.
#   PG_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable docs/performance-sweep.sh
# Needs a hookgate binary on PATH (or HOOKGATE=path), jq and gnuplot.
set -eu
cd "$(dirname "$0")"
HOOKGATE=${HOOKGATE:-hookgate}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
RUNS=${RUNS:-1}
DURATION=${DURATION:-3s}
out=performance-sweep.dat
echo "# concurrency baseline_med baseline_min baseline_max sqlite_med sqlite_min sqlite_max postgres_med postgres_min postgres_max" > "$out"
for c in 1 4 16 64 256; do
	s=$("$HOOKGATE" bench --concurrency "$c" --runs "$RUNS" --duration "$DURATION" --dispatch-duration -1s --drain-timeout 30s --json)
	p=$("$HOOKGATE" bench --backend postgres --storage-url "$PG_URL" --concurrency "$c" --runs "$RUNS" --duration "$DURATION" --dispatch-duration -1s --drain-timeout 30s --json)
	# The baseline is measured in both invocations; the plot uses all its runs.
	b=$(printf '%s\n%s\n' "$s" "$p" | jq -s '[.[].baseline_runs[].throughput_rps] | sort | {med: .[length/2|floor], min: .[0], max: .[-1]}')
	printf '%s %s %s %s\n' "$c" \
		"$(echo "$b" | jq -r '"\(.med) \(.min) \(.max)"')" \
		"$(echo "$s" | jq -r '.gateway.throughput_rps | "\(.median) \(.min) \(.max)"')" \
		"$(echo "$p" | jq -r '.gateway.throughput_rps | "\(.median) \(.min) \(.max)"')" >> "$out"
	echo "concurrency $c done" >&2
done
gnuplot performance-plot.gp
