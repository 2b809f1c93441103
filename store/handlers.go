package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// storedHandler is the stored form of a run-time handler: its config with
// the signing secret, which HandlerConfig leaves out of its JSON so that no
// API answer can carry it. The row holds it sealed (seal.go).
type storedHandler struct {
	hookgate.HandlerConfig
	SigningSecret string `json:"signing_secret,omitempty"`
}

// handlerAD binds a sealed handler config to its row, as connectionAD does
// for connections; the prefix keeps a handler's sealed config from opening
// in a connection's row and the reverse.
func handlerAD(name string) []byte {
	return []byte("hookgate handler v1\x00" + name)
}

// CreateHandler implements hookgate.Store. An existing name is EConflict.
func (db *DB) CreateHandler(ctx context.Context, h *hookgate.HandlerConfig) error {
	db.keyMu.RLock()
	defer db.keyMu.RUnlock()
	config, err := db.handlerConfig(h)
	if err != nil {
		return err
	}
	now := micros(time.Now())
	res, err := db.write1(ctx, `INSERT INTO handlers (name, type, config, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`, h.Name, h.Type, config, now, now)
	if err != nil {
		return fmt.Errorf("create handler %s: %w", h.Name, err)
	}
	if res == 0 {
		return hookgate.Errorf(hookgate.EConflict, "handler %q already exists", h.Name)
	}
	return nil
}

// UpdateHandler implements hookgate.Store. A missing name is ENotFound.
func (db *DB) UpdateHandler(ctx context.Context, h *hookgate.HandlerConfig) error {
	db.keyMu.RLock()
	defer db.keyMu.RUnlock()
	config, err := db.handlerConfig(h)
	if err != nil {
		return err
	}
	n, err := db.write1(ctx, `UPDATE handlers SET type = ?, config = ?, updated_at = ? WHERE name = ?`,
		h.Type, config, micros(time.Now()), h.Name)
	if err != nil {
		return fmt.Errorf("update handler %s: %w", h.Name, err)
	}
	return mustAffect(n, "handler "+h.Name)
}

// DeleteHandler implements hookgate.Store.
func (db *DB) DeleteHandler(ctx context.Context, name string) error {
	n, err := db.write1(ctx, `DELETE FROM handlers WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete handler %s: %w", name, err)
	}
	return mustAffect(n, "handler "+name)
}

// Handlers implements hookgate.Store, ordered by name.
func (db *DB) Handlers(ctx context.Context) ([]*hookgate.HandlerConfig, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT name, config FROM handlers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list handlers: %w", err)
	}
	defer rows.Close()
	var out []*hookgate.HandlerConfig
	for rows.Next() {
		var name, stored string
		if err := rows.Scan(&name, &stored); err != nil {
			return nil, fmt.Errorf("list handlers: %w", err)
		}
		plain, err := db.open(stored, handlerAD(name))
		if err != nil {
			return nil, fmt.Errorf("handler %s: %w", name, err)
		}
		var s storedHandler
		if err := json.Unmarshal(plain, &s); err != nil {
			return nil, fmt.Errorf("handler %s: %w", name, err)
		}
		h := s.HandlerConfig
		h.SigningSecret = s.SigningSecret
		out = append(out, &h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list handlers: %w", err)
	}
	return out, nil
}

// handlerConfig is the sealed stored form of a handler.
func (db *DB) handlerConfig(h *hookgate.HandlerConfig) (string, error) {
	if h == nil || h.Name == "" || h.Type == "" {
		return "", hookgate.Errorf(hookgate.EInvalid, "handler name and type are required")
	}
	b, err := json.Marshal(storedHandler{HandlerConfig: *h, SigningSecret: h.SigningSecret})
	if err != nil {
		return "", fmt.Errorf("handler %s: %w", h.Name, err)
	}
	r := db.keys.Load()
	if r == nil {
		return "", errNoKey
	}
	return r.Seal(b, handlerAD(h.Name)), nil
}
