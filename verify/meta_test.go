package verify

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestProviderPresetsH2 pins the presets of this batch to their providers'
// documented headers, handshakes and delivery ids.
func TestProviderPresetsH2(t *testing.T) {
	tests := []struct {
		typ, auth, header, nonceHeader, nonceBody, eventType string
		handshake                                            bool
		methods                                              []string
	}{
		{typ: "twilio", auth: "twilio", header: "X-Twilio-Signature", nonceHeader: "I-Twilio-Idempotency-Token"},
		{typ: "hubspot", auth: "hubspot", header: "X-HubSpot-Signature-v3"},
		{typ: "mailgun", auth: "mailgun", nonceBody: "signature.token", eventType: "body:event-data.event"},
		{typ: "bitbucket", auth: "sha256", header: "X-Hub-Signature", nonceHeader: "X-Request-UUID", eventType: "header:X-Event-Key"},
		{typ: "meta", auth: "sha256", header: "X-Hub-Signature-256", eventType: "body:object", handshake: true, methods: []string{http.MethodGet}},
		{typ: "asana", auth: "sha256_raw", header: "X-Hook-Signature", handshake: true},
		{typ: "dropbox", auth: "sha256_raw", header: "X-Dropbox-Signature", handshake: true, methods: []string{http.MethodGet}},
		{typ: "microsoft-graph", auth: "client_state", handshake: true, methods: []string{http.MethodPost}},
		{typ: "okta", auth: "secret", header: "Authorization", nonceBody: "eventId", eventType: "body:eventType", handshake: true, methods: []string{http.MethodGet}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			p, ok := LookupPreset(tt.typ)
			if !ok {
				t.Fatal("missing")
			}
			if p.Auth != tt.auth || p.SignatureHeader != tt.header || p.NonceHeader != tt.nonceHeader ||
				p.NonceBody != tt.nonceBody || p.EventType != tt.eventType || (p.Handshake != nil) != tt.handshake ||
				!slices.Equal(p.HandshakeMethods, tt.methods) || !strings.HasPrefix(p.Doc, "https://") {
				t.Errorf("preset = %+v", p)
			}
		})
	}
}

// The HMAC-of-the-body presets. None of these providers publishes a test
// vector (checked: Bitbucket's "Manage webhooks", Meta's "Getting started",
// Asana's webhooks guide, Dropbox's webhook reference). Their recipe is
// GitHub's, which does publish one, so GitHub's vector is the cross-check:
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
func TestBodyHMACPresets(t *testing.T) {
	const (
		secret = "It's a Secret to Everybody"
		body   = "Hello, World!"
		digest = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	)
	sha1Digest := hmacSHA1.encode(hmacSHA1.sum([]byte(secret), []byte(body)))
	tests := []struct {
		typ, header, sent string
	}{
		{"bitbucket", "X-Hub-Signature", "sha256=" + digest},
		{"meta", "X-Hub-Signature-256", "sha256=" + digest},
		{"asana", "X-Hook-Signature", digest},
		{"dropbox", "X-Dropbox-Signature", digest},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			p, _ := LookupPreset(tt.typ)
			cfg := Config{Secrets: []Secret{{ID: "old", Value: "rotated-out"}, {ID: "cur", Value: secret}}}
			p.Apply(&cfg)
			v := mustVerifier(t, cfg)
			send := func(b string, sigs ...string) (Result, error) {
				req := newRequest([]byte(b))
				for _, s := range sigs {
					req.Header.Add(tt.header, s)
				}
				return v.Verify(req)
			}

			res, err := send(body, tt.sent)
			wantReason(t, err, "")
			if res.SecretID != "cur" {
				t.Errorf("SecretID = %q", res.SecretID)
			}
			if got := signed(t, v, 1, []byte(body)).Header.Get(tt.header); got != tt.sent {
				t.Errorf("Sign = %q, want %q", got, tt.sent)
			}

			_, err = send("Hello, World?", tt.sent)
			wantReason(t, err, ReasonSignatureMismatch)
			_, err = send(body)
			wantReason(t, err, ReasonSignatureMissing)
			_, err = send(body, "sha256=xyz")
			wantReason(t, err, ReasonSignatureMalformed)
			_, err = send(body, strings.Replace(tt.sent, "7571", "7572", 1))
			wantReason(t, err, ReasonSignatureMismatch)
			// A GitHub-style SHA-1 signature (X-Hub-Signature on GitHub) is
			// not what these providers send.
			_, err = send(body, "sha1="+sha1Digest)
			wantReason(t, err, ReasonSignatureMalformed)
			_, err = send(body, sha1Digest)
			wantReason(t, err, ReasonSignatureMalformed)
			// Several signature lines, one valid.
			res, err = send(body, "garbage", strings.Replace(tt.sent, "7571", "7572", 1), tt.sent)
			wantReason(t, err, "")
			if !strings.Contains(res.Trace.Note, "3 signatures, 1 malformed skipped") {
				t.Errorf("note = %q", res.Trace.Note)
			}

			wrong := Config{Secrets: []Secret{{ID: "w", Value: "It's a Secret to Nobody"}}}
			p.Apply(&wrong)
			_, err = mustVerifier(t, wrong).Verify(func() *Request {
				r := newRequest([]byte(body))
				r.Header.Set(tt.header, tt.sent)
				return r
			}())
			wantReason(t, err, ReasonSignatureMismatch)
		})
	}

	t.Run("meta: non-ASCII is verified as sent (escaped)", func(t *testing.T) {
		p, _ := LookupPreset("meta")
		cfg := Config{Secrets: []Secret{{ID: "app", Value: "meta-app-secret"}}}
		p.Apply(&cfg)
		v := mustVerifier(t, cfg)
		escaped := []byte(`{"object":"page","entry":[{"messaging":[{"message":{"text":"\u00e4\u00f6\u00fc"}}]}]}`)
		req := newRequest(escaped)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hmacSHA256.encode(hmacSHA256.sum([]byte("meta-app-secret"), escaped)))
		_, err := v.Verify(req)
		wantReason(t, err, "")
		// The unescaped form of the same text is different bytes.
		req.Body = []byte(`{"object":"page","entry":[{"messaging":[{"message":{"text":"äöü"}}]}]}`)
		_, err = v.Verify(req)
		wantReason(t, err, ReasonSignatureMismatch)
	})
}

// An Asana connection may be created before the webhook exists: without a
// secret the verifier refuses to be built (fail closed: no delivery passes),
// while the same configuration with one secret is valid, which is what the
// gateway probes to answer only the handshake until it has learned the
// secret (gateway/compile.go awaitsSecret). The handshake itself needs none.
func TestAsanaWithoutSecret(t *testing.T) {
	p, _ := LookupPreset("asana")
	cfg := Config{}
	p.Apply(&cfg)
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "needs at least one secret") {
		t.Fatalf("New without a secret = %v", err)
	}
	probe := cfg
	probe.Secrets = []Secret{{ID: "probe", Value: "probe-secret"}}
	if _, err := New(probe); err != nil {
		t.Fatalf("New with a secret: %v", err)
	}
	// Called directly with no secret, the scheme still never passes.
	req := newRequest(testBody)
	req.Header.Set("X-Hook-Signature", hmacSHA256.encode(hmacSHA256.sum(nil, testBody)))
	_, err := schemes[cfg.Auth].Verify(&cfg, req)
	wantReason(t, err, ReasonSignatureMismatch)

	// The handshake with no secret configured: echo, and learn it.
	hs := newRequest(nil)
	hs.Header.Set("X-Hook-Secret", "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81")
	resp, handled, err := p.Handshake(&cfg, hs)
	if !handled || err != nil {
		t.Fatalf("handled=%v err=%v", handled, err)
	}
	if resp.Status != http.StatusOK || resp.Header.Get("X-Hook-Secret") != hs.Header.Get("X-Hook-Secret") || resp.LearnSecret != hs.Header.Get("X-Hook-Secret") {
		t.Errorf("resp = %+v", resp)
	}
	// Once learned, the secret verifies deliveries.
	learned := cfg
	learned.Secrets = []Secret{{ID: "asana", Value: resp.LearnSecret}}
	v := mustVerifier(t, learned)
	_, err = v.Verify(signed(t, v, 0, testBody))
	wantReason(t, err, "")
}

func TestAsanaHandshake(t *testing.T) {
	p, _ := LookupPreset("asana")
	cfg := Config{}
	p.Apply(&cfg)
	call := func(secret string) (*HandshakeResponse, bool, error) {
		req := newRequest(nil)
		if secret != "" {
			req.Header.Set("X-Hook-Secret", secret)
		}
		return p.Handshake(&cfg, req)
	}
	if _, handled, _ := call(""); handled {
		t.Error("a delivery without X-Hook-Secret was taken for a handshake")
	}
	_, handled, err := call(strings.Repeat("s", maxChallenge+1))
	if !handled {
		t.Fatal("oversize secret not handled")
	}
	wantReason(t, err, ReasonSignatureMalformed)
}

// Meta's verification request, with the values of Meta's docs
// (hub.challenge=1158201444, hub.verify_token=meatyhamhock):
// https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests
func TestMetaHandshake(t *testing.T) {
	p, _ := LookupPreset("meta")
	cfg := Config{VerifyToken: "meatyhamhock", Secrets: []Secret{{ID: "app", Value: "meta-app-secret"}}}
	p.Apply(&cfg)
	call := func(method, rawQuery string, c *Config) (*HandshakeResponse, bool, error) {
		req := newRequest(nil)
		req.Method = method
		req.URL = &url.URL{Scheme: "https", Host: "hooks.example.com", Path: "/meta", RawQuery: rawQuery}
		return p.Handshake(c, req)
	}
	resp, handled, err := call(http.MethodGet, "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", &cfg)
	if !handled || err != nil {
		t.Fatalf("handled=%v err=%v", handled, err)
	}
	if resp.Status != http.StatusOK || string(resp.Body) != "1158201444" {
		t.Errorf("resp = %d %q", resp.Status, resp.Body)
	}
	tests := []struct {
		name, method, query, reason string
		handled                     bool
	}{
		{"wrong verify token", http.MethodGet, "hub.mode=subscribe&hub.challenge=1&hub.verify_token=meatyhamhocks", ReasonCredentialsInvalid, true},
		{"app secret is not the verify token", http.MethodGet, "hub.mode=subscribe&hub.challenge=1&hub.verify_token=meta-app-secret", ReasonCredentialsInvalid, true},
		{"no verify token", http.MethodGet, "hub.mode=subscribe&hub.challenge=1", ReasonCredentialsMissing, true},
		{"mode not subscribe", http.MethodGet, "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meatyhamhock", ReasonSignatureMalformed, true},
		{"oversize challenge", http.MethodGet, "hub.mode=subscribe&hub.verify_token=meatyhamhock&hub.challenge=" + strings.Repeat("9", maxChallenge+1), ReasonSignatureMalformed, true},
		{"empty challenge", http.MethodGet, "hub.mode=subscribe&hub.verify_token=meatyhamhock&hub.challenge=", ReasonSignatureMalformed, true},
		{"POST is a delivery", http.MethodPost, "hub.mode=subscribe&hub.challenge=1&hub.verify_token=meatyhamhock", "", false},
		{"GET without hub params", http.MethodGet, "x=1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, handled, err := call(tt.method, tt.query, &cfg)
			if handled != tt.handled {
				t.Fatalf("handled = %v", handled)
			}
			if tt.handled {
				wantReason(t, err, tt.reason)
				if resp != nil {
					t.Errorf("answered %q", resp.Body)
				}
			}
		})
	}
	t.Run("no verify token configured: any secret", func(t *testing.T) {
		c := cfg
		c.VerifyToken = ""
		_, _, err := call(http.MethodGet, "hub.mode=subscribe&hub.challenge=7&hub.verify_token=meta-app-secret", &c)
		wantReason(t, err, "")
		_, _, err = call(http.MethodGet, "hub.mode=subscribe&hub.challenge=7&hub.verify_token=meatyhamhock", &c)
		wantReason(t, err, ReasonCredentialsInvalid)
	})
}

// Dropbox verifies a webhook URI with GET ?challenge=…, echoed as text/plain
// with X-Content-Type-Options: nosniff. The request is unsigned.
// https://www.dropbox.com/developers/reference/webhooks#documentation
func TestDropboxHandshake(t *testing.T) {
	p, _ := LookupPreset("dropbox")
	cfg := Config{Secrets: []Secret{{ID: "app", Value: "dropbox-app-secret"}}}
	p.Apply(&cfg)
	call := func(method, rawQuery string) (*HandshakeResponse, bool, error) {
		req := newRequest(nil)
		req.Method = method
		req.URL = &url.URL{Scheme: "https", Host: "hooks.example.com", Path: "/dropbox", RawQuery: rawQuery}
		return p.Handshake(&cfg, req)
	}
	resp, handled, err := call(http.MethodGet, "challenge=<script>alert(1)</script>")
	if !handled || err != nil {
		t.Fatalf("handled=%v err=%v", handled, err)
	}
	if string(resp.Body) != "<script>alert(1)</script>" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("resp = %v %q", resp.Header, resp.Body)
	}
	if _, handled, _ := call(http.MethodPost, "challenge=x"); handled {
		t.Error("POST taken for a handshake")
	}
	if _, handled, _ := call(http.MethodGet, "other=x"); handled {
		t.Error("GET without challenge taken for a handshake")
	}
	for name, q := range map[string]string{"oversize": "challenge=" + strings.Repeat("c", maxChallenge+1), "empty": "challenge="} {
		t.Run(name, func(t *testing.T) {
			_, handled, err := call(http.MethodGet, q)
			if !handled {
				t.Fatal("not handled")
			}
			wantReason(t, err, ReasonSignatureMalformed)
		})
	}
}

// Okta's one-time verification: GET with X-Okta-Verification-Challenge,
// answered {"verification": <value>}; the hook's Authorization header, when
// sent, must be the configured secret.
// https://developer.okta.com/docs/concepts/event-hooks/#one-time-verification-request
func TestOkta(t *testing.T) {
	p, _ := LookupPreset("okta")
	cfg := Config{Secrets: []Secret{{ID: "old", Value: "okta-hook-secret-1"}, {ID: "new", Value: "okta-hook-secret-2"}}}
	p.Apply(&cfg)
	v := mustVerifier(t, cfg)
	const challenge = "e7a7b6c4-verification-challenge"
	call := func(method, auth, ch string) (*HandshakeResponse, bool, error) {
		req := newRequest(nil)
		req.Method = method
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if ch != "" {
			req.Header.Set("X-Okta-Verification-Challenge", ch)
		}
		return p.Handshake(v.Config(), req)
	}
	for _, auth := range []string{"okta-hook-secret-2", ""} {
		resp, handled, err := call(http.MethodGet, auth, challenge)
		if !handled || err != nil {
			t.Fatalf("auth %q: handled=%v err=%v", auth, handled, err)
		}
		var got map[string]string
		if json.Unmarshal(resp.Body, &got) != nil || got["verification"] != challenge || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("resp = %v %s", resp.Header, resp.Body)
		}
	}
	t.Run("signed handshake with a bad credential fails", func(t *testing.T) {
		_, handled, err := call(http.MethodGet, "Bearer okta-hook-secret-2", challenge)
		if !handled {
			t.Fatal("not handled")
		}
		wantReason(t, err, ReasonSignatureMismatch)
	})
	t.Run("oversize challenge", func(t *testing.T) {
		_, handled, err := call(http.MethodGet, "okta-hook-secret-1", strings.Repeat("c", maxChallenge+1))
		if !handled {
			t.Fatal("not handled")
		}
		wantReason(t, err, ReasonSignatureMalformed)
	})
	if _, handled, _ := call(http.MethodPost, "okta-hook-secret-1", challenge); handled {
		t.Error("POST taken for the verification request")
	}

	// Deliveries: the Authorization value is the secret, verbatim.
	body := []byte(`{"eventType":"com.okta.event_hook","eventId":"b5a188b9-5ece-4636-b041-482ffda96311","data":{"events":[{"eventType":"user.session.start"}]}}`)
	for auth, want := range map[string]string{
		"okta-hook-secret-1":        "",
		" okta-hook-secret-2 ":      "",
		"okta-hook-secret-3":        ReasonSignatureMismatch,
		"Bearer okta-hook-secret-1": ReasonSignatureMismatch,
		"okta-hook-secret":          ReasonSignatureMismatch,
		"":                          ReasonSignatureMissing,
	} {
		req := newRequest(body)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		_, err := v.Verify(req)
		if want == "" && err != nil || want != "" && (err == nil || err.(*Failure).Reason != want) {
			t.Errorf("Authorization %q: %v, want %q", auth, err, want)
		}
	}
}

// FuzzProviderHandshakes feeds arbitrary methods, queries and header values
// to the Meta, Asana, Dropbox, Graph and Okta handshakes: they never panic,
// never echo more than maxChallenge bytes, and Meta and Okta never answer a
// wrong credential.
func FuzzProviderHandshakes(f *testing.F) {
	f.Add("GET", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", "")
	f.Add("GET", "challenge=abc&validationToken=x%20y", "okta-fuzz-secret")
	f.Add("POST", "validationToken=%zz", strings.Repeat("h", maxChallenge+1))
	f.Add("GET", ";;&&==hub.mode", "\x00")
	f.Add("", "", "")
	cfg := Config{Auth: "secret", SignatureHeader: "Authorization", VerifyToken: "meatyhamhock",
		Secrets: []Secret{{ID: "s", Value: "okta-fuzz-secret"}}}
	f.Fuzz(func(t *testing.T, method, rawQuery, header string) {
		for _, typ := range []string{"meta", "asana", "dropbox", "microsoft-graph", "okta"} {
			p, _ := LookupPreset(typ)
			req := &Request{Method: method, Header: http.Header{}, Now: testNow,
				URL: &url.URL{Scheme: "https", Host: "hooks.example.com", RawQuery: rawQuery}}
			req.Header.Set("X-Hook-Secret", header)
			req.Header.Set("X-Okta-Verification-Challenge", header)
			req.Header.Set("Authorization", header)
			resp, handled, err := p.Handshake(&cfg, req)
			if !handled {
				continue
			}
			if err != nil {
				mustReject(t, typ, Result{}, err)
				continue
			}
			if resp == nil || len(resp.Body) > maxChallenge+len(`{"verification":""}`)*6 {
				t.Fatalf("%s: response %+v", typ, resp)
			}
			q, _ := url.ParseQuery(rawQuery)
			if typ == "meta" && q.Get("hub.verify_token") != "meatyhamhock" {
				t.Fatalf("meta answered verify token %q", q.Get("hub.verify_token"))
			}
			if typ == "okta" && strings.TrimSpace(header) != "" && strings.TrimSpace(header) != "okta-fuzz-secret" {
				t.Fatalf("okta answered with Authorization %q", header)
			}
		}
	})
}
