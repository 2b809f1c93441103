package verify

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Twilio signs the public URL: the generic table runs it through
// withPublicURL (h1_helpers_test.go), which supplies testPublicURL when a
// request has none, as ingress supplies public_url. Tests of the missing-URL
// behaviour call twilioScheme directly.
func init() {
	schemes["twilio"] = withPublicURL{schemes["twilio"]}
	schemeCases = append(schemeCases, schemeCase{
		auth: "twilio", cfg: hmacCfg("twilio", ""), header: "X-Twilio-Signature", bodySigned: true, rotates: true,
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch,
	})
}

func mustParseURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func twilioRequest(t testing.TB, rawURL, contentType, body, sig string) *Request {
	t.Helper()
	req := newRequest([]byte(body))
	req.URL = mustParseURL(t, rawURL)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	return req
}

const (
	twilioForm = "application/x-www-form-urlencoded"
	twilioURL  = "https://mycompany.com/myapp.php?foo=1&bar=2"
	// twilio-python's fixture params, out of order and form-encoded: the
	// signature sorts them.
	twilioSDKBody = "To=%2B18005551212&CallSid=CA1234567890ABCDE&From=%2B14158675309&Digits=1234&Caller=%2B14158675309"
)

// Published vectors. The first is the worked example of Twilio's webhook
// security page (auth token 12345):
// https://www.twilio.com/docs/usage/webhooks/webhooks-security#validating-signatures-from-twilio
// The others are the fixtures of Twilio's own validator tests:
// https://github.com/twilio/twilio-python/blob/main/tests/unit/test_request_validator.py
func TestTwilioPublishedExamples(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "twilio", Secrets: []Secret{{ID: "token", Value: "12345"}}})
	tests := []struct {
		name, url, ct, body, sig string
	}{
		{"docs example", twilioURL, twilioForm,
			"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212",
			"0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
		{"sdk fixture", twilioURL, twilioForm, twilioSDKBody, "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"sdk duplicate params, values sorted", twilioURL, twilioForm,
			"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234", "IK+Dwps556ElfBT0I3Rgjkr1wJU="},
		{"sdk removes port on https", strings.Replace(twilioURL, ".com", ".com:1234", 1), twilioForm, twilioSDKBody,
			"RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"sdk http with port 1234", "http://mycompany.com:1234/myapp.php?foo=1&bar=2", twilioForm, twilioSDKBody,
			"Zmvh+3yNM1Phv2jhDCwEM3q5ebU="},
		{"sdk adds port 443", twilioURL, twilioForm, twilioSDKBody, "kvajT1Ptam85bY51eRf/AJRuM3w="},
		{"sdk adds port 80", "http://mycompany.com/myapp.php?foo=1&bar=2", twilioForm, twilioSDKBody,
			"0ZXoZLH/DfblKGATFgpif+LLRf4="},
		{"sdk JSON body with bodySHA256", twilioURL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620",
			"application/json", `{"property": "value", "boolean": true}`, "a9nBmqA0ju/hNViExpshrM61xv4="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Verify(twilioRequest(t, tt.url, tt.ct, tt.body, tt.sig))
			wantReason(t, err, "")
			if res.SecretID != "token" || res.Trace.Scheme != "twilio" {
				t.Errorf("result = %+v", res)
			}
		})
	}

	t.Run("Sign reproduces the docs example", func(t *testing.T) {
		req := twilioRequest(t, twilioURL, twilioForm, "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212", "")
		if err := v.Sign(req, 0); err != nil {
			t.Fatal(err)
		}
		if got := req.Header.Get("X-Twilio-Signature"); got != "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" {
			t.Errorf("Sign = %s", got)
		}
		if req.URL.String() != twilioURL {
			t.Errorf("form Sign changed the URL: %s", req.URL)
		}
	})
	t.Run("Sign reproduces the JSON fixture", func(t *testing.T) {
		req := twilioRequest(t, twilioURL, "application/json", `{"property": "value", "boolean": true}`, "")
		orig := req.URL
		if err := v.Sign(req, 0); err != nil {
			t.Fatal(err)
		}
		if got := req.Header.Get("X-Twilio-Signature"); got != "a9nBmqA0ju/hNViExpshrM61xv4=" {
			t.Errorf("Sign = %s", got)
		}
		if want := twilioURL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"; req.URL.String() != want {
			t.Errorf("URL = %s", req.URL)
		}
		if orig.String() != twilioURL {
			t.Error("Sign modified the caller's URL instead of a copy")
		}
		// Signing again replaces bodySHA256 instead of appending a second one.
		req.Body = []byte(`{"property": "other"}`)
		if err := v.Sign(req, 0); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(req.URL.RawQuery, "bodySHA256="); n != 1 {
			t.Errorf("URL = %s", req.URL)
		}
		_, err := v.Verify(req)
		wantReason(t, err, "")
	})
}

func TestTwilioNegatives(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "twilio", Secrets: []Secret{{ID: "old", Value: "12345"}, {ID: "new", Value: "67890"}}})
	docsBody := "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212"
	const docsSig = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	jsonURL := twilioURL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	const jsonBody, jsonSig = `{"property": "value", "boolean": true}`, "a9nBmqA0ju/hNViExpshrM61xv4="
	tests := []struct {
		name, url, ct, body, reason, note string
		sigs                              []string
	}{
		{name: "params reordered", url: twilioURL, ct: twilioForm, sigs: []string{docsSig},
			body: "To=%2B18005551212&From=%2B12349013030&Digits=1234&Caller=%2B12349013030&CallSid=CA1234567890ABCDE"},
		{name: "one param byte changed", url: twilioURL, ct: twilioForm, sigs: []string{docsSig},
			body: strings.Replace(docsBody, "Digits=1234", "Digits=1235", 1), reason: ReasonSignatureMismatch},
		{name: "param added", url: twilioURL, ct: twilioForm, sigs: []string{docsSig},
			body: docsBody + "&Extra=1", reason: ReasonSignatureMismatch},
		{name: "query changed", url: "https://mycompany.com/myapp.php?foo=1&bar=3", ct: twilioForm, sigs: []string{docsSig},
			body: docsBody, reason: ReasonSignatureMismatch},
		{name: "path changed", url: "https://mycompany.com/other.php?foo=1&bar=2", ct: twilioForm, sigs: []string{docsSig},
			body: docsBody, reason: ReasonSignatureMismatch},
		{name: "scheme changed", url: "http://mycompany.com/myapp.php?foo=1&bar=2", ct: twilioForm, sigs: []string{docsSig},
			body: docsBody, reason: ReasonSignatureMismatch},
		{name: "missing header", url: twilioURL, ct: twilioForm, body: docsBody, reason: ReasonSignatureMissing},
		{name: "malformed header", url: twilioURL, ct: twilioForm, sigs: []string{"not base64!"}, body: docsBody,
			reason: ReasonSignatureMalformed, note: "1 signatures, 1 malformed skipped"},
		{name: "one valid among several", url: twilioURL, ct: twilioForm, sigs: []string{"garbage", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", docsSig},
			body: docsBody, note: "3 signatures, 1 malformed skipped"},
		{name: "body not a form", url: twilioURL, ct: twilioForm, sigs: []string{docsSig}, body: "a=%zz",
			reason: ReasonSignatureMismatch, note: "not application/x-www-form-urlencoded"},
		{name: "JSON ok", url: jsonURL, ct: "application/json", sigs: []string{jsonSig}, body: jsonBody},
		{name: "JSON body byte changed", url: jsonURL, ct: "application/json", sigs: []string{jsonSig},
			body: strings.Replace(jsonBody, "true", "trUe", 1), reason: ReasonSignatureMismatch, note: "bodySHA256"},
		{name: "JSON bodySHA256 swapped for the new body's", url: twilioURL + "&bodySHA256=" + strings.Repeat("ab", 32),
			ct: "application/json", sigs: []string{jsonSig}, body: jsonBody, reason: ReasonSignatureMismatch},
		{name: "JSON bodySHA256 not hex", url: twilioURL + "&bodySHA256=zz", ct: "application/json", sigs: []string{jsonSig},
			body: jsonBody, reason: ReasonSignatureMismatch},
		{name: "JSON without bodySHA256", url: twilioURL, ct: "application/json", sigs: []string{jsonSig},
			body: jsonBody, reason: ReasonSignatureMismatch, note: "no bodySHA256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := twilioRequest(t, tt.url, tt.ct, tt.body, "")
			for _, s := range tt.sigs {
				req.Header.Add("X-Twilio-Signature", s)
			}
			res, err := v.Verify(req)
			f := wantReason(t, err, tt.reason)
			tr := res.Trace
			if f != nil {
				tr = f.Trace
				if f.Status() != http.StatusUnauthorized {
					t.Errorf("status %d", f.Status())
				}
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want %q", tr.Note, tt.note)
			}
		})
	}

	t.Run("wrong token", func(t *testing.T) {
		other := mustVerifier(t, Config{Auth: "twilio", Secrets: []Secret{{ID: "x", Value: "54321"}}})
		_, err := other.Verify(twilioRequest(t, twilioURL, twilioForm, docsBody, docsSig))
		wantReason(t, err, ReasonSignatureMismatch)
	})
	t.Run("secondary token verifies", func(t *testing.T) {
		req := twilioRequest(t, twilioURL, twilioForm, docsBody, "")
		if err := v.Sign(req, 1); err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(req)
		wantReason(t, err, "")
		if res.SecretID != "new" {
			t.Errorf("SecretID = %q", res.SecretID)
		}
	})
	t.Run("no public URL fails closed", func(t *testing.T) {
		cfg := Config{Auth: "twilio", Secrets: []Secret{{ID: "t", Value: "12345"}}}
		req := twilioRequest(t, twilioURL, twilioForm, docsBody, docsSig)
		req.URL = nil
		_, err := twilioScheme{}.Verify(&cfg, req)
		f := wantReason(t, err, ReasonSignatureMismatch)
		if !strings.Contains(f.Trace.Note, "public_url") {
			t.Errorf("note = %q", f.Trace.Note)
		}
		if err := (twilioScheme{}).Sign(&cfg, req, cfg.Secrets[0]); !errors.Is(err, errNoURL) {
			t.Errorf("Sign without URL = %v", err)
		}
	})
	t.Run("empty secret refused", func(t *testing.T) {
		if _, err := New(Config{Auth: "twilio", Secrets: []Secret{{ID: "e"}}}); err == nil {
			t.Error("New accepted an empty auth token")
		}
		if _, err := New(Config{Auth: "twilio"}); err == nil {
			t.Error("New accepted no auth token")
		}
	})
}

// FuzzTwilioVerify feeds arbitrary public URLs, signatures and bodies to the
// Twilio verifier (form and JSON paths, port variants, body parsing): it
// never panics and never accepts.
func FuzzTwilioVerify(f *testing.F) {
	f.Add(twilioURL, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", twilioForm, []byte("CallSid=CA1234567890ABCDE&Caller=%2B12349013030"))
	f.Add(twilioURL+"&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620", "a9nBmqA0ju/hNViExpshrM61xv4=", "application/json", []byte(`{"property": "value"}`))
	f.Add("http://[::1]:80/x?bodySHA256=zz", "", "", []byte("a=%zz;b"))
	f.Add("https://h:443", "=====", "text/plain", []byte{0xff, '&', '='})
	f.Add("", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "application/json; charset=\"", []byte(nil))
	cfg := Config{Auth: "twilio", Secrets: []Secret{{ID: "t", Value: "12345"}}}
	f.Fuzz(func(t *testing.T, rawURL, sig, ct string, body []byte) {
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, Now: testNow}
		if u, err := url.Parse(rawURL); err == nil {
			req.URL = u
		}
		req.Header.Set("X-Twilio-Signature", sig)
		req.Header.Set("Content-Type", ct)
		_, err := twilioScheme{}.Verify(&cfg, req)
		var fl *Failure
		if !errors.As(err, &fl) {
			t.Fatalf("accepted or non-Failure: %v", err)
		}
		if len(fl.Trace.Expected) > 8 || len(fl.Trace.Received) > 8 {
			t.Fatal("trace prefixes too long")
		}
		if req.URL != nil && req.URL.Host != "" {
			vs := twilioURLVariants(req.URL)
			if len(vs) != 2 || vs[0] != req.URL.String() || vs[1] == vs[0] {
				t.Fatalf("URL variants of %q: %q", rawURL, vs)
			}
		}
	})
}
