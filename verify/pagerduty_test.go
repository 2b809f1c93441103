package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

func init() {
	schemeCases = append(schemeCases, providerCase("pagerduty", pagerdutySignature, func() Config {
		return Config{Auth: "pagerduty", Secrets: providerSecrets()}
	}))
}

// PagerDuty's published vector: the official Go client's test
// (https://github.com/PagerDuty/go-pagerduty/blob/main/webhookv3/webhookv3_test.go),
// recipe at https://developer.pagerduty.com/docs/webhooks/webhook-signatures/.
// PagerDuty v3 signs no timestamp, so there is no replay window to test.
const (
	pagerdutySDKSecret = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"
	pagerdutySDKSig    = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
	pagerdutySDKBad    = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5"
	pagerdutySDKBody   = `{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident","occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"client":null,"data":{"id":"PGR0VU2","type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":"A little bump in the road","service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH","self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G","self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE","self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default","type":"escalation_policy_reference"},"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering","type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities","id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,"conference_url":"https://example.com"},"resolve_reason":null}}}`
)

func TestPagerDutyPublishedExample(t *testing.T) {
	cfg := presetConfig(t, "pagerduty")
	cfg.Secrets = []Secret{{ID: "retired", Value: "a-retired-pagerduty-secret"}, {ID: "pd", Value: pagerdutySDKSecret}}
	v := mustVerifier(t, cfg)
	verify := func(header string, body string) (Result, error) {
		req := newRequest([]byte(body))
		if header != "" {
			req.Header.Set("X-PagerDuty-Signature", header)
		}
		return v.Verify(req)
	}

	res, err := verify(pagerdutySDKSig, pagerdutySDKBody)
	wantReason(t, err, "")
	if res.SecretID != "pd" || res.Trace.Scheme != "pagerduty" {
		t.Errorf("res = %+v", res)
	}
	out := &Request{Header: http.Header{}, Body: []byte(pagerdutySDKBody)}
	if err := v.Sign(out, 1); err != nil {
		t.Fatal(err)
	}
	if got := out.Header.Get("X-PagerDuty-Signature"); got != pagerdutySDKSig {
		t.Errorf("Sign = %s, want %s", got, pagerdutySDKSig)
	}

	changed := strings.Replace(pagerdutySDKBody, `"number":2`, `"number":3`, 1)
	retired := "v1=" + hex.EncodeToString(hmacSum("some-other-secret", pagerdutySDKBody))
	for _, tt := range []struct {
		name, header, body, reason, note string
	}{
		{"SDK mismatch vector", pagerdutySDKBad, pagerdutySDKBody, ReasonSignatureMismatch, ""},
		{"missing header", "", pagerdutySDKBody, ReasonSignatureMissing, ""},
		{"one body byte changed", pagerdutySDKSig, changed, ReasonSignatureMismatch, ""},
		// Rotation: one v1 per active secret, comma separated, in any order.
		{"v1=…,v1=… valid second", pagerdutySDKBad + "," + pagerdutySDKSig, pagerdutySDKBody, "", ""},
		{"v1=…, v1=… with a space", pagerdutySDKSig + ", " + retired, pagerdutySDKBody, "", ""},
		{"malformed entries skipped", "v1=zz,garbage," + pagerdutySDKSig + ",v1=", pagerdutySDKBody, "", "4 signatures, 3 malformed skipped"},
		{"other versions ignored", "v2=" + strings.TrimPrefix(pagerdutySDKSig, "v1=") + "," + pagerdutySDKSig, pagerdutySDKBody, "", ""},
		{"only another version", "v2=" + strings.TrimPrefix(pagerdutySDKSig, "v1="), pagerdutySDKBody, ReasonSignatureMalformed, ""},
		{"no v1= prefix", strings.TrimPrefix(pagerdutySDKSig, "v1="), pagerdutySDKBody, ReasonSignatureMalformed, ""},
		{"only wrong secrets' signatures", retired + "," + pagerdutySDKBad, pagerdutySDKBody, ReasonSignatureMismatch, ""},
		{"garbage", "%%not a signature%%", pagerdutySDKBody, ReasonSignatureMalformed, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := verify(tt.header, tt.body)
			f := wantReason(t, err, tt.reason)
			tr := res.Trace
			if f != nil {
				tr = f.Trace
			}
			if !strings.Contains(tr.Note, tt.note) {
				t.Errorf("note = %q, want %q", tr.Note, tt.note)
			}
		})
	}

	// The list split over several header lines is the same list.
	req := newRequest([]byte(pagerdutySDKBody))
	req.Header.Add("X-PagerDuty-Signature", pagerdutySDKBad)
	req.Header.Add("X-PagerDuty-Signature", pagerdutySDKSig)
	_, err = v.Verify(req)
	wantReason(t, err, "")
}

func hmacSum(key, msg string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func TestPagerDutyParse(t *testing.T) {
	for header, want := range map[string]struct {
		sigs      string
		malformed int
	}{
		"v1=a,v1=b":        {"a|b", 0},
		" v1=a , v1=b ":    {"a|b", 0},
		"v1=a,v2=b,v0=c":   {"a", 0},
		"v1=,v1,=,,":       {"", 3},
		"v1=a=b":           {"a=b", 0},
		"":                 {"", 0},
		"V1=a":             {"", 0},
		"v1=a;v1=b":        {"a;v1=b", 0},
		"v1=a,,,v1=b,junk": {"a|b", 1},
	} {
		sigs, malformed := parsePagerDutySignatures(header)
		if strings.Join(sigs, "|") != want.sigs || malformed != want.malformed {
			t.Errorf("%q: %q %d, want %q %d", header, sigs, malformed, want.sigs, want.malformed)
		}
	}
}

// FuzzPagerDutyHeader checks the v1=…,v1=… parser and the scheme: no panic,
// every signature is a piece of the header, nothing verifies without the
// secret, and a valid v1 appended after any garbage verifies.
func FuzzPagerDutyHeader(f *testing.F) {
	for _, s := range []string{pagerdutySDKSig, pagerdutySDKBad + "," + pagerdutySDKSig, "v1=,v1", ",,,", "v1=zz, v2=aa", "="} {
		f.Add(s, []byte(`{"event":{"id":"1"}}`))
	}
	v := mustVerifier(f, presetConfig(f, "pagerduty"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		sigs, malformed := parsePagerDutySignatures(header)
		for _, s := range sigs {
			if s == "" || !strings.Contains(header, s) {
				t.Fatalf("signature %q not in %q", s, header)
			}
		}
		if len(sigs)+malformed > strings.Count(header, ",")+1 {
			t.Fatalf("%d+%d entries in %q", len(sigs), malformed, header)
		}
		req := &Request{Method: http.MethodPost, Header: http.Header{}, Body: body, Now: testNow}
		req.Header.Set(pagerdutySignature, header)
		res, err := v.Verify(req)
		mustReject(t, "pagerduty", res, err)

		req.Header.Set(pagerdutySignature, header+",v1="+hex.EncodeToString(hmacSum("second-provider-secret", string(body))))
		if res, err := v.Verify(req); err != nil || res.SecretID != "new" {
			t.Fatalf("valid v1 after %q: %v", header, err)
		}
	})
}
