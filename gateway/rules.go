package gateway

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/ingress"
	"github.com/hookgate/hookgate/rules"
)

// compileRules compiles the payload rules of a connection (filters, schemas,
// transforms, SPEC §4.4) and its nonce source, at load and whenever a
// connection is registered or changed through the admin API. Schema files
// are read relative to the config file, and only by file-defined
// connections. A transform's output is bounded by the connection's
// max_payload_bytes: no larger than a body it would accept.
func compileRules(rc *rules.Compiler, cfg *config.Config, ep *ingress.Endpoint) error {
	c := ep.Conn
	if c.Nonce != "" {
		if c.NonceHeader != "" {
			return fmt.Errorf("nonce and nonce_header are both set: set one (nonce: header:%s is the same as nonce_header)", c.NonceHeader)
		}
		if err := rules.ValidateSource(c.Nonce); err != nil {
			return fmt.Errorf("nonce: %w", err)
		}
		ep.NonceSource = c.Nonce
	}
	dir := "."
	if cfg.Path != "" {
		dir = filepath.Dir(cfg.Path)
	}
	set, err := rc.Compile(c, rules.Options{Dir: dir, Files: c.ReadOnly, MaxOutput: int(ep.MaxPayload)})
	if err != nil {
		return err
	}
	ep.Rules = set
	return nil
}

// compileAnswer checks response.fields (SPEC §2 "success"): each names a
// source the delivery has, and there are few of them.
func compileAnswer(c *hookgate.Connection) error {
	if c.Response == nil || len(c.Response.Fields) == 0 {
		return nil
	}
	if len(c.Response.Fields) > rules.MaxAnswerFields {
		return fmt.Errorf("response.fields has %d fields: at most %d", len(c.Response.Fields), rules.MaxAnswerFields)
	}
	if s := c.Response.Status; s == 0 || s == 204 {
		return fmt.Errorf("response.fields needs a status with a body (200, 201 or 202, not 204)")
	}
	for k, spec := range c.Response.Fields {
		if k == "" {
			return fmt.Errorf("response.fields: a field has an empty name")
		}
		if err := rules.ValidateAnswerSource(spec); err != nil {
			return fmt.Errorf("response.fields.%s: %w", k, err)
		}
	}
	return nil
}

// plannedRoute is a route that takes a receipt at dispatch, with the body
// its handlers get (nil: the stored body).
type plannedRoute struct {
	Handlers []string
	body     []byte
}

// planRoutes decides at dispatch which routes take r, with the current
// rules (a replay after a route change uses the new ones): event types and
// filters, then the asynchronous schemas and the transforms of the routes
// that take it. A schema failure or a failed transform ends dispatch as
// dead, with the reason, before any handler is called; a receipt no route
// takes is filtered.
func planRoutes(ep *ingress.Endpoint, r *hookgate.Receipt) ([]plannedRoute, hookgate.Status, error) {
	routes := ep.Conn.Routes
	if !ep.Rules.Active() {
		var out []plannedRoute
		for i := range routes {
			if rules.MatchEvents(routes[i].Events, r.EventType) {
				out = append(out, plannedRoute{Handlers: routes[i].Handlers})
			}
		}
		if len(out) == 0 {
			return nil, hookgate.StatusFiltered, nil
		}
		return out, "", nil
	}
	env, err := ep.Envelope(r.Headers, r.Body)
	if err != nil {
		return nil, hookgate.StatusDead, fmt.Errorf("the stored body does not parse as this connection reads bodies: %s", hookgate.ErrorMessage(err))
	}
	res := ep.Rules.Evaluate(ep.RulesInput(r.Headers, env, r.EventType), rules.AtDispatch)
	if reason := res.DeadReason(); reason != "" {
		return nil, hookgate.StatusDead, errors.New(reason)
	}
	if !res.Taken {
		return nil, hookgate.StatusFiltered, nil
	}
	var out []plannedRoute
	for _, rr := range res.Routes {
		if rr.Takes {
			out = append(out, plannedRoute{Handlers: rr.Handlers, body: rr.Body})
		}
	}
	return out, "", nil
}
