#!/usr/bin/env bash
# Runs seed 003's worked example end to end: builds hookgate, starts it with
# hookgate.yaml on free loopback ports and a temp SQLite file, registers the
# github/primary receiver with the seed's fields, posts with the seed's own
# openssl + curl commands, checks 204 / 204 / 400 / 401 / 413 / 409, shows the
# receipts, and stops the gateway.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
HG=${HOOKGATE_BIN:-/tmp/hookgate}
(cd "$root" && go build -o "$HG" ./cmd/hookgate)

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

export HOOKGATE_LISTEN=127.0.0.1:0 HOOKGATE_ADMIN_LISTEN=127.0.0.1:0
export HOOKGATE_STORAGE_URL="sqlite://$work/synthorg.db"
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
export HOOKGATE_ADMIN_URL="http://$adm"
echo "hookgate is serving on http://$pub (admin $HOOKGATE_ADMIN_URL)"
uuid() { cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen; }

failures=0
check() { # check WANT GOT WHAT
	if [ "$1" = "$2" ]; then echo "   → $2 (as expected: $3)"; else echo "!! → $2, want $1 ($3)"; failures=$((failures + 1)); fi
}
status() { curl -s -o "$work/answer" -w '%{http_code}' "$@"; }

echo
echo "== Register the receiver (WebhookActivityService.register)"
"$HG" connections add --type github --name primary \
	--secret whsec_PROVIDED_BY_GITHUB \
	--nonce-header X-GitHub-Delivery --signature-header X-Hub-Signature-256 \
	--handler synthorg-dispatch

echo
echo "== The seed's POST (openssl + curl)"
NONCE=$(uuid)
TS=$(date +%s)
BODY='{"action":"opened","number":7,"pull_request":{"id":42}}'
SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac whsec_PROVIDED_BY_GITHUB | sed 's/^.* //')
post() { # post BODY SIG NONCE
	status "http://$pub/webhooks/github/primary" \
		-H "Content-Type: application/json" \
		-H "X-GitHub-Delivery: $3" \
		-H "X-Hub-Signature-256: sha256=$2" \
		--data "$1"
}
check 204 "$(post "$BODY" "$SIG" "$NONCE")" "first delivery, handler accepted"
check 204 "$(post "$BODY" "$SIG" "$NONCE")" "retry with the same X-GitHub-Delivery: idempotency-key short-circuit"

BAD='{"action":'
BADSIG=$(printf '%s' "$BAD" | openssl dgst -sha256 -hmac whsec_PROVIDED_BY_GITHUB | sed 's/^.* //')
check 400 "$(post "$BAD" "$BADSIG" "$(uuid)")" "malformed JSON body, envelope rejection"
cat "$work/answer"

WRONG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac not-the-secret | sed 's/^.* //')
check 401 "$(post "$BODY" "$WRONG" "$(uuid)")" "signature mismatch"
cat "$work/answer"

head -c 1100000 /dev/zero | tr '\0' 'x' | sed 's/^/{"pad":"/; s/$/"}/' >"$work/big.json"
BIGSIG=$(openssl dgst -sha256 -hmac whsec_PROVIDED_BY_GITHUB <"$work/big.json" | sed 's/^.* //')
check 413 "$(status "http://$pub/webhooks/github/primary" -H "Content-Type: application/json" \
	-H "X-GitHub-Delivery: $(uuid)" -H "X-Hub-Signature-256: sha256=$BIGSIG" --data-binary @"$work/big.json")" \
	"payload over max_payload_bytes (1 MiB)"

echo
echo "== 409: a replay older than the replay window"
echo "   GitHub signs no timestamp, so a GitHub delivery cannot be dated; a provider that"
echo "   does (Standard Webhooks / Svix) shows the 409. Register one and post a delivery"
echo "   signed 10 minutes ago:"
SVIX_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
"$HG" connections add --type svix --name events --secret "$SVIX_SECRET" --handler synthorg-dispatch >/dev/null
svix_post() { # svix_post TIMESTAMP
	local id="msg_$(uuid)" key sig
	key=$(printf '%s' "${SVIX_SECRET#whsec_}" | base64 -d | xxd -p -c 256)
	sig=$(printf '%s' "$id.$1.$BODY" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | base64)
	status "http://$pub/webhooks/svix/events" -H "Content-Type: application/json" \
		-H "webhook-id: $id" -H "webhook-timestamp: $1" -H "webhook-signature: v1,$sig" --data "$BODY"
}
check 204 "$(svix_post "$(date +%s)")" "fresh Standard Webhooks delivery"
check 409 "$(svix_post "$(($(date +%s) - 600))")" "timestamp 600 s old, window 300 s"
cat "$work/answer"

sleep 0.5 # let the dispatcher run
echo
echo "== Receipts: received → dispatched → acknowledged, duplicate, rejected"
"$HG" receipts list
first=$("$HG" receipts list --connection primary --status acknowledged --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n1)
if [ -n "$first" ]; then
	echo
	echo "== hookgate receipts show $first"
	"$HG" receipts show "$first"
fi

if [ "$failures" -ne 0 ]; then
	echo
	echo "$failures unexpected answer(s); gateway log:"
	cat "$work/serve.log"
	exit 1
fi
echo
echo "all answers as expected"
