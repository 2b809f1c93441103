package verify

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/rules"
)

// presetVerifier builds a connection of preset typ with the given secrets,
// as gateway/compile.go does (preset defaults applied).
func presetVerifier(t testing.TB, typ string, secrets ...string) *Verifier {
	t.Helper()
	p, ok := LookupPreset(typ)
	if !ok {
		t.Fatalf("preset %s missing", typ)
	}
	cfg := Config{ReplayWindow: 5 * time.Minute}
	for i, s := range secrets {
		cfg.Secrets = append(cfg.Secrets, Secret{ID: "s" + string(rune('1'+i)), Value: s})
	}
	if p.Auth == "basic" {
		cfg.Basic = &hookgate.BasicAuth{Username: secrets[0], Password: secrets[1]}
		cfg.Secrets = nil
	}
	p.Apply(&cfg)
	return mustVerifier(t, cfg)
}

func TestPresetsMoreFields(t *testing.T) {
	tests := []struct {
		typ, auth, header, nonceHeader, nonceBody, eventType string
	}{
		{"telegram", "secret", "X-Telegram-Bot-Api-Secret-Token", "", "update_id", ""},
		{"vercel", "hmac", "x-vercel-signature", "", "id", "body:type"},
		{"sentry", "sha256_raw", "Sentry-Hook-Signature", "Request-ID", "", "header:Sentry-Hook-Resource+body:action"},
		{"postmark", "basic", "", "", "", "body:RecordType"},
		{"clerk", "svix", "", "svix-id", "", "body:type"},
		{"resend", "svix", "", "svix-id", "", "body:type"},
		{"razorpay", "sha256_raw", "X-Razorpay-Signature", "x-razorpay-event-id", "", "body:event"},
		{"discord", "ed25519", discordSignature, "", "id", "body:type+body:event.type"},
		{"sendgrid", "ecdsa", sendgridSignature, "", "", "body:event"},
	}
	for _, tt := range tests {
		p, ok := LookupPreset(tt.typ)
		if !ok {
			t.Errorf("preset %s missing", tt.typ)
			continue
		}
		if p.Auth != tt.auth || p.SignatureHeader != tt.header || p.NonceHeader != tt.nonceHeader ||
			p.NonceBody != tt.nonceBody || p.EventType != tt.eventType || !strings.HasPrefix(p.Doc, "https://") {
			t.Errorf("preset %s = %+v", tt.typ, p)
		}
		if err := rules.ValidateSource(p.EventType); err != nil {
			t.Errorf("preset %s: %v", tt.typ, err)
		}
	}
}

// TestPresetsMoreEnvelope checks the event type and body nonce each preset
// names resolve on a payload shaped as the provider documents it.
func TestPresetsMoreEnvelope(t *testing.T) {
	tests := []struct {
		typ, body   string
		header      http.Header
		event, nonc string
	}{
		// https://core.telegram.org/bots/api#update
		{"telegram", `{"update_id":10000,"message":{"message_id":1365,"date":1441645532,"chat":{"id":1111111,"type":"private"},"text":"/start"}}`, nil, "", "10000"},
		{"vercel", `{"id":"uj4vx6YHXTJWqRqT","type":"deployment.created","createdAt":1700000000000,"payload":{},"region":"sfo1"}`, nil, "deployment.created", "uj4vx6YHXTJWqRqT"},
		{"sentry", `{"action":"created","installation":{"uuid":"a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},"data":{"issue":{}}}`,
			http.Header{"Sentry-Hook-Resource": {"issue"}}, "issue.created", ""},
		// https://postmarkapp.com/developer/webhooks/delivery-webhook
		{"postmark", `{"RecordType":"Delivery","ServerID":23,"MessageStream":"outbound","MessageID":"00000000-0000-0000-0000-000000000000","Recipient":"john@example.com","Tag":"welcome-email","DeliveredAt":"2019-11-05T16:33:54.9070259Z","Details":"Test delivery webhook details","Metadata":{}}`, nil, "Delivery", ""},
		{"clerk", `{"data":{"id":"user_29w83sxmDNGwOuEthce5gg56FcC"},"object":"event","type":"user.created"}`, nil, "user.created", ""},
		{"resend", `{"type":"email.delivered","created_at":"2024-02-22T23:41:12.126Z","data":{"email_id":"56761188-7520-42d8-8898-ff6fc54ce618"}}`, nil, "email.delivered", ""},
		{"razorpay", `{"entity":"event","account_id":"acc_BFQ7uQEaa7j2z7","event":"payment.captured","contains":["payment"],"payload":{},"created_at":1567674606}`, nil, "payment.captured", ""},
		{"discord", discordPingBody, nil, "1", "787053080478613555"},
		{"discord", `{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{}}}`, nil, "1.APPLICATION_AUTHORIZED", ""},
	}
	for _, tt := range tests {
		p, _ := LookupPreset(tt.typ)
		env, err := rules.ParseEnvelope("application/json", []byte(tt.body))
		if err != nil {
			t.Errorf("%s: %v", tt.typ, err)
			continue
		}
		if got := rules.Extract(p.EventType, tt.header, env); got != tt.event {
			t.Errorf("%s event type = %q, want %q", tt.typ, got, tt.event)
		}
		got := ""
		if p.NonceBody != "" {
			got, _ = env.Field(p.NonceBody)
		}
		if got != tt.nonc {
			t.Errorf("%s body nonce = %q, want %q", tt.typ, got, tt.nonc)
		}
	}
}

// Razorpay's published example, from its Node SDK's tests:
// https://github.com/razorpay/razorpay-node/blob/master/test/utils/razorpay-utils.spec.js
const (
	razorpayBody   = `{"a":1,"b":2,"c":{"d":3}}`
	razorpaySecret = "123456"
	razorpaySig    = "2fe04e22977002e6c7cb553adab8b460cb9e2a4970d5953cb27a8472752e3bbc"
)

func TestRazorpayPublishedExample(t *testing.T) {
	v := presetVerifier(t, "razorpay", razorpaySecret)
	req := newRequest([]byte(razorpayBody))
	req.Header.Set("X-Razorpay-Signature", razorpaySig)
	res, err := v.Verify(req)
	wantReason(t, err, "")
	if res.SecretID != "s1" {
		t.Errorf("SecretID = %q", res.SecretID)
	}
	if got := signed(t, v, 0, []byte(razorpayBody)).Header.Get("X-Razorpay-Signature"); got != razorpaySig {
		t.Errorf("Sign = %s", got)
	}
	hmacPresetNegatives(t, "razorpay", "X-Razorpay-Signature", razorpaySecret, []byte(razorpayBody), razorpaySig)
	// The SDK test's wrong signature is malformed (not 64 hex characters).
	req.Header.Set("X-Razorpay-Signature", "sdfafds")
	_, err = v.Verify(req)
	wantReason(t, err, ReasonSignatureMalformed)
}

// Vercel publishes no signed example; this one is computed with the
// documented recipe (hex HMAC-SHA1 of the raw body).
func TestVercelPreset(t *testing.T) {
	const secret = "vercel-webhook-secret"
	body := []byte(`{"id":"uj4vx6YHXTJWqRqT","type":"deployment.created","createdAt":1700000000000,"payload":{}}`)
	sig := hex.EncodeToString(hmacSHA1.sum([]byte(secret), body))
	v := presetVerifier(t, "vercel", secret)
	req := newRequest(body)
	req.Header.Set("x-vercel-signature", sig) // bare hex, as Vercel sends it
	res, err := v.Verify(req)
	wantReason(t, err, "")
	if res.Trace.Header != "x-vercel-signature" || res.Trace.Recipe != "HMAC-SHA1(secret, {body}) as hex" || res.Trace.Note != "" {
		t.Errorf("trace = %+v", res.Trace)
	}
	if got := signed(t, v, 0, body).Header.Get("x-vercel-signature"); got != sig {
		t.Errorf("Sign = %s, want %s", got, sig)
	}
	hmacPresetNegatives(t, "vercel", "x-vercel-signature", secret, body, sig)
}

// Sentry publishes no signed example; this one is computed with the
// documented recipe (hex HMAC-SHA256 of the body with the client secret).
func TestSentryPreset(t *testing.T) {
	const secret = "sentry-client-secret-0123456789abcdef"
	body := []byte(`{"action":"created","installation":{"uuid":"a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},"data":{"issue":{"id":"1"}},"actor":{"type":"application","id":"sentry","name":"Sentry"}}`)
	sig := hex.EncodeToString(hmacSHA256.sum([]byte(secret), body))
	v := presetVerifier(t, "sentry", secret)
	req := newRequest(body)
	req.Header.Set("Sentry-Hook-Signature", sig)
	req.Header.Set("Sentry-Hook-Resource", "issue")
	req.Header.Set("Sentry-Hook-Timestamp", "1") // not signed, not checked
	req.Header.Set("Request-ID", "d9f6f3a8-3c3d-4b8b-9d34-1e7a2f3b4c5d")
	_, err := v.Verify(req)
	wantReason(t, err, "")
	hmacPresetNegatives(t, "sentry", "Sentry-Hook-Signature", secret, body, sig)
}

// hmacPresetNegatives runs the shared negative cases of a body-HMAC preset
// whose valid signature for body under secret is sig.
func hmacPresetNegatives(t *testing.T, typ, header, secret string, body []byte, sig string) {
	t.Helper()
	v := presetVerifier(t, typ, secret)
	tests := []struct {
		name   string
		mod    func(*Request)
		reason string
	}{
		{"one body byte changed", func(r *Request) { r.Body[1] ^= 1 }, ReasonSignatureMismatch},
		{"one signature character changed", func(r *Request) {
			b := []byte(sig)
			b[0] = map[bool]byte{true: '1', false: '0'}[b[0] == '0']
			r.Header.Set(header, string(b))
		}, ReasonSignatureMismatch},
		{"missing header", func(r *Request) { r.Header.Del(header) }, ReasonSignatureMissing},
		{"bad hex", func(r *Request) { r.Header.Set(header, strings.Repeat("z", len(sig))) }, ReasonSignatureMalformed},
		{"base64 instead of hex", func(r *Request) {
			d, _ := hex.DecodeString(sig)
			r.Header.Set(header, base64.StdEncoding.EncodeToString(d))
		}, ReasonSignatureMalformed},
		{"upper-case hex", func(r *Request) { r.Header.Set(header, strings.ToUpper(sig)) }, ""},
	}
	for _, tt := range tests {
		t.Run(typ+" "+tt.name, func(t *testing.T) {
			req := newRequest(body)
			req.Header.Set(header, sig)
			tt.mod(req)
			_, err := v.Verify(req)
			wantReason(t, err, tt.reason)
		})
	}
	t.Run(typ+" wrong secret", func(t *testing.T) {
		w := presetVerifier(t, typ, secret+"-rotated")
		req := newRequest(body)
		req.Header.Set(header, sig)
		_, err := w.Verify(req)
		wantReason(t, err, ReasonSignatureMismatch)
	})
	t.Run(typ+" several secrets, one valid", func(t *testing.T) {
		w := presetVerifier(t, typ, "retired-secret", secret)
		req := newRequest(body)
		req.Header.Set(header, sig)
		res, err := w.Verify(req)
		wantReason(t, err, "")
		if res.SecretID != "s2" || len(res.Trace.SecretsTried) != 2 {
			t.Errorf("result = %+v", res)
		}
	})
}

// Clerk and Resend deliver through Svix and publish no example of their
// own; Svix's published example, with the svix-* header names they send,
// verifies through both presets.
// https://docs.svix.com/receiving/verifying-payloads/how-manual
func TestClerkResendSvixExample(t *testing.T) {
	for _, typ := range []string{"clerk", "resend"} {
		t.Run(typ, func(t *testing.T) {
			v := presetVerifier(t, typ, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
			at := func(now time.Time, sig string) *Request {
				req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: []byte(`{"test": 2432232314}`), Now: now}
				req.Header.Set("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
				req.Header.Set("svix-timestamp", "1614265330")
				req.Header.Set("svix-signature", sig)
				return req
			}
			const sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
			published := time.Unix(1614265330, 0)
			res, err := v.Verify(at(published, sig))
			wantReason(t, err, "")
			if res.Nonce != "msg_p5jXN8AQM9LWM0D4loKWxJek" || res.Trace.Header != "svix-signature" {
				t.Errorf("result = %+v", res)
			}
			_, err = v.Verify(at(published.Add(6*time.Minute), sig))
			wantReason(t, err, ReasonTimestampStale)
			_, err = v.Verify(at(published.Add(-6*time.Minute), sig))
			wantReason(t, err, ReasonTimestampFuture)
			_, err = v.Verify(at(published, "v1,"+strings.Repeat("A", 43)+"="))
			wantReason(t, err, ReasonSignatureMismatch)
			_, err = v.Verify(at(published, "v1,not-base64"))
			wantReason(t, err, ReasonSignatureMalformed)
			_, err = v.Verify(at(published, ""))
			wantReason(t, err, ReasonSignatureMissing)
			req := at(published, sig)
			req.Body[2] ^= 1
			_, err = v.Verify(req)
			wantReason(t, err, ReasonSignatureMismatch)

			other := presetVerifier(t, typ, svixSecret("another signing key"))
			_, err = other.Verify(at(published, sig))
			wantReason(t, err, ReasonSignatureMismatch)
			both := presetVerifier(t, typ, svixSecret("another signing key"), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
			res, err = both.Verify(at(published, sig))
			wantReason(t, err, "")
			if res.SecretID != "s2" {
				t.Errorf("SecretID = %q", res.SecretID)
			}
		})
	}
}

// Telegram publishes no example request; the secret_token is echoed
// verbatim in the header, so any valid token is an example.
func TestTelegramPreset(t *testing.T) {
	const token = "hookgate_Telegram-secret_token-0123456789"
	body := []byte(`{"update_id":10000,"message":{"message_id":1365,"text":"/start"}}`)
	v := presetVerifier(t, "telegram", "retired_token", token)
	for _, tt := range []struct {
		name, header, reason string
	}{
		{"ok", token, ""},
		{"wrong token", token + "x", ReasonSignatureMismatch},
		{"token prefix", token[:10], ReasonSignatureMismatch},
		{"missing", "", ReasonSignatureMissing},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(body)
			if tt.header != "" {
				req.Header.Set("X-Telegram-Bot-Api-Secret-Token", tt.header)
			}
			res, err := v.Verify(req)
			f := wantReason(t, err, tt.reason)
			if f == nil && res.SecretID != "s2" {
				t.Errorf("SecretID = %q", res.SecretID)
			}
		})
	}
}

// Postmark signs nothing; its documented example is the credential format
// https://<username>:<password>@example.com/webhook, which an HTTP client
// sends as a Basic Authorization header.
func TestPostmarkPreset(t *testing.T) {
	v := presetVerifier(t, "postmark", "postmark", "s3cr3t-webhook-password")
	auth := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, tt := range []struct {
		name, header, reason string
	}{
		{"ok", auth("postmark", "s3cr3t-webhook-password"), ""},
		{"wrong password", auth("postmark", "guess"), ReasonCredentialsInvalid},
		{"wrong user", auth("admin", "s3cr3t-webhook-password"), ReasonCredentialsInvalid},
		{"not base64", "Basic %%%", ReasonCredentialsInvalid},
		{"bearer", "Bearer s3cr3t-webhook-password", ReasonCredentialsInvalid},
		{"missing", "", ReasonCredentialsMissing},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest([]byte(`{"RecordType":"Delivery"}`))
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			_, err := v.Verify(req)
			wantReason(t, err, tt.reason)
		})
	}
}

// FuzzPresetsMore sends an arbitrary signature (or token) in every header
// the presets of presets_more.go read: verification never panics, always
// fails with a *Failure, and never accepts without the secret.
func FuzzPresetsMore(f *testing.F) {
	f.Add(razorpaySig, []byte(razorpayBody))
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	f.Add("sha1=00", []byte("{}"))
	f.Add("Basic cG9zdG1hcms6", []byte{})
	f.Add("", []byte(nil))
	secret := "fuzz-secret-" + strings.Repeat("k", 20)
	verifiers := map[string]*Verifier{}
	for _, typ := range []string{"telegram", "vercel", "sentry", "postmark", "clerk", "resend", "razorpay"} {
		verifiers[typ] = presetVerifier(f, typ, secret, secret+"-password")
	}
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		h := http.Header{}
		for _, name := range []string{"X-Telegram-Bot-Api-Secret-Token", "x-vercel-signature", "Sentry-Hook-Signature",
			"Authorization", "svix-signature", "X-Razorpay-Signature"} {
			h.Set(name, sig)
		}
		h.Set("svix-id", "msg_1")
		h.Set("svix-timestamp", "1700000000")
		for typ, v := range verifiers {
			res, err := v.Verify(&Request{Method: http.MethodPost, Header: h, Body: body, Now: testNow})
			if err == nil {
				t.Fatalf("%s accepted a fuzzed request: %+v", typ, res)
			}
			var fl *Failure
			if !errors.As(err, &fl) || len(fl.Trace.Received) > 8 || len(fl.Trace.Expected) > 8 {
				t.Fatalf("%s: %v", typ, err)
			}
		}
	})
}
