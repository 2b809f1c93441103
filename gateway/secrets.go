package gateway

import (
	"context"
	"fmt"
	"slices"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/secrets"
)

// keyedStore is a store that seals connection secrets under a key
// (*store.DB).
type keyedStore interface {
	Keys() *secrets.Keyring
	RotateKey(ctx context.Context) (secrets.Rotation, error)
}

// Fingerprint is what the API and CLI show of a secret: a keyed
// fingerprint (secrets.Keyring.Fingerprint) under the store's key, so that
// an API answer or a log cannot confirm a guessed secret offline. A gateway
// on a store without a key uses a key of its own, made at start: its
// fingerprints then change with every restart.
func (g *Gateway) Fingerprint(secret string) string {
	if ks, ok := g.store.(keyedStore); ok {
		if r := ks.Keys(); r != nil {
			return r.Fingerprint(secret)
		}
	}
	return g.ownKeys.Fingerprint(secret)
}

// RotateKey replaces the key that seals stored connection secrets and
// re-seals them all under the new one (store.DB.RotateKey). It runs inside
// the server, holding the lock every connection change takes, so nothing
// is sealed under the old key meanwhile, and the server goes on opening
// what it stores without a restart. The connections in use are unchanged:
// only their stored form is.
func (g *Gateway) RotateKey(ctx context.Context) (secrets.Rotation, error) {
	ks, ok := g.store.(keyedStore)
	if !ok {
		return secrets.Rotation{}, hookgate.Errorf(hookgate.EInvalid, "this gateway's store has no secret key to rotate")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	rot, err := ks.RotateKey(ctx)
	if err != nil {
		return rot, err
	}
	g.logger.Info("secret key rotated", "key", rot.KeyID, "resealed", rot.Resealed)
	return rot, nil
}

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

// learnSecret stores a secret a provider handed over in its handshake
// (Asana's X-Hook-Secret) as the connection's signing secret, so the next
// delivery signed with it verifies. The handshake itself is unsigned, so
// anyone who knows the URL can send one: a secret is learned only while the
// connection has none (it is "armed"); a repeated handshake with the secret
// already held is answered, and any other secret is refused (EForbidden),
// or a stranger could add a key of their own and forge deliveries. To take
// a new webhook on an armed-and-used connection, retire its secrets first
// (DELETE …/secrets/{id}) or register another connection. File-defined
// connections are read-only at run time: the handshake is refused
// (EReadOnly) unless the file already holds the secret. The secret is never
// logged; only its id is.
func (g *Gateway) learnSecret(ctx context.Context, conn *hookgate.Connection, secret string) (string, error) {
	id := hookgate.SecretID(secret)
	for _, s := range conn.Secrets() {
		if hookgate.SecretID(s) == id {
			return id, nil
		}
	}
	if len(conn.Secrets()) > 0 {
		return "", hookgate.Errorf(hookgate.EForbidden,
			"connection %q already has a signing secret; an unsigned handshake cannot add another (retire the connection's secrets to take a new webhook, or register a new connection)", conn.Name)
	}
	if conn.ReadOnly {
		return "", hookgate.Errorf(hookgate.EReadOnly,
			"connection %q is defined in the config file, so hookgate cannot store the signing secret the provider hands over in this handshake; register the connection through the admin API (hookgate connections add) instead", conn.Name)
	}
	got, err := g.AddSecret(ctx, conn.Type, conn.Name, secret)
	if hookgate.ErrorCode(err) == hookgate.EConflict {
		if cur, cerr := g.Connection(conn.Type, conn.Name); cerr == nil && slices.ContainsFunc(cur.Secrets(), func(s string) bool { return hookgate.SecretID(s) == id }) {
			return id, nil // learned by a concurrent handshake
		}
	}
	if err != nil {
		return "", fmt.Errorf("learn secret %s for %s: %w", id, conn.Name, err)
	}
	g.logger.Info("signing secret learned in handshake", "connection", conn.Name, "secret", got)
	return got, nil
}
