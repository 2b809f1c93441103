package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"
)

func init() {
	schemeCases = append(schemeCases, providerCase("twitch", twitchSignature, func() Config {
		return Config{Auth: "twitch", Secrets: providerSecrets()}
	}))
}

// twitchSig is an independent implementation of Twitch's recipe:
// "sha256=" + hex HMAC-SHA256(secret, id + timestamp + body).
func twitchSig(secret, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id))
	m.Write([]byte(ts))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// The example challenge request of
// https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#responding-to-a-challenge-request.
// Its signature header is shortened on the page, so Twitch publishes no
// usable vector: signatures here are computed with the documented recipe
// (https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message).
const (
	twitchDocID        = "e76c6bd4-55c9-4987-8304-da1588d8988b"
	twitchDocTimestamp = "2019-11-16T10:11:12.634234626Z"
	twitchDocChallenge = `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"1","cost":1,"condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}`
)

var twitchDocNow = time.Date(2019, 11, 16, 10, 11, 15, 0, time.UTC)

func twitchDocRequest(secret, typ string) *Request {
	req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: []byte(twitchDocChallenge), Now: twitchDocNow}
	req.Header.Set(twitchID, twitchDocID)
	req.Header.Set("Twitch-Eventsub-Message-Retry", "0")
	req.Header.Set(twitchType, typ)
	req.Header.Set(twitchTimestamp, twitchDocTimestamp)
	req.Header.Set("Twitch-Eventsub-Subscription-Type", "channel.follow")
	req.Header.Set(twitchSignature, twitchSig(secret, twitchDocID, twitchDocTimestamp, req.Body))
	return req
}

func TestTwitchSignature(t *testing.T) {
	cfg := presetConfig(t, "twitch")
	v := mustVerifier(t, cfg)
	wantTS, _ := time.Parse(time.RFC3339Nano, twitchDocTimestamp)

	res, err := v.Verify(twitchDocRequest("second-provider-secret", "notification"))
	wantReason(t, err, "")
	if res.SecretID != "new" || res.Nonce != twitchDocID || !res.Timestamp.Equal(wantTS) || res.Trace.Recipe != twitchRecipe {
		t.Errorf("res = %+v", res)
	}

	tests := []struct {
		name   string
		mod    func(*Request)
		reason string
	}{
		{"one body byte changed", func(r *Request) { r.Body[3] ^= 1 }, ReasonSignatureMismatch},
		{"message id changed", func(r *Request) { r.Header.Set(twitchID, "e76c6bd4-55c9-4987-8304-da1588d8988c") }, ReasonSignatureMismatch},
		{"timestamp changed", func(r *Request) { r.Header.Set(twitchTimestamp, "2019-11-16T10:11:12.634234627Z") }, ReasonSignatureMismatch},
		{"message type is not signed", func(r *Request) { r.Header.Set(twitchType, "revocation") }, ""},
		{"wrong secret", func(r *Request) {
			r.Header.Set(twitchSignature, twitchSig("not-the-secret", twitchDocID, twitchDocTimestamp, r.Body))
		}, ReasonSignatureMismatch},
		{"stale: 10m01s later", func(r *Request) { r.Now = wantTS.Add(10*time.Minute + time.Second) }, ReasonTimestampStale},
		{"inside Twitch's 10 minutes", func(r *Request) { r.Now = wantTS.Add(9 * time.Minute) }, ""},
		{"future: 10m01s earlier", func(r *Request) { r.Now = wantTS.Add(-10*time.Minute - time.Second) }, ReasonTimestampFuture},
		{"missing signature", func(r *Request) { r.Header.Del(twitchSignature) }, ReasonSignatureMissing},
		{"missing message id", func(r *Request) { r.Header.Del(twitchID) }, ReasonSignatureMissing},
		{"missing timestamp", func(r *Request) { r.Header.Del(twitchTimestamp) }, ReasonTimestampMissing},
		{"no sha256= prefix", func(r *Request) {
			r.Header.Set(twitchSignature, strings.TrimPrefix(r.Header.Get(twitchSignature), "sha256="))
		}, ReasonSignatureMalformed},
		{"sha1= prefix", func(r *Request) {
			r.Header.Set(twitchSignature, "sha1="+strings.TrimPrefix(r.Header.Get(twitchSignature), "sha256="))
		}, ReasonSignatureMalformed},
		{"one valid among several", func(r *Request) {
			good := r.Header.Get(twitchSignature)
			r.Header.Set(twitchSignature, "sha256=nothex")
			r.Header.Add(twitchSignature, twitchSig("retired", twitchDocID, twitchDocTimestamp, r.Body))
			r.Header.Add(twitchSignature, good)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := twitchDocRequest("first-provider-secret", "notification")
			tt.mod(req)
			_, err := v.Verify(req)
			wantReason(t, err, tt.reason)
		})
	}

	// A timestamp that is not RFC 3339 is invalid (once the signature over
	// it verifies).
	for _, ts := range []string{"1573899072", "2019-11-16 10:11:12Z", "yesterday"} {
		req := twitchDocRequest("first-provider-secret", "notification")
		req.Header.Set(twitchTimestamp, ts)
		req.Header.Set(twitchSignature, twitchSig("first-provider-secret", twitchDocID, ts, req.Body))
		_, err := v.Verify(req)
		wantReason(t, err, ReasonTimestampInvalid)
	}
}

func TestTwitchReplayWindow(t *testing.T) {
	checkReplayWindow(t, mustVerifier(t, presetConfig(t, "twitch")), twitchWindow)
	cfg := presetConfig(t, "twitch")
	cfg.ReplayWindow = 2 * time.Minute
	checkReplayWindow(t, mustVerifier(t, cfg), 2*time.Minute)
}

// Sign writes what Twitch sends: it keeps a given message id (else makes
// one), stamps RFC 3339 with nanoseconds, and marks a notification.
func TestTwitchSign(t *testing.T) {
	v := mustVerifier(t, presetConfig(t, "twitch"))
	at := time.Date(2023, 11, 14, 22, 13, 20, 123456789, time.UTC)

	req := &Request{Header: http.Header{}, Body: testBody, Now: at}
	req.Header.Set(twitchID, twitchDocID)
	req.Header.Set(twitchType, "webhook_callback_verification")
	if err := v.Sign(req, 1); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get(twitchID) != twitchDocID || req.Header.Get(twitchTimestamp) != "2023-11-14T22:13:20.123456789Z" ||
		req.Header.Get(twitchType) != "webhook_callback_verification" ||
		req.Header.Get(twitchSignature) != twitchSig("second-provider-secret", twitchDocID, "2023-11-14T22:13:20.123456789Z", testBody) {
		t.Errorf("Sign = %v", req.Header)
	}
	res, err := v.Verify(req)
	wantReason(t, err, "")
	if res.Nonce != twitchDocID || !res.Timestamp.Equal(at) {
		t.Errorf("res = %+v", res)
	}

	a, b := signed(t, v, 0, testBody), signed(t, v, 0, testBody)
	if id := a.Header.Get(twitchID); len(id) != 32 || id == b.Header.Get(twitchID) || a.Header.Get(twitchType) != "notification" {
		t.Errorf("generated ids %q %q, type %q", id, b.Header.Get(twitchID), a.Header.Get(twitchType))
	}
	if err := v.Sign(&Request{}, 5); err == nil {
		t.Error("signed without a secret")
	}
}

func TestTwitchHandshake(t *testing.T) {
	p, _ := LookupPreset("twitch")
	if p.Handshake == nil {
		t.Fatal("twitch preset has no handshake")
	}
	cfg := presetConfig(t, "twitch")

	resp, handled, err := p.Handshake(&cfg, twitchDocRequest("first-provider-secret", "webhook_callback_verification"))
	if err != nil || !handled || resp == nil {
		t.Fatalf("handshake = %v %v %v", resp, handled, err)
	}
	if resp.Status != http.StatusOK || string(resp.Body) != "pogchamp-kappa-360noscope-vohiyo" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("resp = %d %v %q", resp.Status, resp.Header, resp.Body)
	}

	for name, tt := range map[string]struct {
		mod    func(*Request)
		reason string
	}{
		"bad signature": {func(r *Request) {
			r.Header.Set(twitchSignature, twitchSig("not-the-secret", twitchDocID, twitchDocTimestamp, r.Body))
		}, ReasonSignatureMismatch},
		"unsigned":                        {func(r *Request) { r.Header.Del(twitchSignature) }, ReasonSignatureMissing},
		"challenge changed after signing": {func(r *Request) { r.Body = []byte(strings.Replace(string(r.Body), "pogchamp", "kappapog", 1)) }, ReasonSignatureMismatch},
		"replayed an hour later":          {func(r *Request) { r.Now = r.Now.Add(time.Hour) }, ReasonTimestampStale},
		"no challenge": {func(r *Request) {
			r.Body = []byte(`{"subscription":{}}`)
			r.Header.Set(twitchSignature, twitchSig("first-provider-secret", twitchDocID, twitchDocTimestamp, r.Body))
		}, ReasonSignatureMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			req := twitchDocRequest("first-provider-secret", "webhook_callback_verification")
			tt.mod(req)
			resp, handled, err := p.Handshake(&cfg, req)
			if !handled || resp != nil {
				t.Fatalf("handled=%v resp=%v", handled, resp)
			}
			wantReason(t, err, tt.reason)
		})
	}

	// Notifications and revocations are not handshakes, even with a
	// "challenge" field in the body.
	for _, typ := range []string{"notification", "revocation", ""} {
		req := twitchDocRequest("first-provider-secret", typ)
		if resp, handled, err := p.Handshake(&cfg, req); handled || resp != nil || err != nil {
			t.Errorf("type %q: handled=%v", typ, handled)
		}
	}
	get := twitchDocRequest("first-provider-secret", "webhook_callback_verification")
	get.Method = http.MethodGet
	if _, handled, _ := p.Handshake(&cfg, get); handled {
		t.Error("GET handled")
	}
}

// FuzzTwitchVerify: arbitrary ids, timestamps, signatures and bodies never
// verify (or get a challenge answered) without the secret; a valid
// signature among garbage values verifies and reports the id as the nonce.
func FuzzTwitchVerify(f *testing.F) {
	f.Add(twitchDocID, twitchDocTimestamp, "sha256=f56bf6ce06a1adf46fa27831d7d15d", []byte(twitchDocChallenge))
	f.Add("", "", "", []byte{})
	f.Add("x", "2019-11-16T10:11:12Z", "sha256=", []byte(`{"challenge":"c"}`))
	f.Add("\x00", "9999-12-31T23:59:59.999999999Z", "sha256=zz", []byte{0xff})
	cfg := presetConfig(f, "twitch")
	v := mustVerifier(f, cfg)
	now := testNow.UTC().Format(time.RFC3339Nano)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, Now: testNow}
		req.Header.Set(twitchID, id)
		req.Header.Set(twitchTimestamp, ts)
		req.Header.Set(twitchSignature, sig)
		req.Header.Set(twitchType, "webhook_callback_verification")
		res, err := v.Verify(req)
		mustReject(t, "twitch", res, err)
		if resp, _, _ := twitchHandshake(&cfg, req); resp != nil {
			t.Fatalf("challenge answered without the secret: %q", resp.Body)
		}
		if id == "" {
			return
		}
		req.Header.Set(twitchTimestamp, now)
		req.Header.Add(twitchSignature, twitchSig("second-provider-secret", id, now, body))
		res, err = v.Verify(req)
		if err != nil || res.SecretID != "new" || res.Nonce != id {
			t.Fatalf("valid signature after %q: %v %+v", sig, err, res)
		}
	})
}
