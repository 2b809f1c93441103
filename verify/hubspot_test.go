package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// HubSpot v3 signs the public URL: the generic table runs it through
// withPublicURL (h1_helpers_test.go). Sign writes v3, so the table's
// header is X-HubSpot-Signature-v3.
func init() {
	schemes["hubspot"] = withPublicURL{schemes["hubspot"]}
	schemeCases = append(schemeCases, schemeCase{
		auth: "hubspot", cfg: hmacCfg("hubspot", ""), header: "X-HubSpot-Signature-v3", bodySigned: true, rotates: true,
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch,
	})
}

const (
	hubspotTestSecret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
	hubspotTestURI    = "https://www.example.com/webhook_uri"
	hubspotV1Body     = `[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]`
	// The v3 fixture of HubSpot's Python SDK: body (with single quotes, as
	// published), POST, timestamp 15000000 ms.
	hubspotV3Body = `{'example_field':'example_value'}`
	hubspotV3Sig  = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
	hubspotV3TS   = "15000000"
)

func hubspotVerifier(t testing.TB) *Verifier {
	return mustVerifier(t, Config{Auth: "hubspot", Secrets: []Secret{{ID: "app", Value: hubspotTestSecret}}})
}

func hubspotRequest(t testing.TB, method, uri, body string, headers ...string) *Request {
	t.Helper()
	req := newRequest([]byte(body))
	req.Method = method
	if uri != "" {
		req.URL = mustParseURL(t, uri)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

// Published vectors:
//   - v1 and v2: the worked examples of HubSpot's validation docs
//     https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests
//     (also asserted by https://github.com/HubSpot/hubspot-api-nodejs/blob/master/test/unit/signature.spec.ts)
//   - v3: HubSpot publishes no v3 example in its docs; the fixture of its
//     Python SDK is used: https://github.com/HubSpot/hubspot-api-python/blob/master/tests/spec/utils/test_signature.py
func TestHubSpotPublishedExamples(t *testing.T) {
	v := hubspotVerifier(t)
	v3Now := time.UnixMilli(15000000)
	tests := []struct {
		name string
		req  *Request
	}{
		{"v1 docs example", hubspotRequest(t, http.MethodPost, hubspotTestURI, hubspotV1Body,
			"X-HubSpot-Signature-Version", "v1",
			"X-HubSpot-Signature", "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de")},
		{"v1 example without any URL", func() *Request {
			r := hubspotRequest(t, http.MethodPost, "", hubspotV1Body,
				"X-HubSpot-Signature-Version", "v1",
				"X-HubSpot-Signature", "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de")
			return r
		}()},
		{"v2 docs GET example", hubspotRequest(t, http.MethodGet, hubspotTestURI, "",
			"X-HubSpot-Signature-Version", "v2",
			"X-HubSpot-Signature", "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e")},
		{"v2 docs POST example", hubspotRequest(t, http.MethodPost, hubspotTestURI, `{"example_field":"example_value"}`,
			"X-HubSpot-Signature-Version", "v2",
			"X-HubSpot-Signature", "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900")},
		{"v3 SDK fixture", func() *Request {
			r := hubspotRequest(t, http.MethodPost, hubspotTestURI, hubspotV3Body,
				"X-HubSpot-Signature-v3", hubspotV3Sig, "X-HubSpot-Request-Timestamp", hubspotV3TS)
			r.Now = v3Now
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The unwrapped scheme: a request without a URL stays without.
			cfg := v.Config()
			res, err := hubspotScheme{}.Verify(cfg, tt.req)
			wantReason(t, err, "")
			if res.SecretID != "app" {
				t.Errorf("SecretID = %q", res.SecretID)
			}
		})
	}
	res, err := v.Verify(tests[len(tests)-1].req)
	wantReason(t, err, "")
	if !res.Timestamp.Equal(v3Now) {
		t.Errorf("Timestamp = %v", res.Timestamp)
	}

	t.Run("Sign reproduces the v3 fixture", func(t *testing.T) {
		req := hubspotRequest(t, http.MethodPost, hubspotTestURI, hubspotV3Body)
		req.Now = v3Now
		if err := v.Sign(req, 0); err != nil {
			t.Fatal(err)
		}
		if got := req.Header.Get("X-HubSpot-Signature-v3"); got != hubspotV3Sig {
			t.Errorf("Sign = %s", got)
		}
		if got := req.Header.Get("X-HubSpot-Request-Timestamp"); got != hubspotV3TS {
			t.Errorf("timestamp = %s, want milliseconds %s", got, hubspotV3TS)
		}
	})
}

func TestHubSpotV3(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "hubspot", Secrets: []Secret{{ID: "old", Value: "old-client-secret"}, {ID: "new", Value: "new-client-secret"}}})
	sign := func(t *testing.T, secret, method, uri, body, ts string) string {
		t.Helper()
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(method + uri + body + ts))
		return b64SHA256.encode(m.Sum(nil))
	}
	nowMS := strconv.FormatInt(testNow.UnixMilli(), 10)
	const uri = "https://hooks.example.com/hubspot?portal=62515"
	good := sign(t, "new-client-secret", http.MethodPost, uri, hubspotV1Body, nowMS)
	at := func(d time.Duration) string { return strconv.FormatInt(testNow.Add(d).UnixMilli(), 10) }
	tests := []struct {
		name, method, uri, body, ts, reason, note string
		sigs                                      []string
		extra                                     []string
	}{
		{name: "ok", sigs: []string{good}},
		{name: "one body byte changed", body: strings.Replace(hubspotV1Body, "62515", "62516", 1), sigs: []string{good}, reason: ReasonSignatureMismatch},
		{name: "method changed", method: http.MethodPut, sigs: []string{good}, reason: ReasonSignatureMismatch},
		{name: "URL changed", uri: "https://hooks.example.com/hubspot?portal=62516", sigs: []string{good}, reason: ReasonSignatureMismatch},
		{name: "timestamp changed", ts: at(time.Millisecond), sigs: []string{good}, reason: ReasonSignatureMismatch},
		{name: "wrong secret", sigs: []string{sign(t, "not-the-secret", http.MethodPost, uri, hubspotV1Body, nowMS)}, reason: ReasonSignatureMismatch},
		{name: "plain SHA-256 (v2 style) in the v3 header", sigs: []string{b64SHA256.encode(func() []byte {
			s := sha256.Sum256([]byte("new-client-secret" + http.MethodPost + uri + hubspotV1Body + nowMS))
			return s[:]
		}())}, reason: ReasonSignatureMismatch},
		{name: "inside the window", ts: at(-4 * time.Minute), sigs: []string{sign(t, "old-client-secret", http.MethodPost, uri, hubspotV1Body, at(-4*time.Minute))}},
		{name: "stale", ts: at(-5*time.Minute - time.Second), sigs: []string{sign(t, "old-client-secret", http.MethodPost, uri, hubspotV1Body, at(-5*time.Minute-time.Second))}, reason: ReasonTimestampStale},
		{name: "future", ts: at(5*time.Minute + time.Second), sigs: []string{sign(t, "old-client-secret", http.MethodPost, uri, hubspotV1Body, at(5*time.Minute+time.Second))}, reason: ReasonTimestampFuture},
		{name: "seconds instead of milliseconds", ts: strconv.FormatInt(testNow.Unix(), 10),
			sigs: []string{sign(t, "old-client-secret", http.MethodPost, uri, hubspotV1Body, strconv.FormatInt(testNow.Unix(), 10))}, reason: ReasonTimestampStale},
		{name: "missing timestamp", ts: "-", sigs: []string{good}, reason: ReasonTimestampMissing},
		{name: "invalid timestamp", ts: "soon", sigs: []string{sign(t, "new-client-secret", http.MethodPost, uri, hubspotV1Body, "soon")}, reason: ReasonTimestampInvalid},
		{name: "missing header", reason: ReasonSignatureMissing},
		{name: "malformed header", sigs: []string{"%%not base64%%"}, reason: ReasonSignatureMalformed, note: "1 signatures, 1 malformed skipped"},
		{name: "one valid among several", sigs: []string{"short", hubspotV3Sig, good}, note: "3 signatures, 1 malformed skipped"},
		{name: "v3 preferred: a valid v1 does not rescue a bad v3", sigs: []string{hubspotV3Sig},
			extra: []string{"X-HubSpot-Signature-Version", "v1", "X-HubSpot-Signature", hubspotLegacySig("new-client-secret", hubspotV1Body)}, reason: ReasonSignatureMismatch},
		{name: "no public URL", uri: "-", sigs: []string{good}, reason: ReasonSignatureMismatch, note: "public_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, u, body, ts := http.MethodPost, uri, hubspotV1Body, nowMS
			if tt.method != "" {
				method = tt.method
			}
			if tt.uri != "" {
				u = tt.uri
			}
			if tt.body != "" {
				body = tt.body
			}
			if tt.ts != "" {
				ts = tt.ts
			}
			req := hubspotRequest(t, method, u, body, tt.extra...)
			if u == "-" {
				req.URL = nil
			}
			if ts != "-" {
				req.Header.Set("X-HubSpot-Request-Timestamp", ts)
			}
			for _, s := range tt.sigs {
				req.Header.Add("X-HubSpot-Signature-v3", s)
			}
			res, err := hubspotScheme{}.Verify(v.Config(), req)
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
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want %q", tr.Note, tt.note)
			}
		})
	}

	t.Run("percent-encoded URI characters HubSpot decodes", func(t *testing.T) {
		// HubSpot signs the URI with %3A, %2F, %40 … decoded.
		raw := "https://hooks.example.com/hubspot?redirect=https%3A%2F%2Fx.example%2Fa%40b"
		decoded := "https://hooks.example.com/hubspot?redirect=https://x.example/a@b"
		req := hubspotRequest(t, http.MethodPost, raw, hubspotV1Body,
			"X-HubSpot-Request-Timestamp", nowMS,
			"X-HubSpot-Signature-v3", sign(t, "old-client-secret", http.MethodPost, decoded, hubspotV1Body, nowMS))
		res, err := v.Verify(req)
		wantReason(t, err, "")
		if res.SecretID != "old" {
			t.Errorf("SecretID = %q", res.SecretID)
		}
	})
	t.Run("custom replay window", func(t *testing.T) {
		cfg := *v.Config()
		cfg.ReplayWindow = time.Minute
		w := mustVerifier(t, cfg)
		ts := at(-2 * time.Minute)
		req := hubspotRequest(t, http.MethodPost, uri, hubspotV1Body, "X-HubSpot-Request-Timestamp", ts,
			"X-HubSpot-Signature-v3", sign(t, "old-client-secret", http.MethodPost, uri, hubspotV1Body, ts))
		_, err := w.Verify(req)
		wantReason(t, err, ReasonTimestampStale)
	})
}

func hubspotLegacySig(secret string, parts ...string) string {
	s := sha256.Sum256([]byte(secret + strings.Join(parts, "")))
	return hex.EncodeToString(s[:])
}

func TestHubSpotLegacy(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "hubspot", Secrets: []Secret{{ID: "old", Value: "old-client-secret"}, {ID: "new", Value: "new-client-secret"}}})
	const uri = "https://hooks.example.com/hubspot"
	v1 := hubspotLegacySig("new-client-secret", hubspotV1Body)
	v2 := hubspotLegacySig("old-client-secret", http.MethodPost, uri, hubspotV1Body)
	hmacV1 := func() string {
		m := hmac.New(sha256.New, []byte("new-client-secret"))
		m.Write([]byte(hubspotV1Body))
		return hex.EncodeToString(m.Sum(nil))
	}()
	tests := []struct {
		name, version, body, uri, reason, note, secretID string
		sigs                                             []string
	}{
		{name: "v1", version: "v1", sigs: []string{v1}, secretID: "new"},
		{name: "v1 upper-case version and hex", version: "V1", sigs: []string{strings.ToUpper(v1)}, secretID: "new"},
		{name: "v2", version: "v2", sigs: []string{v2}, secretID: "old"},
		{name: "v1 body byte changed", version: "v1", body: strings.Replace(hubspotV1Body, "123", "124", 1), sigs: []string{v1}, reason: ReasonSignatureMismatch},
		{name: "v2 URL changed", version: "v2", uri: uri + "?x=1", sigs: []string{v2}, reason: ReasonSignatureMismatch},
		{name: "v1 signature sent as v2", version: "v2", sigs: []string{v1}, reason: ReasonSignatureMismatch},
		{name: "HMAC is not HubSpot v1", version: "v1", sigs: []string{hmacV1}, reason: ReasonSignatureMismatch},
		{name: "wrong secret", version: "v1", sigs: []string{hubspotLegacySig("guess", hubspotV1Body)}, reason: ReasonSignatureMismatch},
		{name: "unknown version", version: "v9", sigs: []string{v1}, reason: ReasonSignatureMalformed, note: "unknown"},
		{name: "no version: both tried", sigs: []string{v2}, note: "tried v1 and v2", secretID: "old"},
		{name: "malformed", version: "v1", sigs: []string{"xyz"}, reason: ReasonSignatureMalformed},
		{name: "one valid among several", version: "v1", sigs: []string{"xyz", hmacV1, v1}, secretID: "new", note: "3 signatures, 1 malformed skipped"},
		{name: "v2 without a public URL", version: "v2", uri: "-", sigs: []string{v2}, reason: ReasonSignatureMismatch, note: "public_url"},
		{name: "v1 needs no URL", version: "v1", uri: "-", sigs: []string{v1}, secretID: "new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, u := hubspotV1Body, uri
			if tt.body != "" {
				body = tt.body
			}
			if tt.uri != "" {
				u = tt.uri
			}
			req := hubspotRequest(t, http.MethodPost, u, body)
			if u == "-" {
				req.URL = nil
			}
			if tt.version != "" {
				req.Header.Set("X-HubSpot-Signature-Version", tt.version)
			}
			for _, s := range tt.sigs {
				req.Header.Add("X-HubSpot-Signature", s)
			}
			res, err := hubspotScheme{}.Verify(v.Config(), req)
			f := wantReason(t, err, tt.reason)
			tr := res.Trace
			if f != nil {
				tr = f.Trace
			} else if res.SecretID != tt.secretID {
				t.Errorf("SecretID = %q, want %q", res.SecretID, tt.secretID)
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want %q", tr.Note, tt.note)
			}
		})
	}
}

// FuzzHubSpotVerify feeds arbitrary v3 and legacy headers, timestamps,
// methods, URLs and bodies: the verifier never panics and never accepts.
func FuzzHubSpotVerify(f *testing.F) {
	f.Add(hubspotV3Sig, hubspotV3TS, "", "", "POST", hubspotTestURI, []byte(hubspotV3Body))
	f.Add("", "", "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de", "v1", "POST", "", []byte(hubspotV1Body))
	f.Add("", "", "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e", "", "GET", hubspotTestURI+"?a=%3A%zz", []byte{})
	f.Add("=", "99999999999999999999999", "zz", "v2", "", "http://[::1", []byte{0})
	f.Add("AAAA", "-1", "", "V3", "\x00", "%3a%2F", []byte(nil))
	cfg := Config{Auth: "hubspot", Secrets: []Secret{{ID: "app", Value: "fuzz-client-secret"}}}
	f.Fuzz(func(t *testing.T, v3, ts, legacy, version, method, rawURL string, body []byte) {
		req := &Request{Method: method, Header: http.Header{}, Body: body, Now: testNow}
		if u, err := url.Parse(rawURL); err == nil {
			req.URL = u
		}
		for k, v := range map[string]string{"X-HubSpot-Signature-v3": v3, "X-HubSpot-Request-Timestamp": ts,
			"X-HubSpot-Signature": legacy, "X-HubSpot-Signature-Version": version} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		res, err := hubspotScheme{}.Verify(&cfg, req)
		mustReject(t, "hubspot", res, err)
		_ = hubspotURIs(rawURL)
	})
}
