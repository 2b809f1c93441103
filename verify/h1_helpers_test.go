package verify

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Helpers shared by the provider-scheme tests (stripe, slack, square,
// twitch, zendesk, pagerduty, typeform).

// testPublicURL stands in for the connection's public URL (SPEC §3.1) in
// tests of the schemes that sign it.
const testPublicURL = "https://hooks.example.com/webhooks/provider?conn=1"

// withPublicURL fills in testPublicURL when a request has no URL. The
// generic table tests (TestSchemes, TestTraceNeverLeaks, FuzzVerify) build
// requests without one, which square and trello rightly refuse; in
// production ingress always sets Request.URL. The provider tests call the
// unwrapped schemes when they test a missing URL.
type withPublicURL struct{ Scheme }

func (w withPublicURL) fill(req *Request) {
	if req.URL == nil {
		req.URL, _ = url.Parse(testPublicURL)
	}
}

func (w withPublicURL) Verify(cfg *Config, req *Request) (Result, error) {
	w.fill(req)
	return w.Scheme.Verify(cfg, req)
}

func (w withPublicURL) Sign(cfg *Config, req *Request, secret Secret) error {
	w.fill(req)
	return w.Scheme.Sign(cfg, req, secret)
}

func (w withPublicURL) Validate(cfg *Config) error {
	if v, ok := w.Scheme.(interface{ Validate(*Config) error }); ok {
		return v.Validate(cfg)
	}
	return nil
}

// providerSecrets are the two rotation secrets every provider case uses.
func providerSecrets() []Secret {
	return []Secret{{ID: "old", Value: "first-provider-secret"}, {ID: "new", Value: "second-provider-secret"}}
}

// providerCase is the schemeCase of a provider scheme that signs the body:
// a wrong secret or a changed body is a mismatch, a header without any
// usable signature is malformed.
func providerCase(auth, header string, cfg func() Config) schemeCase {
	return schemeCase{
		auth: auth, cfg: cfg, header: header, bodySigned: true, rotates: true,
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch,
	}
}

// presetConfig is a connection of a preset type with the rotation secrets.
func presetConfig(t testing.TB, typ string) Config {
	t.Helper()
	p, ok := LookupPreset(typ)
	if !ok {
		t.Fatalf("preset %s missing", typ)
	}
	cfg := Config{Secrets: providerSecrets()}
	p.Apply(&cfg)
	return cfg
}

// signedAt signs body with secret i as the provider would at time at, and
// sets the verifier's clock back to testNow.
func signedAt(t testing.TB, v *Verifier, i int, body []byte, at time.Time) *Request {
	t.Helper()
	req := newRequest(body)
	req.Now = at
	if err := v.Sign(req, i); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	req.Now = testNow
	return req
}

// checkReplayWindow signs at the edges of window around testNow: just
// inside is accepted, just outside is stale (past) or future, both 409.
func checkReplayWindow(t *testing.T, v *Verifier, window time.Duration) {
	t.Helper()
	tests := []struct {
		name   string
		at     time.Time
		reason string
	}{
		{"now", testNow, ""},
		{"inside the window, past", testNow.Add(-window + time.Second), ""},
		{"inside the window, future", testNow.Add(window - time.Second), ""},
		{"stale", testNow.Add(-window - time.Second), ReasonTimestampStale},
		{"future", testNow.Add(window + time.Second), ReasonTimestampFuture},
		{"a day old", testNow.Add(-24 * time.Hour), ReasonTimestampStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Verify(signedAt(t, v, 0, testBody, tt.at))
			f := wantReason(t, err, tt.reason)
			if f != nil {
				if f.Status() != http.StatusConflict {
					t.Errorf("status = %d, want 409", f.Status())
				}
				if f.Trace.TimestampSkewSeconds == nil {
					t.Error("trace has no skew")
				}
				return
			}
			if !res.Timestamp.Equal(tt.at.Truncate(time.Second)) && !res.Timestamp.Equal(tt.at) {
				t.Errorf("Timestamp = %v, want %v", res.Timestamp, tt.at)
			}
		})
	}
}

// mustReject fails unless err is a *Failure: fuzz targets use it to prove
// a request without the secret is never accepted.
func mustReject(t *testing.T, name string, res Result, err error) {
	t.Helper()
	var f *Failure
	if err == nil {
		t.Fatalf("%s accepted a request signed without the secret: %+v", name, res)
	}
	if !errors.As(err, &f) {
		t.Fatalf("%s: non-Failure error %v", name, err)
	}
	if len(f.Trace.Expected) > 8 || len(f.Trace.Received) > 8 {
		t.Fatalf("%s: trace prefixes too long: %+v", name, f.Trace)
	}
}

func init() {
	for _, name := range []string{"square", "trello"} {
		schemes[name] = withPublicURL{schemes[name]}
	}
}
