package verify

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
)

var testNow = time.Unix(1_700_000_000, 0)

var testBody = []byte(`{"type":"invoice.paid","id":"evt_123","data":{"amount":4200}}`)

func svixSecret(s string) string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(s)) }

// schemeCase describes how one auth type is configured and how it fails.
type schemeCase struct {
	auth string
	cfg  func() Config
	// header is the header Sign writes and the tests delete or corrupt.
	header string
	// bodySigned: changing the body must fail verification.
	bodySigned bool
	// rotates: the scheme takes several secrets and reports which matched.
	rotates bool
	// expected reasons.
	missing, malformed, wrong string
	// wrongSecret, when set, is what the "wrong secret" test signs with
	// instead of "not-the-configured-secret": a well-formed secret that is
	// not configured (public-key schemes can sign only with a private key).
	wrongSecret string
}

func hmacCfg(auth, header string) func() Config {
	return func() Config {
		return Config{
			Auth:            auth,
			SignatureHeader: header,
			Secrets:         []Secret{{ID: "old", Value: "first-secret-value"}, {ID: "new", Value: "second-secret-value"}},
		}
	}
}

var schemeCases = []schemeCase{
	{auth: "sha1", cfg: hmacCfg("sha1", "X-Hub-Signature"), header: "X-Hub-Signature", bodySigned: true, rotates: true,
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch},
	{auth: "sha256", cfg: hmacCfg("sha256", "X-Hub-Signature-256"), header: "X-Hub-Signature-256", bodySigned: true, rotates: true,
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch},
	{auth: "sha256_raw", cfg: hmacCfg("sha256_raw", "Linear-Signature"), header: "Linear-Signature", bodySigned: true, rotates: true,
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch},
	{auth: "sha256_base64", cfg: hmacCfg("sha256_base64", "X-Shopify-Hmac-Sha256"), header: "X-Shopify-Hmac-Sha256", bodySigned: true, rotates: true,
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch},
	{auth: "svix", header: "webhook-signature", bodySigned: true, rotates: true,
		cfg: func() Config {
			return Config{Auth: "svix", ReplayWindow: 5 * time.Minute, Secrets: []Secret{
				{ID: "old", Value: svixSecret("first-svix-key-0123456789")},
				{ID: "new", Value: svixSecret("second-svix-key-0123456789")},
			}}
		},
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch},
	{auth: "secret", cfg: hmacCfg("secret", "X-Gitlab-Token"), header: "X-Gitlab-Token", rotates: true,
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMismatch, wrong: ReasonSignatureMismatch},
	{auth: "api_key", header: "Authorization", rotates: true,
		cfg: func() Config {
			return Config{Auth: "api_key", APIKey: &hookgate.APIKey{Value: "primary-api-key"},
				Secrets: []Secret{{ID: "old", Value: "first-extra-key"}, {ID: "new", Value: "second-extra-key"}}}
		},
		missing: ReasonCredentialsMissing, malformed: ReasonCredentialsInvalid, wrong: ReasonCredentialsInvalid},
	{auth: "basic", header: "Authorization",
		cfg: func() Config {
			return Config{Auth: "basic", Basic: &hookgate.BasicAuth{Username: "datadog", Password: "basic-password-value"}}
		},
		missing: ReasonCredentialsMissing, malformed: ReasonCredentialsInvalid, wrong: ReasonCredentialsInvalid},
	{auth: "none", cfg: func() Config { return Config{Auth: "none", AllowUnauthenticated: true} }},
}

func newRequest(body []byte) *Request {
	return &Request{Method: http.MethodPost, Header: http.Header{}, Body: append([]byte(nil), body...), Now: testNow}
}

func mustVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Auth, err)
	}
	return v
}

func signed(t testing.TB, v *Verifier, i int, body []byte) *Request {
	t.Helper()
	req := newRequest(body)
	if err := v.Sign(req, i); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return req
}

// wantReason asserts err is a *Failure with reason want ("" = success).
func wantReason(t *testing.T, err error, want string) *Failure {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		return nil
	}
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("want failure %s, got %v", want, err)
	}
	if f.Reason != want {
		t.Fatalf("reason = %s, want %s (trace %+v)", f.Reason, want, f.Trace)
	}
	return f
}

func TestEveryAuthTypeHasACase(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range schemeCases {
		covered[c.auth] = true
	}
	for _, a := range AuthTypes() {
		if !covered[a] {
			t.Errorf("auth type %s has no schemeCase", a)
		}
	}
}

func TestSchemes(t *testing.T) {
	for _, c := range schemeCases {
		t.Run(c.auth, func(t *testing.T) {
			t.Parallel()
			v := mustVerifier(t, c.cfg())
			firstID := ""
			if c.auth == "api_key" {
				firstID = apiKeyID
			} else if c.rotates {
				firstID = "old"
			}

			t.Run("round trip", func(t *testing.T) {
				req := signed(t, v, 0, testBody)
				res, err := v.Verify(req)
				wantReason(t, err, "")
				if c.auth != "api_key" && res.SecretID != firstID {
					t.Errorf("SecretID = %q, want %q", res.SecretID, firstID)
				}
				if res.Trace.Scheme != c.auth {
					t.Errorf("Trace.Scheme = %q", res.Trace.Scheme)
				}
			})
			if c.auth == "none" {
				return
			}
			if c.rotates {
				t.Run("second secret verifies", func(t *testing.T) {
					res, err := v.Verify(signed(t, v, 1, testBody))
					wantReason(t, err, "")
					if res.SecretID != "new" {
						t.Errorf("SecretID = %q, want new", res.SecretID)
					}
					if n := len(res.Trace.SecretsTried); n < 2 {
						t.Errorf("SecretsTried = %v", res.Trace.SecretsTried)
					}
				})
			}
			t.Run("one body byte changed", func(t *testing.T) {
				req := signed(t, v, 0, testBody)
				req.Body[10] ^= 1
				want := ""
				if c.bodySigned {
					want = ReasonSignatureMismatch
				}
				_, err := v.Verify(req)
				wantReason(t, err, want)
			})
			t.Run("wrong secret", func(t *testing.T) {
				req := newRequest(testBody)
				cfg := c.cfg()
				wrong := Secret{ID: "wrong", Value: "not-the-configured-secret"}
				if c.auth == "svix" {
					wrong.Value = svixSecret("not-the-configured-key")
				}
				if c.wrongSecret != "" {
					wrong.Value = c.wrongSecret
				}
				if c.auth == "basic" {
					cfg.Basic = &hookgate.BasicAuth{Username: "datadog", Password: "guess"}
				}
				if c.auth == "api_key" {
					cfg.APIKey = nil
				}
				if err := schemes[c.auth].Sign(&cfg, req, wrong); err != nil {
					t.Fatal(err)
				}
				_, err := v.Verify(req)
				f := wantReason(t, err, c.wrong)
				if f.Status() != http.StatusUnauthorized {
					t.Errorf("status %d", f.Status())
				}
			})
			t.Run("missing header", func(t *testing.T) {
				req := signed(t, v, 0, testBody)
				req.Header.Del(c.header)
				_, err := v.Verify(req)
				f := wantReason(t, err, c.missing)
				if f.Status() != http.StatusUnauthorized {
					t.Errorf("status %d", f.Status())
				}
			})
			t.Run("malformed header", func(t *testing.T) {
				req := signed(t, v, 0, testBody)
				req.Header.Set(c.header, "%%not a signature%%")
				_, err := v.Verify(req)
				wantReason(t, err, c.malformed)
			})
			t.Run("nil header", func(t *testing.T) {
				req := newRequest(testBody)
				req.Header = nil
				_, err := v.Verify(req)
				wantReason(t, err, c.missing)
			})
		})
	}
}

// GitHub's documented test values:
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
func TestGitHubPublishedExample(t *testing.T) {
	p, _ := LookupPreset("github")
	v := mustVerifier(t, Config{Auth: p.Auth, SignatureHeader: p.SignatureHeader,
		Secrets: []Secret{{ID: "gh", Value: "It's a Secret to Everybody"}}})
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

	req := newRequest([]byte("Hello, World!"))
	req.Header.Set("X-Hub-Signature-256", want)
	res, err := v.Verify(req)
	wantReason(t, err, "")
	if res.SecretID != "gh" {
		t.Errorf("SecretID = %q", res.SecretID)
	}

	signedReq := signed(t, v, 0, []byte("Hello, World!"))
	if got := signedReq.Header.Get("X-Hub-Signature-256"); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}

	// The prefix is optional on receipt; upper-case hex decodes too.
	req.Header.Set("X-Hub-Signature-256", strings.ToUpper(strings.TrimPrefix(want, "sha256=")))
	res, err = v.Verify(req)
	wantReason(t, err, "")
	if !strings.Contains(res.Trace.Note, "prefix sha256= missing") {
		t.Errorf("note = %q", res.Trace.Note)
	}
}

// Standard Webhooks / Svix documented example:
// https://docs.svix.com/receiving/verifying-payloads/how-manual and
// https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
func TestSvixPublishedExample(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "svix", Secrets: []Secret{{ID: "svix", Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}})
	req := &Request{Header: http.Header{}, Body: []byte(`{"test": 2432232314}`), Now: time.Unix(1614265330, 0)}
	req.Header.Set("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	req.Header.Set("svix-timestamp", "1614265330")
	req.Header.Set("svix-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	res, err := v.Verify(req)
	wantReason(t, err, "")
	if !res.Timestamp.Equal(time.Unix(1614265330, 0)) {
		t.Errorf("Timestamp = %v", res.Timestamp)
	}
	if res.Trace.Header != "svix-signature" || res.Trace.Recipe != svixRecipe {
		t.Errorf("trace = %+v", res.Trace)
	}

	// Sign reproduces the published signature.
	out := &Request{Header: http.Header{}, Body: req.Body, Now: req.Now}
	out.Header.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	if err := v.Sign(out, 0); err != nil {
		t.Fatal(err)
	}
	if got := out.Header.Get("webhook-signature"); got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Errorf("Sign = %s", got)
	}
}

func TestSvixSecretForms(t *testing.T) {
	raw := "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for name, secret := range map[string]string{
		"whsec_ prefix":      "whsec_" + raw,
		"bare base64":        raw,
		"raw bytes fallback": "not base64 at all!",
	} {
		t.Run(name, func(t *testing.T) {
			v := mustVerifier(t, Config{Auth: "svix", Secrets: []Secret{{ID: "k", Value: secret}}})
			_, err := v.Verify(signed(t, v, 0, testBody))
			wantReason(t, err, "")
		})
	}
	if _, err := New(Config{Auth: "svix", Secrets: []Secret{{ID: "k", Value: "whsec_!!!"}}}); err == nil {
		t.Error("New accepted an undecodable whsec_ secret")
	}
}

func TestSvixHeaders(t *testing.T) {
	v := mustVerifier(t, schemeCases[4].cfg())
	sign := func(mod func(*Request)) *Request {
		req := newRequest(testBody)
		req.Header.Set("webhook-id", "msg_fixed")
		if err := v.Sign(req, 0); err != nil {
			t.Fatal(err)
		}
		if mod != nil {
			mod(req)
		}
		return req
	}
	resign := func(now time.Time) func(*Request) {
		return func(req *Request) {
			req.Now = now
			if err := v.Sign(req, 0); err != nil {
				t.Fatal(err)
			}
			req.Now = testNow
		}
	}
	valid := sign(nil).Header.Get("webhook-signature")
	tests := []struct {
		name   string
		mod    func(*Request)
		reason string
		status int
		note   string
	}{
		{name: "ok"},
		{name: "stale", mod: resign(testNow.Add(-6 * time.Minute)), reason: ReasonTimestampStale, status: 409},
		{name: "inside window", mod: resign(testNow.Add(-4 * time.Minute))},
		{name: "future", mod: resign(testNow.Add(6 * time.Minute)), reason: ReasonTimestampFuture, status: 409},
		{name: "missing timestamp", mod: func(r *Request) { r.Header.Del("webhook-timestamp") }, reason: ReasonTimestampMissing, status: 401},
		{name: "missing id", mod: func(r *Request) { r.Header.Del("webhook-id") }, reason: ReasonSignatureMissing, status: 401, note: "webhook-id"},
		{name: "timestamp changed", mod: func(r *Request) { r.Header.Set("webhook-timestamp", "1700000001") }, reason: ReasonSignatureMismatch, status: 401},
		{name: "id changed", mod: func(r *Request) { r.Header.Set("webhook-id", "msg_other") }, reason: ReasonSignatureMismatch, status: 401},
		{name: "one valid among malformed", mod: func(r *Request) {
			r.Header.Set("webhook-signature", "v1,!!!! nocomma v1a,"+strings.TrimPrefix(valid, "v1,")+" "+valid)
		}, note: "4 signatures, 3 malformed skipped"},
		{name: "several valid-looking, none matches", mod: func(r *Request) {
			r.Header.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,bm9wZQ==")
		}, reason: ReasonSignatureMismatch, status: 401, note: "2 signatures, 1 malformed skipped"},
		{name: "only other versions", mod: func(r *Request) { r.Header.Set("webhook-signature", "v2,"+strings.TrimPrefix(valid, "v1,")) },
			reason: ReasonSignatureMalformed, status: 401, note: "another version"},
		{name: "svix- header names", mod: func(r *Request) {
			for _, h := range []string{"id", "timestamp", "signature"} {
				r.Header.Set("svix-"+h, r.Header.Get("webhook-"+h))
				r.Header.Del("webhook-" + h)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sign(tt.mod)
			res, err := v.Verify(req)
			f := wantReason(t, err, tt.reason)
			tr := res.Trace
			if f != nil {
				tr = f.Trace
				if f.Status() != tt.status {
					t.Errorf("status = %d, want %d", f.Status(), tt.status)
				}
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want it to contain %q", tr.Note, tt.note)
			}
			if tt.reason == "" && res.Timestamp.IsZero() {
				t.Error("Result.Timestamp not set")
			}
			if tt.reason == ReasonTimestampStale && (tr.TimestampSkewSeconds == nil || *tr.TimestampSkewSeconds != 360) {
				t.Errorf("skew = %v", tr.TimestampSkewSeconds)
			}
		})
	}
}

func TestHMACTimestampHeader(t *testing.T) {
	cfg := hmacCfg("sha256", "X-Signature")()
	cfg.TimestampHeader = "X-Timestamp"
	cfg.ReplayWindow = time.Minute
	v := mustVerifier(t, cfg)
	tests := []struct {
		name, ts, reason string
	}{
		{"ok", "1700000000", ""},
		{"inside window", "1699999950", ""},
		{"stale", "1699999900", ReasonTimestampStale},
		{"future", "1700000100", ReasonTimestampFuture},
		{"missing", "", ReasonTimestampMissing},
		{"invalid", "yesterday", ReasonTimestampInvalid},
		{"overflowing", "99999999999999999999", ReasonTimestampInvalid},
		{"negative", "-5", ReasonTimestampInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := signed(t, v, 0, testBody)
			if tt.ts == "" {
				req.Header.Del("X-Timestamp")
			} else {
				req.Header.Set("X-Timestamp", tt.ts)
			}
			res, err := v.Verify(req)
			wantReason(t, err, tt.reason)
			if tt.reason == "" && res.Timestamp.IsZero() {
				t.Error("Timestamp not set")
			}
		})
	}
	// The signature is checked before the timestamp: a forged request with a
	// stale timestamp is a 401, not a 409.
	req := signed(t, v, 0, testBody)
	req.Header.Set("X-Timestamp", "1")
	req.Body[0] = '['
	_, err := v.Verify(req)
	wantReason(t, err, ReasonSignatureMismatch)
}

func TestDocuSignNumberedHeaders(t *testing.T) {
	p, _ := LookupPreset("docusign")
	cfg := Config{Auth: p.Auth, SignatureHeader: p.SignatureHeader,
		Secrets: []Secret{{ID: "key1", Value: "docusign-key-one"}, {ID: "key2", Value: "docusign-key-two"}}}
	v := mustVerifier(t, cfg)

	// What DocuSign sends with two active Connect keys.
	withKey := func(secret string) string {
		r := newRequest(testBody)
		c := cfg
		if err := schemes[c.Auth].Sign(&c, r, Secret{Value: secret}); err != nil {
			t.Fatal(err)
		}
		return r.Header.Get(cfg.SignatureHeader)
	}
	req := newRequest(testBody)
	req.Header.Set("X-DocuSign-Signature-1", "not base64 ***")
	req.Header["x-docusign-signature-2"] = []string{withKey("some-retired-key")}
	req.Header.Set("X-DocuSign-Signature-3", withKey("docusign-key-two"))
	res, err := v.Verify(req)
	wantReason(t, err, "")
	if res.SecretID != "key2" {
		t.Errorf("SecretID = %q", res.SecretID)
	}
	if !strings.Contains(res.Trace.Note, "3 signatures, 1 malformed skipped") {
		t.Errorf("note = %q", res.Trace.Note)
	}
	if !strings.Contains(res.Trace.Header, "X-Docusign-Signature-3") {
		t.Errorf("header = %q", res.Trace.Header)
	}

	// Only the second header present still verifies.
	req = newRequest(testBody)
	req.Header.Set("X-DocuSign-Signature-2", withKey("docusign-key-one"))
	res, err = v.Verify(req)
	wantReason(t, err, "")
	if res.SecretID != "key1" {
		t.Errorf("SecretID = %q", res.SecretID)
	}

	req = newRequest(testBody)
	req.Header.Set("X-DocuSign-Signature-1", withKey("some-retired-key"))
	_, err = v.Verify(req)
	wantReason(t, err, ReasonSignatureMismatch)
}

func TestForeignPrefixHint(t *testing.T) {
	v := mustVerifier(t, hmacCfg("sha256_raw", "Linear-Signature")())
	req := signed(t, v, 0, testBody)
	req.Header.Set("Linear-Signature", "sha256="+req.Header.Get("Linear-Signature"))
	_, err := v.Verify(req)
	f := wantReason(t, err, ReasonSignatureMalformed)
	if !strings.Contains(f.Trace.Note, "prefix sha256= present on a sha256_raw connection") {
		t.Errorf("note = %q", f.Trace.Note)
	}
}

func TestAPIKeyHeaders(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "api_key", APIKey: &hookgate.APIKey{Header: "X-API-Key", Value: "k-123"}})
	req := newRequest(testBody)
	req.Header.Set("X-API-Key", "k-123")
	_, err := v.Verify(req)
	wantReason(t, err, "")

	b := mustVerifier(t, Config{Auth: "api_key", APIKey: &hookgate.APIKey{Value: "k-123"}})
	for value, reason := range map[string]string{
		"Bearer k-123":   "",
		"bearer k-123":   "",
		"k-123":          ReasonCredentialsInvalid,
		"Bearer k-1234":  ReasonCredentialsInvalid,
		"Basic azoxMjM=": ReasonCredentialsInvalid,
	} {
		req := newRequest(testBody)
		req.Header.Set("Authorization", value)
		_, err := b.Verify(req)
		wantReason(t, err, reason)
	}
}

func TestBasicWrongUser(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "basic", Basic: &hookgate.BasicAuth{Username: "u", Password: "p"}})
	req := newRequest(testBody)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("x:p")))
	_, err := v.Verify(req)
	wantReason(t, err, ReasonCredentialsInvalid)
}

func TestNewFailsClosed(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"unknown auth", Config{Auth: "sha3000", Secrets: []Secret{{ID: "a", Value: "b"}}}},
		{"empty auth", Config{}},
		{"sha256 without secrets", Config{Auth: "sha256", SignatureHeader: "X-Sig"}},
		{"sha256 without header", Config{Auth: "sha256", Secrets: []Secret{{ID: "a", Value: "b"}}}},
		{"sha256 with an empty secret", Config{Auth: "sha256", SignatureHeader: "X-Sig", Secrets: []Secret{{ID: "a"}}}},
		{"svix without secrets", Config{Auth: "svix"}},
		{"none without allow", Config{Auth: "none"}},
		{"secret without header", Config{Auth: "secret", Secrets: []Secret{{ID: "a", Value: "b"}}}},
		{"basic without credentials", Config{Auth: "basic"}},
		{"basic without password", Config{Auth: "basic", Basic: &hookgate.BasicAuth{Username: "u"}}},
		{"api_key without key", Config{Auth: "api_key", APIKey: &hookgate.APIKey{Header: "X-Key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Errorf("New(%+v) succeeded", tt.cfg)
			}
		})
	}
	// Called directly, "none" still fails closed.
	_, err := schemes["none"].Verify(&Config{Auth: "none"}, newRequest(nil))
	wantReason(t, err, ReasonCredentialsMissing)
}

// TestTraceNeverLeaks checks every trace, passing or failing, for secret
// values and for more than 8 characters of the expected signature.
func TestTraceNeverLeaks(t *testing.T) {
	for _, c := range schemeCases {
		t.Run(c.auth, func(t *testing.T) {
			cfg := c.cfg()
			v := mustVerifier(t, cfg)
			var forbidden []string
			for _, s := range cfg.Secrets {
				forbidden = append(forbidden, s.Value)
				if c.auth == "svix" {
					k, _ := svixKey(s.Value, nil)
					forbidden = append(forbidden, string(k))
				}
			}
			if cfg.Basic != nil {
				forbidden = append(forbidden, cfg.Basic.Password)
			}
			if cfg.APIKey != nil {
				forbidden = append(forbidden, cfg.APIKey.Value)
			}
			// The full expected signatures, minus the 8 characters allowed.
			for i := range cfg.Secrets {
				r := signed(t, v, i, testBody)
				for _, vals := range r.Header {
					for _, val := range vals {
						if len(val) > 16 {
							_, sig, _ := strings.Cut(val, ",")
							_, sig2, _ := strings.Cut(val, "=")
							for _, s := range []string{val, sig, sig2} {
								if len(s) > 9 {
									forbidden = append(forbidden, s[:9])
								}
							}
						}
					}
				}
			}
			for _, mod := range []func(*Request){
				nil,
				func(r *Request) { r.Body = append(r.Body, ' ') },
				func(r *Request) { r.Header.Set(c.header, "garbage") },
				func(r *Request) { r.Header.Del(c.header) },
			} {
				req := signed(t, v, 0, testBody)
				if mod != nil && c.header != "" {
					mod(req)
				}
				res, err := v.Verify(req)
				tr := res.Trace
				var f *Failure
				if errors.As(err, &f) {
					tr = f.Trace
				}
				if len(tr.Expected) > 8 || len(tr.Received) > 8 {
					t.Errorf("trace prefixes too long: %+v", tr)
				}
				js, _ := json.Marshal(tr)
				for _, s := range forbidden {
					if s != "" && strings.Contains(string(js), s) {
						t.Errorf("trace %s contains %q", js, s)
					}
				}
				if c.auth == "secret" && (tr.Expected != "" || tr.Received != "") {
					t.Errorf("secret trace shows token prefixes: %+v", tr)
				}
			}
		})
	}
}

func TestTraceContents(t *testing.T) {
	v := mustVerifier(t, hmacCfg("sha256", "X-Hub-Signature-256")())
	req := signed(t, v, 1, testBody)
	req.Body = append(req.Body, '\n')
	_, err := v.Verify(req)
	f := wantReason(t, err, ReasonSignatureMismatch)
	tr := f.Trace
	if tr.Scheme != "sha256" || tr.Header != "X-Hub-Signature-256" ||
		tr.Recipe != "HMAC-SHA256(secret, body) as hex, prefix sha256=" ||
		strings.Join(tr.SecretsTried, ",") != "old,new" || len(tr.Expected) != 8 || len(tr.Received) != 8 {
		t.Errorf("trace = %+v", tr)
	}
	if want := strings.TrimPrefix(req.Header.Get("X-Hub-Signature-256"), "sha256=")[:8]; tr.Received != want {
		t.Errorf("Received = %q, want %q", tr.Received, want)
	}
}

func TestPresets(t *testing.T) {
	want := []string{"cloudflare-pages", "datadog", "docusign", "github", "gitlab", "google-calendar",
		"incidentio", "intercom", "linear", "qovery", "shopify", "standard", "svix"}
	for _, typ := range want {
		p, ok := LookupPreset(typ)
		if !ok {
			t.Errorf("preset %s missing", typ)
			continue
		}
		if p.Doc == "" || !strings.HasPrefix(p.Doc, "https://") {
			t.Errorf("preset %s: Doc %q", typ, p.Doc)
		}
		cfg := Config{Auth: p.Auth, SignatureHeader: p.SignatureHeader, TimestampHeader: p.TimestampHeader,
			Secrets: []Secret{{ID: "s", Value: svixSecret("preset-test-key")}}}
		if p.Auth == "basic" {
			cfg.Basic = &hookgate.BasicAuth{Username: "u", Password: "p"}
		}
		v := mustVerifier(t, cfg)
		_, err := v.Verify(signed(t, v, 0, testBody))
		if err != nil {
			t.Errorf("preset %s round trip: %v", typ, err)
		}
	}
	if len(Presets()) < len(want) {
		t.Errorf("Presets() = %d", len(Presets()))
	}
}
