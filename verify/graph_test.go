package verify

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Graph's credential (clientState) is in the body; the header the generic
// table deletes and corrupts is Content-Type, which must declare the JSON
// the credential is read from. Only clientState is authenticated, so a
// changed body byte elsewhere still verifies.
func init() {
	schemeCases = append(schemeCases, schemeCase{
		auth: "client_state", cfg: hmacCfg("client_state", ""), header: "Content-Type", bodySigned: false, rotates: true,
		missing: ReasonSignatureMissing, malformed: ReasonSignatureMalformed, wrong: ReasonSignatureMismatch,
	})
}

// graphDocsNotification is the change notification of Microsoft's docs,
// clientState "secretClientValue":
// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#receive-notifications
const graphDocsNotification = `{
  "value": [
    {
      "id": "lsgTZMr9KwAAA",
      "subscriptionId": "{subscription_guid}",
      "subscriptionExpirationDateTime": "2016-03-19T22:11:09.952Z",
      "clientState": "secretClientValue",
      "changeType": "created",
      "resource": "users/{user_guid}@{tenant_guid}/messages/{long_id_string}",
      "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
      "resourceData": {
        "@odata.type": "#Microsoft.Graph.Message",
        "@odata.id": "Users/{user_guid}@{tenant_guid}/Messages/{long_id_string}",
        "@odata.etag": "W/\"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf\"",
        "id": "{long_id_string}"
      }
    }
  ]
}`

func graphRequest(body string) *Request {
	req := newRequest([]byte(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	return req
}

func TestGraphPublishedExample(t *testing.T) {
	p, _ := LookupPreset("microsoft-graph")
	cfg := Config{Secrets: []Secret{{ID: "sub", Value: "secretClientValue"}}}
	p.Apply(&cfg)
	v := mustVerifier(t, cfg)
	res, err := v.Verify(graphRequest(graphDocsNotification))
	wantReason(t, err, "")
	if res.SecretID != "sub" || res.Trace.Scheme != "client_state" {
		t.Errorf("result = %+v", res)
	}
	other := mustVerifier(t, Config{Auth: "client_state", Secrets: []Secret{{ID: "x", Value: "otherClientValue"}}})
	_, err = other.Verify(graphRequest(graphDocsNotification))
	wantReason(t, err, ReasonSignatureMismatch)
}

func TestGraphClientState(t *testing.T) {
	v := mustVerifier(t, Config{Auth: "client_state", Secrets: []Secret{{ID: "old", Value: "state-old"}, {ID: "new", Value: "state-new"}}})
	item := func(state string) string {
		if state == "-" {
			return `{"changeType":"updated"}`
		}
		return `{"changeType":"updated","clientState":"` + state + `"}`
	}
	batch := func(items ...string) string { return `{"value":[` + strings.Join(items, ",") + `]}` }
	tests := []struct {
		name, ct, body, reason, note, secretID string
	}{
		{name: "one", body: batch(item("state-new")), secretID: "new"},
		{name: "several, rotation across items", body: batch(item("state-new"), item("state-old")), secretID: "new"},
		{name: "one of several wrong", body: batch(item("state-old"), item("state-guess")), reason: ReasonSignatureMismatch, note: "notification 2 of 2"},
		{name: "one of several without clientState", body: batch(item("state-old"), item("-")), reason: ReasonSignatureMissing, note: "notification 2 of 2 has no clientState"},
		{name: "empty clientState", body: batch(item("")), reason: ReasonSignatureMissing},
		{name: "clientState case differs", body: batch(item("STATE-OLD")), reason: ReasonSignatureMismatch},
		{name: "clientState prefix only", body: batch(item("state-ol")), reason: ReasonSignatureMismatch},
		{name: "clientState not a string", body: `{"value":[{"clientState":1}]}`, reason: ReasonSignatureMalformed},
		{name: "empty batch", body: `{"value":[]}`, reason: ReasonSignatureMissing, note: "no notifications"},
		{name: "no value", body: `{"validationTokens":[]}`, reason: ReasonSignatureMissing},
		{name: "value not an array", body: `{"value":"state-old"}`, reason: ReasonSignatureMalformed},
		{name: "body an array", body: `[` + item("state-old") + `]`, reason: ReasonSignatureMalformed},
		{name: "body not JSON", body: `{"value":[`, reason: ReasonSignatureMalformed},
		{name: "no Content-Type", ct: "-", body: batch(item("state-old")), reason: ReasonSignatureMissing, note: "no Content-Type"},
		{name: "text/plain", ct: "text/plain", body: batch(item("state-old")), reason: ReasonSignatureMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := graphRequest(tt.body)
			switch tt.ct {
			case "-":
				req.Header.Del("Content-Type")
			case "":
			default:
				req.Header.Set("Content-Type", tt.ct)
			}
			res, err := v.Verify(req)
			f := wantReason(t, err, tt.reason)
			tr := res.Trace
			if f != nil {
				tr = f.Trace
				if f.Status() != http.StatusUnauthorized {
					t.Errorf("status %d", f.Status())
				}
			} else if res.SecretID != tt.secretID {
				t.Errorf("SecretID = %q, want %q", res.SecretID, tt.secretID)
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want %q", tr.Note, tt.note)
			}
		})
	}
	if _, err := New(Config{Auth: "client_state", Secrets: []Secret{{ID: "long", Value: strings.Repeat("x", 129)}}}); err == nil {
		t.Error("New accepted a clientState longer than Graph allows")
	}
	if _, err := New(Config{Auth: "client_state"}); err == nil {
		t.Error("New accepted no clientState")
	}
	t.Run("Sign sets every item", func(t *testing.T) {
		req := graphRequest(batch(item("x"), item("-")))
		if err := v.Sign(req, 1); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(req.Body), `"clientState":"state-new"`); n != 2 {
			t.Errorf("body = %s", req.Body)
		}
		res, err := v.Verify(req)
		wantReason(t, err, "")
		if res.SecretID != "new" {
			t.Errorf("SecretID = %q", res.SecretID)
		}
		for _, body := range []string{`[1]`, `{"value":[1]}`, `{"value":[null]}`} {
			if err := v.Sign(graphRequest(body), 0); err == nil {
				t.Errorf("Sign accepted %s", body)
			}
		}
	})
}

// Graph validates a notification URL with a POST carrying ?validationToken
// (URL-encoded), answered 200 text/plain with the decoded token. The
// handshake is unsigned.
// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notificationurl-validation
func TestGraphHandshake(t *testing.T) {
	p, _ := LookupPreset("microsoft-graph")
	if p.Handshake == nil || len(p.HandshakeMethods) != 1 || p.HandshakeMethods[0] != http.MethodPost {
		t.Fatalf("preset = %+v", p)
	}
	cfg := Config{Auth: "client_state", Secrets: []Secret{{ID: "s", Value: "state"}}}
	call := func(rawQuery string) (*HandshakeResponse, bool, error) {
		req := newRequest(nil)
		req.URL = &url.URL{Scheme: "https", Host: "hooks.example.com", Path: "/graph", RawQuery: rawQuery}
		return p.Handshake(&cfg, req)
	}
	resp, handled, err := call("validationToken=Validation%3A+Testing+client+application+reachability+for+subscription+Request-Id%3A+abc")
	if !handled || err != nil {
		t.Fatalf("handled=%v err=%v", handled, err)
	}
	if resp.Status != http.StatusOK || string(resp.Body) != "Validation: Testing client application reachability for subscription Request-Id: abc" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("resp = %d %v %q", resp.Status, resp.Header, resp.Body)
	}
	if _, handled, _ := call(""); handled {
		t.Error("a delivery without validationToken was taken for a handshake")
	}
	for name, q := range map[string]string{
		"oversize token": "validationToken=" + strings.Repeat("a", maxChallenge+1),
		"empty token":    "validationToken=",
	} {
		t.Run(name, func(t *testing.T) {
			_, handled, err := call(q)
			if !handled {
				t.Fatal("not handled")
			}
			wantReason(t, err, ReasonSignatureMalformed)
		})
	}
}

// FuzzClientState feeds arbitrary Content-Types and bodies to the Graph
// batch parser: it never panics and never accepts without the clientState.
func FuzzClientState(f *testing.F) {
	f.Add("application/json", []byte(graphDocsNotification))
	f.Add("application/json", []byte(`{"value":[{"clientState":"x"},{"clientState":null},1]}`))
	f.Add("application/json; charset=\"", []byte(`{"value":[]}`))
	f.Add("", []byte(nil))
	f.Add("text/plain", []byte(`[{"clientState":"fuzz-client-state"`))
	cfg := Config{Auth: "client_state", Secrets: []Secret{{ID: "s", Value: "fuzz-client-state"}}}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, Now: testNow}
		req.Header.Set("Content-Type", ct)
		res, err := clientStateScheme{}.Verify(&cfg, req)
		if err == nil && !strings.Contains(string(body), "fuzz-client-state") && !strings.Contains(string(body), `\u`) && !strings.Contains(string(body), `\`) {
			t.Fatalf("accepted without the clientState: %q", body)
		}
		if err != nil {
			mustReject(t, "client_state", res, err)
		}
	})
}
