package gateway_test

// Provider round trips through real HTTP: every preset is signed by the code
// path of `hookgate send` (cli.BuildRequest) and verified by a gateway on
// loopback with a real SQLite store. This is an external test package
// because cli imports gateway.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/cli"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/verify"
)

// providerGateway is a gateway on a temp-file SQLite with its ingress and
// admin API on loopback, and a Go handler that counts dispatches.
type providerGateway struct {
	*gateway.Gateway
	t          *testing.T
	ingest     *httptest.Server
	admin      *httptest.Server
	dispatched atomic.Int64
}

func newProviderGateway(t *testing.T, yaml string) *providerGateway {
	t.Helper()
	return newProviderGatewayAt(t, yaml, nil)
}

// newProviderGatewayAt is newProviderGateway with the gateway's clock set
// (nil: the wall clock).
func newProviderGatewayAt(t *testing.T, yaml string, now func() time.Time) *providerGateway {
	t.Helper()
	cfg, _, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = "sqlite://" + filepath.Join(t.TempDir(), "hookgate.db")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("HOOKGATE_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	pg := &providerGateway{t: t}
	count := hookgate.SenderFunc(func(context.Context, *hookgate.Receipt) (int, bool, error) {
		pg.dispatched.Add(1)
		return 0, false, nil
	})
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: logger, Now: now, Handlers: map[string]hookgate.Sender{"count": count}})
	if err != nil {
		t.Fatal(err)
	}
	pg.Gateway = gw
	pg.ingest = httptest.NewServer(gw.Ingress())
	pg.admin = httptest.NewServer(gw.AdminHandler())
	t.Cleanup(func() {
		pg.ingest.Close()
		pg.admin.Close()
		gw.Close()
	})
	return pg
}

// register adds a run-time connection through the admin API; conn gets a
// route to the counting handler.
func (pg *providerGateway) register(conn map[string]any) {
	pg.t.Helper()
	conn["routes"] = []map[string]any{{"handlers": []string{"count"}}}
	if st, b := pg.call("POST", "/api/v1/connections", conn); st != http.StatusCreated {
		pg.t.Fatalf("register %v = %d %s", conn["type"], st, b)
	}
}

func (pg *providerGateway) call(method, path string, in any) (int, []byte) {
	pg.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, pg.admin.URL+path, body)
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		pg.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// send builds o with the code path of `hookgate send` and sends it.
func (pg *providerGateway) send(o cli.SendOptions) (*http.Response, []byte) {
	pg.t.Helper()
	pr, err := cli.BuildRequest(o)
	if err != nil {
		pg.t.Fatalf("build %s request: %v", o.Type, err)
	}
	return pg.do(pr)
}

func (pg *providerGateway) do(pr *cli.ProviderRequest) (*http.Response, []byte) {
	pg.t.Helper()
	req, err := pr.HTTPRequest(context.Background())
	if err != nil {
		pg.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		pg.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// receipts lists a connection's receipts with headers and body, newest first.
func (pg *providerGateway) receipts(conn string) []*hookgate.Receipt {
	pg.t.Helper()
	list, _, err := pg.Store().Receipts(context.Background(), hookgate.ReceiptFilter{Connection: conn, Limit: 500})
	if err != nil {
		pg.t.Fatal(err)
	}
	out := make([]*hookgate.Receipt, 0, len(list))
	for _, r := range list {
		full, err := pg.Store().Receipt(context.Background(), r.ID)
		if err != nil {
			pg.t.Fatal(err)
		}
		out = append(out, full)
	}
	return out
}

// drain runs the dispatcher until nothing is due.
func (pg *providerGateway) drain() {
	pg.t.Helper()
	for i := 0; i < 100; i++ {
		n, err := pg.Dispatcher().RunOnce(context.Background())
		if err != nil {
			pg.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	pg.t.Fatal("dispatcher never drained")
}

func (pg *providerGateway) url(typ, name string) string {
	return pg.ingest.URL + "/webhooks/" + typ + "/" + name
}

// credentialOnly lists the auth types whose credential is not a signature
// over the whole body, so changing a body byte still verifies; for them the
// tamper check is a wrong credential only. A new auth type that does not
// sign the body must be added here with its reason, or the round trip fails.
var credentialOnly = map[string]string{
	"basic":        "HTTP Basic credentials do not cover the body",
	"secret":       "a shared token in a header does not cover the body",
	"api_key":      "an API key in a header does not cover the body",
	"mailgun":      "Mailgun signs timestamp+token only, not the payload",
	"client_state": "Microsoft Graph's clientState is a shared token inside each notification, not a signature",
}

// notRoundTripped lists presets that cannot be signed by `hookgate send`,
// with the reason. Every other preset must round-trip.
var notRoundTripped = map[string]string{}

// credentials returns, for an auth type, what the connection holds and
// what the sender signs with (they differ for public-key schemes, where
// the sender signs with the private key and the connection holds the public
// key), plus a second, wrong signing credential.
func credentials(t *testing.T, auth string) (conn map[string]any, sign, wrong cli.SendOptions) {
	t.Helper()
	switch auth {
	case "none":
		return nil, cli.SendOptions{}, cli.SendOptions{}
	case "basic":
		return map[string]any{"basic_auth": map[string]string{"username": "hook", "password": "pa55-word"}},
			cli.SendOptions{Basic: "hook:pa55-word"}, cli.SendOptions{Basic: "hook:wrong"}
	case "api_key":
		return map[string]any{"api_key": map[string]string{"header": "X-Api-Key", "value": "key-0123456789"}},
			cli.SendOptions{APIKey: "key-0123456789", APIKeyHeader: "X-Api-Key"}, cli.SendOptions{APIKey: "key-wrong", APIKeyHeader: "X-Api-Key"}
	case "svix":
		good := "whsec_" + base64.StdEncoding.EncodeToString([]byte("roundtrip-secret-0123456789abcdef"))
		bad := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-secret-0123456789abcdefgh"))
		return map[string]any{"signing_secret": good}, cli.SendOptions{Secret: good}, cli.SendOptions{Secret: bad}
	case "ed25519":
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		return map[string]any{"signing_secret": hex.EncodeToString(pub)},
			cli.SendOptions{Secret: hex.EncodeToString(priv)}, cli.SendOptions{Secret: hex.EncodeToString(other)}
	case "ecdsa":
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		priv, _ := x509.MarshalPKCS8PrivateKey(key)
		otherPriv, _ := x509.MarshalPKCS8PrivateKey(other)
		return map[string]any{"signing_secret": base64.StdEncoding.EncodeToString(pub)},
			cli.SendOptions{Secret: base64.StdEncoding.EncodeToString(priv)},
			cli.SendOptions{Secret: base64.StdEncoding.EncodeToString(otherPriv)}
	}
	return map[string]any{"signing_secret": "roundtrip-secret_0123456789"},
		cli.SendOptions{Secret: "roundtrip-secret_0123456789"}, cli.SendOptions{Secret: "wrong-secret_9876543210"}
}

// roundTripBody is an ordinary delivery: a JSON object whose "data.n" can
// be changed without breaking the JSON.
const roundTripBody = `{"id":"evt_roundtrip_1","type":"test.event","event_type":"test.event","data":{"n":1}}`

// TestEveryPresetRoundTrips signs a delivery for every registered preset
// exactly as `hookgate send` does, sends it over HTTP, and checks that it is
// accepted and stored, that a resend is a duplicate, and that a changed body
// byte and a wrong secret are both rejected with 401.
func TestEveryPresetRoundTrips(t *testing.T) {
	pg := newProviderGateway(t, "")
	for _, p := range verify.Presets() {
		t.Run(p.Type, func(t *testing.T) {
			pg.t = t
			if why, ok := notRoundTripped[p.Type]; ok {
				t.Skipf("%s cannot round-trip: %s", p.Type, why)
			}
			if p.Auth == "none" {
				t.Skip("auth none: nothing to sign or reject")
			}
			name := "rt-" + p.Type
			target := pg.url(p.Type, name)
			connCreds, signCreds, wrongCreds := credentials(t, p.Auth)
			conn := map[string]any{"type": p.Type, "name": name, "public_url": target}
			for k, v := range connCreds {
				conn[k] = v
			}
			pg.register(conn)

			opts := func(creds cli.SendOptions, body string) cli.SendOptions {
				creds.Type, creds.URL, creds.Event, creds.Body = p.Type, target, "test.event", []byte(body)
				return creds
			}
			pr, err := cli.BuildRequest(opts(signCreds, roundTripBody))
			if err != nil {
				t.Fatalf("hookgate send cannot sign a %s request: %v (list it in notRoundTripped with the reason if this is expected)", p.Type, err)
			}
			resp, b := pg.do(pr)
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				t.Fatalf("signed %s delivery = %d %s, want 2xx", p.Type, resp.StatusCode, b)
			}
			rs := pg.receipts(name)
			if len(rs) != 1 {
				t.Fatalf("receipts = %d, want 1", len(rs))
			}
			switch rs[0].Status {
			case hookgate.StatusReceived, hookgate.StatusAcknowledged, hookgate.StatusFiltered:
			default:
				t.Fatalf("receipt status = %s (%s), want received, acknowledged or filtered", rs[0].Status, rs[0].Reason)
			}

			// The very same request again is a duplicate (SPEC §2 check 10).
			if resp, b := pg.do(pr); resp.StatusCode < 200 || resp.StatusCode > 299 {
				t.Fatalf("resent %s delivery = %d %s, want 2xx", p.Type, resp.StatusCode, b)
			}
			if rs := pg.receipts(name); len(rs) != 2 || rs[0].Status != hookgate.StatusDuplicate {
				t.Fatalf("resend: newest receipt = %v, want duplicate", statuses(rs))
			}

			// One body byte changed after signing.
			tampered := *pr
			tampered.Body = []byte(strings.Replace(string(pr.Body), `"n":1`, `"n":2`, 1))
			if string(tampered.Body) == string(pr.Body) {
				t.Fatalf("the signed %s body lost its data.n field: %s", p.Type, pr.Body)
			}
			resp, b = pg.do(&tampered)
			if why, ok := credentialOnly[p.Auth]; ok {
				t.Logf("changed body not checked for auth %s: %s", p.Auth, why)
			} else if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s delivery with one body byte changed = %d %s, want 401", p.Type, resp.StatusCode, b)
			} else if rs := pg.receipts(name); rs[0].Status != hookgate.StatusRejected {
				t.Fatalf("changed body: newest receipt = %v, want rejected", statuses(rs))
			}

			// Signed with another secret.
			wrong, err := cli.BuildRequest(opts(wrongCreds, `{"id":"evt_roundtrip_2","type":"test.event","data":{"n":1}}`))
			if err != nil {
				t.Fatal(err)
			}
			if resp, b := pg.do(wrong); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s delivery signed with a wrong secret = %d %s, want 401", p.Type, resp.StatusCode, b)
			}
			if rs := pg.receipts(name); rs[0].Status != hookgate.StatusRejected {
				t.Fatalf("wrong secret: newest receipt = %v, want rejected", statuses(rs))
			}
		})
	}
}

func statuses(rs []*hookgate.Receipt) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Status) + ":" + r.Reason
	}
	return out
}

// TestSendCommandInProcess runs `hookgate send` itself against the gateway,
// for a URL-signing scheme: the --url it posts to is the URL it signs.
func TestSendCommandInProcess(t *testing.T) {
	if _, ok := verify.LookupPreset("square"); !ok {
		t.Fatal("preset square is not registered")
	}
	pg := newProviderGateway(t, "")
	target := pg.url("square", "shop")
	pg.register(map[string]any{"type": "square", "name": "shop", "signing_secret": "sq-key", "public_url": target})
	var out, errOut strings.Builder
	code := cli.Run(context.Background(), []string{"send", "--type", "square", "--url", target, "--secret", "sq-key",
		"--body", `{"event_id":"e-1","type":"payment.created"}`}, &out, &errOut)
	if code != 0 {
		t.Fatalf("hookgate send = %d\n%s%s", code, out.String(), errOut.String())
	}
	code = cli.Run(context.Background(), []string{"send", "--type", "square", "--url", target, "--secret", "other",
		"--body", `{"event_id":"e-2","type":"payment.created"}`}, &out, &errOut)
	if code != 1 {
		t.Fatalf("hookgate send with a wrong secret = %d, want 1\n%s%s", code, out.String(), errOut.String())
	}
	if rs := pg.receipts("shop"); len(rs) != 2 || rs[1].Status != hookgate.StatusReceived || rs[0].Status != hookgate.StatusRejected {
		t.Fatalf("receipts = %v", statuses(rs))
	}
}

// TestSignedNonceDeduplicates: a replay token inside the signed content
// (here Twitch's message id, re-signed with a new timestamp and a changed
// body) makes the second delivery a duplicate.
func TestSignedNonceDeduplicates(t *testing.T) {
	for _, typ := range []string{"twitch", "mailgun"} {
		t.Run(typ, func(t *testing.T) {
			if _, ok := verify.LookupPreset(typ); !ok {
				t.Fatalf("preset %s is not registered", typ)
			}
			pg := newProviderGateway(t, "")
			pg.register(map[string]any{"type": typ, "name": "n-" + typ, "signing_secret": "nonce-secret"})
			first, err := cli.BuildRequest(cli.SendOptions{Type: typ, URL: pg.url(typ, "n-"+typ), Secret: "nonce-secret",
				Body: []byte(`{"id":"a","data":{"n":1}}`)})
			if err != nil {
				t.Fatal(err)
			}
			if resp, b := pg.do(first); resp.StatusCode/100 != 2 {
				t.Fatalf("first = %d %s", resp.StatusCode, b)
			}
			rs := pg.receipts("n-" + typ)
			nonce := rs[0].Nonce
			if nonce == "" || strings.HasPrefix(nonce, "sha256:") {
				t.Fatalf("nonce = %q, want the signed replay token", nonce)
			}
			second := replaySignedNonce(t, typ, first, rs[0])
			if resp, b := pg.do(second); resp.StatusCode/100 != 2 {
				t.Fatalf("replay = %d %s", resp.StatusCode, b)
			}
			rs = pg.receipts("n-" + typ)
			if len(rs) != 2 || rs[0].Status != hookgate.StatusDuplicate || rs[0].Nonce != nonce {
				t.Fatalf("replayed token: receipts = %v (nonce %q), want a duplicate of %q", statuses(rs), rs[0].Nonce, nonce)
			}
		})
	}
}

// replaySignedNonce re-signs a delivery carrying the same replay token but
// a different body.
func replaySignedNonce(t *testing.T, typ string, first *cli.ProviderRequest, stored *hookgate.Receipt) *cli.ProviderRequest {
	t.Helper()
	switch typ {
	case "twitch":
		h := http.Header{}
		h.Set("Twitch-Eventsub-Message-Id", first.Header.Get("Twitch-Eventsub-Message-Id"))
		pr, err := cli.BuildRequest(cli.SendOptions{Type: typ, URL: first.URL, Secret: "nonce-secret", Header: h,
			Body: []byte(`{"id":"b","data":{"n":2}}`), Now: time.Now().Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		return pr
	case "mailgun":
		// Mailgun signs timestamp+token only: the same signature block
		// with another event is the replay the token must catch.
		var b map[string]any
		if err := json.Unmarshal(first.Body, &b); err != nil {
			t.Fatalf("mailgun body: %v", err)
		}
		b["data"] = map[string]any{"n": 2}
		body, _ := json.Marshal(b)
		pr := *first
		pr.Body = body
		return &pr
	}
	t.Fatalf("no replay recipe for %s", typ)
	return nil
}

// TestGenericHMACFlags: `hookgate send` and `hookgate verify` take the
// generic hmac scheme's settings, and verify keeps its exit codes (0
// verifies, 1 does not, 2 usage).
func TestGenericHMACFlags(t *testing.T) {
	pg := newProviderGateway(t, "")
	pg.register(map[string]any{"type": "acme", "name": "acme", "auth": "hmac", "signing_secret": "acme-secret",
		"algorithm": "sha512", "encoding": "base64", "signature_prefix": "v1=", "signed_content": "{timestamp}.{body}",
		"signature_header": "X-Acme-Signature", "timestamp_header": "X-Acme-Timestamp"})
	flags := []string{"--type", "acme", "--auth", "hmac", "--algorithm", "sha512", "--encoding", "base64",
		"--signature-prefix", "v1=", "--signed-content", "{timestamp}.{body}",
		"--signature-header", "X-Acme-Signature", "--timestamp-header", "X-Acme-Timestamp", "--secret", "acme-secret"}
	run := func(args ...string) (int, string) {
		var out, errOut strings.Builder
		code := cli.Run(context.Background(), args, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := run(append([]string{"send", "--url", pg.url("acme", "acme"), "--body", `{"id":"1"}`}, flags...)...); code != 0 {
		t.Fatalf("send = %d\n%s", code, out)
	}
	if rs := pg.receipts("acme"); len(rs) != 1 || rs[0].Status != hookgate.StatusReceived {
		t.Fatalf("receipts = %v", statuses(rs))
	}

	pr, err := cli.BuildRequest(cli.SendOptions{Type: "acme", Auth: "hmac", URL: pg.url("acme", "acme"), Secret: "acme-secret",
		Algorithm: "sha512", Encoding: "base64", SignaturePrefix: "v1=", SignedContent: "{timestamp}.{body}",
		SignatureHeader: "X-Acme-Signature", TimestampHeader: "X-Acme-Timestamp", Body: []byte(`{"id":"2"}`)})
	if err != nil {
		t.Fatal(err)
	}
	verifyArgs := func(body string) []string {
		args := append([]string{"verify", "--body", body}, flags...)
		for _, h := range []string{"X-Acme-Signature", "X-Acme-Timestamp"} {
			args = append(args, "--header", h+": "+pr.Header.Get(h))
		}
		return args
	}
	if code, out := run(verifyArgs(`{"id":"2"}`)...); code != 0 || !strings.Contains(out, "VERIFIED") {
		t.Fatalf("verify = %d\n%s", code, out)
	}
	if code, out := run(verifyArgs(`{"id":"3"}`)...); code != 1 || !strings.Contains(out, "signature_mismatch") {
		t.Fatalf("verify of a changed body = %d, want 1\n%s", code, out)
	}
	if code, out := run("verify", "--type", "acme", "--auth", "hmac", "--algorithm", "md5", "--secret", "s", "--body", "{}"); code != 2 {
		t.Fatalf("verify with an unknown algorithm = %d, want 2\n%s", code, out)
	}
}

// TestSendGridBatch: SendGrid posts its events as a JSON array in one
// signed request; the preset accepts a non-empty array of objects (one
// receipt, event type of the first event) and still refuses other shapes.
func TestSendGridBatch(t *testing.T) {
	pg := newProviderGateway(t, "")
	target := pg.url("sendgrid", "events")
	connCreds, signCreds, _ := credentials(t, "ecdsa")
	conn := map[string]any{"type": "sendgrid", "name": "events", "public_url": target}
	for k, v := range connCreds {
		conn[k] = v
	}
	pg.register(conn)
	send := func(body string) (*http.Response, []byte) {
		o := signCreds
		o.Type, o.URL, o.Body = "sendgrid", target, []byte(body)
		pr, err := cli.BuildRequest(o)
		if err != nil {
			t.Fatal(err)
		}
		return pg.do(pr)
	}
	batch := `[{"email":"a@example.com","event":"delivered","sg_event_id":"ev-1","timestamp":1700000000},` +
		`{"email":"b@example.com","event":"open","sg_event_id":"ev-2","timestamp":1700000001}]`
	if resp, b := send(batch); resp.StatusCode/100 != 2 {
		t.Fatalf("signed SendGrid batch = %d %s, want 2xx", resp.StatusCode, b)
	}
	rs := pg.receipts("events")
	if len(rs) != 1 || rs[0].EventType != "delivered" || string(rs[0].Body) != batch {
		t.Fatalf("batch receipt = %v", statuses(rs))
	}
	for _, bad := range []string{`[]`, `[1,2]`, `[{"event":"open"},"x"]`, `[{"event":"open"}] trailing`} {
		if resp, b := send(bad); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"error"`) {
			t.Errorf("signed body %s = %d %s, want 400 with a JSON error", bad, resp.StatusCode, b)
		}
	}
}
