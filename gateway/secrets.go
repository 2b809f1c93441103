package gateway

import (
	"context"
	"slices"

	"github.com/hookgate/hookgate"
)

// AddSecret adds a signing secret to a run-time connection for rotation:
// while both are active, a request signed with either verifies, and the
// receipt records which one did. It returns the new secret's id.
func (g *Gateway) AddSecret(ctx context.Context, typ, name, secret string) (string, error) {
	if secret == "" {
		return "", hookgate.Errorf(hookgate.EInvalid, "secret is empty")
	}
	cur, err := g.Connection(typ, name)
	if err != nil {
		return "", err
	}
	id := hookgate.SecretID(secret)
	for _, s := range cur.Secrets() {
		if hookgate.SecretID(s) == id {
			return "", hookgate.Errorf(hookgate.EConflict, "secret %s is already active on %s", id, name)
		}
	}
	next := *cur
	next.SigningSecrets = append(slices.Clone(cur.SigningSecrets), secret)
	if err := g.UpdateConnection(ctx, &next); err != nil {
		return "", err
	}
	return id, nil
}

// RetireSecret removes a signing secret by id. The last secret of a
// connection cannot be retired: a connection without secrets fails closed.
func (g *Gateway) RetireSecret(ctx context.Context, typ, name, id string) error {
	cur, err := g.Connection(typ, name)
	if err != nil {
		return err
	}
	next := *cur
	next.SigningSecret, next.SigningSecrets = "", nil
	found := false
	for _, s := range cur.Secrets() {
		if hookgate.SecretID(s) == id {
			found = true
			continue
		}
		next.SigningSecrets = append(next.SigningSecrets, s)
	}
	if !found {
		return hookgate.Errorf(hookgate.ENotFound, "no secret %s on %s", id, name)
	}
	if len(next.SigningSecrets) == 0 {
		return hookgate.Errorf(hookgate.EConflict, "%s is the last secret of %s; add its replacement first", id, name)
	}
	return g.UpdateConnection(ctx, &next)
}
