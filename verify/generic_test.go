package verify

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func init() {
	schemeCases = append(schemeCases, schemeCase{
		auth: "hmac", header: "X-Signature", bodySigned: true, rotates: true,
		cfg: func() Config {
			c := hmacCfg("hmac", "X-Signature")()
			c.Algorithm, c.Encoding, c.Prefix, c.Template = "sha512", "base64", "v1=", "{method}:{body}"
			return c
		},
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch,
	})
}

// The generic scheme has no provider of its own; it is checked against two
// providers' published examples by configuring their recipe:
//   - GitHub: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
//   - Slack (a timestamp header in the template):
//     https://docs.slack.dev/authentication/verifying-requests-from-slack
const (
	genericSlackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	genericSlackTS     = "1531420618"
	genericSlackBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	genericSlackSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestHMACGenericPublishedExamples(t *testing.T) {
	t.Run("GitHub recipe", func(t *testing.T) {
		v := mustVerifier(t, Config{Auth: "hmac", SignatureHeader: "X-Hub-Signature-256", Prefix: "sha256=",
			Secrets: []Secret{{ID: "gh", Value: "It's a Secret to Everybody"}}})
		const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
		req := newRequest([]byte("Hello, World!"))
		req.Header.Set("X-Hub-Signature-256", want)
		res, err := v.Verify(req)
		wantReason(t, err, "")
		if res.SecretID != "gh" || res.Trace.Recipe != "HMAC-SHA256(secret, {body}) as hex, prefix sha256=" {
			t.Errorf("result = %+v", res)
		}
		if got := signed(t, v, 0, []byte("Hello, World!")).Header.Get("X-Hub-Signature-256"); got != want {
			t.Errorf("Sign = %s", got)
		}
	})
	t.Run("Slack recipe", func(t *testing.T) {
		v := mustVerifier(t, Config{Auth: "hmac", SignatureHeader: "X-Slack-Signature", TimestampHeader: "X-Slack-Request-Timestamp",
			Prefix: "v0=", Template: "v0:{timestamp}:{body}", Secrets: []Secret{{ID: "slack", Value: genericSlackSecret}}})
		req := newRequest([]byte(genericSlackBody))
		req.Now = time.Unix(1531420618, 0).Add(30 * time.Second)
		req.Header.Set("X-Slack-Request-Timestamp", genericSlackTS)
		req.Header.Set("X-Slack-Signature", genericSlackSig)
		res, err := v.Verify(req)
		wantReason(t, err, "")
		if !res.Timestamp.Equal(time.Unix(1531420618, 0)) || res.Trace.TimestampSkewSeconds == nil || *res.Trace.TimestampSkewSeconds != 30 {
			t.Errorf("result = %+v", res)
		}
		out := newRequest([]byte(genericSlackBody))
		out.Now = time.Unix(1531420618, 0)
		if err := v.Sign(out, 0); err != nil {
			t.Fatal(err)
		}
		if out.Header.Get("X-Slack-Signature") != genericSlackSig || out.Header.Get("X-Slack-Request-Timestamp") != genericSlackTS {
			t.Errorf("Sign = %v", out.Header)
		}
		// A day later the same request is stale (409), not forged.
		req.Now = req.Now.Add(24 * time.Hour)
		_, err = v.Verify(req)
		wantReason(t, err, ReasonTimestampStale)
	})
}

func TestHMACGenericValidate(t *testing.T) {
	base := func(mod func(*Config)) Config {
		c := Config{Auth: "hmac", SignatureHeader: "X-Sig", Secrets: []Secret{{ID: "s", Value: "v"}}}
		mod(&c)
		return c
	}
	bad := map[string]Config{
		"no secret":                  base(func(c *Config) { c.Secrets = nil }),
		"empty secret":               base(func(c *Config) { c.Secrets = []Secret{{ID: "e"}} }),
		"no header":                  base(func(c *Config) { c.SignatureHeader = "" }),
		"algorithm md5":              base(func(c *Config) { c.Algorithm = "md5" }),
		"algorithm sha384":           base(func(c *Config) { c.Algorithm = "sha384" }),
		"encoding base32":            base(func(c *Config) { c.Encoding = "base32" }),
		"unknown placeholder":        base(func(c *Config) { c.Template = "{timestamp}.{payload}" }),
		"misspelled placeholder":     base(func(c *Config) { c.Template = "{Body}" }),
		"unclosed brace":             base(func(c *Config) { c.Template = "{body" }),
		"empty placeholder":          base(func(c *Config) { c.Template = "{}{body}" }),
		"header without name":        base(func(c *Config) { c.Template = "{header:}{body}" }),
		"header name with a space":   base(func(c *Config) { c.Template = "{header:X Id}{body}" }),
		"timestamp without header":   base(func(c *Config) { c.Template = "{timestamp}.{body}" }),
		"prefix with a comma":        base(func(c *Config) { c.Prefix = "a,b=" }),
		"nested braces":              base(func(c *Config) { c.Template = "{{body}}" }),
		"placeholder-like header":    base(func(c *Config) { c.Template = "{header:{body}}" }),
		"unknown placeholder suffix": base(func(c *Config) { c.Template = "{body}{urls}" }),
	}
	for name, cfg := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); err == nil {
				t.Errorf("New(%+v) succeeded", cfg)
			}
			// Called without Validate, the scheme still fails closed.
			req := newRequest(testBody)
			req.Header.Set("X-Sig", strings.Repeat("0", 64))
			if _, err := (genericScheme{}).Verify(&cfg, req); err == nil {
				t.Error("Verify passed an invalid configuration")
			}
		})
	}
	good := map[string]Config{
		"defaults":         base(func(*Config) {}),
		"upper-case names": base(func(c *Config) { c.Algorithm, c.Encoding = "SHA1", "Base64" }),
		"sha512 hex":       base(func(c *Config) { c.Algorithm = "sha512" }),
		"all placeholders": base(func(c *Config) {
			c.TimestampHeader, c.Template = "X-Ts", "{method} {url}\n{header:X-Id}.{timestamp}.{body}"
		}),
		"literal close }":   base(func(c *Config) { c.Template = "}{body}" }),
		"body twice, no ph": base(func(c *Config) { c.Template = "{body}{body}" }),
	}
	for name, cfg := range good {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestHMACGenericTemplates(t *testing.T) {
	cfg := Config{Auth: "hmac", SignatureHeader: "X-Sig", TimestampHeader: "X-Ts", Algorithm: "sha1", Encoding: "base64",
		Template: "{method} {url}|{header:X-Delivery}|{timestamp}.{body}", ReplayWindow: time.Minute,
		Secrets: []Secret{{ID: "old", Value: "generic-old"}, {ID: "new", Value: "generic-new"}}}
	v := mustVerifier(t, cfg)
	// The expected signature, computed independently of the scheme.
	const u = "https://hooks.example.com/in?x=1"
	want := func(secret, method, url, delivery, ts, body string) string {
		return b64SHA1.encode(b64SHA1.sum([]byte(secret), []byte(method+" "+url+"|"+delivery+"|"+ts+"."+body)))
	}
	ts := strconv.FormatInt(testNow.Unix(), 10)
	at := func(d time.Duration) string { return strconv.FormatInt(testNow.Add(d).Unix(), 10) }
	good := want("generic-new", http.MethodPost, u, "d-1", ts, string(testBody))
	tests := []struct {
		name, method, url, delivery, ts, body, reason, note string
		sigs                                                []string
	}{
		{name: "ok", sigs: []string{good}},
		{name: "method changed", method: http.MethodPut, sigs: []string{good}, reason: ReasonSignatureMismatch},
		{name: "URL changed", url: u + "&y=2", sigs: []string{good}, reason: ReasonSignatureMismatch},
		{name: "header changed", delivery: "d-2", sigs: []string{good}, reason: ReasonSignatureMismatch},
		{name: "header missing", delivery: "-", sigs: []string{good}, reason: ReasonSignatureMissing, note: "X-Delivery named in the template"},
		{name: "body byte changed", body: strings.Replace(string(testBody), "4200", "4201", 1), sigs: []string{good}, reason: ReasonSignatureMismatch},
		{name: "timestamp changed", ts: at(time.Second), sigs: []string{good}, reason: ReasonSignatureMismatch},
		{name: "stale", ts: at(-2 * time.Minute), sigs: []string{want("generic-old", http.MethodPost, u, "d-1", at(-2*time.Minute), string(testBody))}, reason: ReasonTimestampStale},
		{name: "future", ts: at(2 * time.Minute), sigs: []string{want("generic-old", http.MethodPost, u, "d-1", at(2*time.Minute), string(testBody))}, reason: ReasonTimestampFuture},
		{name: "timestamp missing", ts: "-", sigs: []string{good}, reason: ReasonTimestampMissing},
		{name: "timestamp invalid", ts: "now", sigs: []string{want("generic-new", http.MethodPost, u, "d-1", "now", string(testBody))}, reason: ReasonTimestampInvalid},
		{name: "forged and stale is 401, not 409", ts: at(-time.Hour), sigs: []string{good}, reason: ReasonSignatureMismatch},
		{name: "no public URL", url: "-", sigs: []string{good}, reason: ReasonSignatureMismatch, note: "public_url"},
		{name: "wrong secret", sigs: []string{want("guess", http.MethodPost, u, "d-1", ts, string(testBody))}, reason: ReasonSignatureMismatch},
		{name: "missing signature", reason: ReasonSignatureMissing},
		{name: "malformed", sigs: []string{"!!!"}, reason: ReasonSignatureMalformed},
		{name: "one valid in a comma list", sigs: []string{"nope, " + want("x", "", "", "", "", "") + " ," + good}, note: "3 signatures, 1 malformed skipped"},
		{name: "one valid on a second line", sigs: []string{"nope", good}, note: "2 signatures, 1 malformed skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pick := func(v, def string) string {
				if v == "" {
					return def
				}
				return v
			}
			req := newRequest([]byte(pick(tt.body, string(testBody))))
			req.Method = pick(tt.method, http.MethodPost)
			if uu := pick(tt.url, u); uu != "-" {
				req.URL = mustParseURL(t, uu)
			}
			if d := pick(tt.delivery, "d-1"); d != "-" {
				req.Header.Set("X-Delivery", d)
			}
			if s := pick(tt.ts, ts); s != "-" {
				req.Header.Set("X-Ts", s)
			}
			for _, s := range tt.sigs {
				req.Header.Add("X-Sig", s)
			}
			res, err := v.Verify(req)
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
			} else if res.SecretID != "new" || res.Timestamp.IsZero() {
				t.Errorf("result = %+v", res)
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want %q", tr.Note, tt.note)
			}
		})
	}

	t.Run("Sign round trip", func(t *testing.T) {
		req := newRequest(testBody)
		req.URL = mustParseURL(t, u)
		req.Header.Set("X-Delivery", "d-9")
		if err := v.Sign(req, 1); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get("X-Ts") != ts {
			t.Errorf("X-Ts = %q", req.Header.Get("X-Ts"))
		}
		res, err := v.Verify(req)
		wantReason(t, err, "")
		if res.SecretID != "new" {
			t.Errorf("SecretID = %q", res.SecretID)
		}
		// Without the header the template names, Sign refuses.
		req.Header.Del("X-Delivery")
		if err := v.Sign(req, 0); err == nil {
			t.Error("Sign without X-Delivery succeeded")
		}
	})
	t.Run("prefix missing on receipt is tried, with a note", func(t *testing.T) {
		p := mustVerifier(t, Config{Auth: "hmac", SignatureHeader: "X-Sig", Prefix: "sha256=", Secrets: []Secret{{ID: "s", Value: "k"}}})
		req := signed(t, p, 0, testBody)
		req.Header.Set("X-Sig", strings.TrimPrefix(req.Header.Get("X-Sig"), "sha256="))
		res, err := p.Verify(req)
		wantReason(t, err, "")
		if !strings.Contains(res.Trace.Note, "prefix sha256= missing") {
			t.Errorf("note = %q", res.Trace.Note)
		}
	})
}

// FuzzHMACTemplate checks the template parser and the whole scheme: parsing
// never panics; a template that parses and needs nothing but the request's
// body and method round-trips through Sign and Verify; the received
// signature header, whatever it holds, never verifies unsigned.
func FuzzHMACTemplate(f *testing.F) {
	for _, s := range [][2]string{
		{"{body}", "sha256=00"},
		{"v0:{timestamp}:{body}", genericSlackSig},
		{"{method} {url}\n{header:X-Id}", "a,b,,c"},
		{"{", ""}, {"}{", "{"}, {"{header:}", "=,="}, {"{header:{body}}", "\x00"}, {"{{body}}", " , "},
		{"", strings.Repeat("A", 200)},
	} {
		f.Add(s[0], s[1], []byte("payload"))
	}
	f.Fuzz(func(t *testing.T, template, sig string, body []byte) {
		segs, err := parseTemplate(template)
		if err != nil {
			return
		}
		plain := true
		for _, s := range segs {
			if s.kind != "text" && s.kind != "body" && s.kind != "method" {
				plain = false
			}
		}
		cfg := Config{Auth: "hmac", SignatureHeader: "X-Sig", Template: template, Secrets: []Secret{{ID: "k", Value: "fuzz-key"}}}
		if !plain {
			cfg.TimestampHeader = "X-Ts"
		}
		v, err := New(cfg)
		if err != nil {
			t.Fatalf("parsed template %q refused: %v", template, err)
		}
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, Now: testNow}
		req.Header.Set("X-Sig", sig)
		res, err := v.Verify(req)
		mustReject(t, "hmac", res, err)
		if plain {
			req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, Now: testNow}
			if err := v.Sign(req, 0); err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if _, err := v.Verify(req); err != nil {
				t.Fatalf("round trip of %q: %v", template, err)
			}
		}
	})
}
