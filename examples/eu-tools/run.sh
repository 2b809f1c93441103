#!/usr/bin/env bash
# Runs the eu_tools example end to end: builds hookgate and the example's
# worker, starts both on free loopback ports (hookgate with hookgate.yaml and
# a temp SQLite file), sends one signed request to each endpoint with
# `hookgate send`, polls the sales-prospecting job at the seed's own path
# until its result arrives, prints every answer, and stops both.
# (worker/worker_test.go runs the sync and job flows in `go test`.)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
HG=${HOOKGATE_BIN:-/tmp/hookgate}
(cd "$root" && go build -o "$HG" ./cmd/hookgate)

work=$(mktemp -d)
pid=
wpid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	if [ -n "$wpid" ]; then kill "$wpid" 2>/dev/null || true; wait "$wpid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

# Demo secrets. In production these come from your secret store.
export LINEAR_WEBHOOK_SECRET=lin_wh_demo_secret
export INTERCOM_CLIENT_SECRET=intercom-demo-secret
export GITHUB_ACTIONS_WEBHOOK_SECRET=gh-actions-demo-secret
export GITHUB_PULL_REQUESTS_WEBHOOK_SECRET=gh-prs-demo-secret
export DATADOG_WEBHOOK_USERNAME=datadog DATADOG_WEBHOOK_PASSWORD=dd-demo-password
export DOCUSIGN_CONNECT_HMAC_KEY=docusign-demo-hmac-key
export GOOGLE_CALENDAR_CHANNEL_TOKEN=gcal-demo-channel-token
export INCIDENT_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
export CLOUDFLARE_PAGES_WEBHOOK_SECRET=cf-pages-demo-secret
export QOVERY_WEBHOOK_SECRET=qovery-demo-secret
export KAY_WEBHOOK_PASSWORD=kay-demo-password
export NOTIFICATIONS_WEBHOOK_PASSWORD=notifications-demo-password
export SALES_PROSPECTING_API_KEY=sales-demo-api-key
export HOOKGATE_SIGNING_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

# The internal service behind the notifications and sales-prospecting
# handlers: its answers are their replies.
(cd "$root" && go build -o "$work/worker" ./examples/eu-tools/worker)
"$work/worker" -listen 127.0.0.1:0 >"$work/worker.log" 2>&1 &
wpid=$!
for _ in $(seq 1 100); do
	grep -q 'worker listening' "$work/worker.log" 2>/dev/null && break
	sleep 0.05
done
export EU_TOOLS_WORKER_URL="http://$(sed -n 's/^worker listening on //p' "$work/worker.log")"

# Port 0: the kernel picks free ports; the gateway logs the ones it got.
export HOOKGATE_LISTEN=127.0.0.1:0 HOOKGATE_ADMIN_LISTEN=127.0.0.1:0
export HOOKGATE_STORAGE_URL="sqlite://$work/eu-tools.db"

"$HG" config check "$here/hookgate.yaml"
"$HG" serve --config "$here/hookgate.yaml" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	grep -q 'hookgate serving' "$work/serve.log" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
	sleep 0.1
done
line=$(grep 'hookgate serving' "$work/serve.log") || { cat "$work/serve.log"; exit 1; }
pub=$(sed -n 's/.* listen=\([^ ]*\).*/\1/p' <<<"$line")
adm=$(sed -n 's/.* admin=\([^ ]*\).*/\1/p' <<<"$line")
base="http://$pub"
echo "hookgate is serving on $base (admin http://$adm)"

failures=0
# expect STATUS DESCRIPTION -- hookgate send args…: runs the send, prints the
# answer, and checks its status code.
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
	LAST=$out
}

expect 204 "Linear issue created (3 handlers, in order)" -- --type linear --url "$base/webhooks/linear" \
	--secret "$LINEAR_WEBHOOK_SECRET" --event Issue --body '{"type":"Issue","action":"create","data":{"id":"ENG-1","title":"Broken invoice"}}'
expect 401 "Linear with a wrong secret" -- --type linear --url "$base/webhooks/linear" \
	--secret not-the-secret --event Issue --body '{"type":"Issue","action":"create","data":{"id":"ENG-1"}}'
expect 204 "Intercom known topic" -- --type intercom --url "$base/webhooks/intercom" \
	--secret "$INTERCOM_CLIENT_SECRET" --body '{"type":"notification_event","id":"notif_1","topic":"conversation.user.created","data":{}}'
expect 204 "Intercom unknown topic (stored as filtered)" -- --type intercom --url "$base/webhooks/intercom" \
	--secret "$INTERCOM_CLIENT_SECRET" --body '{"type":"notification_event","id":"notif_2","topic":"contact.tag.created","data":{}}'
expect 204 "GitHub Actions workflow_run" -- --type github --url "$base/webhooks/github/actions" \
	--secret "$GITHUB_ACTIONS_WEBHOOK_SECRET" --event workflow_run --body '{"action":"completed","workflow_run":{"conclusion":"failure"}}'
expect 204 "GitHub pull request" -- --type github --url "$base/webhooks/github/pull-requests" \
	--secret "$GITHUB_PULL_REQUESTS_WEBHOOK_SECRET" --event pull_request --body '{"action":"opened","number":7,"pull_request":{"id":42}}'
expect 200 "Datadog alert (Basic auth)" -- --type datadog --url "$base/webhooks/datadog" \
	--basic "$DATADOG_WEBHOOK_USERNAME:$DATADOG_WEBHOOK_PASSWORD" --body '{"id":"alert-1","title":"High CPU","event_type":"metric_alert_monitor"}'
expect 204 "DocuSign envelope completed" -- --type docusign --url "$base/webhooks/docusign" \
	--secret "$DOCUSIGN_CONNECT_HMAC_KEY" --body '{"event":"envelope-completed","data":{"envelopeId":"e-1"}}'
expect 204 "Google Calendar push (no body)" -- --type google-calendar --url "$base/webhooks/google/calendar" \
	--secret "$GOOGLE_CALENDAR_CHANNEL_TOKEN" --event exists --header 'X-Goog-Channel-ID: oncall-shifts' --header 'X-Goog-Message-Number: 2'
# Exactly what Google posts: headers only, no body and no Content-Type.
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$base/webhooks/google/calendar" \
	-H "X-Goog-Channel-ID: oncall-shifts" -H "X-Goog-Channel-Token: $GOOGLE_CALENDAR_CHANNEL_TOKEN" \
	-H "X-Goog-Message-Number: 3" -H "X-Goog-Resource-ID: ret-1" -H "X-Goog-Resource-State: exists" \
	-H "X-Goog-Resource-URI: https://www.googleapis.com/calendar/v3/calendars/primary/events")
printf '\n== Google Calendar push with curl, as Google sends it (want 204)\n%s\n' "$code"
if [ "$code" != 204 ]; then
	echo "!! unexpected answer"
	failures=$((failures + 1))
fi
expect 401 "Google Calendar push with a wrong channel token" -- --type google-calendar --url "$base/webhooks/google/calendar" \
	--secret not-the-token --event exists --header 'X-Goog-Channel-ID: oncall-shifts' --header 'X-Goog-Message-Number: 3'
expect 204 "incident.io lead (Standard Webhooks)" -- --type incidentio --url "$base/webhooks/incident/lead" \
	--secret "$INCIDENT_WEBHOOK_SECRET" --body '{"event_type":"public_incident.incident_updated_v2","public_incident.incident_updated_v2":{"incident_id":"01HZ","incident_status":"closed"}}'
expect 200 "Cloudflare Pages deployment" -- --type cloudflare-pages --url "$base/webhooks/cloudflare/pages" \
	--secret "$CLOUDFLARE_PAGES_WEBHOOK_SECRET" --body '{"name":"Pages deploy","text":"Deployment succeeded","alert_type":"pages_event_alert","data":{"deployment_id":"d-1","project_name":"docs"}}'
expect 200 "Qovery deployment" -- --type qovery --url "$base/webhooks/qovery" \
	--secret "$QOVERY_WEBHOOK_SECRET" --body '{"event_type":"DEPLOYMENT_SUCCESSFUL","id":"q-1"}'
expect 200 "Kay alert (Basic auth)" -- --type internal --auth basic --url "$base/webhooks/notifications/kay" \
	--basic "kay:$KAY_WEBHOOK_PASSWORD" --body '{"alert":"queue backlog","severity":"high"}'
expect 200 "Generic notification (Basic auth, sync: the answer is the worker's)" -- --type internal --auth basic --url "$base/webhooks/notifications" \
	--basic "notifications:$NOTIFICATIONS_WEBHOOK_PASSWORD" --body '{"channel":"#ops","text":"hello"}'
expect 200 "Sales prospecting: Dust conversation (API key)" -- --type internal --auth api_key --url "$base/webhooks/sales-prospecting/dust" \
	--api-key "$SALES_PROSPECTING_API_KEY" --body '{"conversation_id":"c-1","message":"hi"}'
expect 200 "Sales prospecting: account summary job (API key)" -- --type internal --auth api_key --url "$base/webhooks/sales-prospecting/summary" \
	--api-key "$SALES_PROSPECTING_API_KEY" --body '{"account_id":"001XYZ"}'

job=$(sed -n 's/.*"receipt_id":"\([^"]*\)".*/\1/p' <<<"$LAST")
echo
echo "== Job result: GET /webhooks/sales-prospecting/job/$job (polled until acknowledged)"
result=
for _ in $(seq 1 100); do
	result=$(curl -sS -H "Authorization: Bearer $SALES_PROSPECTING_API_KEY" "$base/webhooks/sales-prospecting/job/$job")
	grep -q '"status":"acknowledged"' <<<"$result" && break
	sleep 0.1
done
echo "$result"
if ! grep -q 'Account 001XYZ: 3 open opportunities' <<<"$result"; then
	echo "!! the job's result did not arrive"
	failures=$((failures + 1))
fi
echo "== Same without the key (want 401)"
curl -sS -w ' [%{http_code}]\n' "$base/webhooks/sales-prospecting/job/$job"

echo
echo "== Receipts (hookgate receipts list)"
"$HG" receipts list --admin-url "http://$adm"
echo
echo "== What the handlers did (gateway log)"
grep 'log handler' "$work/serve.log" | sed 's/^.*handler=\([^ ]*\).*connection=\([^ ]*\) event_type=\([^ ]*\).*/  \2 → \1 (\3)/' || true

if [ "$failures" -ne 0 ]; then
	echo
	echo "$failures unexpected answer(s); gateway log:"
	cat "$work/serve.log"
	exit 1
fi
echo
echo "all answers as expected"
