#!/usr/bin/env bash
# Runs the Overwatch example as its README does: builds the example and
# hookgate, starts the example on free loopback ports with a temp SQLite
# file, sends the README's alerts (hookgate send, then the seed's openssl +
# curl recipe), checks every answer, the incident the handler creates, the
# invalid alert refused with its errors, the duplicate, and the metrics, and
# stops the program.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
HG=${HOOKGATE_BIN:-/tmp/hookgate}
bin=${OVERWATCH_BIN:-$(dirname "$HG")/overwatch-example}
(cd "$root" && go build -o "$HG" ./cmd/hookgate && go build -o "$bin" ./examples/overwatch)

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

export HOOKGATE_LISTEN=127.0.0.1:0 HOOKGATE_ADMIN_LISTEN=127.0.0.1:0
export HOOKGATE_STORAGE_URL="sqlite://$work/overwatch.db"
"$bin" >"$work/example.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	grep -q 'hookgate serving' "$work/example.log" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/example.log"; exit 1; }
	sleep 0.1
done
line=$(grep 'hookgate serving' "$work/example.log") || { cat "$work/example.log"; exit 1; }
pub=$(sed -n 's/.* listen=\([^ ]*\).*/\1/p' <<<"$line")
adm=$(sed -n 's/.* admin=\([^ ]*\).*/\1/p' <<<"$line")
B="http://$pub"
export HOOKGATE_ADMIN_URL="http://$adm"
echo "the example is serving $B (admin $HOOKGATE_ADMIN_URL)"

failures=0
fail() {
	echo "!! $1"
	failures=$((failures + 1))
}
# expect STATUS DESCRIPTION -- hookgate send args…
expect() {
	local want=$1 what=$2
	shift 3
	local out
	out=$("$HG" send "$@" 2>&1) || true
	printf '\n== %s (want %s)\n%s\n' "$what" "$want" "$out"
	head -n1 <<<"$out" | grep -q " $want " || fail "unexpected answer"
	LAST=$out
}
# curl_expect STATUS DESCRIPTION curl args…
curl_expect() {
	local want=$1 what=$2
	shift 2
	local code
	code=$(curl -sS -o "$work/answer" -w '%{http_code}' "$@")
	printf '\n== %s (want %s)\n%s %s\n' "$what" "$want" "$code" "$(cat "$work/answer")"
	[ "$code" = "$want" ] || fail "unexpected answer"
}
# logged PATTERN WHAT: waits up to 5 s for the example to log PATTERN.
logged() {
	for _ in $(seq 1 50); do
		if grep -q "$1" "$work/example.log"; then
			echo "   log: $(grep -o "$1.*" "$work/example.log" | head -n1)"
			return
		fi
		sleep 0.1
	done
	fail "the example did not log $1 ($2)"
}

send() { # the README's hookgate send, with BODY
	"$HG" send --type overwatch-datadog --auth sha256 \
		--signature-header X-Signature --timestamp-header X-Timestamp \
		--url "$B/webhooks/datadog/dd-prod" --secret dd-prod-webhook-secret --body "$1"
}
expect 200 "a signed, fresh alert (hookgate send)" -- --type overwatch-datadog --auth sha256 \
	--signature-header X-Signature --timestamp-header X-Timestamp \
	--url "$B/webhooks/datadog/dd-prod" --secret dd-prod-webhook-secret \
	--body '{"id":"alert-456","alert_name":"Test Alert","alert_type":"error","alert_status":"triggered","severity":"high"}'
grep -q '"data":{"alert_id":"alert-456","integration_id":"dd-prod"}' <<<"$LAST" || fail "the answer lacks alert_id and integration_id"
logged 'msg="Created incident from Datadog webhook" incident=inc-1 integration=dd-prod external_id=alert-456' "the incident"
expect 200 "the seed's own example payload (no alert_status)" -- --type overwatch-datadog --auth sha256 \
	--signature-header X-Signature --timestamp-header X-Timestamp \
	--url "$B/webhooks/datadog/dd-prod" --secret dd-prod-webhook-secret \
	--body '{"id":"alert-123","alert_name":"High CPU Usage","alert_type":"error","severity":"critical","message":"CPU usage above 90%"}'
logged 'external_id=alert-123 title="High CPU Usage" severity=critical' "the seed example's incident"

BODY='{"id":"alert-457","alert_name":"Disk full","alert_type":"error","alert_status":"triggered","severity":"critical"}'
SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac dd-prod-webhook-secret | sed 's/^.* //')
curl_expect 200 "the seed's recipe: openssl + curl" "$B/webhooks/datadog/dd-prod" -H 'Content-Type: application/json' \
	-H "X-Signature: sha256=$SIG" -H "X-Timestamp: $(date +%s)" --data "$BODY"
grep -q '"success":true' "$work/answer" || fail "no success:true in the answer"
curl_expect 409 "a timestamp 600 s old" "$B/webhooks/datadog/dd-prod" -H 'Content-Type: application/json' \
	-H "X-Signature: sha256=$SIG" -H "X-Timestamp: $(($(date +%s) - 600))" --data "$BODY"
curl_expect 400 "an integration of another platform" "$B/webhooks/datadog/grafana-main" -H 'Content-Type: application/json' --data "$BODY"
curl_expect 404 "an unknown integration" "$B/webhooks/datadog/nope" -H 'Content-Type: application/json' --data "$BODY"

echo
echo "== The same alert id again (another message): a duplicate, no second incident"
out=$(send '{"id":"alert-456","alert_name":"Test Alert","alert_type":"error","alert_status":"triggered","severity":"high","message":"again"}' 2>&1) || true
echo "$out"
head -n1 <<<"$out" | grep -q " 200 " || fail "unexpected answer"
"$HG" receipts list --connection dd-prod --status duplicate | tee "$work/dups"
grep -q duplicate "$work/dups" || fail "the resent alert is not a duplicate"

echo
echo "== An invalid alert is refused (400) with every error, and recorded as rejected"
out=$(send '{"id":"alert-458","alert_name":"Bad","alert_type":"error","severity":"urgent","link":"ftp://x"}' 2>&1) || true
echo "$out"
head -n1 <<<"$out" | grep -q " 400 " || fail "unexpected answer"
grep -q '"error":"validation_failed"' <<<"$out" || fail "no validation_failed error"
grep -q '"path":"/severity"' <<<"$out" || fail "no /severity error"
grep -q '"path":"/link"' <<<"$out" || fail "no /link error"
"$HG" receipts list --status rejected | tee "$work/rejected"
grep -q validation_failed "$work/rejected" || fail "no rejected receipt with reason validation_failed"

echo
echo "== Dry run: what would happen to an alert, without storing or dispatching it"
dry=$(curl -sS -X POST "$HOOKGATE_ADMIN_URL/api/v1/connections/overwatch-datadog/dd-prod/test" -H 'Content-Type: application/json' \
	-d '{"skip_verify":true,"body":"{\"id\":\"alert-9\",\"alert_name\":\"Disk full\",\"alert_type\":\"error\",\"severity\":\"critical\"}"}')
echo "$dry"
grep -q '"idempotency_key": "dd-prod:error:alert-9"' <<<"$dry" || fail "the dry run lacks the idempotency key"
grep -q '"severity": "critical"' <<<"$dry" || fail "the dry run lacks the transformed incident"

echo
echo "== Metrics (GET /metrics on the admin listener)"
metrics=$(curl -sS "$HOOKGATE_ADMIN_URL/metrics" | grep -E '^hookgate_(webhook_requests_total|dispatch_attempts_total)' || true)
echo "$metrics"
grep -q 'hookgate_webhook_requests_total' <<<"$metrics" || fail "no hookgate_webhook_requests_total"

if [ "$failures" -ne 0 ]; then
	echo
	echo "$failures unexpected result(s); example log:"
	cat "$work/example.log"
	exit 1
fi
echo
echo "all answers as expected"
