package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// CreateConnection implements hookgate.Store. Names are unique across all
// types; an existing name is EConflict.
func (db *DB) CreateConnection(ctx context.Context, c *hookgate.Connection) error {
	db.keyMu.RLock()
	defer db.keyMu.RUnlock()
	config, err := db.connectionConfig(c)
	if err != nil {
		return err
	}
	now := micros(time.Now())
	// ON CONFLICT DO NOTHING instead of matching driver-specific
	// unique-violation errors: no row inserted means the name exists.
	res, err := db.write1(ctx, `INSERT INTO connections (name, type, config, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`, c.Name, c.Type, config, now, now)
	if err != nil {
		return fmt.Errorf("create connection %s: %w", c.Name, err)
	}
	if res == 0 {
		return hookgate.Errorf(hookgate.EConflict, "connection %q already exists", c.Name)
	}
	return nil
}

// UpdateConnection implements hookgate.Store. The connection is found by type
// and name; a missing one is ENotFound.
func (db *DB) UpdateConnection(ctx context.Context, c *hookgate.Connection) error {
	db.keyMu.RLock()
	defer db.keyMu.RUnlock()
	config, err := db.connectionConfig(c)
	if err != nil {
		return err
	}
	n, err := db.write1(ctx, `UPDATE connections SET config = ?, updated_at = ?
		WHERE type = ? AND name = ?`, config, micros(time.Now()), c.Type, c.Name)
	if err != nil {
		return fmt.Errorf("update connection %s: %w", c.Name, err)
	}
	return mustAffect(n, "connection "+c.Type+"/"+c.Name)
}

// DeleteConnection implements hookgate.Store.
func (db *DB) DeleteConnection(ctx context.Context, typ, name string) error {
	n, err := db.write1(ctx, `DELETE FROM connections WHERE type = ? AND name = ?`, typ, name)
	if err != nil {
		return fmt.Errorf("delete connection %s: %w", name, err)
	}
	return mustAffect(n, "connection "+typ+"/"+name)
}

// Connections implements hookgate.Store, ordered by name.
func (db *DB) Connections(ctx context.Context) ([]*hookgate.Connection, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT name, type, config FROM connections ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	var out []*hookgate.Connection
	for rows.Next() {
		var name, typ, stored string
		if err := rows.Scan(&name, &typ, &stored); err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		config, err := db.unseal(typ, name, stored)
		if err != nil {
			return nil, fmt.Errorf("connection %s: %w", name, err)
		}
		var c hookgate.Connection
		if err := json.Unmarshal(config, &c); err != nil {
			return nil, fmt.Errorf("connection %s: %w", name, err)
		}
		c.ReadOnly = false // stored connections are editable by definition
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// connectionConfig is the stored form of a connection: its JSON, sealed
// whole (seal.go). Sealing the whole config rather than chosen fields means
// every secret it holds is covered — signing secrets, the Basic auth
// password, the API key, the verify token, secrets learned in handshakes —
// and so is any secret a field added later will hold.
func (db *DB) connectionConfig(c *hookgate.Connection) (string, error) {
	if c == nil || c.Type == "" || c.Name == "" {
		return "", hookgate.Errorf(hookgate.EInvalid, "connection type and name are required")
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("connection %s: %w", c.Name, err)
	}
	return db.seal(c.Type, c.Name, b)
}

// write1 runs one statement in the next group commit and returns the rows
// it affected.
func (db *DB) write1(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := db.inBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.d.q(query), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func mustAffect(n int64, what string) error {
	if n == 0 {
		return &hookgate.Error{Code: hookgate.ENotFound, Message: what + " not found"}
	}
	return nil
}
