package ingress

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/rules"
)

// Envelope checks a verified body (SPEC §2 check 8) the way this connection
// takes bodies: JSON object; a batch array where the provider batches; a
// form where the provider posts forms (or accept_form is set), GitHub's
// form mode reading its payload field; an empty body where the provider
// sends one. Ingress and dispatch (a transform reads the stored body) share
// it, so both read a body alike.
func (ep *Endpoint) Envelope(h http.Header, body []byte) (rules.Envelope, error) {
	var env rules.Envelope
	if ep.AllowEmptyBody && len(bytes.TrimSpace(body)) == 0 {
		return env, nil
	}
	var err error
	ct := h.Get("Content-Type")
	form := rules.IsForm(ct)
	switch {
	case form && ep.FormPayload != "":
		env, err = rules.ParseFormPayload(body, ep.FormPayload)
	case form && !ep.AcceptForm:
		err = errFormRefused
	case ep.AllowArrayBody && bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("[")):
		env, err = rules.ParseBatch(body)
	default:
		env, err = rules.ParseEnvelope(ct, body)
	}
	return env, err
}

// RulesInput is what the connection's rules see of a verified delivery.
func (ep *Endpoint) RulesInput(h http.Header, env rules.Envelope, eventType string) *rules.Input {
	return &rules.Input{ConnectionName: ep.Conn.Name, ConnectionType: ep.Conn.Type, Header: h, Env: env, EventType: eventType}
}

// decide runs the connection's rules at ingest (filters, synchronous
// schemas) on a receipt being accepted, and reports whether a route takes
// it. A body that fails a synchronous schema is an error (400
// validation_failed) carrying the *rules.ValidationError. A delivery no
// route takes because a filter could not be evaluated keeps the reason.
func (ep *Endpoint) decide(rc *hookgate.Receipt, h http.Header, env rules.Envelope) (bool, error) {
	res := ep.Rules.Evaluate(ep.RulesInput(h, env, rc.EventType), rules.AtIngest)
	if inv := res.Invalid(); inv != nil {
		return false, &hookgate.Error{Code: hookgate.EValidation, Message: inv.Message(), Err: inv}
	}
	if !res.Taken {
		rc.Reason = res.FilterNote()
	}
	return res.Taken, nil
}

// validationFailed answers a body that fails a synchronous route's schema
// (SPEC §2 check 9): 400 with every error's JSON pointer, after recording a
// rejected receipt with reason validation_failed whose trace holds the
// errors. The delivery was verified, so its body is kept (within the
// connection's budget of rejected receipts) for the operator to read.
func (s *Server) validationFailed(w http.ResponseWriter, r *http.Request, ep *Endpoint, now time.Time, verr *rules.ValidationError, body []byte) {
	trace, _ := json.Marshal(map[string]any{"route": verr.Route, "validation_errors": verr.Errors})
	s.recordRejected(r, ep, now, rules.ReasonValidationFailed, trace, body, "")
	if o, ok := w.(*observed); ok {
		o.errorType = hookgate.EValidation
	}
	writeJSON(w, http.StatusBadRequest, map[string]any{
		"error":   hookgate.EValidation,
		"message": verr.Message(),
		"errors":  verr.Errors,
	})
}

// answerData is the data object of the success answer when the connection
// sets response.fields, else nil (the default answer).
func answerData(ep *Endpoint, h http.Header, env rules.Envelope, rc *hookgate.Receipt) map[string]any {
	resp := ep.Conn.Response
	if resp == nil || len(resp.Fields) == 0 {
		return nil
	}
	id := rc.ID
	if rc.DuplicateOf != "" {
		id = rc.DuplicateOf
	}
	return rules.AnswerFields(resp.Fields, h, env, rules.ReceiptNames{
		ID: id, EventType: rc.EventType, Nonce: rc.Nonce, IdempotencyKey: rc.IdempotencyKey,
		ConnectionName: ep.Conn.Name, ConnectionType: ep.Conn.Type,
	})
}
