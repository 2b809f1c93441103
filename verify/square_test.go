package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// square and trello sign the public URL; the generic tests reach them
// through withPublicURL (h1_helpers_test.go), which supplies one.
func init() {
	schemeCases = append(schemeCases,
		providerCase("square", squareSignature, func() Config {
			return Config{Auth: "square", Secrets: providerSecrets()}
		}),
		providerCase("trello", trelloSignature, func() Config {
			return Config{Auth: "trello", Secrets: providerSecrets()}
		}),
	)
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Square's published vectors: the test fixtures of Square's official SDKs
// (square-nodejs-sdk test/utilities/webhooksHelper.test.ts, square-go-sdk
// client webhook test, square-python/java/ruby/php tests all carry the
// same values); recipe at https://developer.squareup.com/docs/webhooks/step3validate.
func TestSquarePublishedExample(t *testing.T) {
	vectors := []struct {
		name, body, signature, key, url string
	}{
		{"test notification",
			`{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}`,
			"GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=", "Ibxx_5AKakO-3qeNVR61Dw", "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"},
		{"unescaped characters",
			`{"data":{"type":"webhooks","id":"fake_id"}}`,
			"W3FlCNk5IA3ZQ2LHTWoajvzfaDu/OwY2tNHIHC3IUOA=", "signature-key", "https://webhook.site/webhooks"},
		{"escaped characters: raw bytes, not re-encoded JSON",
			`{"data":{"type":"webhooks","id":">id<"}}`,
			"Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U=", "signature-key", "https://webhook.site/webhooks"},
	}
	for _, vec := range vectors {
		t.Run(vec.name, func(t *testing.T) {
			cfg := presetConfig(t, "square")
			cfg.Secrets = []Secret{{ID: "retired", Value: "retired-square-key"}, {ID: "square", Value: vec.key}}
			v := mustVerifier(t, cfg)
			req := func() *Request {
				r := newRequest([]byte(vec.body))
				r.URL = mustURL(t, vec.url)
				r.Header.Set("x-square-hmacsha256-signature", vec.signature)
				return r
			}

			res, err := v.Verify(req())
			wantReason(t, err, "")
			if res.SecretID != "square" || res.Trace.Scheme != "square" {
				t.Errorf("res = %+v", res)
			}

			out := &Request{Header: http.Header{}, Body: []byte(vec.body), URL: mustURL(t, vec.url), Now: testNow}
			if err := v.Sign(out, 1); err != nil {
				t.Fatal(err)
			}
			if got := out.Header.Get(squareSignature); got != vec.signature {
				t.Errorf("Sign = %s, want %s", got, vec.signature)
			}

			// The SDKs' negative cases, and ours.
			for name, tt := range map[string]struct {
				mod    func(*Request)
				reason string
			}{
				"notification URL mismatch": {func(r *Request) { r.URL = mustURL(t, "https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9") }, ReasonSignatureMismatch},
				"trailing slash":            {func(r *Request) { r.URL = mustURL(t, vec.url+"/") }, ReasonSignatureMismatch},
				"query added":               {func(r *Request) { r.URL = mustURL(t, vec.url+"?a=1") }, ReasonSignatureMismatch},
				"http instead of https":     {func(r *Request) { r.URL = mustURL(t, strings.Replace(vec.url, "https:", "http:", 1)) }, ReasonSignatureMismatch},
				"one body byte changed":     {func(r *Request) { r.Body[2] ^= 1 }, ReasonSignatureMismatch},
				"body re-encoded":           {func(r *Request) { r.Body = []byte(strings.ReplaceAll(vec.body, ">", `\u003e`)) }, "maybe"},
				"missing header":            {func(r *Request) { r.Header.Del(squareSignature) }, ReasonSignatureMissing},
				"hex instead of base64":     {func(r *Request) { r.Header.Set(squareSignature, strings.Repeat("ab", 32)) }, ReasonSignatureMalformed},
				"legacy x-square-signature only": {func(r *Request) {
					r.Header.Set("x-square-signature", r.Header.Get(squareSignature))
					r.Header.Del(squareSignature)
				}, ReasonSignatureMissing},
				"one valid among several": {func(r *Request) {
					good := r.Header.Get(squareSignature)
					r.Header.Set(squareSignature, "!!!")
					r.Header.Add(squareSignature, base64.StdEncoding.EncodeToString(make([]byte, 32)))
					r.Header.Add(squareSignature, good)
				}, ""},
			} {
				t.Run(name, func(t *testing.T) {
					r := req()
					tt.mod(r)
					_, err := v.Verify(r)
					if tt.reason == "maybe" { // only the escaped vector changes
						if strings.Contains(vec.body, ">") {
							wantReason(t, err, ReasonSignatureMismatch)
						}
						return
					}
					wantReason(t, err, tt.reason)
				})
			}

			// A wrong key fails.
			wrong := mustVerifier(t, Config{Auth: "square", Secrets: []Secret{{ID: "w", Value: vec.key + "x"}}})
			_, err = wrong.Verify(req())
			wantReason(t, err, ReasonSignatureMismatch)
		})
	}
}

// Without the public URL square and trello cannot verify or sign: they fail
// closed and say why.
func TestSquareTrelloNeedPublicURL(t *testing.T) {
	for _, s := range []Scheme{squareScheme{}, trelloScheme{}} {
		cfg := Config{Secrets: providerSecrets()}
		req := newRequest(testBody)
		if err := s.Sign(&cfg, req, cfg.Secrets[0]); !errors.Is(err, errNoURL) {
			t.Errorf("%T Sign without URL: %v", s, err)
		}
		req.URL = mustURL(t, testPublicURL)
		if err := s.Sign(&cfg, req, cfg.Secrets[0]); err != nil {
			t.Fatal(err)
		}
		req.URL = nil
		_, err := s.Verify(&cfg, req)
		f := wantReason(t, err, ReasonSignatureMismatch)
		if !strings.Contains(f.Trace.Note, "public_url") {
			t.Errorf("%T note = %q", s, f.Trace.Note)
		}
		req.URL = &url.URL{Path: "/webhooks/provider"} // no host: not the public URL
		_, err = s.Verify(&cfg, req)
		wantReason(t, err, ReasonSignatureMismatch)
		if err := s.Sign(&cfg, newRequest(testBody), Secret{ID: "empty"}); err == nil {
			t.Errorf("%T signed with an empty secret", s)
		}
	}
}

// trelloSig is an independent implementation of Trello's recipe for ASCII
// content: base64 HMAC-SHA1(secret, body + callbackURL).
func trelloSig(secret string, content ...[]byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	for _, c := range content {
		m.Write(c)
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Trello publishes no secret/body/signature example (the README of the
// verify-trello-webhook npm package shows a 27-character, truncated
// signature), so the vectors are computed with the recipe of
// https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures.
func TestTrelloSignature(t *testing.T) {
	const callback = "https://hooks.example.com/trello/callback?board=5abbe4b7ddc1b351ef961414"
	body := []byte(`{"action":{"id":"5f2bd6fd5f4f3c1e2b7c1f2a","type":"updateCard","data":{"card":{"name":"Ship it"}}},"model":{"id":"5abbe4b7ddc1b351ef961414"}}`)
	cfg := presetConfig(t, "trello")
	v := mustVerifier(t, cfg)
	req := func(body []byte, sig string) *Request {
		r := newRequest(body)
		r.URL = mustURL(t, callback)
		r.Header.Set("X-Trello-Webhook", sig)
		return r
	}

	want := trelloSig("second-provider-secret", body, []byte(callback))
	res, err := v.Verify(req(body, want))
	wantReason(t, err, "")
	if res.SecretID != "new" || res.Trace.Header != "X-Trello-Webhook" {
		t.Errorf("res = %+v", res)
	}
	out := &Request{Header: http.Header{}, Body: body, URL: mustURL(t, callback)}
	if err := v.Sign(out, 1); err != nil {
		t.Fatal(err)
	}
	if got := out.Header.Get("X-Trello-Webhook"); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}

	for name, tt := range map[string]struct {
		req    *Request
		reason string
	}{
		"url before body (Square's order)": {req(body, trelloSig("first-provider-secret", []byte(callback), body)), ReasonSignatureMismatch},
		"HMAC-SHA256":                      {req(body, base64.StdEncoding.EncodeToString(hmac.New(sha256.New, []byte("x")).Sum(nil))), ReasonSignatureMalformed},
		"hex encoding":                     {req(body, strings.Repeat("ab", 20)), ReasonSignatureMalformed},
		"wrong secret":                     {req(body, trelloSig("not-the-app-secret", body, []byte(callback))), ReasonSignatureMismatch},
		"callback URL without query":       {req(body, trelloSig("first-provider-secret", body, []byte(strings.Split(callback, "?")[0]))), ReasonSignatureMismatch},
		"one body byte changed":            {req(append([]byte{'['}, body[1:]...), want), ReasonSignatureMismatch},
		"missing header":                   {func() *Request { r := req(body, want); r.Header.Del("X-Trello-Webhook"); return r }(), ReasonSignatureMissing},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(tt.req)
			wantReason(t, err, tt.reason)
		})
	}
}

// Trello's docs: its Node signer treats the payload as a binary string, so
// an en dash (U+2013) is hashed as the single byte 0x13, its low 8 bits.
// https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures
func TestTrelloNodeBinaryQuirk(t *testing.T) {
	const callback = "https://hooks.example.com/trello"
	body := []byte(`{"action":{"data":{"card":{"name":"Plan – review 😀"}}}}`)
	// Independently: en dash -> 0x13; 😀 (U+1F600) is the UTF-16 pair
	// D83D DE00 -> 0x3D 0x00.
	binary := []byte(strings.NewReplacer("–", "\x13", "😀", "\x3d\x00").Replace(string(body)))
	if got, changed := nodeBinary(body); !changed || string(got) != string(binary) {
		t.Fatalf("nodeBinary = %q", got)
	}
	if got, changed := nodeBinary([]byte("plain ascii")); changed || string(got) != "plain ascii" {
		t.Fatalf("nodeBinary(ascii) = %q %v", got, changed)
	}

	v := mustVerifier(t, presetConfig(t, "trello"))
	quirk := trelloSig("first-provider-secret", binary, []byte(callback))
	utf8Sig := trelloSig("first-provider-secret", body, []byte(callback))
	for name, sig := range map[string]string{"as Trello signs (binary string)": quirk, "as UTF-8": utf8Sig} {
		t.Run(name, func(t *testing.T) {
			req := newRequest(body)
			req.URL = mustURL(t, callback)
			req.Header.Set("X-Trello-Webhook", sig)
			_, err := v.Verify(req)
			wantReason(t, err, "")
			req.Body[len(req.Body)-5] ^= 1
			_, err = v.Verify(req)
			wantReason(t, err, ReasonSignatureMismatch)
		})
	}
	out := &Request{Header: http.Header{}, Body: body, URL: mustURL(t, callback)}
	if err := v.Sign(out, 0); err != nil {
		t.Fatal(err)
	}
	if got := out.Header.Get("X-Trello-Webhook"); got != quirk {
		t.Errorf("Sign = %s, want the binary-string signature %s", got, quirk)
	}
}

func TestTrelloHandshake(t *testing.T) {
	p, _ := LookupPreset("trello")
	if p.Handshake == nil || len(p.HandshakeMethods) != 1 || p.HandshakeMethods[0] != http.MethodHead {
		t.Fatalf("preset = %+v", p)
	}
	cfg := presetConfig(t, "trello")
	resp, handled, err := p.Handshake(&cfg, &Request{Method: http.MethodHead, Header: http.Header{}, URL: mustURL(t, testPublicURL)})
	if err != nil || !handled || resp == nil || resp.Status != http.StatusOK || len(resp.Body) != 0 {
		t.Fatalf("HEAD = %+v %v %v", resp, handled, err)
	}
	// Deliveries are signed POSTs, verified normally: an unsigned POST is
	// not a handshake and fails verification.
	for _, m := range []string{http.MethodPost, http.MethodGet} {
		req := &Request{Method: m, Header: http.Header{}, Body: testBody, URL: mustURL(t, testPublicURL)}
		if resp, handled, err := p.Handshake(&cfg, req); handled || resp != nil || err != nil {
			t.Errorf("%s: handled=%v", m, handled)
		}
	}
	v := mustVerifier(t, cfg)
	bad := &Request{Method: http.MethodPost, Header: http.Header{}, Body: testBody, URL: mustURL(t, testPublicURL)}
	bad.Header.Set("X-Trello-Webhook", trelloSig("not-the-secret", testBody, []byte(testPublicURL)))
	_, err = v.Verify(bad)
	wantReason(t, err, ReasonSignatureMismatch)
}

// FuzzSquareVerify: arbitrary signature values, bodies and URLs never
// verify without the key, and a valid signature among them still does.
func FuzzSquareVerify(f *testing.F) {
	f.Add("GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=", "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9", []byte(`{"merchant_id":"MLEFBHHSJGVHD"}`))
	f.Add("", "https://h/", []byte{})
	f.Add("====", "http://[::1]:80/a?b#c", []byte{0xff, 0xfe})
	v := mustVerifier(f, presetConfig(f, "square"))
	f.Fuzz(func(t *testing.T, sig, rawURL string, body []byte) {
		u, err := url.Parse(rawURL)
		if err != nil {
			return
		}
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, URL: u, Now: testNow}
		req.Header.Set(squareSignature, sig)
		res, err := v.Verify(req)
		mustReject(t, "square", res, err)
		if u.Host == "" {
			return
		}
		m := hmac.New(sha256.New, []byte("second-provider-secret"))
		m.Write([]byte(u.String()))
		m.Write(body)
		req.Header.Add(squareSignature, base64.StdEncoding.EncodeToString(m.Sum(nil)))
		if res, err := v.Verify(req); err != nil || res.SecretID != "new" {
			t.Fatalf("valid signature after %q: %v", sig, err)
		}
	})
}

// FuzzTrelloVerify checks nodeBinary (one byte per UTF-16 code unit, ASCII
// untouched) and that no fuzzed header verifies without the secret.
func FuzzTrelloVerify(f *testing.F) {
	f.Add("LeCJzA5aHiwh4zcxLhY25TJSNg=", []byte(`{"hello":"world"}`))
	f.Add("", []byte("Plan – review 😀"))
	f.Add("!!!!", []byte{0xe2, 0x80})
	v := mustVerifier(f, presetConfig(f, "trello"))
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		out, changed := nodeBinary(body)
		units := len(utf16.Encode([]rune(string(body))))
		if changed && len(out) != units {
			t.Fatalf("nodeBinary(%q) = %d bytes, want %d", body, len(out), units)
		}
		ascii := !strings.ContainsFunc(string(body), func(r rune) bool { return r >= utf8.RuneSelf })
		if changed == ascii || (ascii && string(out) != string(body)) {
			t.Fatalf("nodeBinary(%q) = %q, %v", body, out, changed)
		}
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, URL: mustURL(t, testPublicURL), Now: testNow}
		req.Header.Set(trelloSignature, sig)
		res, err := v.Verify(req)
		mustReject(t, "trello", res, err)

		req.Header.Add(trelloSignature, trelloSig("first-provider-secret", out, []byte(testPublicURL)))
		if res, err := v.Verify(req); err != nil || res.SecretID != "old" {
			t.Fatalf("valid signature after %q: %v", sig, err)
		}
	})
}
