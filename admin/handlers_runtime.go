package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/hookgate/hookgate"
)

// handlerInput is a handler as the API takes it: HandlerConfig leaves the
// signing secret out of its JSON, so that no answer can carry it.
type handlerInput struct {
	hookgate.HandlerConfig
	SigningSecret string `json:"signing_secret,omitempty"`
}

// handlerView is a handler as the API shows it: the signing secret only by
// id and fingerprint; header and env values only by fingerprint (they may
// hold the destination's credentials); the URL without its password.
type handlerView struct {
	hookgate.HandlerConfig
	URL           string            `json:"url,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	SigningSecret *secretView       `json:"signing_secret,omitempty"`
	Source        string            `json:"source"`
	ReadOnly      bool              `json:"read_only"`
}

func viewHandler(h hookgate.HandlerConfig, source string, fingerprint func(string) string) handlerView {
	v := handlerView{HandlerConfig: h, URL: h.URL, Source: source, ReadOnly: source != "api"}
	if u, err := url.Parse(h.URL); err == nil && u.User != nil {
		v.URL = u.Redacted()
	}
	byFingerprint := func(m map[string]string) map[string]string {
		if len(m) == 0 {
			return nil
		}
		out := make(map[string]string, len(m))
		for k, val := range m {
			out[k] = fingerprint(val)
		}
		return out
	}
	v.Headers, v.Env = byFingerprint(h.Headers), byFingerprint(h.Env)
	if h.SigningSecret != "" {
		v.SigningSecret = &secretView{ID: hookgate.SecretID(h.SigningSecret), Fingerprint: fingerprint(h.SigningSecret)}
	}
	return v
}

// cloneHandler copies h deeply, so that decoding a PATCH body into the
// copy cannot change the configuration in force.
func cloneHandler(h hookgate.HandlerConfig) hookgate.HandlerConfig {
	h.Headers, h.Env = maps.Clone(h.Headers), maps.Clone(h.Env)
	h.Command, h.Brokers = slices.Clone(h.Command), slices.Clone(h.Brokers)
	if h.Retry != nil {
		r := *h.Retry
		h.Retry = &r
	}
	if h.Circuit != nil {
		c := *h.Circuit
		h.Circuit = &c
	}
	return h
}

func (a *API) createHandler(w http.ResponseWriter, r *http.Request) {
	var in handlerInput
	if err := decode(w, r, &in); err != nil {
		Error(w, err)
		return
	}
	if in.Name == "" || in.Type == "" {
		Error(w, hookgate.Errorf(hookgate.EInvalid, "name and type are required"))
		return
	}
	h := in.HandlerConfig
	h.SigningSecret = in.SigningSecret
	if err := a.GW.AddHandler(r.Context(), &h); err != nil {
		Error(w, err)
		return
	}
	a.Logger.Info("handler registered", "handler", h.Name, "type", h.Type)
	writeJSON(w, http.StatusCreated, viewHandler(h, "api", a.GW.Fingerprint))
}

func (a *API) getHandler(w http.ResponseWriter, r *http.Request) {
	h, source, err := a.GW.Handler(r.PathValue("name"))
	if err != nil {
		Error(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewHandler(h, source, a.GW.Fingerprint))
}

// patchHandler merges the given fields into the handler: fields absent from
// the body keep their value; headers, when given, replace all headers.
func (a *API) patchHandler(w http.ResponseWriter, r *http.Request) {
	cur, source, err := a.GW.Handler(r.PathValue("name"))
	if err != nil {
		Error(w, err)
		return
	}
	if source != "api" {
		// The gateway refuses it too; answering here skips decoding.
		Error(w, hookgate.Errorf(hookgate.EReadOnly, "handler %q is not one made through the API and is read-only here", cur.Name))
		return
	}
	var raw map[string]json.RawMessage
	body, err := readBody(w, r, &raw)
	if err != nil {
		Error(w, err)
		return
	}
	next := handlerInput{HandlerConfig: cloneHandler(cur), SigningSecret: cur.SigningSecret}
	if _, ok := raw["headers"]; ok {
		next.Headers = nil
	}
	if err := decodeBytes(body, &next); err != nil {
		Error(w, err)
		return
	}
	if next.Name != cur.Name || next.Type != cur.Type {
		Error(w, hookgate.Errorf(hookgate.EInvalid, "name and type cannot change; make a new handler"))
		return
	}
	h := next.HandlerConfig
	h.SigningSecret = next.SigningSecret
	if err := a.GW.UpdateHandler(r.Context(), &h); err != nil {
		Error(w, err)
		return
	}
	a.Logger.Info("handler changed", "handler", h.Name)
	writeJSON(w, http.StatusOK, viewHandler(h, "api", a.GW.Fingerprint))
}

func (a *API) deleteHandler(w http.ResponseWriter, r *http.Request) {
	if err := a.GW.DeleteHandler(r.Context(), r.PathValue("name")); err != nil {
		Error(w, err)
		return
	}
	a.Logger.Info("handler removed", "handler", r.PathValue("name"))
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the request body (bounded) and decodes it into v too.
func readBody(w http.ResponseWriter, r *http.Request, v any) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		return nil, hookgate.Errorf(hookgate.EInvalid, "request body: %v", err)
	}
	return body, decodeBytes(body, v)
}

func decodeBytes(b []byte, v any) error { return decodeFrom(bytes.NewReader(b), v) }
