#!/usr/bin/env bash
# Runs the incident.io example as its README does: builds the example and
# hookgate, starts the example on free loopback ports with a temp SQLite
# file, sends the README's deliveries with `hookgate send`, checks each answer
# and what the handler logged, lists the receipts, and stops the program.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
HG=${HOOKGATE_BIN:-/tmp/hookgate}
bin=${INCIDENTIO_BIN:-$(dirname "$HG")/incidentio-example}
(cd "$root" && go build -o "$HG" ./cmd/hookgate && go build -o "$bin" ./examples/incidentio)

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

export INCIDENT_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
export HOOKGATE_LISTEN=127.0.0.1:0 HOOKGATE_ADMIN_LISTEN=127.0.0.1:0
export HOOKGATE_STORAGE_URL="sqlite://$work/incidentio.db"
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
url="http://$pub/webhooks/incident/lead"
echo "the example is serving $url (admin http://$adm)"

failures=0
# expect STATUS DESCRIPTION -- hookgate send args…
expect() {
	local want=$1 what=$2
	shift 3
	local out
	out=$("$HG" send "$@" 2>&1) || true
	printf '\n== %s (want %s)\n%s\n' "$what" "$want" "$out"
	if ! head -n1 <<<"$out" | grep -q " $want "; then
		echo "!! unexpected answer"
		failures=$((failures + 1))
	fi
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
	echo "!! the example did not log $1 ($2)"
	failures=$((failures + 1))
}

lead='{"event_type":"public_incident.incident_updated_v2","public_incident.incident_updated_v2":{"incident_id":"01HZINC42","incident_status":"post-mortem","incident_role_assignments":[{"role":{"role_type":"lead"},"assignee":{"slack_user_id":"U0ADA"}}]}}'
triage='{"event_type":"public_incident.incident_updated_v2","public_incident.incident_updated_v2":{"incident_id":"01HZINC43","incident_status":"triage","incident_role_assignments":[{"role":{"role_type":"lead"},"assignee":{"slack_user_id":"U0ADA"}}]}}'

expect 204 "a new lead" -- --type incidentio --url "$url" --secret "$INCIDENT_WEBHOOK_SECRET" --body "$lead"
logged "ada@example.com is now incident lead for incident id: 01HZINC42" "the lead announcement"
expect 204 "an incident in triage" -- --type incidentio --url "$url" --secret "$INCIDENT_WEBHOOK_SECRET" --body "$triage"
echo "   receipts list --status filtered:"
"$HG" receipts list --admin-url "http://$adm" --status filtered | tee "$work/filtered"
grep -q 'public_incident.incident_updated_v2' "$work/filtered" || { echo "!! the triage delivery is not filtered"; failures=$((failures + 1)); }
expect 204 "an incident without its incident object" -- --type incidentio --url "$url" --secret "$INCIDENT_WEBHOOK_SECRET" \
	--body '{"event_type":"public_incident.incident_updated_v2"}'
dead=
for _ in $(seq 1 50); do
	dead=$("$HG" receipts list --admin-url "http://$adm" --status dead | tail -n +2)
	[ -n "$dead" ] && break
	sleep 0.1
done
echo "   receipts list --status dead: $dead"
grep -q 'validation_failed' <<<"$dead" || { echo "!! no dead receipt with the schema's error"; failures=$((failures + 1)); }
expect 401 "a wrong secret" -- --type incidentio --url "$url" --secret whsec_bm90LXRoZS1zZWNyZXQ= --body '{"event_type":"x"}'

echo
echo "== Receipts (hookgate receipts list)"
"$HG" receipts list --admin-url "http://$adm"

if [ "$failures" -ne 0 ]; then
	echo
	echo "$failures unexpected result(s); example log:"
	cat "$work/example.log"
	exit 1
fi
echo
echo "all answers as expected"
