package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func init() {
	schemeCases = append(schemeCases,
		providerCase("stripe", "Stripe-Signature", func() Config {
			return Config{Auth: "stripe", Secrets: providerSecrets()}
		}),
		providerCase("paddle", "Paddle-Signature", func() Config {
			return Config{Auth: "paddle", Secrets: providerSecrets()}
		}),
	)
}

// stripeSig is an independent implementation of Stripe's documented
// recipe: hex HMAC-SHA256(secret, "{t}.{body}").
func stripeSig(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Stripe publishes no secret/body/signature triple: the example header on
// https://docs.stripe.com/webhooks#verify-manually has no body or secret,
// and stripe-go's own tests (webhook/client_test.go) sign with
// "whsec_test_secret" at time.Now(). This test uses that secret and payload
// shape at a fixed time and checks Sign against an independent computation
// of the documented recipe; the cases mirror stripe-go's TestTokenNew.
func TestStripeSDKCases(t *testing.T) {
	const secret = "whsec_test_secret" // stripe-go webhook/client_test.go
	body := []byte("{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}")
	ts := strconv.FormatInt(testNow.Unix(), 10)
	sig := stripeSig(secret, ts, body)
	rolled := stripeSig(secret+"_rolled_key", ts, body)

	v := mustVerifier(t, Config{Auth: "stripe", Secrets: []Secret{{ID: "s", Value: secret}}})
	out := signed(t, v, 0, body)
	if got, want := out.Header.Get("Stripe-Signature"), "t="+ts+",v1="+sig; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}

	tests := []struct {
		name, header, reason, note string
	}{
		{"signed", "t=" + ts + ",v1=" + sig, "", ""},
		// stripe-go: "an unreadable signature in the header (should be ignored)"
		{"unreadable signature ignored", "t=" + ts + ",v1=" + sig + ",v1=bad_signature", "", "2 signatures, 1 malformed skipped"},
		{"unreadable signature first", "t=" + ts + ",v1=bad_signature,v1=" + sig, "", "2 signatures, 1 malformed skipped"},
		// stripe-go: a rolled secret sends two v1 entries; either verifies.
		{"rolled key, old secret", "t=" + ts + ",v1=" + sig + ",v1=" + rolled, "", ""},
		{"rolled key, new entry first", "t=" + ts + ",v1=" + rolled + ",v1=" + sig, "", ""},
		{"v0 scheme only", "t=" + ts + ",v0=" + sig, ReasonSignatureMalformed, ""},
		{"v0 and a good v1", "t=" + ts + ",v0=" + rolled + ",v1=" + sig, "", ""},
		{"fake signature", "t=" + ts + ",v1=" + hex.EncodeToString([]byte("deadbeefdeadbeefdeadbeefdeadbeef")), ReasonSignatureMismatch, ""},
		{"only other secrets' signatures", "t=" + ts + ",v1=" + rolled, ReasonSignatureMismatch, ""},
		{"no timestamp", "v1=" + sig, ReasonTimestampMissing, "no t= timestamp"},
		{"empty t", "t=,v1=" + sig, ReasonTimestampMissing, ""},
		{"timestamp changed", "t=" + strconv.FormatInt(testNow.Unix()+1, 10) + ",v1=" + sig, ReasonSignatureMismatch, ""},
		{"garbage", "v1,t=1", ReasonSignatureMalformed, ""},
		{"spaces around elements", " t=" + ts + " , v1=" + sig + " ", "", ""},
		{"upper-case hex", "t=" + ts + ",v1=" + strings.ToUpper(sig), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(body)
			req.Header.Set("Stripe-Signature", tt.header)
			res, err := v.Verify(req)
			f := wantReason(t, err, tt.reason)
			tr := res.Trace
			if f != nil {
				tr = f.Trace
			} else if !res.Timestamp.Equal(testNow) {
				t.Errorf("Timestamp = %v", res.Timestamp)
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want %q", tr.Note, tt.note)
			}
		})
	}

	// The list split over two header lines is the same list.
	req := newRequest(body)
	req.Header.Add("Stripe-Signature", "t="+ts+",v1="+rolled)
	req.Header.Add("Stripe-Signature", "v1="+sig)
	_, err := v.Verify(req)
	wantReason(t, err, "")
}

// The example header of https://docs.stripe.com/webhooks#verify-manually
// (no body or secret is published with it): t is the timestamp, v1 the
// signature, v0 a test-mode signature to ignore.
func TestStripeDocHeaderParse(t *testing.T) {
	const header = "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
	ts, sigs, malformed := parseSignedList(header, ',', "t", "v1")
	if ts != "1492774577" || len(sigs) != 1 || sigs[0] != "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd" || malformed != 0 {
		t.Fatalf("parse = %q %q %d", ts, sigs, malformed)
	}
	// Mux's documented header, same format:
	// https://www.mux.com/docs/core/verify-webhook-signatures
	ts, sigs, _ = parseSignedList("t=1565220904,v1=20c75c1180c701ee8a796e81507cfd5c932fc17cf63a4a55566fd38da3a2d3d2", ',', "t", "v1")
	if ts != "1565220904" || len(sigs) != 1 {
		t.Fatalf("mux parse = %q %q", ts, sigs)
	}
	// With a body nobody published, the documented header is a well-formed
	// mismatch, checked before its (long stale) timestamp.
	v := mustVerifier(t, Config{Auth: "stripe", Secrets: []Secret{{ID: "s", Value: "whsec_anything"}}})
	req := newRequest(testBody)
	req.Header.Set("Stripe-Signature", header)
	_, err := v.Verify(req)
	wantReason(t, err, ReasonSignatureMismatch)
}

func TestStripeReplayWindow(t *testing.T) {
	t.Run("default 5m", func(t *testing.T) {
		checkReplayWindow(t, mustVerifier(t, Config{Auth: "stripe", Secrets: providerSecrets()}), DefaultReplayWindow)
	})
	t.Run("Calendly preset 3m", func(t *testing.T) {
		checkReplayWindow(t, mustVerifier(t, presetConfig(t, "calendly")), 3*time.Minute)
	})
	// A stale timestamp with a forged signature is a 401, not a 409: the
	// signature is checked first (SPEC §2).
	v := mustVerifier(t, Config{Auth: "stripe", Secrets: providerSecrets()})
	req := signedAt(t, v, 0, testBody, testNow.Add(-time.Hour))
	req.Body[1] ^= 1
	_, err := v.Verify(req)
	wantReason(t, err, ReasonSignatureMismatch)

	for _, ts := range []string{"yesterday", "-5", "99999999999999999999"} {
		req := newRequest(testBody)
		req.Header.Set("Stripe-Signature", "t="+ts+",v1="+stripeSig("first-provider-secret", ts, testBody))
		_, err := v.Verify(req)
		wantReason(t, err, ReasonTimestampInvalid)
	}
}

// Stripe, Mux and Calendly share the recipe under their own headers.
func TestStripeFamilyPresets(t *testing.T) {
	for typ, header := range map[string]string{
		"stripe":   "Stripe-Signature",
		"mux":      "Mux-Signature",
		"calendly": "Calendly-Webhook-Signature",
		"paddle":   "Paddle-Signature",
	} {
		t.Run(typ, func(t *testing.T) {
			p, _ := LookupPreset(typ)
			if !strings.HasPrefix(p.Doc, "https://") {
				t.Errorf("Doc = %q", p.Doc)
			}
			v := mustVerifier(t, presetConfig(t, typ))
			req := signed(t, v, 1, testBody)
			if req.Header.Get(header) == "" {
				t.Fatalf("Sign wrote %v, not %s", req.Header, header)
			}
			res, err := v.Verify(req)
			wantReason(t, err, "")
			if res.SecretID != "new" || res.Trace.Header != header {
				t.Errorf("res = %+v", res)
			}
			// Another provider's header name is not read.
			other := newRequest(testBody)
			other.Header.Set("X-Other-Signature", req.Header.Get(header))
			_, err = v.Verify(other)
			wantReason(t, err, ReasonSignatureMissing)
		})
	}
}

// Paddle's published example, from the official Go SDK
// (https://github.com/PaddleHQ/paddle-go-sdk/blob/main/example_webhook_verifier_test.go);
// recipe at https://developer.paddle.com/webhooks/signature-verification.
func TestPaddlePublishedExample(t *testing.T) {
	const (
		signature = `ts=1710929255;h1=6c05ef8fa83c44d751be6d259ec955ce5638e2c54095bf128e408e2fce1589c8`
		payload   = `{"data":{"id":"pri_01hsdn96k2hxjzsq5yerecdj9j","name":null,"status":"active","quantity":{"maximum":999999,"minimum":1},"tax_mode":"account_setting","product_id":"pro_01hsdn8qp7yydry3x1yeg6a9rv","unit_price":{"amount":"1000","currency_code":"USD"},"custom_data":null,"description":"testing","import_meta":null,"trial_period":null,"billing_cycle":{"interval":"month","frequency":1},"unit_price_overrides":[]},"event_id":"evt_01hsdn97563968dy0szkmgjwh3","event_type":"price.created","occurred_at":"2024-03-20T10:07:35.590857Z","notification_id":"ntf_01hsdn977e920kbgzt6r6c9rqc"}`
		secretKey = `pdl_ntfset_01hsdn8d43dt7mezr1ef2jtbaw_hKkRiCGyyRhbFwIUuqiTBgI7gnWoV0Gr`
	)
	at := time.Unix(1710929255, 0)
	cfg := presetConfig(t, "paddle")
	cfg.Secrets = []Secret{{ID: "old", Value: "pdl_ntfset_retired"}, {ID: "paddle", Value: secretKey}}
	v := mustVerifier(t, cfg)

	req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: []byte(payload), Now: at}
	req.Header.Set("Paddle-Signature", signature)
	res, err := v.Verify(req)
	wantReason(t, err, "")
	if res.SecretID != "paddle" || !res.Timestamp.Equal(at) {
		t.Errorf("res = %+v", res)
	}

	out := &Request{Header: http.Header{}, Body: []byte(payload), Now: at}
	if err := v.Sign(out, 1); err != nil {
		t.Fatal(err)
	}
	if got := out.Header.Get("Paddle-Signature"); got != signature {
		t.Errorf("Sign = %s, want %s", got, signature)
	}

	h1 := strings.TrimPrefix(signature, "ts=1710929255;")
	tests := []struct {
		name, header, reason string
		now                  time.Time
	}{
		{"one byte of body changed", "", ReasonSignatureMismatch, at},
		{"rotation: retired h1 first", "ts=1710929255;h1=" + strings.Repeat("ab", 32) + ";" + h1, "", at},
		{"malformed h1 skipped", "ts=1710929255;h1=zz;h1;" + h1, "", at},
		{"no ts", h1, ReasonTimestampMissing, at},
		{"ts changed", "ts=1710929256;" + h1, ReasonSignatureMismatch, at},
		{"comma separated is not Paddle's format", "ts=1710929255," + h1, ReasonSignatureMalformed, at},
		{"stale (a year later)", signature, ReasonTimestampStale, at.Add(365 * 24 * time.Hour)},
		{"future", signature, ReasonTimestampFuture, at.Add(-10 * time.Minute)},
		{"garbage", "%%", ReasonSignatureMalformed, at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(payload)
			header := tt.header
			if header == "" {
				header = signature
				body[len(body)-3] ^= 1
			}
			req := &Request{Header: http.Header{}, Body: body, Now: tt.now}
			req.Header.Set("Paddle-Signature", header)
			_, err := v.Verify(req)
			wantReason(t, err, tt.reason)
		})
	}
}

func TestPaddleReplayWindow(t *testing.T) {
	// The preset allows what Paddle's SDKs allow by default; a connection
	// may widen it.
	checkReplayWindow(t, mustVerifier(t, presetConfig(t, "paddle")), 5*time.Second)
	cfg := Config{Secrets: providerSecrets(), ReplayWindow: DefaultReplayWindow}
	p, _ := LookupPreset("paddle")
	p.Apply(&cfg)
	checkReplayWindow(t, mustVerifier(t, cfg), DefaultReplayWindow)
}

// FuzzStripeHeader checks the t=…,v1=… parser and the stripe scheme: no
// panic, every entry it yields is a piece of the header, no fuzzed header
// verifies without the secret, and a valid signature appended after any
// garbage still verifies (every v1 is tried, malformed ones skipped).
func FuzzStripeHeader(f *testing.F) {
	for _, s := range []string{
		"t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
		"t=1700000000,v1=bad_signature", "v1,t=1", "t=", ",,,", "t=1700000000,v1=,v1", "=", "t==1", "",
	} {
		f.Add(s, []byte(`{"id":"evt_1"}`))
	}
	v := mustVerifier(f, Config{Auth: "stripe", Secrets: providerSecrets()})
	ts := strconv.FormatInt(testNow.Unix(), 10)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		gotTS, sigs, malformed := parseSignedList(header, ',', "t", "v1")
		if gotTS != "" && !strings.Contains(header, gotTS) {
			t.Fatalf("timestamp %q not in %q", gotTS, header)
		}
		for _, s := range sigs {
			if s == "" || !strings.Contains(header, s) {
				t.Fatalf("signature %q not in %q", s, header)
			}
		}
		if malformed > strings.Count(header, ",")+1 {
			t.Fatalf("%d malformed of %q", malformed, header)
		}

		req := &Request{Header: http.Header{}, Body: body, Now: testNow}
		req.Header.Set("Stripe-Signature", header)
		res, err := v.Verify(req)
		mustReject(t, "stripe", res, err)

		valid := stripeSig("second-provider-secret", ts, body)
		req.Header.Set("Stripe-Signature", "t="+ts+","+header+",v1="+valid)
		if res, err := v.Verify(req); err != nil || res.SecretID != "new" {
			t.Fatalf("valid v1 after %q: %v %+v", header, err, res)
		}
	})
}

// FuzzPaddleHeader is FuzzStripeHeader for Paddle's ts=…;h1=… header.
func FuzzPaddleHeader(f *testing.F) {
	for _, s := range []string{
		"ts=1710929255;h1=6c05ef8fa83c44d751be6d259ec955ce5638e2c54095bf128e408e2fce1589c8",
		"ts=;h1=", ";;", "h1=zz;ts", "ts=1,h1=2", "",
	} {
		f.Add(s, []byte(`{"event_id":"evt_1"}`))
	}
	v := mustVerifier(f, presetConfig(f, "paddle"))
	ts := strconv.FormatInt(testNow.Unix(), 10)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		req := &Request{Header: http.Header{}, Body: body, Now: testNow}
		req.Header.Set("Paddle-Signature", header)
		res, err := v.Verify(req)
		mustReject(t, "paddle", res, err)

		m := hmac.New(sha256.New, []byte("first-provider-secret"))
		m.Write([]byte(ts + ":"))
		m.Write(body)
		req.Header.Set("Paddle-Signature", "ts="+ts+";"+header+";h1="+hex.EncodeToString(m.Sum(nil)))
		if res, err := v.Verify(req); err != nil || res.SecretID != "old" {
			t.Fatalf("valid h1 after %q: %v %+v", header, err, res)
		}
	})
}
