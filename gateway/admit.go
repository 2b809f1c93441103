package gateway

import (
	"context"
	"errors"
	"net/url"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/verify"
)

// Admit re-verifies a rejected receipt with the connection's current secrets
// and, if it passes, turns it into a delivery: the way back after a secret
// was fixed. It verifies as of the moment the receipt arrived, so a signed
// timestamp is judged against its arrival, not against today.
//
// Receipts of credential schemes (basic, secret, api_key) cannot be admitted:
// their credential headers are not stored.
func (g *Gateway) Admit(ctx context.Context, id string) (hookgate.Transition, *verify.Trace, error) {
	rc, err := g.store.Receipt(ctx, id)
	if err != nil {
		return hookgate.Transition{}, nil, err
	}
	if rc.Status != hookgate.StatusRejected {
		return hookgate.Transition{}, nil, hookgate.Errorf(hookgate.EConflict, "only rejected receipts can be admitted; this one is %s", rc.Status)
	}
	ep, ok := g.snap.Load().byName[rc.Connection]
	if !ok || ep.Conn.Type != rc.ConnectionType {
		return hookgate.Transition{}, nil, hookgate.Errorf(hookgate.EConflict, "connection %s/%s no longer exists", rc.ConnectionType, rc.Connection)
	}
	if ep.Verifier == nil {
		return hookgate.Transition{}, nil, hookgate.Errorf(hookgate.EConflict, "connection %s has no signing secret yet; add one first", rc.Connection)
	}
	switch ep.AuthConfig().Auth {
	case "basic", "secret", "api_key":
		return hookgate.Transition{}, nil, hookgate.Errorf(hookgate.EConflict,
			"connections with auth %s do not store the credential, so their rejected receipts cannot be re-verified; the sender must deliver again", ep.AuthConfig().Auth)
	}
	if rc.Body == nil {
		return hookgate.Transition{}, nil, hookgate.Errorf(hookgate.EConflict, "the body of this rejected receipt was not kept (size or the connection's budget); the sender must deliver it again")
	}
	u := &url.URL{Path: ep.Conn.DefaultPath()}
	res, err := ep.Verifier.Verify(&verify.Request{Method: "POST", URL: u, Header: rc.Headers, Body: rc.Body, Now: rc.ReceivedAt})
	if err != nil {
		var f *verify.Failure
		if errors.As(err, &f) {
			return hookgate.Transition{}, &f.Trace, hookgate.Errorf(hookgate.EConflict, "the receipt still does not verify: %s", f.Reason)
		}
		return hookgate.Transition{}, nil, err
	}
	admitted, err := ep.Accept(rc.Headers, rc.Body, res)
	if err != nil {
		return hookgate.Transition{}, &res.Trace, err
	}
	admitted.ID = rc.ID
	tr, err := g.store.Admit(ctx, admitted, g.now(), ep.IdempotencyTTL)
	if err != nil {
		return hookgate.Transition{}, nil, err
	}
	g.bus.Publish(tr)
	if admitted.Status == hookgate.StatusReceived {
		g.dispatcher.Notify()
	}
	g.logger.Info("rejected receipt admitted", "receipt", id, "connection", rc.Connection, "status", admitted.Status, "secret", res.SecretID)
	return tr, &res.Trace, nil
}
