package ingress

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/rules"
	"github.com/hookgate/hookgate/verify"
)

// Trial is what hookgate would do with one delivery (SPEC §4.4 "Try it
// offline"), worked out without storing or dispatching anything.
type Trial struct {
	Connection     string `json:"connection"`
	ConnectionType string `json:"connection_type"`
	// Verification is the signature check (skipped on request).
	Verification TrialVerification `json:"verification"`
	// Status is the HTTP status ingress would answer; Error and Message
	// its error body, when it is an error.
	Status  int    `json:"status"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	// ValidationErrors are a synchronous schema's failures (Status 400).
	ValidationErrors []rules.SchemaError `json:"validation_errors,omitempty"`
	// Answer is the success body ingress would send (response.body json or
	// response.fields), nil for an empty answer.
	Answer any `json:"answer,omitempty"`
	// Receipt is the receipt ingress would commit, when it would.
	Receipt *TrialReceipt `json:"receipt,omitempty"`
	// Routes are every route's verdict: events, filter, schema (sync and
	// async) and transformed body, as ingest and dispatch would decide.
	Routes []rules.RouteResult `json:"routes,omitempty"`
	// DeadReason is why dispatch would send the receipt to dead without
	// calling a handler (an async schema or a transform failed).
	DeadReason string `json:"dead_reason,omitempty"`
	// Notes say what a trial cannot know (deduplication needs the store).
	Notes []string `json:"notes,omitempty"`
}

// TrialVerification is the outcome of the signature check.
type TrialVerification struct {
	Verified bool          `json:"verified"`
	Skipped  bool          `json:"skipped,omitempty"`
	SecretID string        `json:"secret_id,omitempty"`
	Reason   string        `json:"reason,omitempty"`
	Trace    *verify.Trace `json:"trace,omitempty"`
}

// TrialReceipt is the part of a receipt a trial can know.
type TrialReceipt struct {
	Status         hookgate.Status `json:"status"`
	Reason         string          `json:"reason,omitempty"`
	EventType      string          `json:"event_type"`
	Nonce          string          `json:"nonce"`
	IdempotencyKey string          `json:"idempotency_key"`
}

// Try runs a delivery through the checks ingress runs after the connection
// is found — size, authentication, envelope, schema — and the connection's
// rules at every stage, through the same functions ingress and dispatch
// use, so a trial and a real delivery cannot disagree. Nothing is stored,
// deduplicated or dispatched, and handshakes are not answered. u is the URL
// the provider calls (for schemes that sign it); now judges signed
// timestamps. With skipVerify the signature is not checked, to try rules on
// a body without signing it.
func (ep *Endpoint) Try(h http.Header, body []byte, u *url.URL, now time.Time, skipVerify bool) *Trial {
	t := &Trial{Connection: ep.Conn.Name, ConnectionType: ep.Conn.Type}
	fail := func(err error) *Trial {
		t.Status, t.Error, t.Message = hookgate.ErrorStatus(err), hookgate.ErrorCode(err), hookgate.ErrorMessage(err)
		return t
	}
	if int64(len(body)) > ep.MaxPayload {
		return fail(hookgate.Errorf(hookgate.ETooLarge, "body is %d bytes, over max_payload_bytes %d", len(body), ep.MaxPayload))
	}
	if u == nil {
		u = &url.URL{Path: ep.Conn.DefaultPath()}
	}
	var res verify.Result
	switch {
	case skipVerify:
		t.Verification.Skipped = true
	case ep.Verifier == nil:
		t.Verification.Reason = ReasonSecretNotSet
		return fail(hookgate.Errorf(hookgate.EUnauthorized, "this connection has no signing secret yet"))
	default:
		var err error
		res, err = ep.Verifier.Verify(&verify.Request{Method: http.MethodPost, URL: u, Header: h, Body: body, Now: now})
		if err != nil {
			var f *verify.Failure
			if !errors.As(err, &f) {
				return fail(err)
			}
			t.Verification.Reason, t.Verification.Trace = f.Reason, &f.Trace
			code, msg := hookgate.EUnauthorized, "signature verification failed: "+f.Reason
			if f.Status() == http.StatusConflict {
				code, msg = hookgate.EReplay, "signed timestamp outside the replay window: "+f.Reason
			}
			return fail(hookgate.Errorf(code, "%s", msg))
		}
		t.Verification.Verified, t.Verification.SecretID, t.Verification.Trace = true, res.SecretID, &res.Trace
	}
	rc, env, err := ep.accept(h, body, res)
	if err != nil {
		var verr *rules.ValidationError
		if errors.As(err, &verr) {
			t.ValidationErrors = verr.Errors
		}
		fail(err)
		if verr == nil {
			return t // the envelope did not parse: no rule can read it
		}
	} else {
		t.Receipt = &TrialReceipt{Status: rc.Status, Reason: rc.Reason, EventType: rc.EventType, Nonce: rc.Nonce, IdempotencyKey: rc.IdempotencyKey}
		t.Status = http.StatusNoContent
		if resp := ep.Conn.Response; resp != nil && resp.Status != 0 {
			t.Status = resp.Status
		}
		if data := answerData(ep, h, env, rc); data != nil {
			t.Answer = map[string]any{"success": true, "message": "Webhook received successfully", "data": data}
		} else if resp := ep.Conn.Response; resp != nil && resp.Body == "json" && t.Status != http.StatusNoContent {
			t.Answer = map[string]any{"success": true, "message": "Webhook received successfully",
				"data": map[string]any{"connection": ep.Conn.Name, "receipt_id": "(assigned on receipt)", "event_id": rc.Nonce}}
		}
		t.Notes = append(t.Notes, "deduplication is not tried: a delivery with this idempotency key within idempotency_ttl_seconds would be answered alike and recorded as duplicate")
	}
	eventType := ""
	if rc != nil {
		eventType = rc.EventType
	} else {
		eventType = rules.Extract(ep.EventType, h, env)
	}
	result := ep.Rules.Evaluate(ep.RulesInput(h, env, eventType), rules.DryRun)
	t.Routes = result.Routes
	if rc != nil && rc.Status == hookgate.StatusReceived {
		t.DeadReason = result.DeadReason()
	}
	return t
}
