#!/bin/sh
# Concurrency sweep behind docs/performance-throughput.png: hookgate bench at
# 1, 4, 16, 64 and 256 connections on SQLite and PostgreSQL, each with the
# durable baseline (append + fdatasync before the answer, no database), then
# the plot.
#   PG_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable docs/performance-sweep.sh
# Needs a hookgate binary on PATH (or HOOKGATE=path), jq and gnuplot.
set -eu
cd "$(dirname "$0")"
HOOKGATE=${HOOKGATE:-hookgate}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
RUNS=${RUNS:-1}
DURATION=${DURATION:-3s}
out=performance-sweep.dat
echo "# concurrency baseline_med baseline_min baseline_max sqlite_med sqlite_min sqlite_max postgres_med postgres_min postgres_max durable_med durable_min durable_max" > "$out"
for c in 1 4 16 64 256; do
	s=$("$HOOKGATE" bench --durable-baseline --concurrency "$c" --runs "$RUNS" --duration "$DURATION" --dispatch-duration -1s --drain-timeout 30s --json)
	p=$("$HOOKGATE" bench --durable-baseline --backend postgres --storage-url "$PG_URL" --concurrency "$c" --runs "$RUNS" --duration "$DURATION" --dispatch-duration -1s --drain-timeout 30s --json)
	# The baselines are measured in both invocations; the plot uses all their runs.
	both() {
		printf '%s\n%s\n' "$s" "$p" | jq -rs "[.[].$1[].throughput_rps] | sort | \"\\(.[length/2|floor]) \\(.[0]) \\(.[-1])\""
	}
	printf '%s %s %s %s %s\n' "$c" "$(both baseline_runs)" \
		"$(echo "$s" | jq -r '.gateway.throughput_rps | "\(.median) \(.min) \(.max)"')" \
		"$(echo "$p" | jq -r '.gateway.throughput_rps | "\(.median) \(.min) \(.max)"')" \
		"$(both durable_baseline_runs)" >> "$out"
	echo "concurrency $c done" >&2
done
gnuplot performance-plot.gp
