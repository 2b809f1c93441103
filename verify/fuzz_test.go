package verify

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzSvixSignatures checks the webhook-signature parser: it never panics,
// every entry it yields is a whitespace-free piece of the header, and
// stopping early is honoured.
func FuzzSvixSignatures(f *testing.F) {
	for _, s := range []string{
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"v1,abc v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"v1a,sig v2,x nocomma",
		"   ", "", ",", "v1,", ",,,", "v1,a\tv1,b\nv1,c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		n := 0
		svixSignatures(header, func(version, sig string, ok bool) bool {
			n++
			entry := version
			if ok {
				entry += "," + sig
			}
			if entry == "" || strings.ContainsAny(entry, " \t\n") || !strings.Contains(header, entry) {
				t.Fatalf("entry %q not a field of %q", entry, header)
			}
			var buf [48]byte
			if d, valid := decodeSvixSig(buf[:], sig); valid && len(d) != 32 {
				t.Fatalf("decoded %d bytes", len(d))
			}
			return true
		})
		if n != len(strings.Fields(header)) {
			t.Fatalf("%d entries, want %d", n, len(strings.Fields(header)))
		}
		stopped := 0
		svixSignatures(header, func(string, string, bool) bool { stopped++; return false })
		if stopped > 1 {
			t.Fatal("did not stop")
		}
	})
}

// FuzzVerify feeds arbitrary header values, timestamps and bodies to every
// auth type: Verify must never panic, must return a *Failure or a result,
// and must never accept a request unless the scheme is "none" or the
// fuzzer found the credential (impossible in practice for HMAC schemes).
func FuzzVerify(f *testing.F) {
	f.Add("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "1700000000", "msg_1", []byte("Hello, World!"))
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,x", "1614265330", "msg_p5jXN8AQM9LWM0D4loKWxJek", []byte(`{"test": 2432232314}`))
	f.Add("Basic ZGF0YWRvZzpiYXNpYy1wYXNzd29yZC12YWx1ZQ==", "", "", []byte{})
	f.Add("Bearer primary-api-key", "-1", "", []byte("{}"))
	f.Add("first-secret-value", "99999999999999999999", "\x00", []byte{0xff})
	f.Add("", "", "", []byte(nil))
	verifiers := map[string]*Verifier{}
	for _, c := range schemeCases {
		cfg := c.cfg()
		cfg.TimestampHeader = map[bool]string{true: "X-Timestamp", false: ""}[strings.HasPrefix(c.auth, "sha")]
		verifiers[c.auth] = mustVerifier(f, cfg)
	}
	f.Fuzz(func(t *testing.T, sig, ts, id string, body []byte) {
		for _, c := range schemeCases {
			v := verifiers[c.auth]
			h := http.Header{}
			for _, name := range []string{c.header, "X-DocuSign-Signature-1", "X-DocuSign-Signature-7", "webhook-signature", "svix-signature"} {
				if name != "" {
					h[http.CanonicalHeaderKey(name)] = []string{sig}
				}
			}
			h.Set("X-Timestamp", ts)
			h.Set("webhook-timestamp", ts)
			h.Set("webhook-id", id)
			res, err := v.Verify(&Request{Header: h, Body: body, Now: testNow})
			if err != nil {
				var fl *Failure
				if !errors.As(err, &fl) {
					t.Fatalf("%s: non-Failure error %v", c.auth, err)
				}
				if len(fl.Trace.Expected) > 8 || len(fl.Trace.Received) > 8 {
					t.Fatalf("%s: trace prefixes too long", c.auth)
				}
				continue
			}
			if c.bodySigned {
				t.Fatalf("%s accepted a fuzzed request: %+v", c.auth, res)
			}
		}
	})
}
