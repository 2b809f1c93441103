package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// clientStateScheme is Microsoft Graph change notifications: Graph sends no
// signature header. Each notification in the body's "value" array carries
// the clientState given when the subscription was created, and the receiver
// must check it. A delivery passes only when EVERY notification's
// clientState equals an active secret (a batch may mix subscriptions, so
// each may match a different one while secrets are rotated); an empty batch
// or a notification without clientState fails.
// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#receive-notifications
//
// The credential travels in the body, so the body is parsed (only when
// Content-Type declares JSON) before anything is verified, and nothing else
// of the body is authenticated. Rich
// notifications' validationTokens (JWTs) are not checked.
type clientStateScheme struct{}

// graphMaxClientState is Graph's limit on clientState: "The maximum length
// is 128 characters."
// https://learn.microsoft.com/en-us/graph/api/resources/subscription#properties
const graphMaxClientState = 128

const clientStateRecipe = `every value[].clientState of the body equals a secret`

var _ = scheme("client_state", clientStateScheme{})

func (clientStateScheme) NeedsSecret() bool { return true }

func (clientStateScheme) Validate(cfg *Config) error {
	if err := requireSecretValues(cfg); err != nil {
		return err
	}
	for i, s := range cfg.Secrets {
		if len(s.Value) > graphMaxClientState {
			return fmt.Errorf("secret %s is longer than the %d characters Graph allows for clientState", secretID(s, i), graphMaxClientState)
		}
	}
	return nil
}

// graphBatch is the part of a notification batch the scheme reads.
type graphBatch struct {
	Value []struct {
		ClientState *string `json:"clientState"`
	} `json:"value"`
}

func (clientStateScheme) Verify(cfg *Config, req *Request) (Result, error) {
	tr := Trace{Scheme: "client_state", Header: "body value[].clientState", Recipe: clientStateRecipe}
	// Graph always declares its JSON body; a credential is read only from a
	// body that says it is JSON.
	if ct := req.Header.Get("Content-Type"); ct == "" {
		tr.Note = "no Content-Type: Graph sends application/json"
		return fail(ReasonSignatureMissing, tr)
	} else if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		tr.Note = "Content-Type is not application/json"
		return fail(ReasonSignatureMalformed, tr)
	}
	var b graphBatch
	if err := json.Unmarshal(req.Body, &b); err != nil {
		tr.Note = "body is not a Graph notification batch (JSON object with a value array)"
		return fail(ReasonSignatureMalformed, tr)
	}
	if len(b.Value) == 0 {
		tr.Note = "no notifications in value"
		return fail(ReasonSignatureMissing, tr)
	}
	tr.SecretsTried = make([]string, 0, len(cfg.Secrets))
	for i, s := range cfg.Secrets {
		tr.SecretsTried = append(tr.SecretsTried, secretID(s, i))
	}
	first := -1
	for n, item := range b.Value {
		if item.ClientState == nil || *item.ClientState == "" {
			tr.Note = fmt.Sprintf("notification %d of %d has no clientState", n+1, len(b.Value))
			return fail(ReasonSignatureMissing, tr)
		}
		match := -1
		for i, s := range cfg.Secrets {
			// Every secret is compared, matched or not, so the time taken
			// does not say which one matched.
			if s.Value != "" && equalCredential(*item.ClientState, s.Value) && match < 0 {
				match = i
			}
		}
		if match < 0 {
			tr.Note = fmt.Sprintf("notification %d of %d: clientState matches no secret", n+1, len(b.Value))
			return fail(ReasonSignatureMismatch, tr)
		}
		if first < 0 {
			first = match
		}
	}
	return Result{SecretID: secretID(cfg.Secrets[first], first), Trace: tr}, nil
}

// Sign sets clientState on every notification of the body's value array;
// a JSON object without one gets a value array of one notification.
func (clientStateScheme) Sign(_ *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	obj := map[string]json.RawMessage{}
	if len(req.Body) > 0 {
		if err := json.Unmarshal(req.Body, &obj); err != nil {
			return errors.New("sign: client_state body is not a JSON object")
		}
	}
	var items []map[string]json.RawMessage
	if raw, ok := obj["value"]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return errors.New("sign: client_state body's value is not an array of objects")
		}
	}
	if len(items) == 0 {
		items = []map[string]json.RawMessage{{}}
	}
	state, _ := json.Marshal(secret.Value)
	for _, it := range items {
		if it == nil {
			return errors.New("sign: client_state body's value holds a null")
		}
		it["clientState"] = state
	}
	v, err := json.Marshal(items)
	if err != nil {
		return err
	}
	obj["value"] = v
	if req.Body, err = json.Marshal(obj); err != nil {
		return err
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return nil
}

func init() {
	registerPreset(Preset{
		// Graph validates a new subscription's notificationUrl with a POST
		// carrying ?validationToken=… (graphHandshake); the secret is the
		// subscription's clientState. Notifications name their
		// subscription and change per item, not at the top level.
		Type: "microsoft-graph", Auth: "client_state",
		Handshake:        graphHandshake,
		HandshakeMethods: []string{http.MethodPost},
		Doc:              "https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks",
	})
}
