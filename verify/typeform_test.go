package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

func init() {
	// No SignatureHeader: the scheme's default, Typeform-Signature, applies.
	schemeCases = append(schemeCases, providerCase("typeform", "Typeform-Signature", func() Config {
		return Config{Auth: "typeform", Secrets: providerSecrets()}
	}))
}

// typeformSig is an independent implementation of Typeform's recipe:
// "sha256=" + base64 HMAC-SHA256(secret, body).
func typeformSig(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Typeform publishes the recipe with sample code but no secret/body/
// signature example (https://www.typeform.com/developers/webhooks/secure-your-webhooks/),
// so the vector is computed. Typeform signs no timestamp: there is no
// replay window to test.
func TestTypeformSignature(t *testing.T) {
	p, ok := LookupPreset("typeform")
	if !ok || p.Auth != "typeform" || p.SignatureHeader != "Typeform-Signature" || !strings.HasPrefix(p.Doc, "https://") {
		t.Fatalf("preset = %+v", p)
	}
	v := mustVerifier(t, presetConfig(t, "typeform"))
	body := []byte(`{"event_id":"01HB7Q9M2N3P4R5S6T7V8W9X0Y","event_type":"form_response","form_response":{"form_id":"lT4Z3j","token":"a3a12ec67a1365927098a606107fac15","answers":[{"type":"text","text":"Ada – Lovelace"}]}}`)
	want := typeformSig("second-provider-secret", body)

	out := &Request{Header: http.Header{}, Body: body}
	if err := v.Sign(out, 1); err != nil {
		t.Fatal(err)
	}
	if got := out.Header.Get("Typeform-Signature"); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}

	hexSig := func() string {
		m := hmac.New(sha256.New, []byte("first-provider-secret"))
		m.Write(body)
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}()
	for _, tt := range []struct {
		name, header, reason string
		body                 []byte
	}{
		{"signed", want, "", body},
		{"one body byte changed", want, ReasonSignatureMismatch, append([]byte{'['}, body[1:]...)},
		{"wrong secret", typeformSig("not-the-secret", body), ReasonSignatureMismatch, body},
		{"hex, as GitHub would send", hexSig, ReasonSignatureMalformed, body},
		{"sha1= prefix", "sha1=" + strings.TrimPrefix(want, "sha256="), ReasonSignatureMalformed, body},
		{"garbage", "sha256=%%", ReasonSignatureMalformed, body},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(tt.body)
			req.Header.Set("Typeform-Signature", tt.header)
			res, err := v.Verify(req)
			wantReason(t, err, tt.reason)
			if tt.reason == "" && (res.SecretID != "new" || res.Trace.Header != "Typeform-Signature") {
				t.Errorf("res = %+v", res)
			}
		})
	}

	// Several signature values, one valid.
	req := newRequest(body)
	req.Header.Add("Typeform-Signature", "sha256=AAAA")
	req.Header.Add("Typeform-Signature", typeformSig("retired", body))
	req.Header.Add("Typeform-Signature", want)
	res, err := v.Verify(req)
	wantReason(t, err, "")
	if !strings.Contains(res.Trace.Note, "3 signatures, 1 malformed skipped") {
		t.Errorf("note = %q", res.Trace.Note)
	}

	// A connection may name another header; the default is then not read.
	cfg := presetConfig(t, "typeform")
	cfg.SignatureHeader = "X-Forwarded-Typeform-Signature"
	other := mustVerifier(t, cfg)
	req = newRequest(body)
	req.Header.Set("Typeform-Signature", want)
	_, err = other.Verify(req)
	wantReason(t, err, ReasonSignatureMissing)
}

// FuzzTypeformVerify: no fuzzed signature verifies without the secret, and
// a valid one among garbage values does.
func FuzzTypeformVerify(f *testing.F) {
	f.Add("sha256=", []byte(`{"event_id":"1"}`))
	f.Add("sha256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", []byte{})
	f.Add("", []byte{0xff})
	v := mustVerifier(f, presetConfig(f, "typeform"))
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, Now: testNow}
		req.Header.Set("Typeform-Signature", sig)
		res, err := v.Verify(req)
		mustReject(t, "typeform", res, err)
		req.Header.Add("Typeform-Signature", typeformSig("first-provider-secret", body))
		if res, err := v.Verify(req); err != nil || res.SecretID != "old" {
			t.Fatalf("valid signature after %q: %v", sig, err)
		}
	})
}
