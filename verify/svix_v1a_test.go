package verify

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// v1aKeys makes an Ed25519 key pair in the Standard Webhooks forms: whsk_
// (the private key) and whpk_ (the public key).
func v1aKeys(t *testing.T) (whsk, whpk string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return "whsk_" + base64.StdEncoding.EncodeToString(priv), "whpk_" + base64.StdEncoding.EncodeToString(pub)
}

// TestStandardWebhooksV1a: the asymmetric signatures of the Standard
// Webhooks spec ("v1a,<base64 Ed25519 signature>" over id.timestamp.body)
// verify against a whpk_ public key, alone or beside whsec_ secrets, and
// fail for one byte changed, another key, a stale timestamp or a missing
// header.
func TestStandardWebhooksV1a(t *testing.T) {
	t.Parallel()
	whsk, whpk := v1aKeys(t)
	_, otherPK := v1aKeys(t)
	signer := mustVerifier(t, Config{Auth: "svix", Secrets: []Secret{{ID: "sk", Value: whsk}}})
	sign := func(now time.Time, body []byte) *Request {
		req := newRequest(body)
		req.Header.Set("webhook-id", "msg_v1a")
		req.Now = now
		if err := signer.Sign(req, 0); err != nil {
			t.Fatal(err)
		}
		req.Now = testNow
		return req
	}
	if sig := sign(testNow, testBody).Header.Get("webhook-signature"); !strings.HasPrefix(sig, "v1a,") {
		t.Fatalf("a whsk_ key signed %q, want a v1a signature", sig)
	}
	hmacSecret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, tc := range []struct {
		name    string
		secrets []string
		req     func() *Request
		reason  string // empty: verifies
	}{
		{"public key", []string{whpk}, func() *Request { return sign(testNow, testBody) }, ""},
		{"beside an HMAC secret", []string{hmacSecret, whpk}, func() *Request { return sign(testNow, testBody) }, ""},
		{"the secret key verifies too", []string{whsk}, func() *Request { return sign(testNow, testBody) }, ""},
		{"v1 and v1a in one header", []string{whpk}, func() *Request {
			r := sign(testNow, testBody)
			r.Header.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "+r.Header.Get("webhook-signature"))
			return r
		}, ""},
		{"one byte changed", []string{whpk}, func() *Request {
			r := sign(testNow, testBody)
			r.Body = []byte(strings.Replace(string(testBody), "4200", "4201", 1))
			return r
		}, ReasonSignatureMismatch},
		{"another key", []string{otherPK}, func() *Request { return sign(testNow, testBody) }, ReasonSignatureMismatch},
		{"only an HMAC secret", []string{hmacSecret}, func() *Request { return sign(testNow, testBody) }, ReasonSignatureMismatch},
		{"stale", []string{whpk}, func() *Request { return sign(testNow.Add(-6*time.Minute), testBody) }, ReasonTimestampStale},
		{"missing signature", []string{whpk}, func() *Request {
			r := sign(testNow, testBody)
			r.Header.Del("webhook-signature")
			return r
		}, ReasonSignatureMissing},
		{"missing timestamp", []string{whpk}, func() *Request {
			r := sign(testNow, testBody)
			r.Header.Del("webhook-timestamp")
			return r
		}, ReasonTimestampMissing},
		{"truncated signature", []string{whpk}, func() *Request {
			r := sign(testNow, testBody)
			r.Header.Set("webhook-signature", r.Header.Get("webhook-signature")[:20])
			return r
		}, ReasonSignatureMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var secrets []Secret
			for i, s := range tc.secrets {
				secrets = append(secrets, Secret{ID: string(rune('a' + i)), Value: s})
			}
			v := mustVerifier(t, Config{Auth: "svix", Secrets: secrets, ReplayWindow: 5 * time.Minute})
			res, err := v.Verify(tc.req())
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("did not verify: %v", err)
				}
				if !strings.HasPrefix(res.Trace.Recipe, "Ed25519") && tc.name != "beside an HMAC secret" {
					t.Errorf("trace recipe %q, want the Ed25519 one", res.Trace.Recipe)
				}
				return
			}
			wantReason(t, err, tc.reason)
		})
	}
}

// TestStandardWebhooksV1aKeys: malformed keys are refused when the
// connection is built, and a public key cannot sign.
func TestStandardWebhooksV1aKeys(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"whpk_", "whpk_bm9wZQ==", "whpk_!!!", "whsk_bm9wZQ=="} {
		if _, err := New(Config{Auth: "svix", Secrets: []Secret{{ID: "k", Value: bad}}}); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	_, whpk := v1aKeys(t)
	v := mustVerifier(t, Config{Auth: "svix", Secrets: []Secret{{ID: "pk", Value: whpk}}})
	if err := v.Sign(newRequest(testBody), 0); err == nil || !strings.Contains(err.Error(), "whsk_") {
		t.Errorf("a public key signed (err %v)", err)
	}
	// A 32-byte seed is a secret key too.
	seed := make([]byte, ed25519.SeedSize)
	if _, err := New(Config{Auth: "svix", Secrets: []Secret{{ID: "seed", Value: "whsk_" + base64.StdEncoding.EncodeToString(seed)}}}); err != nil {
		t.Errorf("a whsk_ seed was refused: %v", err)
	}
}
