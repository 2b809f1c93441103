package gateway

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/hookgate/hookgate"
)

// TestFormBodiesOnlyWhereTheProviderPostsThem: SPEC §4.4. A form content
// type on a connection whose provider posts JSON is refused with 400, naming
// the content type to send, instead of skipping the JSON-object check (a
// JSON body sent with curl's default content type lost its event type that
// way). GitHub's form mode carries its JSON in the payload field, which must
// be a JSON object; accept_form: true opts a connection into forms.
func TestFormBodiesOnlyWhereTheProviderPostsThem(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, `
handlers:
  - {name: audit, type: log}
connections:
  - {type: github, name: gh, signing_secret: gh-secret, routes: [{handlers: [audit]}]}
  - {type: intercom, name: ic, signing_secret: ic-secret, routes: [{events: [conversation.user.created], handlers: [audit]}]}
  - {type: intercom, name: icform, signing_secret: ic-secret, accept_form: true, routes: [{handlers: [audit]}]}
`)
	const form = "application/x-www-form-urlencoded"
	github := func(body, contentType string) (int, []byte) {
		m := hmac.New(sha256.New, []byte("gh-secret"))
		m.Write([]byte(body))
		h := http.Header{"X-Github-Delivery": {uuid.NewString()}, "X-Github-Event": {"issues"},
			"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(m.Sum(nil))}, "Content-Type": {contentType}}
		return tg.post("/webhooks/github/gh", h, []byte(body))
	}
	intercom := func(name, body, contentType string) (int, []byte) {
		m := hmac.New(sha1.New, []byte("ic-secret"))
		m.Write([]byte(body))
		h := http.Header{"X-Hub-Signature": {"sha1=" + hex.EncodeToString(m.Sum(nil))}, "Content-Type": {contentType}}
		return tg.post("/webhooks/intercom/"+name, h, []byte(body))
	}

	// GitHub's form mode: payload=<JSON object>.
	for _, payload := range []string{`[1,2]`, `plain text`, `{"action":`} {
		if st, b := github("payload="+url.QueryEscape(payload), form); st != 400 {
			t.Errorf("payload=%s: %d %s, want 400", payload, st, b)
		} else {
			assertErrorBody(t, b, hookgate.EMalformed)
		}
	}
	for _, body := range []string{`[1,2]`, `plain text`, `{"action":`} {
		st, b := github(body, form)
		if st != 400 || !strings.Contains(string(b), "payload") {
			t.Errorf("%s as a form without payload: %d %s, want 400 naming the payload field", body, st, b)
		}
	}
	if st, b := github("payload="+url.QueryEscape(`{"action":"opened","issue":{"id":1}}`), form); st != 204 {
		t.Fatalf("GitHub form mode: %d %s, want 204", st, b)
	}
	if st, b := github(`{"action":"opened"}`, "application/json"); st != 204 {
		t.Fatalf("GitHub JSON: %d %s", st, b)
	}

	// Intercom posts JSON: a JSON body sent as a form is refused with the
	// content type to send, not stored with its topic lost.
	body := `{"topic":"conversation.user.created","id":"notif_1","data":{}}`
	st, b := intercom("ic", body, form)
	if st != 400 || !strings.Contains(string(b), "Content-Type: application/json") {
		t.Fatalf("Intercom JSON sent as a form: %d %s, want 400 naming application/json", st, b)
	}
	assertErrorBody(t, b, hookgate.EMalformed)
	if st, b := intercom("ic", body, "application/json"); st != 204 {
		t.Fatalf("Intercom JSON: %d %s", st, b)
	}
	rs := tg.receipts("ic")
	if len(rs) != 1 || rs[0].EventType != "conversation.user.created" || rs[0].Status == hookgate.StatusFiltered {
		t.Fatalf("Intercom receipts = %+v, want one routed conversation.user.created", rs)
	}
	// accept_form: true takes the form's fields as the envelope.
	if st, b := intercom("icform", "topic=ping&id=notif_2", form); st != 204 {
		t.Fatalf("accept_form: %d %s, want 204", st, b)
	}
}
