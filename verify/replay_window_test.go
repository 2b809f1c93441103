package verify

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// Each preset's replay window is the provider's documented tolerance (SPEC
// §3.2); zero means the provider documents none and the server default
// applies. Sources are cited in docs/providers.md.
var presetWindows = map[string]time.Duration{
	"paddle":     5 * time.Second, // paddle-node-sdk MAX_VALID_TIME_DIFFERENCE
	"linear":     time.Minute,     // @linear/sdk LinearWebhookClient.verify
	"calendly":   3 * time.Minute, // Calendly's verification sample
	"hubspot":    5 * time.Minute, // HubSpot SDKs: age under 300 s
	"stripe":     5 * time.Minute, // stripe-go DefaultTolerance
	"slack":      5 * time.Minute, // "more than five minutes"
	"twitch":     10 * time.Minute,
	"svix":       5 * time.Minute,
	"standard":   5 * time.Minute,
	"incidentio": 5 * time.Minute,
	"clerk":      5 * time.Minute,
	"resend":     5 * time.Minute,
	// Sign a timestamp but document no tolerance: the server default.
	"mux": 0, "zoom": 0, "zendesk": 0, "mailgun": 0, "discord": 0, "sendgrid": 0,
}

func TestPresetReplayWindows(t *testing.T) {
	for typ, want := range presetWindows {
		p, ok := LookupPreset(typ)
		if !ok {
			t.Fatalf("preset %s missing", typ)
		}
		if p.ReplayWindow != want {
			t.Errorf("%s: ReplayWindow = %v, want %v", typ, p.ReplayWindow, want)
		}
		cfg := Config{}
		p.Apply(&cfg)
		if cfg.ReplayWindow != want {
			t.Errorf("%s: Apply set ReplayWindow %v, want %v", typ, cfg.ReplayWindow, want)
		}
		own := Config{ReplayWindow: 42 * time.Second}
		p.Apply(&own)
		if own.ReplayWindow != 42*time.Second {
			t.Errorf("%s: Apply replaced the connection's window with %v", typ, own.ReplayWindow)
		}
	}
}

// signedFor signs testBody as the preset's provider at time at and sets the
// verifier's clock to now.
func signedFor(t *testing.T, v *Verifier, at, now time.Time) *Request {
	t.Helper()
	req := newRequest(testBody)
	req.URL, _ = url.Parse(testPublicURL)
	req.Now = at
	if err := v.Sign(req, 0); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	req.Now = now
	return req
}

func wantReplay(t *testing.T, v *Verifier, req *Request, reason string) {
	t.Helper()
	_, err := v.Verify(req)
	f := wantReason(t, err, reason)
	if f != nil && f.Status() != http.StatusConflict {
		t.Errorf("status = %d, want 409", f.Status())
	}
}

// TestPresetReplayBoundary checks every preset whose signed timestamp is in
// a header at its window's edges, as its provider's SDK draws them: one
// second inside is accepted, the edge itself is accepted except for HubSpot
// (whose SDKs require the age to be under 300 s), and past the edge is a
// 409, in both directions. The clock is read to the nanosecond, so 5.5 s
// after a Paddle timestamp is already stale.
func TestPresetReplayBoundary(t *testing.T) {
	for _, typ := range []string{"paddle", "calendly", "hubspot", "stripe", "slack", "twitch", "svix", "incidentio", "clerk"} {
		w := presetWindows[typ]
		t.Run(typ, func(t *testing.T) {
			v := mustVerifier(t, presetConfig(t, typ))
			edge := ""
			if typ == "hubspot" {
				edge = ReasonTimestampStale
			}
			edgeFuture := ""
			if typ == "hubspot" {
				edgeFuture = ReasonTimestampFuture
			}
			for _, c := range []struct {
				name   string
				age    time.Duration
				reason string
			}{
				{"one second inside, past", w - time.Second, ""},
				{"one second inside, future", -(w - time.Second), ""},
				{"a millisecond inside", w - time.Millisecond, ""},
				{"at the edge, past", w, edge},
				{"at the edge, future", -w, edgeFuture},
				{"a millisecond past the edge", w + time.Millisecond, ReasonTimestampStale},
				{"one second past the edge", w + time.Second, ReasonTimestampStale},
				{"one second ahead of the edge", -(w + time.Second), ReasonTimestampFuture},
			} {
				t.Run(c.name, func(t *testing.T) {
					// Signed at testNow (whole seconds, so every scheme
					// carries it exactly); the clock moves by the age.
					wantReplay(t, v, signedFor(t, v, testNow, testNow.Add(c.age)), c.reason)
				})
			}
		})
	}
}

// TestPresetReplayOverride: a connection's own window replaces the preset's
// in both directions.
func TestPresetReplayOverride(t *testing.T) {
	for _, typ := range []string{"paddle", "calendly", "hubspot", "linear"} {
		w := presetWindows[typ]
		t.Run(typ, func(t *testing.T) {
			wider := presetConfig(t, typ)
			wider.ReplayWindow = 2 * w
			narrower := presetConfig(t, typ)
			narrower.ReplayWindow = w / 5
			// Accepted by the wider window though past the preset's.
			age := w + w/2
			v := mustVerifier(t, wider)
			wantReplay(t, v, providerRequest(t, typ, v, age), "")
			// Refused by the narrower window though inside the preset's.
			age = w / 2
			v = mustVerifier(t, narrower)
			wantReplay(t, v, providerRequest(t, typ, v, age), ReasonTimestampStale)
			// The preset alone decides the other way round.
			v = mustVerifier(t, presetConfig(t, typ))
			wantReplay(t, v, providerRequest(t, typ, v, w/2), "")
			wantReplay(t, v, providerRequest(t, typ, v, w+w/2), ReasonTimestampStale)
		})
	}
}

// providerRequest is a delivery signed age ago (Linear's timestamp is in
// its signed body).
func providerRequest(t *testing.T, typ string, v *Verifier, age time.Duration) *Request {
	t.Helper()
	if typ != "linear" {
		return signedFor(t, v, testNow.Add(-age), testNow)
	}
	return linearRequest(t, v, testNow.Add(-age).UnixMilli())
}

func linearRequest(t *testing.T, v *Verifier, ms int64) *Request {
	t.Helper()
	body := []byte(`{"action":"create","type":"Issue","data":{"id":"x"},"webhookTimestamp":` + strconv.FormatInt(ms, 10) + `}`)
	return linearBody(t, v, body)
}

func linearBody(t *testing.T, v *Verifier, body []byte) *Request {
	t.Helper()
	req := newRequest(body)
	if err := v.Sign(req, 0); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return req
}

// TestLinearWebhookTimestamp follows @linear/sdk: the signed body's
// webhookTimestamp (ms) may differ from now by at most 60 000 ms.
func TestLinearWebhookTimestamp(t *testing.T) {
	v := mustVerifier(t, presetConfig(t, "linear"))
	now := testNow.UnixMilli()
	for _, c := range []struct {
		name   string
		ms     int64
		reason string
	}{
		{"now", now, ""},
		{"one second inside", now - 59_000, ""},
		{"at the edge", now - 60_000, ""},
		{"a millisecond past", now - 60_001, ReasonTimestampStale},
		{"one second past", now - 61_000, ReasonTimestampStale},
		{"at the edge, future", now + 60_000, ""},
		{"a millisecond ahead of the edge", now + 60_001, ReasonTimestampFuture},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := linearRequest(t, v, c.ms)
			res, err := v.Verify(req)
			f := wantReason(t, err, c.reason)
			if f != nil {
				if f.Status() != http.StatusConflict {
					t.Errorf("status = %d, want 409", f.Status())
				}
				if f.Trace.TimestampSkewSeconds == nil {
					t.Error("trace has no skew")
				}
				return
			}
			if !res.Timestamp.Equal(time.UnixMilli(c.ms)) {
				t.Errorf("Timestamp = %v, want %v", res.Timestamp, time.UnixMilli(c.ms))
			}
		})
	}
	t.Run("no webhookTimestamp: not checked, as the SDK", func(t *testing.T) {
		_, err := v.Verify(linearBody(t, v, []byte(`{"type":"Issue"}`)))
		wantReason(t, err, "")
	})
	t.Run("webhookTimestamp not a number", func(t *testing.T) {
		for _, b := range []string{`{"webhookTimestamp":"1700000000000"}`, `{"webhookTimestamp":1.7e12}`, `{"webhookTimestamp":-1}`, `{"webhookTimestamp":null}`} {
			_, err := v.Verify(linearBody(t, v, []byte(b)))
			if f := wantReason(t, err, ReasonTimestampInvalid); f != nil && f.Status() != http.StatusUnauthorized {
				t.Errorf("%s: status = %d, want 401", b, f.Status())
			}
		}
	})
	t.Run("a forged stale delivery is a 401, not a 409", func(t *testing.T) {
		req := linearRequest(t, v, now-3_600_000)
		req.Header.Set("Linear-Signature", "00"+req.Header.Get("Linear-Signature")[2:])
		_, err := v.Verify(req)
		wantReason(t, err, ReasonSignatureMismatch)
	})
	t.Run("a sha256_raw connection without the preset checks no body field", func(t *testing.T) {
		plain := mustVerifier(t, Config{Auth: "sha256_raw", SignatureHeader: "Linear-Signature", Secrets: providerSecrets()})
		_, err := plain.Verify(linearRequest(t, plain, now-3_600_000))
		wantReason(t, err, "")
	})
}

// BenchmarkVerifyLinear is the linear preset's cost per delivery: the HMAC
// of a 2 KiB body plus the lookup of its webhookTimestamp (the field last,
// the worst case for the scan), against the same scheme without the preset.
func BenchmarkVerifyLinear(b *testing.B) {
	items := bytes.Repeat([]byte(`{"k":"0123456789abcdef"},`), 2048/25)
	body := []byte(`{"data":[` + string(items) + `{}],"webhookTimestamp":` + strconv.FormatInt(testNow.UnixMilli(), 10) + `}`)
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"preset", func() Config {
			c := Config{Secrets: providerSecrets()}
			p, _ := LookupPreset("linear")
			p.Apply(&c)
			return c
		}()},
		{"sha256_raw", Config{Auth: "sha256_raw", SignatureHeader: "Linear-Signature", Secrets: providerSecrets()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := mustVerifier(b, bc.cfg)
			req := newRequest(body)
			if err := v.Sign(req, 0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := v.Verify(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
