package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/verify"
)

// The seed-003 example, signed the way its curl/openssl recipe signs it:
// printf '%s' "$BODY" | openssl dgst -sha256 -hmac whsec_PROVIDED_BY_GITHUB
func TestSeed003Flow(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		tg := newTestGatewayWith(t, storage, `
handlers:
  - {name: audit, type: log}
`)
		status := tg.api("POST", "/api/v1/connections", map[string]any{
			"type": "github", "name": "primary",
			"signing_secret":   "whsec_PROVIDED_BY_GITHUB",
			"nonce_header":     "X-GitHub-Delivery",
			"signature_header": "X-Hub-Signature-256",
			"routes":           []map[string]any{{"handlers": []string{"audit"}}},
		}, nil)
		if status != 201 {
			t.Fatalf("register = %d", status)
		}
		sign := func(body string) string {
			m := hmac.New(sha256.New, []byte("whsec_PROVIDED_BY_GITHUB"))
			m.Write([]byte(body))
			return "sha256=" + hex.EncodeToString(m.Sum(nil))
		}
		body := `{"action":"opened","number":7,"pull_request":{"id":42}}`
		nonce := uuid.NewString()
		h := http.Header{"X-Github-Delivery": {nonce}, "X-Hub-Signature-256": {sign(body)}, "X-Github-Event": {"pull_request"}}

		if st, b := tg.post("/webhooks/github/primary", h, []byte(body)); st != 204 || len(b) != 0 {
			t.Fatalf("first delivery = %d %q, want 204 and no body", st, b)
		}
		if st, _ := tg.post("/webhooks/github/primary", h, []byte(body)); st != 204 {
			t.Fatalf("retry = %d, want 204", st)
		}
		bad := `{"action":`
		hb := http.Header{"X-Github-Delivery": {uuid.NewString()}, "X-Hub-Signature-256": {sign(bad)}}
		if st, b := tg.post("/webhooks/github/primary", hb, []byte(bad)); st != 400 {
			t.Fatalf("malformed = %d, want 400", st)
		} else {
			assertErrorBody(t, b, hookgate.EMalformed)
		}
		hw := http.Header{"X-Github-Delivery": {uuid.NewString()}, "X-Hub-Signature-256": {sign(body + " ")}}
		if st, b := tg.post("/webhooks/github/primary", hw, []byte(body)); st != 401 {
			t.Fatalf("bad signature = %d, want 401", st)
		} else {
			assertErrorBody(t, b, hookgate.EUnauthorized)
			assertNoSecret(t, b, "whsec_PROVIDED_BY_GITHUB", sign(body)[7:])
		}

		rs := tg.receipts("primary")
		counts := map[hookgate.Status]int{}
		for _, r := range rs {
			counts[r.Status]++
		}
		if counts[hookgate.StatusReceived] != 1 || counts[hookgate.StatusDuplicate] != 1 || counts[hookgate.StatusRejected] != 1 || len(rs) != 3 {
			t.Fatalf("receipts by status = %v (of %d)", counts, len(rs))
		}
		var first, dup *hookgate.Receipt
		for _, r := range rs {
			switch r.Status {
			case hookgate.StatusReceived:
				first = r
			case hookgate.StatusDuplicate:
				dup = r
			}
		}
		if dup.DuplicateOf != first.ID {
			t.Errorf("duplicate_of = %q, want %q", dup.DuplicateOf, first.ID)
		}
		if want := "primary:pull_request:" + nonce; first.IdempotencyKey != want {
			t.Errorf("idempotency key = %q, want %q", first.IdempotencyKey, want)
		}

		tg.drain()
		var got map[string]any
		if st := tg.api("GET", "/api/v1/receipts/"+first.ID, nil, &got); st != 200 {
			t.Fatalf("get receipt = %d", st)
		}
		if got["status"] != "acknowledged" || got["body"] != body || got["secret_id"] != hookgate.SecretID("whsec_PROVIDED_BY_GITHUB") {
			t.Errorf("receipt = %v", got)
		}
		hist := got["history"].([]any)
		var states []string
		for _, h := range hist {
			states = append(states, h.(map[string]any)["status"].(string))
		}
		if strings.Join(states, ",") != "received,dispatched,acknowledged" {
			t.Errorf("history = %v", states)
		}
	})
}

// authCase is one auth type of the contract table: a connection and a
// signer that makes a valid request for a body at a time.
type authCase struct {
	name     string
	conn     string // YAML of one connection, indented for the connections list
	path     string
	sign     func(h http.Header, body []byte, now time.Time)
	unsign   func(h http.Header) // removes the credential
	hasTS    bool
	secretUA string // the secret, to check answers never echo it
}

func signWith(t *testing.T, cfg verify.Config) func(h http.Header, body []byte, now time.Time) {
	v, err := verify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return func(h http.Header, body []byte, now time.Time) {
		u, _ := url.Parse("http://example.test/")
		if err := v.Sign(&verify.Request{Method: "POST", URL: u, Header: h, Body: body, Now: now}, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func authCases(t *testing.T) []authCase {
	sec := func(auth, header, secret string) verify.Config {
		return verify.Config{Auth: auth, SignatureHeader: header, Secrets: []verify.Secret{{ID: "s", Value: secret}}, ReplayWindow: 5 * time.Minute}
	}
	del := func(names ...string) func(http.Header) {
		return func(h http.Header) {
			for _, n := range names {
				h.Del(n)
			}
		}
	}
	return []authCase{
		{name: "sha256 github", path: "/webhooks/github/gh",
			conn: "{type: github, name: gh, signing_secret: gh-secret, routes: [{handlers: [audit]}]}",
			sign: signWith(t, sec("sha256", "X-Hub-Signature-256", "gh-secret")), unsign: del("X-Hub-Signature-256"), secretUA: "gh-secret"},
		{name: "sha256_raw linear", path: "/webhooks/linear/lin",
			conn: "{type: linear, name: lin, signing_secret: lin-secret, routes: [{handlers: [audit]}]}",
			sign: signWith(t, sec("sha256_raw", "Linear-Signature", "lin-secret")), unsign: del("Linear-Signature"), secretUA: "lin-secret"},
		{name: "sha1 intercom", path: "/webhooks/intercom/ic",
			conn: "{type: intercom, name: ic, signing_secret: ic-secret, routes: [{handlers: [audit]}]}",
			sign: signWith(t, sec("sha1", "X-Hub-Signature", "ic-secret")), unsign: del("X-Hub-Signature"), secretUA: "ic-secret"},
		{name: "sha256_base64 docusign", path: "/webhooks/docusign/ds",
			conn: "{type: docusign, name: ds, signing_secret: ds-secret, routes: [{handlers: [audit]}]}",
			sign: signWith(t, sec("sha256_base64", "X-DocuSign-Signature-1", "ds-secret")), unsign: del("X-DocuSign-Signature-1"), secretUA: "ds-secret"},
		{name: "basic datadog", path: "/webhooks/datadog/dd",
			conn: "{type: datadog, name: dd, basic_auth: {username: dd, password: dd-pass}, routes: [{handlers: [audit]}]}",
			sign: func(h http.Header, _ []byte, _ time.Time) {
				r, _ := http.NewRequest("POST", "/", nil)
				r.SetBasicAuth("dd", "dd-pass")
				h.Set("Authorization", r.Header.Get("Authorization"))
			}, unsign: del("Authorization"), secretUA: "dd-pass"},
		{name: "secret google-calendar", path: "/webhooks/google/calendar",
			conn:   "{type: google-calendar, name: gcal, path: /webhooks/google/calendar, signing_secret: gcal-token, routes: [{handlers: [audit]}]}",
			sign:   func(h http.Header, _ []byte, _ time.Time) { h.Set("X-Goog-Channel-Token", "gcal-token") },
			unsign: del("X-Goog-Channel-Token"), secretUA: "gcal-token"},
		{name: "api_key internal", path: "/webhooks/sales-prospecting/summary",
			conn:   "{type: internal, name: sales, auth: api_key, path: /webhooks/sales-prospecting/summary, api_key: {value: key-123}, routes: [{handlers: [audit]}]}",
			sign:   func(h http.Header, _ []byte, _ time.Time) { h.Set("Authorization", "Bearer key-123") },
			unsign: del("Authorization"), secretUA: "key-123"},
		{name: "svix incidentio", path: "/webhooks/incident/lead", hasTS: true,
			conn: "{type: incidentio, name: lead, path: /webhooks/incident/lead, signing_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, routes: [{handlers: [audit]}]}",
			sign: func(h http.Header, body []byte, now time.Time) {
				h.Set("webhook-id", "msg_"+uuid.NewString())
				signWith(t, sec("svix", "", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))(h, body, now)
			}, unsign: del("webhook-signature"), secretUA: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	}
}

// TestIngressContract runs the status-code contract of SPEC §2 for every
// auth type in scope.
func TestIngressContract(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		cases := authCases(t)
		var conns strings.Builder
		for _, c := range cases {
			fmt.Fprintf(&conns, "  - %s\n", c.conn)
		}
		tg := newTestGatewayWith(t, storage, `
webhooks:
  max_payload_bytes: 1024
handlers:
  - {name: audit, type: log}
connections:
`+conns.String())

		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				body := []byte(fmt.Sprintf(`{"id":"%s","type":"thing.happened","event_type":"x","event":"envelope-sent","topic":"conversation.user.created"}`, uuid.NewString()))
				signed := func(b []byte) http.Header {
					h := http.Header{}
					c.sign(h, b, tg.clock.Now())
					return h
				}
				h := signed(body)
				if st, b := tg.post(c.path, h, body); st != 204 {
					t.Fatalf("accept = %d %s", st, b)
				}
				if st, b := tg.post(c.path, h, body); st != 204 {
					t.Fatalf("duplicate = %d %s", st, b)
				}

				// Signature mismatch: the body changed by one byte after signing.
				// (Credential schemes do not sign the body; for them, a wrong
				// credential is the mismatch.)
				changed := bytes.Replace(body, []byte(`"id"`), []byte(`"iD"`), 1)
				hm := signed(body)
				if c.name == "basic datadog" || strings.HasPrefix(c.name, "secret") || strings.HasPrefix(c.name, "api_key") {
					for k := range hm {
						hm.Set(k, hm.Get(k)+"x")
					}
				}
				st, b := tg.post(c.path, hm, changed)
				if st != 401 {
					t.Fatalf("mismatch = %d %s", st, b)
				}
				assertErrorBody(t, b, hookgate.EUnauthorized)
				assertNoSecret(t, b, c.secretUA)

				hmiss := signed(body)
				c.unsign(hmiss)
				if st, b := tg.post(c.path, hmiss, body); st != 401 {
					t.Fatalf("missing signature = %d %s", st, b)
				}

				malformed := []string{`[1,2]`, `"str"`, `{"a":`, ``}
				if strings.HasPrefix(c.name, "secret google") {
					malformed = malformed[:3] // Google push notifications have no body: empty is valid there
				}
				for _, bad := range malformed {
					if st, b := tg.post(c.path, signed([]byte(bad)), []byte(bad)); st != 400 {
						t.Fatalf("malformed %q = %d %s", bad, st, b)
					} else {
						assertErrorBody(t, b, hookgate.EMalformed)
					}
				}

				big := []byte(`{"pad":"` + strings.Repeat("x", 2000) + `"}`)
				if st, b := tg.post(c.path, signed(big), big); st != 413 {
					t.Fatalf("oversized (Content-Length) = %d %s", st, b)
				}
				// Chunked: no Content-Length, so the limit is enforced while reading.
				req, _ := http.NewRequest("POST", tg.ingest.URL+c.path, io.MultiReader(bytes.NewReader(big)))
				req.Header = signed(big)
				req.Header.Set("Content-Type", "application/json")
				req.ContentLength = -1
				if st, b := do(t, req); st != 413 {
					t.Fatalf("oversized (chunked) = %d %s", st, b)
				} else {
					assertErrorBody(t, b, hookgate.ETooLarge)
				}

				if c.hasTS {
					stale := signedAt(c, body, tg.clock.Now().Add(-6*time.Minute))
					if st, b := tg.post(c.path, stale, body); st != 409 {
						t.Fatalf("stale timestamp = %d %s", st, b)
					} else {
						assertErrorBody(t, b, hookgate.EReplay)
					}
					future := signedAt(c, body, tg.clock.Now().Add(6*time.Minute))
					if st, _ := tg.post(c.path, future, body); st != 409 {
						t.Fatalf("future timestamp = %d", st)
					}
				}
			})
		}

		t.Run("unknown connection", func(t *testing.T) {
			st, b := tg.post("/webhooks/github/nope", nil, []byte(`{}`))
			if st != 404 {
				t.Fatalf("= %d", st)
			}
			assertErrorBody(t, b, hookgate.ENotFound)
		})
		t.Run("name under the wrong type", func(t *testing.T) {
			st, b := tg.post("/webhooks/stripe/gh", nil, []byte(`{}`))
			if st != 400 {
				t.Fatalf("= %d", st)
			}
			assertErrorBody(t, b, hookgate.EWrongType)
		})
		t.Run("method", func(t *testing.T) {
			req, _ := http.NewRequest("PUT", tg.ingest.URL+"/webhooks/github/gh", strings.NewReader("{}"))
			if st, b := do(t, req); st != 405 {
				t.Fatalf("= %d", st)
			} else {
				assertErrorBody(t, b, hookgate.EMethod)
			}
		})
	})
}

func signedAt(c authCase, body []byte, at time.Time) http.Header {
	h := http.Header{}
	c.sign(h, body, at)
	return h
}

func TestDisabledAnswers503WithRetryAfter(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
webhooks: {enabled: false}
connections:
  - {type: github, name: gh, signing_secret: s}
`)
	req, _ := http.NewRequest("POST", tg.ingest.URL+"/webhooks/github/gh", strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("= %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Disabled is checked before method and authentication.
	if st, _ := tg.post("/webhooks/github/gh", nil, []byte(`{}`)); st != 503 {
		t.Fatalf("= %d", st)
	}
}

func TestConnectionLevelDisable(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: github, name: gh, signing_secret: s, enabled: false}
`)
	if st, _ := tg.post("/webhooks/github/gh", nil, []byte(`{}`)); st != 503 {
		t.Fatalf("= %d", st)
	}
}

func TestJSONSuccessResponse(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: internal, name: dd, auth: basic, basic_auth: {username: u, password: p}, response: {status: 200, body: json}}
`)
	req, _ := http.NewRequest("POST", tg.ingest.URL+"/webhooks/internal/dd", strings.NewReader(`{"id":"alert-1"}`))
	req.SetBasicAuth("u", "p")
	st, b := do(t, req)
	if st != 200 || !strings.Contains(string(b), `"success":true`) || !strings.Contains(string(b), `"message":"Webhook received successfully"`) ||
		!strings.Contains(string(b), `"receipt_id"`) || !strings.Contains(string(b), `"connection":"dd"`) {
		t.Fatalf("= %d %s", st, b)
	}
}

// TestIdempotencyKeyFold checks the 255-character clamp of SPEC §2.
func TestIdempotencyKeyFold(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: internal, name: n, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce}
`)
	long := strings.Repeat("n", 300)
	h := http.Header{"X-Token": {"tok"}, "X-Nonce": {long}}
	if st, _ := tg.post("/webhooks/internal/n", h, []byte(`{}`)); st != 204 {
		t.Fatal(st)
	}
	if st, _ := tg.post("/webhooks/internal/n", h, []byte(`{"other":"body"}`)); st != 204 {
		t.Fatal(st)
	}
	rs := tg.receipts("n")
	if len(rs) != 2 || len(rs[0].IdempotencyKey) != 64 || rs[0].IdempotencyKey != rs[1].IdempotencyKey {
		t.Fatalf("keys: %q %q", rs[0].IdempotencyKey, rs[1].IdempotencyKey)
	}
	if rs[0].Status != hookgate.StatusDuplicate && rs[1].Status != hookgate.StatusDuplicate {
		t.Fatal("second delivery with the same long nonce is not a duplicate")
	}
}

// TestChecksumDedupe: without a nonce, the SHA-256 of the body is the nonce.
func TestChecksumDedupe(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		tg := newTestGatewayWith(t, storage, `
connections:
  - {type: datadog, name: dd, basic_auth: {username: u, password: p}}
`)
		send := func(body string) int {
			req, _ := http.NewRequest("POST", tg.ingest.URL+"/webhooks/datadog/dd", strings.NewReader(body))
			req.SetBasicAuth("u", "p")
			st, _ := do(t, req)
			return st
		}
		for _, b := range []string{`{"event_type":"alert","id":"1"}`, `{"event_type":"alert","id":"1"}`, `{"event_type":"alert","id":"2"}`} {
			if st := send(b); st != 204 {
				t.Fatal(st)
			}
		}
		dups := 0
		for _, r := range tg.receipts("dd") {
			if r.Status == hookgate.StatusDuplicate {
				dups++
			}
			if !strings.HasPrefix(r.Nonce, "sha256:") {
				t.Errorf("nonce = %q", r.Nonce)
			}
		}
		if dups != 1 {
			t.Fatalf("duplicates = %d, want 1", dups)
		}
	})
}

func TestIdempotencyTTLExpiry(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		tg := newTestGatewayWith(t, storage, `
connections:
  - {type: internal, name: n, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, idempotency_ttl_seconds: 60}
`)
		h := http.Header{"X-Token": {"tok"}, "X-Nonce": {"same"}}
		if st, b := tg.post("/webhooks/internal/n", h, []byte(`{}`)); st != http.StatusNoContent {
			t.Fatalf("first delivery = %d %s", st, b)
		}
		tg.clock.Add(61 * time.Second)
		if st, b := tg.post("/webhooks/internal/n", h, []byte(`{}`)); st != http.StatusNoContent {
			t.Fatalf("delivery past the TTL = %d %s", st, b)
		}
		rs := tg.receipts("n")
		if len(rs) != 2 {
			t.Fatalf("%d receipts, want 2", len(rs))
		}
		for _, r := range rs {
			// No route: an accepted receipt is filtered; a repeat would be a duplicate.
			if r.Status != hookgate.StatusFiltered || r.DuplicateOf != "" {
				t.Fatalf("receipt %s is %s (duplicate of %q): a key past its TTL must be accepted again", r.ID, r.Status, r.DuplicateOf)
			}
		}
	})
}

func TestUnauthenticatedNeedsOptIn(t *testing.T) {
	t.Parallel()
	cfg := `
connections:
  - {type: internal, name: open, auth: none}
`
	if err := checkYAML(t, cfg); err == nil || !strings.Contains(err.Error(), "allow_unauthenticated") {
		t.Fatalf("want fail-closed error, got %v", err)
	}
	tg := newTestGateway(t, `
connections:
  - {type: internal, name: open, auth: none, allow_unauthenticated: true}
`)
	if st, _ := tg.post("/webhooks/internal/open", nil, []byte(`{}`)); st != 204 {
		t.Fatal(st)
	}
}

func TestRejectedReceiptHasTraceWithoutSecret(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: github, name: gh, signing_secret: top-secret-value}
`)
	tg.post("/webhooks/github/gh", http.Header{"X-Hub-Signature-256": {"sha256=" + strings.Repeat("ab", 32)}}, []byte(`{}`))
	rs := tg.receipts("gh")
	if len(rs) != 1 || rs[0].Status != hookgate.StatusRejected || rs[0].Reason != verify.ReasonSignatureMismatch {
		t.Fatalf("receipts = %+v", rs)
	}
	var got map[string]any
	tg.api("GET", "/api/v1/receipts/"+rs[0].ID, nil, &got)
	// The body is kept (within the connection's budget) so that the receipt
	// can be admitted once the secret is fixed.
	if got["trace"] == nil || got["body"] != "{}" {
		t.Fatalf("rejected receipt: trace=%v body=%v", got["trace"], got["body"])
	}
	raw := fmt.Sprint(got)
	if strings.Contains(raw, "top-secret-value") {
		t.Fatal("trace leaks the secret")
	}
}

// TestGoogleCalendarPush: Google's push notifications carry no body, and
// message numbers count per channel, so two channels' message 1 ("sync")
// must not deduplicate each other.
func TestGoogleCalendarPush(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: google-calendar, name: gcal, signing_secret: chan-token}
`)
	push := func(channel, msg string) int {
		h := http.Header{"X-Goog-Channel-Token": {"chan-token"}, "X-Goog-Channel-Id": {channel},
			"X-Goog-Message-Number": {msg}, "X-Goog-Resource-State": {"sync"}}
		req, _ := http.NewRequest("POST", tg.ingest.URL+"/webhooks/google-calendar/gcal", nil)
		req.Header = h
		st, _ := do(t, req)
		return st
	}
	for _, p := range [][2]string{{"chan-a", "1"}, {"chan-b", "1"}, {"chan-a", "1"}} {
		if st := push(p[0], p[1]); st != 204 {
			t.Fatalf("push %v = %d", p, st)
		}
	}
	dups := 0
	for _, r := range tg.receipts("gcal") {
		if r.Status == hookgate.StatusDuplicate {
			dups++
		}
		if r.EventType != "sync" {
			t.Errorf("event type = %q", r.EventType)
		}
	}
	if dups != 1 {
		t.Fatalf("duplicates = %d, want 1 (only the repeat of chan-a/1)", dups)
	}
}

func TestAllowedIPs(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
connections:
  - {type: internal, name: closed, auth: secret, signature_header: X-Token, signing_secret: tok, allowed_ips: ["10.0.0.0/8"]}
  - {type: internal, name: open, auth: secret, signature_header: X-Token, signing_secret: tok, allowed_ips: ["127.0.0.1", "::1"]}
`)
	h := http.Header{"X-Token": {"tok"}}
	st, b := tg.post("/webhooks/internal/closed", h, []byte(`{}`))
	if st != 403 {
		t.Fatalf("sender outside allowed_ips = %d", st)
	}
	assertErrorBody(t, b, hookgate.EForbidden)
	if rs := tg.receipts("closed"); len(rs) != 1 || rs[0].Reason != "sender_not_allowed" {
		t.Fatalf("refused sender not recorded: %+v", rs)
	}
	if st, _ := tg.post("/webhooks/internal/open", h, []byte(`{}`)); st != 204 {
		t.Fatalf("sender inside allowed_ips = %d", st)
	}
	if err := checkYAML(t, "connections:\n  - {type: github, name: x, signing_secret: s, allowed_ips: [not-a-cidr]}\n"); err == nil {
		t.Fatal("a bad CIDR must fail closed")
	}
	if err := checkYAML(t, "trusted_proxies: [nope]\n"); err == nil {
		t.Fatal("a bad trusted proxy must fail closed")
	}
}
