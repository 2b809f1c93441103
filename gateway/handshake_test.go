package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/cli"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/store"
	"github.com/hookgate/hookgate/verify"
)

// handshakeCase is one provider's endpoint verification (SPEC §3.3), as
// the provider documents it.
type handshakeCase struct {
	typ string
	// conn holds the connection's credentials.
	conn map[string]any
	// request is the provider's handshake to url.
	request func(t *testing.T, url string) *cli.ProviderRequest
	// check asserts the answer is exactly what the provider requires.
	check func(t *testing.T, resp *http.Response, body []byte)
	// forged is the same handshake with a bad signature or token, nil for
	// unauthenticated handshakes.
	forged func(t *testing.T, url string) *cli.ProviderRequest
}

func build(t *testing.T, o cli.SendOptions) *cli.ProviderRequest {
	t.Helper()
	pr, err := cli.BuildRequest(o)
	if err != nil {
		t.Fatalf("build %s request: %v", o.Type, err)
	}
	return pr
}

func plain(method, url string, h http.Header, body string) *cli.ProviderRequest {
	if h == nil {
		h = http.Header{}
	}
	return &cli.ProviderRequest{Method: method, URL: url, Header: h, Body: []byte(body)}
}

func wantText(t *testing.T, resp *http.Response, body []byte, want string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || string(body) != want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("answer = %d %q (Content-Type %q), want 200 text/plain %q", resp.StatusCode, body, resp.Header.Get("Content-Type"), want)
	}
}

func wantJSON(t *testing.T, resp *http.Response, body []byte, want map[string]any) {
	t.Helper()
	var got map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("answer = %d %q (Content-Type %q), want 200 JSON %v", resp.StatusCode, body, resp.Header.Get("Content-Type"), want)
	}
	if a, b := toJSON(got), toJSON(want); a != b {
		t.Fatalf("answer = %s, want %s", a, b)
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func handshakeCases() []handshakeCase {
	discordPub, discordPriv, _ := ed25519.GenerateKey(rand.Reader)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	const graphToken = "Validation: Testing client application reachability for subscription Request-Id: 5c3a8d2b"
	const oktaChallenge = "ZEddaVzDc6vSYzTt0OxD6fEW1Bb2wCPpyfhaPTaVRoLq"
	const zoomToken = "qgg8vlvZRS6UYooatFL8Aw"
	zoomHash := func(secret string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(zoomToken))
		return hex.EncodeToString(m.Sum(nil))
	}
	// Slack's and Twitch's documented examples.
	const slackBody = `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	const twitchBody = `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"1","condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z","cost":1}}`
	twitchHeader := func() http.Header {
		return http.Header{"Twitch-Eventsub-Message-Type": {"webhook_callback_verification"}}
	}
	return []handshakeCase{
		{
			typ:  "slack",
			conn: map[string]any{"signing_secret": "slack-signing-secret"},
			request: func(t *testing.T, u string) *cli.ProviderRequest {
				return build(t, cli.SendOptions{Type: "slack", URL: u, Secret: "slack-signing-secret", Body: []byte(slackBody)})
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				wantText(t, resp, body, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
			},
			forged: func(t *testing.T, u string) *cli.ProviderRequest {
				return build(t, cli.SendOptions{Type: "slack", URL: u, Secret: "not-the-secret", Body: []byte(slackBody)})
			},
		},
		{
			typ:  "meta",
			conn: map[string]any{"signing_secret": "meta-app-secret", "verify_token": "meta-verify-token"},
			request: func(t *testing.T, u string) *cli.ProviderRequest {
				return plain(http.MethodGet, u+"?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meta-verify-token", nil, "")
			},
			check: func(t *testing.T, resp *http.Response, body []byte) { wantText(t, resp, body, "1158201444") },
			forged: func(t *testing.T, u string) *cli.ProviderRequest {
				return plain(http.MethodGet, u+"?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guessed", nil, "")
			},
		},
		{
			typ:  "zoom",
			conn: map[string]any{"signing_secret": "zoom-secret-token"},
			request: func(t *testing.T, u string) *cli.ProviderRequest {
				return build(t, cli.SendOptions{Type: "zoom", URL: u, Secret: "zoom-secret-token",
					Body: []byte(`{"payload":{"plainToken":"` + zoomToken + `"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`)})
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				wantJSON(t, resp, body, map[string]any{"plainToken": zoomToken, "encryptedToken": zoomHash("zoom-secret-token")})
			},
			forged: func(t *testing.T, u string) *cli.ProviderRequest {
				return build(t, cli.SendOptions{Type: "zoom", URL: u, Secret: "other",
					Body: []byte(`{"payload":{"plainToken":"` + zoomToken + `"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`)})
			},
		},
		{
			typ: "microsoft-graph",
			// Graph's clientState is the connection's secret.
			conn: map[string]any{"signing_secret": "graph-client-state"},
			request: func(t *testing.T, u string) *cli.ProviderRequest {
				return plain(http.MethodPost, u+"?validationToken="+url.QueryEscape(graphToken),
					http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "")
			},
			check: func(t *testing.T, resp *http.Response, body []byte) { wantText(t, resp, body, graphToken) },
		},
		{
			typ:  "dropbox",
			conn: map[string]any{"signing_secret": "dropbox-app-secret"},
			request: func(t *testing.T, u string) *cli.ProviderRequest {
				return plain(http.MethodGet, u+"?challenge=JPb3EoKXqRrRfYyzGbcyKB6E4bvgMg1vZpnvAkN2mWk", nil, "")
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				wantText(t, resp, body, "JPb3EoKXqRrRfYyzGbcyKB6E4bvgMg1vZpnvAkN2mWk")
				if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Fatalf("X-Content-Type-Options = %q, want nosniff", resp.Header.Get("X-Content-Type-Options"))
				}
			},
		},
		{
			typ:  "okta",
			conn: map[string]any{"signing_secret": "okta-hook-auth-value"},
			request: func(t *testing.T, u string) *cli.ProviderRequest {
				return build(t, cli.SendOptions{Type: "okta", Method: http.MethodGet, URL: u, Secret: "okta-hook-auth-value",
					Header: http.Header{"X-Okta-Verification-Challenge": {oktaChallenge}}})
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				wantJSON(t, resp, body, map[string]any{"verification": oktaChallenge})
			},
			forged: func(t *testing.T, u string) *cli.ProviderRequest {
				return build(t, cli.SendOptions{Type: "okta", Method: http.MethodGet, URL: u, Secret: "wrong-value",
					Header: http.Header{"X-Okta-Verification-Challenge": {oktaChallenge}}})
			},
		},
		{
			typ:  "twitch",
			conn: map[string]any{"signing_secret": "twitch-eventsub-secret"},
			request: func(t *testing.T, u string) *cli.ProviderRequest {
				return build(t, cli.SendOptions{Type: "twitch", URL: u, Secret: "twitch-eventsub-secret", Header: twitchHeader(), Body: []byte(twitchBody)})
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				wantText(t, resp, body, "pogchamp-kappa-360noscope-vohiyo")
			},
			forged: func(t *testing.T, u string) *cli.ProviderRequest {
				return build(t, cli.SendOptions{Type: "twitch", URL: u, Secret: "wrong", Header: twitchHeader(), Body: []byte(twitchBody)})
			},
		},
		{
			typ:  "trello",
			conn: map[string]any{"signing_secret": "trello-app-secret"},
			request: func(t *testing.T, u string) *cli.ProviderRequest {
				return plain(http.MethodHead, u, nil, "")
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("HEAD = %d, want 200", resp.StatusCode)
				}
			},
		},
		{
			typ:  "discord",
			conn: map[string]any{"signing_secret": hex.EncodeToString(discordPub)},
			request: func(t *testing.T, u string) *cli.ProviderRequest {
				return build(t, cli.SendOptions{Type: "discord", URL: u, Secret: hex.EncodeToString(discordPriv), Body: []byte(`{"type":1}`)})
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				wantJSON(t, resp, body, map[string]any{"type": 1})
			},
			forged: func(t *testing.T, u string) *cli.ProviderRequest {
				return build(t, cli.SendOptions{Type: "discord", URL: u, Secret: hex.EncodeToString(otherPriv), Body: []byte(`{"type":1}`)})
			},
		},
	}
}

// TestHandshakes answers each provider's endpoint verification through real
// HTTP, exactly as the provider requires; the handshake is stored as a
// `handshake` receipt and never dispatched, and a forged one is a 401 with
// a rejected receipt. A preset that does not exist (yet) fails by name.
func TestHandshakes(t *testing.T) {
	for _, c := range handshakeCases() {
		t.Run(c.typ, func(t *testing.T) {
			t.Parallel()
			p, ok := verify.LookupPreset(c.typ)
			if !ok {
				t.Fatalf("preset %q is not registered: its handshake cannot be tested", c.typ)
			}
			if p.Handshake == nil {
				t.Fatalf("preset %q has no Handshake", c.typ)
			}
			pg := newProviderGateway(t, "")
			name := "hs-" + c.typ
			u := pg.url(c.typ, name)
			conn := map[string]any{"type": c.typ, "name": name}
			for k, v := range c.conn {
				conn[k] = v
			}
			pg.register(conn)

			resp, body := pg.do(c.request(t, u))
			c.check(t, resp, body)
			rs := pg.receipts(name)
			if len(rs) != 1 || rs[0].Status != hookgate.StatusHandshake {
				t.Fatalf("receipts = %v, want one handshake", statuses(rs))
			}
			pg.drain()
			if n := pg.dispatched.Load(); n != 0 {
				t.Fatalf("handshake dispatched %d times", n)
			}
			if rs := pg.receipts(name); rs[0].Status != hookgate.StatusHandshake || len(rs[0].Attempts) != 0 {
				t.Fatalf("after dispatch: %v", statuses(rs))
			}

			if c.forged == nil {
				return
			}
			resp, body = pg.do(c.forged(t, u))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("forged handshake = %d %s, want 401", resp.StatusCode, body)
			}
			if strings.Contains(string(body), "challenge") && c.typ != "meta" {
				t.Fatalf("forged handshake answered with a challenge: %s", body)
			}
			rs = pg.receipts(name)
			if len(rs) != 2 || rs[0].Status != hookgate.StatusRejected || rs[0].Reason == "" || len(rs[0].Trace) == 0 {
				t.Fatalf("forged handshake: receipts = %v, want a rejected receipt with a trace", statuses(rs))
			}
		})
	}
}

// TestHandshakeMethods: a handshake method is allowed only where the
// provider's handshake uses it, and only for a handshake.
func TestHandshakeMethods(t *testing.T) {
	for _, typ := range []string{"dropbox", "github"} {
		if _, ok := verify.LookupPreset(typ); !ok {
			t.Fatalf("preset %q is not registered", typ)
		}
	}
	pg := newProviderGateway(t, "")
	pg.register(map[string]any{"type": "dropbox", "name": "dbx", "signing_secret": "s"})
	pg.register(map[string]any{"type": "github", "name": "gh", "signing_secret": "s"})
	for _, tc := range []struct {
		method, url, allow string
	}{
		{http.MethodGet, pg.url("dropbox", "dbx"), "POST, GET"}, // a GET without ?challenge
		{http.MethodPut, pg.url("dropbox", "dbx") + "?challenge=x", "POST, GET"},
		{http.MethodGet, pg.url("github", "gh") + "?challenge=x", "POST"},
	} {
		resp, body := pg.do(plain(tc.method, tc.url, nil, ""))
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Fatalf("%s %s = %d (Allow %q) %s, want 405 with Allow %q", tc.method, tc.url, resp.StatusCode, resp.Header.Get("Allow"), body, tc.allow)
		}
		var e struct{ Error, Message string }
		if json.Unmarshal(body, &e) != nil || e.Error != hookgate.EMethod {
			t.Fatalf("405 body = %s", body)
		}
	}
	if rs := pg.receipts("dbx"); len(rs) != 0 {
		t.Fatalf("refused methods stored receipts: %v", statuses(rs))
	}
}

// TestHandshakeRateLimited: unsigned handshakes cannot fill the disk.
func TestHandshakeRateLimited(t *testing.T) {
	if _, ok := verify.LookupPreset("dropbox"); !ok {
		t.Fatal(`preset "dropbox" is not registered`)
	}
	pg := newProviderGateway(t, "")
	pg.register(map[string]any{"type": "dropbox", "name": "dbx", "signing_secret": "s"})
	limited := 0
	for i := 0; i < 40; i++ {
		resp, _ := pg.do(plain(http.MethodGet, pg.url("dropbox", "dbx")+"?challenge=c", nil, ""))
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
			limited++
		}
	}
	if limited == 0 || len(pg.receipts("dbx")) > 25 {
		t.Fatalf("limited %d of 40, stored %d", limited, len(pg.receipts("dbx")))
	}
}

// TestAsanaLearnsSecret: an Asana connection starts without a secret,
// learns it from X-Hook-Secret durably before answering, shows it only by
// id and fingerprint, never stores it in clear in a receipt, and verifies
// the next delivery with it.
func TestAsanaLearnsSecret(t *testing.T) {
	if _, ok := verify.LookupPreset("asana"); !ok {
		t.Fatal(`preset "asana" is not registered`)
	}
	const secret = "asana-hook-secret-8f2b1c"
	pg := newProviderGateway(t, "")
	pg.register(map[string]any{"type": "asana", "name": "tasks"})
	u := pg.url("asana", "tasks")
	delivery := func(body string) *cli.ProviderRequest {
		return build(t, cli.SendOptions{Type: "asana", URL: u, Secret: secret, Body: []byte(body)})
	}

	// Before the handshake no delivery can verify: 401, kept for admission.
	if resp, b := pg.do(delivery(`{"events":[{"action":"changed","n":0}]}`)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("delivery before the handshake = %d %s, want 401", resp.StatusCode, b)
	}
	if rs := pg.receipts("tasks"); len(rs) != 1 || rs[0].Reason != "secret_not_set" {
		t.Fatalf("receipts = %v", statuses(rs))
	}

	resp, b := pg.do(plain(http.MethodPost, u, http.Header{"X-Hook-Secret": {secret}, "Content-Type": {"application/json"}}, ""))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Hook-Secret") != secret {
		t.Fatalf("handshake = %d %s (X-Hook-Secret %q), want 200 echoing the secret", resp.StatusCode, b, resp.Header.Get("X-Hook-Secret"))
	}
	rs := pg.receipts("tasks")
	hs := rs[0]
	if hs.Status != hookgate.StatusHandshake || hs.SecretID != hookgate.SecretID(secret) {
		t.Fatalf("handshake receipt = %s secret %q", hs.Status, hs.SecretID)
	}
	if got := hs.Headers.Get("X-Hook-Secret"); got != "[redacted]" {
		t.Fatalf("stored X-Hook-Secret = %q, want [redacted]", got)
	}
	if strings.Contains(toJSON(hs), secret) {
		t.Fatal("the handshake receipt holds the learned secret in clear")
	}
	st, list := pg.call("GET", "/api/v1/connections", nil)
	if st != http.StatusOK || strings.Contains(string(list), secret) {
		t.Fatalf("GET /api/v1/connections = %d, leaks the secret: %v", st, strings.Contains(string(list), secret))
	}
	var view struct {
		Connections []struct {
			Name    string
			Secrets []struct{ ID, Fingerprint string }
		}
	}
	_ = json.Unmarshal(list, &view)
	found := false
	for _, c := range view.Connections {
		if c.Name == "tasks" {
			found = len(c.Secrets) == 1 && c.Secrets[0].ID == hookgate.SecretID(secret) && c.Secrets[0].Fingerprint == pg.Fingerprint(secret)
		}
	}
	if !found {
		t.Fatalf("connection view = %s, want the learned secret by id and fingerprint", list)
	}

	// The next delivery, signed with the learned secret, is accepted.
	if resp, b := pg.do(delivery(`{"events":[{"action":"changed","n":1}]}`)); resp.StatusCode/100 != 2 {
		t.Fatalf("delivery signed with the learned secret = %d %s", resp.StatusCode, b)
	}
	if rs := pg.receipts("tasks"); rs[0].Status != hookgate.StatusReceived || rs[0].SecretID != hookgate.SecretID(secret) {
		t.Fatalf("delivery receipt = %v", statuses(rs))
	}
	// The receipt rejected before the handshake can now be admitted.
	if _, _, err := pg.Admit(context.Background(), rs[len(rs)-1].ID); err != nil {
		t.Fatalf("admit the delivery rejected before the handshake: %v", err)
	}
	// A repeated handshake with the same secret adds nothing.
	if resp, _ := pg.do(plain(http.MethodPost, u, http.Header{"X-Hook-Secret": {secret}}, "")); resp.StatusCode != http.StatusOK {
		t.Fatalf("repeated handshake = %d", resp.StatusCode)
	}
	if c, err := pg.Connection("asana", "tasks"); err != nil || len(c.Secrets()) != 1 {
		t.Fatalf("secrets after a repeated handshake: %v %v", c, err)
	}
	// The handshake is unsigned: once the connection holds a secret, a
	// handshake handing over another one (a stranger's key) is refused and
	// nothing is added, so it cannot be used to forge deliveries.
	resp, b = pg.do(plain(http.MethodPost, u, http.Header{"X-Hook-Secret": {"attacker-chosen-secret"}}, ""))
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Hook-Secret") != "" || strings.Contains(string(b), "attacker-chosen-secret") {
		t.Fatalf("handshake with a second secret = %d %s, want 403 without echo", resp.StatusCode, b)
	}
	if c, err := pg.Connection("asana", "tasks"); err != nil || len(c.Secrets()) != 1 || c.Secrets()[0] != secret {
		t.Fatalf("a second handshake changed the secrets: %v", err)
	}
}

// TestAsanaFileDefined: a file-defined connection is read-only, so it cannot
// learn a secret: without one it fails at start-up, and a handshake handing
// over a secret it does not already hold is refused (403) and recorded.
func TestAsanaFileDefined(t *testing.T) {
	if _, ok := verify.LookupPreset("asana"); !ok {
		t.Fatal(`preset "asana" is not registered`)
	}
	cfg, _, err := config.Parse([]byte("connections:\n  - {type: asana, name: tasks}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := gateway.Check(cfg); err == nil || !strings.Contains(err.Error(), "admin API") {
		t.Fatalf("file-defined asana without a secret: Check = %v, want an error pointing to the admin API", err)
	}

	pg := newProviderGateway(t, "connections:\n  - {type: asana, name: tasks, signing_secret: known-asana-secret}\n")
	u := pg.url("asana", "tasks")
	resp, b := pg.do(plain(http.MethodPost, u, http.Header{"X-Hook-Secret": {"fresh-asana-secret"}}, ""))
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Hook-Secret") != "" || strings.Contains(string(b), "fresh-asana-secret") {
		t.Fatalf("handshake on a file-defined connection = %d %s, want 403 without echo", resp.StatusCode, b)
	}
	rs := pg.receipts("tasks")
	if len(rs) != 1 || rs[0].Status != hookgate.StatusRejected || rs[0].Reason != "secret_not_learnable" || strings.Contains(toJSON(rs[0]), "fresh-asana-secret") {
		t.Fatalf("receipts = %v", statuses(rs))
	}
	// The secret the file already holds is echoed (a repeated handshake).
	if resp, _ := pg.do(plain(http.MethodPost, u, http.Header{"X-Hook-Secret": {"known-asana-secret"}}, "")); resp.StatusCode != http.StatusOK {
		t.Fatalf("handshake with the configured secret = %d", resp.StatusCode)
	}
}

// failingRecord is a store whose Record fails (handshake receipts cannot
// be written).
type failingRecord struct{ hookgate.Store }

func (failingRecord) Record(context.Context, *hookgate.Receipt) (hookgate.Transition, error) {
	return hookgate.Transition{}, errors.New("disk full")
}

// TestHandshakeStorageFailure: no handshake is answered before its receipt
// is durable; a storage failure is a 503 so the provider retries.
func TestHandshakeStorageFailure(t *testing.T) {
	if _, ok := verify.LookupPreset("dropbox"); !ok {
		t.Fatal(`preset "dropbox" is not registered`)
	}
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg, _, err := config.Parse([]byte("connections:\n  - {type: dropbox, name: dbx, signing_secret: s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{Store: failingRecord{st}})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	pg := &providerGateway{t: t, Gateway: gw}
	srv := newServer(t, gw.Ingress())
	resp, body := pg.do(plain(http.MethodGet, srv+"/webhooks/dropbox/dbx?challenge=abc", nil, ""))
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(body), "abc") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("handshake with failing storage = %d %s, want 503 with Retry-After and no challenge", resp.StatusCode, body)
	}
}

// TestSendHandshakeGET runs `hookgate send --method GET` for Meta's
// subscription verification.
func TestSendHandshakeGET(t *testing.T) {
	if _, ok := verify.LookupPreset("meta"); !ok {
		t.Fatal(`preset "meta" is not registered`)
	}
	pg := newProviderGateway(t, "")
	pg.register(map[string]any{"type": "meta", "name": "page", "signing_secret": "app-secret", "verify_token": "vt"})
	var out, errOut strings.Builder
	code := cli.Run(context.Background(), []string{"send", "--type", "meta", "--method", "GET",
		"--url", pg.url("meta", "page") + "?hub.mode=subscribe&hub.challenge=777&hub.verify_token=vt"}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "777") {
		t.Fatalf("hookgate send --method GET = %d\n%s%s", code, out.String(), errOut.String())
	}
	if rs := pg.receipts("page"); len(rs) != 1 || rs[0].Status != hookgate.StatusHandshake {
		t.Fatalf("receipts = %v", statuses(rs))
	}
}

func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
