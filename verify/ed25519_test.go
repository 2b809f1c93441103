package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ed25519TestKey derives a fixed test key pair from a name, so every call
// (and every fuzz worker) sees the same keys.
func ed25519TestKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("hookgate ed25519 test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func ed25519PubHex(k ed25519.PrivateKey) string {
	return hex.EncodeToString(k.Public().(ed25519.PublicKey))
}

// The generic TestSchemes signs through Sign, so its configuration holds
// private keys (the 64-byte seed‖public form, see ed25519Scheme); the
// Discord tests below configure public keys, as production does, and sign
// with ed25519.Sign directly.
func init() {
	schemeCases = append(schemeCases, schemeCase{
		auth: "ed25519", header: discordSignature, bodySigned: true, rotates: true,
		cfg: func() Config {
			return Config{Auth: "ed25519", ReplayWindow: 5 * time.Minute, Secrets: []Secret{
				{ID: "old", Value: hex.EncodeToString(ed25519TestKey("old"))},
				{ID: "new", Value: hex.EncodeToString(ed25519TestKey("new"))},
			}}
		},
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch,
		wrongSecret: hex.EncodeToString(ed25519TestKey("wrong")),
	})
}

// discordPingBody is the PING interaction of Discord's own library tests:
// https://github.com/discord/discord-interactions-js/blob/main/src/__tests__/utils/SharedTestUtils.ts
const discordPingBody = `{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1}`

// discordRequest builds what Discord sends: signature over ts+body with key.
func discordRequest(key ed25519.PrivateKey, ts string, body []byte) *Request {
	req := newRequest(body)
	req.Header.Set(discordTimestamp, ts)
	req.Header.Set(discordSignature, hex.EncodeToString(ed25519.Sign(key, append([]byte(ts), body...))))
	return req
}

func discordVerifier(t testing.TB, keys ...ed25519.PrivateKey) *Verifier {
	t.Helper()
	p, ok := LookupPreset("discord")
	if !ok {
		t.Fatal("preset discord missing")
	}
	cfg := Config{Auth: p.Auth, SignatureHeader: p.SignatureHeader, TimestampHeader: p.TimestampHeader, ReplayWindow: 5 * time.Minute}
	for i, k := range keys {
		cfg.Secrets = append(cfg.Secrets, Secret{ID: "app" + strconv.Itoa(i+1), Value: ed25519PubHex(k)})
	}
	return mustVerifier(t, cfg)
}

func unixString(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// Discord publishes no signed example (its libraries' tests generate key
// pairs at run time), so these requests are signed here with a generated
// key, exactly as the documented recipe says.
func TestDiscordVerify(t *testing.T) {
	app, other := ed25519TestKey("discord app"), ed25519TestKey("another app")
	v := discordVerifier(t, app)
	body := []byte(discordPingBody)
	now := unixString(testNow)
	tests := []struct {
		name   string
		req    func() *Request
		reason string
		note   string
	}{
		{name: "ok", req: func() *Request { return discordRequest(app, now, body) }},
		{name: "upper-case hex", req: func() *Request {
			r := discordRequest(app, now, body)
			r.Header.Set(discordSignature, strings.ToUpper(r.Header.Get(discordSignature)))
			return r
		}},
		{name: "inside window", req: func() *Request { return discordRequest(app, unixString(testNow.Add(-4*time.Minute)), body) }},
		{name: "stale", req: func() *Request { return discordRequest(app, unixString(testNow.Add(-6*time.Minute)), body) }, reason: ReasonTimestampStale},
		{name: "future", req: func() *Request { return discordRequest(app, unixString(testNow.Add(6*time.Minute)), body) }, reason: ReasonTimestampFuture},
		{name: "signed timestamp not a number", req: func() *Request { return discordRequest(app, "yesterday", body) }, reason: ReasonTimestampInvalid},
		{name: "one body byte changed", req: func() *Request {
			r := discordRequest(app, now, body)
			r.Body[5] ^= 1
			return r
		}, reason: ReasonSignatureMismatch},
		{name: "timestamp changed", req: func() *Request {
			r := discordRequest(app, now, body)
			r.Header.Set(discordTimestamp, unixString(testNow.Add(time.Second)))
			return r
		}, reason: ReasonSignatureMismatch},
		// A forged request is a 401 even when its timestamp is stale too.
		{name: "forged and stale", req: func() *Request {
			r := discordRequest(other, unixString(testNow.Add(-time.Hour)), body)
			return r
		}, reason: ReasonSignatureMismatch},
		{name: "wrong key", req: func() *Request { return discordRequest(other, now, body) }, reason: ReasonSignatureMismatch},
		{name: "missing signature", req: func() *Request {
			r := discordRequest(app, now, body)
			r.Header.Del(discordSignature)
			return r
		}, reason: ReasonSignatureMissing},
		{name: "missing timestamp", req: func() *Request {
			r := discordRequest(app, now, body)
			r.Header.Del(discordTimestamp)
			return r
		}, reason: ReasonTimestampMissing, note: discordTimestamp},
		{name: "bad hex", req: func() *Request {
			r := discordRequest(app, now, body)
			r.Header.Set(discordSignature, strings.Repeat("zz", 64))
			return r
		}, reason: ReasonSignatureMalformed, note: "1 malformed"},
		{name: "short signature", req: func() *Request {
			r := discordRequest(app, now, body)
			r.Header.Set(discordSignature, r.Header.Get(discordSignature)[:126])
			return r
		}, reason: ReasonSignatureMalformed},
		{name: "malformed then valid value", req: func() *Request {
			r := discordRequest(app, now, body)
			good := r.Header.Get(discordSignature)
			r.Header.Set(discordSignature, "not-hex")
			r.Header.Add(discordSignature, good)
			return r
		}, note: "2 signatures, 1 malformed skipped"},
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
			} else {
				if res.SecretID != "app1" || res.Timestamp.IsZero() {
					t.Errorf("result = %+v", res)
				}
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want %q", tr.Note, tt.note)
			}
			if tr.Scheme != "ed25519" || tr.Header != discordSignature || tr.Recipe != ed25519Recipe || tr.Expected != "" {
				t.Errorf("trace = %+v", tr)
			}
		})
	}
}

func TestDiscordSeveralKeys(t *testing.T) {
	retired, app := ed25519TestKey("retired app"), ed25519TestKey("discord app")
	v := discordVerifier(t, retired, app)
	res, err := v.Verify(discordRequest(app, unixString(testNow), []byte(discordPingBody)))
	wantReason(t, err, "")
	if res.SecretID != "app2" || strings.Join(res.Trace.SecretsTried, ",") != "app1,app2" {
		t.Errorf("result = %+v", res)
	}
	_, err = v.Verify(discordRequest(ed25519TestKey("stranger"), unixString(testNow), []byte(discordPingBody)))
	f := wantReason(t, err, ReasonSignatureMismatch)
	if len(f.Trace.SecretsTried) != 2 {
		t.Errorf("SecretsTried = %v", f.Trace.SecretsTried)
	}
}

// RFC 8032 §7.1 TEST 2 is the published Ed25519 vector closest to Discord's
// recipe: the message is the single byte "r". Sent as the timestamp with an
// empty body, it proves the signed content is timestamp+body verified with
// the hex public key: the signature passes and only the timestamp check
// (not a number) rejects it.
// https://www.rfc-editor.org/rfc/rfc8032#section-7.1
const (
	rfc8032Seed2 = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
	rfc8032Pub2  = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
	rfc8032Sig2  = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)

func TestEd25519RFC8032Vector(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "ed25519", Secrets: []Secret{{ID: "rfc", Value: rfc8032Pub2}}})
	req := &Request{Header: http.Header{}, Now: testNow}
	req.Header.Set(discordTimestamp, "r")
	req.Header.Set(discordSignature, rfc8032Sig2)
	_, err := v.Verify(req)
	wantReason(t, err, ReasonTimestampInvalid)

	req.Header.Set(discordSignature, rfc8032Sig2[:127]+"1")
	_, err = v.Verify(req)
	wantReason(t, err, ReasonSignatureMismatch)

	// The same key in the private form: the seed followed by the public key.
	k, err := parseEd25519Secret(rfc8032Seed2 + rfc8032Pub2)
	if err != nil || hex.EncodeToString(k.public) != rfc8032Pub2 || k.private == nil {
		t.Fatalf("private form: %v %x", err, k.public)
	}
	sig := ed25519.Sign(k.private, []byte("r"))
	if hex.EncodeToString(sig) != rfc8032Sig2 {
		t.Errorf("signature of the private form = %x", sig)
	}
}

func TestEd25519ValidateFailsClosed(t *testing.T) {
	pub := ed25519PubHex(ed25519TestKey("a"))
	notOnCurve := ""
	for i := 0; notOnCurve == "" && i < 256; i++ {
		b := bytes.Repeat([]byte{byte(i)}, 32)
		b[31] &= 0x7f
		if !ed25519OnCurve(b) {
			notOnCurve = hex.EncodeToString(b)
		}
	}
	if notOnCurve == "" {
		t.Fatal("no off-curve encoding found")
	}
	for name, value := range map[string]string{
		"empty":                   "",
		"not hex":                 strings.Repeat("zz", 32),
		"one character short":     pub[:63],
		"base64 not hex":          "PUfXRcjeN9YqDaCDcKtfD5MfBl2wHmFqYjdqe4cTFd0=",
		"not a curve point":       notOnCurve,
		"private halves disagree": hex.EncodeToString(ed25519TestKey("a"))[:64] + ed25519PubHex(ed25519TestKey("b")),
		"private key too long":    hex.EncodeToString(ed25519TestKey("a")) + "00",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{Auth: "ed25519", Secrets: []Secret{{ID: "good", Value: pub}, {ID: "bad", Value: value}}})
			if err == nil {
				t.Fatal("New accepted a bad key")
			}
			if !strings.Contains(err.Error(), "bad") || (len(value) > 8 && strings.Contains(err.Error(), value)) {
				t.Errorf("error %q", err)
			}
		})
	}
	if _, err := New(Config{Auth: "ed25519"}); err == nil {
		t.Error("New accepted no keys")
	}
	// Padding spaces around a pasted key are fine.
	mustVerifier(t, Config{Auth: "ed25519", Secrets: []Secret{{Value: " " + strings.ToUpper(pub) + "\n"}}})
}

func TestEd25519OnCurve(t *testing.T) {
	for i := range 200 {
		k := ed25519TestKey(strconv.Itoa(i))
		if !ed25519OnCurve(k.Public().(ed25519.PublicKey)) {
			t.Fatalf("generated key %d rejected", i)
		}
	}
	rfc, _ := hex.DecodeString(rfc8032Pub2)
	if !ed25519OnCurve(rfc) {
		t.Error("RFC 8032 key rejected")
	}
	one := make([]byte, 32)
	one[0] = 1 // y = 1: the neutral point (x = 0)
	if !ed25519OnCurve(one) {
		t.Error("y=1 rejected")
	}
	one[31] |= 0x80 // x = 0 with the sign bit set: RFC 8032 rejects it
	if ed25519OnCurve(one) {
		t.Error("y=1 with sign bit accepted")
	}
	big := bytes.Repeat([]byte{0xff}, 32)
	big[31] = 0x7f // y = 2^255-1 ≥ p: not canonical
	if ed25519OnCurve(big) {
		t.Error("non-canonical y accepted")
	}
	if ed25519OnCurve(rfc[:31]) {
		t.Error("short encoding accepted")
	}
	// About half of all y values have a square x².
	valid := 0
	for i := range 1000 {
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		h[31] &= 0x7f
		if ed25519OnCurve(h[:]) {
			valid++
		}
	}
	if valid < 350 || valid > 650 {
		t.Errorf("%d of 1000 random encodings on the curve", valid)
	}
}

func TestEd25519Sign(t *testing.T) {
	s := schemes["ed25519"]
	cfg := Config{Auth: "ed25519"}
	req := newRequest(testBody)
	if err := s.Sign(&cfg, req, Secret{Value: ed25519PubHex(ed25519TestKey("a"))}); !errors.Is(err, errPublicKeyOnly) {
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
	cfg = Config{Auth: "ed25519", SignatureHeader: "X-Sig", TimestampHeader: "X-Ts",
		Secrets: []Secret{{ID: "k", Value: hex.EncodeToString(ed25519TestKey("a"))}}}
	v := mustVerifier(t, cfg)
	req = signed(t, v, 0, testBody)
	if req.Header.Get("X-Sig") == "" || req.Header.Get("X-Ts") != unixString(testNow) {
		t.Fatalf("headers %v", req.Header)
	}
	_, err := v.Verify(req)
	wantReason(t, err, "")
}

func TestDiscordHandshake(t *testing.T) {
	app := ed25519TestKey("discord app")
	v := discordVerifier(t, app)
	p, _ := LookupPreset("discord")
	if p.Handshake == nil || len(p.HandshakeMethods) != 1 || p.HandshakeMethods[0] != http.MethodPost {
		t.Fatalf("preset = %+v", p)
	}
	now := unixString(testNow)
	eventPing := []byte(`{"version":1,"application_id":"1234560123453231555","type":0}`)
	event := []byte(`{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{}}}`)
	command := []byte(`{"id":"787053080478613556","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":2,"version":1,"data":{"id":"787053080478613554","name":"test"}}`)
	tests := []struct {
		name    string
		req     func() *Request
		handled bool
		reason  string
		status  int
		body    string
	}{
		{name: "interaction PING", req: func() *Request { return discordRequest(app, now, []byte(discordPingBody)) },
			handled: true, status: 200, body: `{"type":1}`},
		{name: "minimal PING", req: func() *Request { return discordRequest(app, now, []byte(`{"type":1}`)) },
			handled: true, status: 200, body: `{"type":1}`},
		{name: "webhook events PING", req: func() *Request { return discordRequest(app, now, eventPing) },
			handled: true, status: 204},
		// Discord's routine security checks: a PING with a bad signature
		// must be answered 401, never PONG.
		{name: "PING with a bad signature", req: func() *Request { return discordRequest(ed25519TestKey("attacker"), now, []byte(discordPingBody)) },
			handled: true, reason: ReasonSignatureMismatch},
		{name: "unsigned PING", req: func() *Request { return newRequest([]byte(discordPingBody)) },
			handled: true, reason: ReasonSignatureMissing},
		{name: "stale PING", req: func() *Request {
			return discordRequest(app, unixString(testNow.Add(-time.Hour)), []byte(discordPingBody))
		}, handled: true, reason: ReasonTimestampStale},
		{name: "webhook event", req: func() *Request { return discordRequest(app, now, event) }},
		{name: "application command", req: func() *Request { return discordRequest(app, now, command) }},
		{name: "GET", req: func() *Request {
			r := discordRequest(app, now, []byte(discordPingBody))
			r.Method = http.MethodGet
			return r
		}},
		{name: "not JSON", req: func() *Request { return discordRequest(app, now, []byte(`"type":1`)) }},
		{name: "type as a string", req: func() *Request { return discordRequest(app, now, []byte(`{"type":"1"}`)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, handled, err := p.Handshake(v.Config(), tt.req())
			if handled != tt.handled {
				t.Fatalf("handled = %v", handled)
			}
			if !handled {
				if resp != nil || err != nil {
					t.Fatalf("not handled but resp %v err %v", resp, err)
				}
				return
			}
			if tt.reason != "" {
				wantReason(t, err, tt.reason)
				if resp != nil {
					t.Fatal("answered a request that did not verify")
				}
				return
			}
			wantReason(t, err, "")
			if resp.Status != tt.status || string(resp.Body) != tt.body || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("resp = %d %q %v", resp.Status, resp.Body, resp.Header)
			}
		})
	}
}

// FuzzEd25519Verify: arbitrary signature and timestamp headers and bodies
// never panic, always fail with a *Failure with a bounded trace, and never
// verify unless they are exactly the seed signed with the configured key.
func FuzzEd25519Verify(f *testing.F) {
	key := ed25519TestKey("fuzz")
	ts := unixString(testNow)
	good := hex.EncodeToString(ed25519.Sign(key, append([]byte(ts), discordPingBody...)))
	f.Add(good, ts, []byte(discordPingBody))
	f.Add(good+" "+good, ts, []byte(discordPingBody))
	f.Add(strings.ToUpper(good), ts+" ", []byte(discordPingBody))
	f.Add(rfc8032Sig2, "r", []byte{})
	f.Add(strings.Repeat("0", 128), "0", []byte(nil))
	f.Add("zz", "-1", []byte{0xff})
	f.Add("", "99999999999999999999", []byte("{}"))
	v := discordVerifier(f, key)
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte) {
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, Now: testNow}
		for _, s := range strings.Split(sig, " ") {
			req.Header.Add(discordSignature, s)
		}
		req.Header.Set(discordTimestamp, ts)
		res, err := v.Verify(req)
		if err != nil {
			var fl *Failure
			if !errors.As(err, &fl) {
				t.Fatalf("non-Failure error %v", err)
			}
			if len(fl.Trace.Received) > 8 || fl.Trace.Expected != "" {
				t.Fatalf("trace %+v", fl.Trace)
			}
		} else if !anyVerifies(req.Header.Values(discordSignature), append([]byte(ts), body...), key) {
			t.Fatalf("accepted a forged request: %+v", res)
		}
		// The handshake never answers a request that does not verify.
		if resp, handled, herr := discordHandshake(v.Config(), req); handled && herr == nil && err != nil {
			t.Fatalf("handshake answered %+v to a request that fails verification", resp)
		}
	})
}

// anyVerifies is the fuzz oracle: does one received signature verify msg
// under key?
func anyVerifies(vals []string, msg []byte, key ed25519.PrivateKey) bool {
	for _, v := range vals {
		if d, ok := decodeEd25519Sig(strings.TrimSpace(v)); ok && ed25519.Verify(key.Public().(ed25519.PublicKey), msg, d) {
			return true
		}
	}
	return false
}

// FuzzParseEd25519Secret: any secret value parses or fails without
// panicking; a parsed key is well-formed, and errors never quote the value.
func FuzzParseEd25519Secret(f *testing.F) {
	f.Add(rfc8032Pub2)
	f.Add(rfc8032Seed2 + rfc8032Pub2)
	f.Add(strings.Repeat("f", 64))
	f.Add(strings.Repeat("0", 128))
	f.Add("")
	f.Add("not a key")
	f.Fuzz(func(t *testing.T, value string) {
		k, err := parseEd25519Secret(value)
		if err != nil {
			if len(value) > 16 && strings.Contains(err.Error(), value) {
				t.Fatalf("error quotes the value: %v", err)
			}
			return
		}
		if len(k.public) != ed25519.PublicKeySize {
			t.Fatalf("public key of %d bytes", len(k.public))
		}
		if k.private != nil && !bytes.Equal(k.private.Public().(ed25519.PublicKey), k.public) {
			t.Fatal("private and public keys disagree")
		}
		onCurve := ed25519OnCurve(k.public)
		if k.private != nil && !onCurve {
			t.Fatal("derived public key off the curve")
		}
		_, verr := New(Config{Auth: "ed25519", Secrets: []Secret{{ID: "k", Value: value}}})
		if (verr == nil) != onCurve {
			t.Fatalf("Validate = %v, on curve = %v", verr, onCurve)
		}
	})
}
