package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

func init() {
	schemeCases = append(schemeCases, providerCase("zendesk", zendeskSignature, func() Config {
		return Config{Auth: "zendesk", Secrets: providerSecrets()}
	}))
}

// zendeskSig is an independent implementation of Zendesk's recipe: base64
// HMAC-SHA256(secret, timestamp + body), the secret used as the string
// Zendesk shows (not base64-decoded).
func zendeskSig(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Zendesk publishes the static secret that signs test requests sent from
// the webhook builder, and example headers with a timestamp, but no
// body/signature pair:
// https://developer.zendesk.com/documentation/webhooks/verifying/#signing-secrets-on-new-webhooks
// The signatures here are computed with the documented recipe
// (base64(HMACSHA256(TIMESTAMP + BODY))) from that secret and timestamp.
const (
	zendeskTestSecret = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
	zendeskDocTime    = "2021-03-25T05:09:27Z"
)

func TestZendeskSignature(t *testing.T) {
	at, _ := time.Parse(time.RFC3339, zendeskDocTime)
	cfg := presetConfig(t, "zendesk")
	cfg.Secrets = []Secret{{ID: "live", Value: "live-zendesk-secret"}, {ID: "test", Value: zendeskTestSecret}}
	v := mustVerifier(t, cfg)
	body := []byte(`{"type":"zen:event-type:ticket.created","id":"01FQ5T5M2Q7Z4X1H8D9E3K6P0A","detail":{"id":"35436"}}`)
	docRequest := func() *Request {
		r := &Request{Method: http.MethodPost, Header: http.Header{}, Body: append([]byte(nil), body...), Now: at.Add(30 * time.Second)}
		r.Header.Set(zendeskTimestamp, zendeskDocTime)
		r.Header.Set(zendeskSignature, zendeskSig(zendeskTestSecret, zendeskDocTime, body))
		return r
	}

	res, err := v.Verify(docRequest())
	wantReason(t, err, "")
	if res.SecretID != "test" || !res.Timestamp.Equal(at) || res.Trace.Scheme != "zendesk" {
		t.Errorf("res = %+v", res)
	}
	out := &Request{Header: http.Header{}, Body: body, Now: at}
	if err := v.Sign(out, 1); err != nil {
		t.Fatal(err)
	}
	if out.Header.Get(zendeskTimestamp) != zendeskDocTime || out.Header.Get(zendeskSignature) != zendeskSig(zendeskTestSecret, zendeskDocTime, body) {
		t.Errorf("Sign = %v", out.Header)
	}

	tests := []struct {
		name   string
		mod    func(*Request)
		reason string
	}{
		{"one body byte changed", func(r *Request) { r.Body[5] ^= 1 }, ReasonSignatureMismatch},
		{"timestamp changed", func(r *Request) { r.Header.Set(zendeskTimestamp, "2021-03-25T05:09:28Z") }, ReasonSignatureMismatch},
		{"secret base64-decoded is not the key", func(r *Request) {
			key, _ := base64.StdEncoding.DecodeString(zendeskTestSecret)
			r.Header.Set(zendeskSignature, zendeskSig(string(key), zendeskDocTime, r.Body))
		}, ReasonSignatureMismatch},
		{"hex instead of base64", func(r *Request) { r.Header.Set(zendeskSignature, strings.Repeat("0f", 32)) }, ReasonSignatureMalformed},
		{"stale", func(r *Request) { r.Now = at.Add(DefaultReplayWindow + time.Second) }, ReasonTimestampStale},
		{"future", func(r *Request) { r.Now = at.Add(-DefaultReplayWindow - time.Second) }, ReasonTimestampFuture},
		{"missing signature", func(r *Request) { r.Header.Del(zendeskSignature) }, ReasonSignatureMissing},
		{"missing timestamp", func(r *Request) { r.Header.Del(zendeskTimestamp) }, ReasonTimestampMissing},
		{"one valid among several", func(r *Request) {
			good := r.Header.Get(zendeskSignature)
			r.Header.Set(zendeskSignature, "not base64")
			r.Header.Add(zendeskSignature, zendeskSig("retired", zendeskDocTime, r.Body))
			r.Header.Add(zendeskSignature, good)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := docRequest()
			tt.mod(req)
			_, err := v.Verify(req)
			wantReason(t, err, tt.reason)
		})
	}
}

// Requests without a body (GET/DELETE webhooks) sign the timestamp alone;
// unix-second timestamps are accepted too; an unparseable signed timestamp
// is invalid.
func TestZendeskTimestamps(t *testing.T) {
	v := mustVerifier(t, presetConfig(t, "zendesk"))
	for _, tt := range []struct {
		name, ts string
		body     []byte
		reason   string
	}{
		{"no body", "2023-11-14T22:13:20Z", nil, ""},
		{"fractional seconds", "2023-11-14T22:13:20.5Z", testBody, ""},
		{"offset", "2023-11-14T23:13:20+01:00", testBody, ""},
		{"unix seconds", "1700000000", testBody, ""},
		{"garbage", "yesterday", testBody, ReasonTimestampInvalid},
		{"T but not RFC 3339", "Tuesday", testBody, ReasonTimestampInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(tt.body)
			req.Header.Set(zendeskTimestamp, tt.ts)
			req.Header.Set(zendeskSignature, zendeskSig("first-provider-secret", tt.ts, tt.body))
			_, err := v.Verify(req)
			wantReason(t, err, tt.reason)
		})
	}
	t.Run("replay window", func(t *testing.T) { checkReplayWindow(t, v, DefaultReplayWindow) })
}

// FuzzZendeskVerify: arbitrary signatures, timestamps and bodies never
// verify without the secret; a valid signature among garbage values does.
func FuzzZendeskVerify(f *testing.F) {
	f.Add("S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM=", zendeskDocTime, []byte(`{"event":"ticket.updated","id":123}`))
	f.Add("", "", []byte{})
	f.Add("====", "1700000000", []byte("x"))
	f.Add("a", "T", []byte{0})
	v := mustVerifier(f, presetConfig(f, "zendesk"))
	now := testNow.UTC().Format(time.RFC3339)
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte) {
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, Now: testNow}
		req.Header.Set(zendeskSignature, sig)
		req.Header.Set(zendeskTimestamp, ts)
		res, err := v.Verify(req)
		mustReject(t, "zendesk", res, err)

		req.Header.Set(zendeskTimestamp, now)
		req.Header.Add(zendeskSignature, zendeskSig("second-provider-secret", now, body))
		if res, err := v.Verify(req); err != nil || res.SecretID != "new" {
			t.Fatalf("valid signature after %q: %v", sig, err)
		}
	})
}
