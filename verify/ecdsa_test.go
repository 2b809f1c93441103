package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// SendGrid's published example, identical in its SDKs' tests:
// https://github.com/sendgrid/sendgrid-go/blob/main/helpers/eventwebhook/eventwebhook_test.go
// https://github.com/sendgrid/sendgrid-nodejs/blob/main/packages/eventwebhook/src/eventwebhook.spec.js
// The payload is the JSON of {category, event, message_id} (json.Marshal
// and JSON.stringify of it both give these bytes).
const (
	sendgridPublicKey  = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
	sendgridPrivateKey = "MHcCAQEEIEQmZgBEh9DcU9zMl34czK3xov4AYvm9P3r7rNB2dNXtoAoGCCqGSM49AwEHoUQDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
	sendgridSig        = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0="
	sendgridTS         = "1588788367"
	sendgridPayload    = `{"category":"example_payload","event":"test_event","message_id":"message_id"}`
	// The nodejs tests' "invalid key": a valid P-256 key that did not sign.
	sendgridOtherKey = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA=="
	// The nodejs tests' "bad signature": one character changed.
	sendgridBadSig = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0="
)

var sendgridTime = time.Unix(1588788367, 0)

// ecdsaTestKey returns a fresh P-256 private key as base64 PKCS #8 DER.
func ecdsaTestKey(t testing.TB) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func ecdsaPublicOf(t testing.TB, secret string) string {
	k, err := parseECDSASecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.public)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// The generic TestSchemes signs through Sign, so its configuration holds
// private keys; the keys are generated once, so every cfg() call agrees.
var ecdsaCaseKeys = func() (k [3]string) {
	for i := range k {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			panic(err)
		}
		k[i] = base64.StdEncoding.EncodeToString(der)
	}
	return k
}()

func init() {
	schemeCases = append(schemeCases, schemeCase{
		auth: "ecdsa", header: sendgridSignature, bodySigned: true, rotates: true,
		cfg: func() Config {
			return Config{Auth: "ecdsa", ReplayWindow: 5 * time.Minute, Secrets: []Secret{
				{ID: "old", Value: ecdsaCaseKeys[0]},
				{ID: "new", Value: ecdsaCaseKeys[1]},
			}}
		},
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch,
		wrongSecret: ecdsaCaseKeys[2],
	})
}

func sendgridVerifier(t testing.TB, keys ...string) *Verifier {
	t.Helper()
	p, ok := LookupPreset("sendgrid")
	if !ok {
		t.Fatal("preset sendgrid missing")
	}
	cfg := Config{Auth: p.Auth, SignatureHeader: p.SignatureHeader, TimestampHeader: p.TimestampHeader, ReplayWindow: 5 * time.Minute}
	for i, k := range keys {
		cfg.Secrets = append(cfg.Secrets, Secret{ID: "key" + string(rune('1'+i)), Value: k})
	}
	return mustVerifier(t, cfg)
}

func sendgridRequest(sig, ts, body string, now time.Time) *Request {
	req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: []byte(body), Now: now}
	if sig != "" {
		req.Header.Set(sendgridSignature, sig)
	}
	if ts != "" {
		req.Header.Set(sendgridTimestamp, ts)
	}
	return req
}

func TestSendGridPublishedExample(t *testing.T) {
	v := sendgridVerifier(t, sendgridPublicKey)
	res, err := v.Verify(sendgridRequest(sendgridSig, sendgridTS, sendgridPayload, sendgridTime))
	wantReason(t, err, "")
	if res.SecretID != "key1" || !res.Timestamp.Equal(sendgridTime) || res.Trace.Received != sendgridSig[:8] {
		t.Errorf("result = %+v", res)
	}

	// The SDKs' negative cases.
	for name, tt := range map[string]struct {
		v             *Verifier
		sig, ts, body string
		reason        string
	}{
		"invalid key":     {sendgridVerifier(t, sendgridOtherKey), sendgridSig, sendgridTS, sendgridPayload, ReasonSignatureMismatch},
		"bad payload":     {v, sendgridSig, sendgridTS, "payload", ReasonSignatureMismatch},
		"bad signature":   {v, sendgridBadSig, sendgridTS, sendgridPayload, ReasonSignatureMismatch},
		"bad timestamp":   {v, sendgridSig, "timestamp", sendgridPayload, ReasonSignatureMismatch},
		"empty timestamp": {v, sendgridSig, "", sendgridPayload, ReasonTimestampMissing},
		// sendgrid-go: signature + "causing failure" does not decode.
		"corrupted signature": {v, sendgridSig + "causing failure", sendgridTS, sendgridPayload, ReasonSignatureMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tt.v.Verify(sendgridRequest(tt.sig, tt.ts, tt.body, sendgridTime))
			f := wantReason(t, err, tt.reason)
			if f.Status() != http.StatusUnauthorized {
				t.Errorf("status %d", f.Status())
			}
		})
	}

	// sendgrid-go: a corrupted public key does not parse; hookgate refuses
	// to start with it.
	if _, err := New(Config{Auth: "ecdsa", Secrets: []Secret{{ID: "k", Value: sendgridPublicKey + "corrupting the public key"}}}); err == nil {
		t.Error("New accepted a corrupted key")
	}

	// The SDK test's private key is the published public key's pair: Sign
	// with it verifies against the published public key.
	if got := ecdsaPublicOf(t, sendgridPrivateKey); got != sendgridPublicKey {
		t.Fatalf("public key of the published private key = %s", got)
	}
	signer := mustVerifier(t, Config{Auth: "ecdsa", Secrets: []Secret{{ID: "priv", Value: sendgridPrivateKey}}})
	req := signed(t, signer, 0, []byte(sendgridPayload))
	res, err = v.Verify(req)
	wantReason(t, err, "")
	if res.SecretID != "key1" {
		t.Errorf("SecretID = %q", res.SecretID)
	}
}

func TestSendGridVerify(t *testing.T) {
	priv, other := ecdsaTestKey(t), ecdsaTestKey(t)
	pub := ecdsaPublicOf(t, priv)
	v := sendgridVerifier(t, pub)
	signer := mustVerifier(t, Config{Auth: "ecdsa", Secrets: []Secret{{Value: priv}, {Value: other}}})
	sign := func(key int, now time.Time, body string) *Request {
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: []byte(body), Now: now}
		if err := signer.Sign(req, key); err != nil {
			t.Fatal(err)
		}
		req.Now = testNow
		return req
	}
	body := `[{"email":"example@test.com","timestamp":1700000000,"event":"processed","sg_event_id":"rbtnWrG1DVDGGGFHFyun0A==","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"}]`
	valid := sign(0, testNow, body).Header.Get(sendgridSignature)
	der, _ := base64.StdEncoding.DecodeString(valid)
	tests := []struct {
		name   string
		req    func() *Request
		reason string
		note   string
	}{
		{name: "ok", req: func() *Request { return sign(0, testNow, body) }},
		{name: "inside window", req: func() *Request { return sign(0, testNow.Add(-4*time.Minute), body) }},
		{name: "stale", req: func() *Request { return sign(0, testNow.Add(-6*time.Minute), body) }, reason: ReasonTimestampStale},
		{name: "future", req: func() *Request { return sign(0, testNow.Add(6*time.Minute), body) }, reason: ReasonTimestampFuture},
		{name: "forged and stale", req: func() *Request { return sign(1, testNow.Add(-time.Hour), body) }, reason: ReasonSignatureMismatch},
		{name: "one body byte changed", req: func() *Request {
			r := sign(0, testNow, body)
			r.Body[3] ^= 1
			return r
		}, reason: ReasonSignatureMismatch},
		{name: "wrong key", req: func() *Request { return sign(1, testNow, body) }, reason: ReasonSignatureMismatch},
		{name: "missing signature", req: func() *Request {
			r := sign(0, testNow, body)
			r.Header.Del(sendgridSignature)
			return r
		}, reason: ReasonSignatureMissing},
		{name: "missing timestamp", req: func() *Request {
			r := sign(0, testNow, body)
			r.Header.Del(sendgridTimestamp)
			return r
		}, reason: ReasonTimestampMissing, note: sendgridTimestamp},
		{name: "bad base64", req: func() *Request {
			r := sign(0, testNow, body)
			r.Header.Set(sendgridSignature, "!!!"+valid[3:])
			return r
		}, reason: ReasonSignatureMalformed, note: "1 malformed"},
		{name: "base64 of not DER", req: func() *Request {
			r := sign(0, testNow, body)
			r.Header.Set(sendgridSignature, base64.StdEncoding.EncodeToString([]byte("hello, world")))
			return r
		}, reason: ReasonSignatureMalformed},
		{name: "DER with trailing bytes", req: func() *Request {
			r := sign(0, testNow, body)
			r.Header.Set(sendgridSignature, base64.StdEncoding.EncodeToString(append(der, 0)))
			return r
		}, reason: ReasonSignatureMalformed},
		{name: "raw r||s instead of DER", req: func() *Request {
			r := sign(0, testNow, body)
			r.Header.Set(sendgridSignature, base64.StdEncoding.EncodeToString(make([]byte, 64)))
			return r
		}, reason: ReasonSignatureMalformed},
		{name: "too long", req: func() *Request {
			r := sign(0, testNow, body)
			r.Header.Set(sendgridSignature, valid+strings.Repeat("A", 100))
			return r
		}, reason: ReasonSignatureMalformed},
		{name: "malformed then valid value", req: func() *Request {
			r := sign(0, testNow, body)
			r.Header.Set(sendgridSignature, "garbage")
			r.Header.Add(sendgridSignature, valid)
			return r
		}, note: "2 signatures, 1 malformed skipped"},
		{name: "five values, valid last", req: func() *Request {
			r := sign(0, testNow, body)
			r.Header.Del(sendgridSignature)
			for range 4 {
				r.Header.Add(sendgridSignature, sendgridSig)
			}
			r.Header.Add(sendgridSignature, valid)
			return r
		}, reason: ReasonSignatureMismatch, note: "only the first 4 tried"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Verify(tt.req())
			f := wantReason(t, err, tt.reason)
			tr := res.Trace
			if f != nil {
				tr = f.Trace
				want := http.StatusUnauthorized
				if tt.reason == ReasonTimestampStale || tt.reason == ReasonTimestampFuture {
					want = http.StatusConflict
				}
				if f.Status() != want {
					t.Errorf("status = %d, want %d", f.Status(), want)
				}
			} else if res.SecretID != "key1" || res.Timestamp.IsZero() {
				t.Errorf("result = %+v", res)
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want %q", tr.Note, tt.note)
			}
			if tr.Scheme != "ecdsa" || tr.Header != sendgridSignature || tr.Recipe != ecdsaRecipe || tr.Expected != "" || len(tr.Received) > 8 {
				t.Errorf("trace = %+v", tr)
			}
		})
	}

	// Several keys, one valid: SendGrid re-generates the key pair when
	// signing is toggled; both keys stay active during the switch.
	both := sendgridVerifier(t, sendgridOtherKey, pub)
	res, err := both.Verify(sign(0, testNow, body))
	wantReason(t, err, "")
	if res.SecretID != "key2" || strings.Join(res.Trace.SecretsTried, ",") != "key1,key2" {
		t.Errorf("result = %+v", res)
	}
}

func TestECDSAKeyForms(t *testing.T) {
	pemPub := "-----BEGIN PUBLIC KEY-----\n" + sendgridPublicKey[:64] + "\n" + sendgridPublicKey[64:] + "\n-----END PUBLIC KEY-----\n"
	sec1, _ := base64.StdEncoding.DecodeString(sendgridPrivateKey)
	pemSEC1 := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	wrapped := sendgridPublicKey[:40] + "\n  " + sendgridPublicKey[40:]
	for name, key := range map[string]string{
		"base64 DER (as SendGrid shows it)": sendgridPublicKey,
		"PEM public key":                    pemPub,
		"wrapped base64":                    wrapped,
		"SEC 1 private key, base64":         sendgridPrivateKey,
		"SEC 1 private key, PEM":            pemSEC1,
		"PKCS 8 private key":                ecdsaTestKey(t),
	} {
		t.Run(name, func(t *testing.T) {
			k, err := parseECDSASecret(key)
			if err != nil {
				t.Fatal(err)
			}
			if k.public == nil || k.public.Curve != elliptic.P256() {
				t.Fatalf("key = %+v", k)
			}
			mustVerifier(t, Config{Auth: "ecdsa", Secrets: []Secret{{ID: "k", Value: key}}})
		})
	}
	v := sendgridVerifier(t, pemPub)
	_, err := v.Verify(sendgridRequest(sendgridSig, sendgridTS, sendgridPayload, sendgridTime))
	wantReason(t, err, "")
}

func TestECDSAValidateFailsClosed(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	p384Priv, _ := x509.MarshalPKCS8PrivateKey(p384)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	edPrivDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	pemPub := "-----BEGIN PUBLIC KEY-----\n" + sendgridPublicKey + "\n-----END PUBLIC KEY-----\n"
	for name, value := range map[string]string{
		"empty":               "",
		"not base64":          "this is not a key!",
		"base64 of garbage":   base64.StdEncoding.EncodeToString([]byte("garbage garbage garbage")),
		"truncated DER":       sendgridPublicKey[:60],
		"corrupted (SDK)":     sendgridPublicKey + "corrupting the public key",
		"P-384 public key":    base64.StdEncoding.EncodeToString(p384DER),
		"P-384 private key":   base64.StdEncoding.EncodeToString(p384Priv),
		"Ed25519 public key":  base64.StdEncoding.EncodeToString(edDER),
		"Ed25519 private key": base64.StdEncoding.EncodeToString(edPrivDER),
		"broken PEM":          "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----",
		"two PEM blocks":      pemPub + pemPub,
		"hex key":             "04103af62e3b5446e78f433a65c9b742faee02c2ba83a8169a8dc30cb136e175b7",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{Auth: "ecdsa", Secrets: []Secret{{ID: "good", Value: sendgridPublicKey}, {ID: "bad", Value: value}}})
			if err == nil {
				t.Fatal("New accepted a bad key")
			}
			if !strings.Contains(err.Error(), "secret bad") || (len(value) > 8 && strings.Contains(err.Error(), value)) {
				t.Errorf("error %q", err)
			}
		})
	}
}

func TestECDSASign(t *testing.T) {
	s := schemes["ecdsa"]
	cfg := Config{Auth: "ecdsa"}
	req := newRequest(testBody)
	if err := s.Sign(&cfg, req, Secret{Value: sendgridPublicKey}); !errors.Is(err, errPublicKeyOnly) {
		t.Errorf("Sign with a public key: %v", err)
	}
	if err := s.Sign(&cfg, req, Secret{}); !errors.Is(err, errEmptySecret) {
		t.Errorf("Sign with no key: %v", err)
	}
	if err := s.Sign(&cfg, req, Secret{Value: "garbage"}); err == nil {
		t.Error("Sign with garbage succeeded")
	}
	if len(req.Header) != 0 {
		t.Errorf("failed Sign wrote headers %v", req.Header)
	}
	// Renamed headers are honoured both ways.
	v := mustVerifier(t, Config{Auth: "ecdsa", SignatureHeader: "X-Sig", TimestampHeader: "X-Ts", Secrets: []Secret{{Value: ecdsaTestKey(t)}}})
	req = signed(t, v, 0, testBody)
	if req.Header.Get("X-Sig") == "" || req.Header.Get("X-Ts") != unixString(testNow) {
		t.Fatalf("headers %v", req.Header)
	}
	_, err := v.Verify(req)
	wantReason(t, err, "")
}

// FuzzECDSAVerify: arbitrary signature and timestamp headers and bodies
// never panic, always fail with a *Failure with a bounded trace, and never
// verify except the published example itself.
func FuzzECDSAVerify(f *testing.F) {
	f.Add(sendgridSig, sendgridTS, []byte(sendgridPayload))
	f.Add(sendgridBadSig, sendgridTS, []byte(sendgridPayload))
	f.Add(sendgridSig+" "+sendgridSig, sendgridTS, []byte("payload"))
	f.Add("MAYCAQECAQE=", "1", []byte{}) // SEQUENCE{1, 1}
	f.Add("MAA=", "-1", []byte(nil))     // empty SEQUENCE
	f.Add("!!!", "99999999999999999999", []byte{0xff})
	v := sendgridVerifier(f, sendgridPublicKey)
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte) {
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, Now: sendgridTime}
		for _, s := range strings.Split(sig, " ") {
			req.Header.Add(sendgridSignature, s)
		}
		req.Header.Set(sendgridTimestamp, ts)
		res, err := v.Verify(req)
		if err != nil {
			var fl *Failure
			if !errors.As(err, &fl) {
				t.Fatalf("non-Failure error %v", err)
			}
			if len(fl.Trace.Received) > 8 || fl.Trace.Expected != "" {
				t.Fatalf("trace %+v", fl.Trace)
			}
			return
		}
		if ts != sendgridTS || string(body) != sendgridPayload {
			t.Fatalf("accepted a forged request: %+v", res)
		}
	})
}

// FuzzParseECDSASecret: any secret value parses or fails without
// panicking; a parsed key is a P-256 key, and errors never quote the value.
func FuzzParseECDSASecret(f *testing.F) {
	f.Add(sendgridPublicKey)
	f.Add(sendgridPrivateKey)
	f.Add("-----BEGIN PUBLIC KEY-----\n" + sendgridPublicKey + "\n-----END PUBLIC KEY-----\n")
	f.Add("-----BEGIN")
	f.Add("")
	f.Add("MAA=")
	f.Fuzz(func(t *testing.T, value string) {
		k, err := parseECDSASecret(value)
		if err != nil {
			if len(value) > 16 && strings.Contains(err.Error(), value) {
				t.Fatalf("error quotes the value: %v", err)
			}
			return
		}
		if k.public == nil || k.public.Curve != elliptic.P256() || !k.public.Curve.IsOnCurve(k.public.X, k.public.Y) {
			t.Fatalf("bad key %+v", k)
		}
		digest := sha256.Sum256([]byte(value))
		if k.private != nil {
			sig, err := ecdsa.SignASN1(rand.Reader, k.private, digest[:])
			if err != nil || !ecdsa.VerifyASN1(k.public, digest[:], sig) {
				t.Fatal("private and public keys disagree")
			}
		}
	})
}
