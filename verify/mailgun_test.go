package verify

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Mailgun's credential is in the body; the header the generic table deletes
// and corrupts is Content-Type, which says where to find it (Mailgun always
// sends it; the body is never sniffed). The event data is not signed, so a
// changed body byte outside the signature object still verifies.
func init() {
	schemeCases = append(schemeCases, schemeCase{
		auth: "mailgun", cfg: hmacCfg("mailgun", ""), header: "Content-Type", bodySigned: false, rotates: true,
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch,
	})
}

// The fixture of Mailgun's PHP SDK (signing key, timestamp, token,
// signature):
// https://github.com/mailgun/mailgun-php/blob/master/tests/Api/WebhookTest.php
// Mailgun's own docs show a signature object but not the key that made it,
// so it cannot be checked:
// https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
const (
	mailgunKey   = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
	mailgunTS    = "1403645220"
	mailgunToken = "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6"
	mailgunSig   = "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33"
)

func mailgunJSON(ts, token, sig, extra string) []byte {
	return []byte(`{"signature":{"timestamp":` + ts + `,"token":"` + token + `","signature":"` + sig + `"` + extra + `},"event-data":{"event":"delivered","id":"CPgfbmQMTCKtHW6uIWtuVe"}}`)
}

func mailgunRequest(ct string, body []byte, now time.Time) *Request {
	req := newRequest(body)
	req.Now = now
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return req
}

func TestMailgunPublishedExample(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "mailgun", Secrets: []Secret{{ID: "mg", Value: mailgunKey}}})
	now := time.Unix(1403645220, 0)
	for name, req := range map[string]*Request{
		"JSON":                   mailgunRequest("application/json", mailgunJSON(`"`+mailgunTS+`"`, mailgunToken, mailgunSig, ""), now),
		"JSON numeric timestamp": mailgunRequest("application/json; charset=utf-8", mailgunJSON(mailgunTS, mailgunToken, mailgunSig, ""), now),
		"form": mailgunRequest("application/x-www-form-urlencoded", []byte(url.Values{
			"timestamp": {mailgunTS}, "token": {mailgunToken}, "signature": {mailgunSig}, "event": {"delivered"},
		}.Encode()), now),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := v.Verify(req)
			wantReason(t, err, "")
			if res.SecretID != "mg" || res.Nonce != mailgunToken || !res.Timestamp.Equal(now) {
				t.Errorf("result = %+v", res)
			}
		})
	}
	// The SDK's negative fixture: another token with the same signature.
	_, err := v.Verify(mailgunRequest("application/json", mailgunJSON(`"`+mailgunTS+`"`, "owyldpe6nxhmrn78epljl6bj0orrki1u3d2v5e6cnlmmuox8jr", mailgunSig, ""), now))
	wantReason(t, err, ReasonSignatureMismatch)
}

func TestMailgunNegatives(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "mailgun", Secrets: []Secret{{ID: "mg", Value: mailgunKey}}})
	now := time.Unix(1403645220, 0)
	sig := func(key, ts, token string) string {
		return hmacSHA256.encode(hmacSHA256.sum([]byte(key), []byte(ts), []byte(token)))
	}
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	q := func(s string) string { return `"` + s + `"` }
	tests := []struct {
		name, ct, reason, note string
		body                   []byte
	}{
		{name: "ok", body: mailgunJSON(q(mailgunTS), mailgunToken, mailgunSig, "")},
		{name: "event data changed: not signed", body: []byte(strings.Replace(string(mailgunJSON(q(mailgunTS), mailgunToken, mailgunSig, "")), "delivered", "failed", 1))},
		{name: "signature byte changed", body: mailgunJSON(q(mailgunTS), mailgunToken, strings.Replace(mailgunSig, "9cfc", "9cfd", 1), ""), reason: ReasonSignatureMismatch},
		{name: "token changed", body: mailgunJSON(q(mailgunTS), mailgunToken[:49]+"x", mailgunSig, ""), reason: ReasonSignatureMismatch},
		{name: "timestamp changed", body: mailgunJSON(q("1403645221"), mailgunToken, mailgunSig, ""), reason: ReasonSignatureMismatch},
		{name: "wrong key", body: mailgunJSON(q(mailgunTS), mailgunToken, sig("key-other", mailgunTS, mailgunToken), ""), reason: ReasonSignatureMismatch},
		{name: "inside the window", body: mailgunJSON(q(at(-4*time.Minute)), mailgunToken, sig(mailgunKey, at(-4*time.Minute), mailgunToken), "")},
		{name: "stale", body: mailgunJSON(q(at(-6*time.Minute)), mailgunToken, sig(mailgunKey, at(-6*time.Minute), mailgunToken), ""), reason: ReasonTimestampStale},
		{name: "future", body: mailgunJSON(q(at(6*time.Minute)), mailgunToken, sig(mailgunKey, at(6*time.Minute), mailgunToken), ""), reason: ReasonTimestampFuture},
		{name: "timestamp not a number", body: mailgunJSON(q("soon"), mailgunToken, sig(mailgunKey, "soon", mailgunToken), ""), reason: ReasonTimestampInvalid},
		{name: "timestamp missing", body: mailgunJSON(q(""), mailgunToken, mailgunSig, ""), reason: ReasonTimestampMissing},
		{name: "token missing", body: mailgunJSON(q(mailgunTS), "", mailgunSig, ""), reason: ReasonSignatureMalformed, note: "token missing"},
		{name: "signature missing", body: mailgunJSON(q(mailgunTS), mailgunToken, "", ""), reason: ReasonSignatureMissing},
		{name: "no signature object", body: []byte(`{"event-data":{"event":"delivered"}}`), reason: ReasonSignatureMissing, note: `no "signature"`},
		{name: "signature not hex", body: mailgunJSON(q(mailgunTS), mailgunToken, "zz", ""), reason: ReasonSignatureMalformed},
		{name: "subaccount: parent signature valid", body: mailgunJSON(q(mailgunTS), mailgunToken, sig("subaccount-key", mailgunTS, mailgunToken), `,"parent-signature":"`+mailgunSig+`"`)},
		{name: "subaccount: neither valid", body: mailgunJSON(q(mailgunTS), mailgunToken, "zz", `,"parent-signature":"`+sig("x", mailgunTS, mailgunToken)+`"`),
			reason: ReasonSignatureMismatch, note: "2 signatures, 1 malformed skipped"},
		{name: "body not JSON", body: []byte(`{"signature":`), reason: ReasonSignatureMalformed},
		{name: "no Content-Type", ct: "-", body: mailgunJSON(q(mailgunTS), mailgunToken, mailgunSig, ""), reason: ReasonSignatureMissing, note: "no Content-Type"},
		{name: "unsupported Content-Type", ct: "multipart/form-data; boundary=x", body: mailgunJSON(q(mailgunTS), mailgunToken, mailgunSig, ""), reason: ReasonSignatureMalformed, note: "not supported"},
		{name: "JSON body declared as a form", ct: "application/x-www-form-urlencoded", body: mailgunJSON(q(mailgunTS), mailgunToken, mailgunSig, ""), reason: ReasonSignatureMissing},
		{name: "form with a bad pair elsewhere", ct: "application/x-www-form-urlencoded",
			body: []byte("x=%zz&timestamp=" + mailgunTS + "&token=" + mailgunToken + "&signature=" + mailgunSig), note: "malformed pairs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := "application/json"
			switch tt.ct {
			case "-":
				ct = ""
			case "":
			default:
				ct = tt.ct
			}
			res, err := v.Verify(mailgunRequest(ct, tt.body, now))
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
			} else if res.Nonce != mailgunToken {
				t.Errorf("Nonce = %q", res.Nonce)
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want %q", tr.Note, tt.note)
			}
		})
	}
}

// A replayed token (even with other event data) verifies, but yields the
// same Nonce, which the receipt's idempotency key remembers: the replay is
// admitted as a duplicate, not as a new delivery.
func TestMailgunTokenIsTheNonce(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "mailgun", Secrets: []Secret{{ID: "mg", Value: mailgunKey}}})
	now := time.Unix(1403645220, 0)
	first, err := v.Verify(mailgunRequest("application/json", mailgunJSON(`"`+mailgunTS+`"`, mailgunToken, mailgunSig, ""), now))
	wantReason(t, err, "")
	replay := []byte(strings.Replace(string(mailgunJSON(`"`+mailgunTS+`"`, mailgunToken, mailgunSig, "")), "delivered", "clicked", 1))
	second, err := v.Verify(mailgunRequest("application/json", replay, now.Add(time.Minute)))
	wantReason(t, err, "")
	if first.Nonce == "" || first.Nonce != second.Nonce {
		t.Errorf("nonces %q, %q", first.Nonce, second.Nonce)
	}
	if p, _ := LookupPreset("mailgun"); p.NonceBody != "signature.token" {
		t.Errorf("preset NonceBody = %q", p.NonceBody)
	}
	// Fresh signings use fresh tokens.
	a, b := signed(t, v, 0, testBody), signed(t, v, 0, testBody)
	ra, _ := v.Verify(a)
	rb, _ := v.Verify(b)
	if ra.Nonce == rb.Nonce || len(ra.Nonce) != 50 {
		t.Errorf("tokens %q, %q", ra.Nonce, rb.Nonce)
	}
}

func TestMailgunSign(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "mailgun", Secrets: []Secret{{ID: "mg", Value: mailgunKey}}})
	t.Run("JSON keeps the event data", func(t *testing.T) {
		req := mailgunRequest("application/json", []byte(`{"event-data":{"event":"opened"},"signature":{"token":"old"}}`), testNow)
		if err := v.Sign(req, 0); err != nil {
			t.Fatal(err)
		}
		var body struct {
			Signature map[string]string `json:"signature"`
			Event     map[string]string `json:"event-data"`
		}
		if err := json.Unmarshal(req.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Event["event"] != "opened" || body.Signature["timestamp"] != strconv.FormatInt(testNow.Unix(), 10) || body.Signature["token"] == "old" {
			t.Errorf("body = %s", req.Body)
		}
		_, err := v.Verify(req)
		wantReason(t, err, "")
	})
	t.Run("form", func(t *testing.T) {
		req := mailgunRequest("application/x-www-form-urlencoded", []byte("event=delivered&recipient=a%40b.example"), testNow)
		if err := v.Sign(req, 0); err != nil {
			t.Fatal(err)
		}
		q, err := url.ParseQuery(string(req.Body))
		if err != nil || q.Get("event") != "delivered" || q.Get("signature") == "" {
			t.Fatalf("body = %s", req.Body)
		}
		_, err = v.Verify(req)
		wantReason(t, err, "")
	})
	t.Run("empty body becomes a JSON object", func(t *testing.T) {
		req := mailgunRequest("", nil, testNow)
		if err := v.Sign(req, 0); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type = %q", req.Header.Get("Content-Type"))
		}
		_, err := v.Verify(req)
		wantReason(t, err, "")
	})
	t.Run("non-object JSON refused", func(t *testing.T) {
		if err := v.Sign(mailgunRequest("application/json", []byte(`[1]`), testNow), 0); err == nil {
			t.Error("Sign accepted a JSON array")
		}
	})
}

// FuzzMailgunVerify feeds arbitrary Content-Types and bodies to the Mailgun
// body parser and verifier: it never panics and never accepts.
func FuzzMailgunVerify(f *testing.F) {
	f.Add("application/json", mailgunJSON(`"`+mailgunTS+`"`, mailgunToken, mailgunSig, ""))
	f.Add("application/json", []byte(`{"signature":{"timestamp":1e999,"token":1,"signature":null,"parent-signature":"zz"}}`))
	f.Add("application/x-www-form-urlencoded", []byte("timestamp=1403645220&token=a&signature=9cfc5c41&x=%zz;"))
	f.Add("multipart/form-data; boundary=\"", []byte("--\r\n"))
	f.Add("", []byte(nil))
	f.Add("application/vnd.x+json", []byte(`{"signature":[]}`))
	cfg := Config{Auth: "mailgun", Secrets: []Secret{{ID: "mg", Value: "fuzz-signing-key"}}}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		req := &Request{Header: http.Header{}, Body: body, Now: time.Unix(1403645220, 0)}
		req.Header.Set("Content-Type", ct)
		res, err := mailgunScheme{}.Verify(&cfg, req)
		mustReject(t, "mailgun", res, err)
	})
}
