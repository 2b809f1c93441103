package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/secrets"
)

// SealingEnv is what RunSealing needs of a dialect.
type SealingEnv struct {
	// URL returns the storage URL of a new, empty database, dropped when t
	// ends. Each call is a new database; opening one URL twice reopens it.
	URL func(t *testing.T) string
	// Raw opens the database of url directly, bypassing the store, to read
	// and write rows as someone holding a copy of the database would.
	Raw func(t *testing.T, url string) *sql.DB
	// Open opens the store at url with its key in keyFile (created if
	// missing), or, when keyFile is empty, with key as HOOKGATE_SECRET_KEY.
	Open func(url, keyFile, key string) (SealedStore, error)
}

// SealedStore is a Store that seals the connections it stores.
type SealedStore interface {
	hookgate.Store
	Keys() *secrets.Keyring
	Fingerprint(secret string) string
	RotateKey(ctx context.Context) (secrets.Rotation, error)
}

// RunSealing checks SPEC §9 on a store: every secret a stored connection
// holds is sealed in the row, a sealed row does not open in another row or
// under another key, rows stored in clear by older versions are sealed on
// open, and RotateKey re-seals every row under a new key.
func RunSealing(t *testing.T, env SealingEnv) {
	t.Run("SecretsSealedAtRest", func(t *testing.T) { testSecretsSealedAtRest(t, env) })
	t.Run("SealedRowBoundToConnection", func(t *testing.T) { testSealedRowBound(t, env) })
	t.Run("WrongKeyRefused", func(t *testing.T) { testWrongKeyRefused(t, env) })
	t.Run("PlaintextRowsSealedOnOpen", func(t *testing.T) { testPlaintextSealedOnOpen(t, env) })
	t.Run("RotateKey", func(t *testing.T) { testRotateKey(t, env) })
	t.Run("RotateKeyWhileWriting", func(t *testing.T) { testRotateWhileWriting(t, env) })
	t.Run("RotationInterruptedBeforeReseal", func(t *testing.T) { testRotationInterrupted(t, env) })
	t.Run("RotateKeyFromEnvRefused", func(t *testing.T) { testRotateEnvRefused(t, env) })
	t.Run("HandlerSecretsSealed", func(t *testing.T) { testHandlerSecretsSealed(t, env) })
}

// secretful is a connection holding one of each kind of secret, each a
// distinct string the raw row is searched for.
func secretful(name string) (*hookgate.Connection, []string) {
	c := &hookgate.Connection{
		Type: "github", Name: name,
		SigningSecret:  "signing-one-" + name,
		SigningSecrets: []string{"signing-two-" + name},
		BasicAuth:      &hookgate.BasicAuth{Username: "ops", Password: "basic-password-" + name},
		APIKey:         &hookgate.APIKey{Header: "X-Api-Key", Value: "api-key-value-" + name},
		VerifyToken:    "verify-token-" + name,
		Routes:         []hookgate.Route{{Handlers: []string{"h"}}},
	}
	return c, []string{c.SigningSecret, c.SigningSecrets[0], c.BasicAuth.Password, c.APIKey.Value, c.VerifyToken}
}

func openSealed(t *testing.T, env SealingEnv, url, keyFile, key string) SealedStore {
	t.Helper()
	db, err := env.Open(url, keyFile, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rawConfig(t *testing.T, raw *sql.DB, name string) string {
	t.Helper()
	var config string
	if err := raw.QueryRow(`SELECT config FROM connections WHERE name = '` + name + `'`).Scan(&config); err != nil {
		t.Fatalf("raw row %s: %v", name, err)
	}
	return config
}

func assertNoSecrets(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the secret %q in clear", where, s)
		}
	}
}

func keyFile(t *testing.T) string { return filepath.Join(t.TempDir(), "hookgate.key") }

func testSecretsSealedAtRest(t *testing.T, env SealingEnv) {
	ctx := context.Background()
	url := env.URL(t)
	db := openSealed(t, env, url, keyFile(t), "")
	c, plain := secretful("primary")
	if err := db.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	raw := env.Raw(t, url)
	stored := rawConfig(t, raw, "primary")
	assertNoSecrets(t, "the connection row", stored, plain)
	if got := secrets.SealedKeyID(stored); got != db.Keys().Current().ID() {
		t.Errorf("row sealed under key %q, want the current key %q", got, db.Keys().Current().ID())
	}
	// An update is sealed too (a learned or rotated secret arrives this way).
	c.SigningSecrets = append(c.SigningSecrets, "signing-three-primary")
	if err := db.UpdateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "the updated row", rawConfig(t, raw, "primary"), append(plain, "signing-three-primary"))
	assertOnlyConnection(t, db, c)
}

func testSealedRowBound(t *testing.T, env SealingEnv) {
	ctx := context.Background()
	url := env.URL(t)
	db := openSealed(t, env, url, keyFile(t), "")
	a, plain := secretful("alpha")
	b, _ := secretful("beta")
	for _, c := range []*hookgate.Connection{a, b} {
		if err := db.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// Someone with write access to the database copies alpha's sealed
	// config into beta's row, hoping beta will verify with alpha's secret.
	raw := env.Raw(t, url)
	if _, err := raw.Exec(`UPDATE connections SET config = '` + rawConfig(t, raw, "alpha") + `' WHERE name = 'beta'`); err != nil {
		t.Fatal(err)
	}
	_, err := db.Connections(ctx)
	if err == nil {
		t.Fatal("a sealed config moved to another connection's row opened")
	}
	assertNoSecrets(t, "the error", err.Error(), plain)
}

func testWrongKeyRefused(t *testing.T, env SealingEnv) {
	ctx := context.Background()
	url := env.URL(t)
	db := openSealed(t, env, url, keyFile(t), "")
	c, plain := secretful("primary")
	if err := db.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	db.Close()
	other, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	db2, err := env.Open(url, "", other.String())
	if err == nil {
		db2.Close()
		t.Fatal("a store opened with another key than the one its rows are sealed under")
	}
	if !errors.Is(err, secrets.ErrUnknownKey) || !strings.Contains(err.Error(), "primary") {
		t.Errorf("error = %v, want one naming the connection and the unknown key", err)
	}
	assertNoSecrets(t, "the error", err.Error(), append(plain, other.String()))
}

func testPlaintextSealedOnOpen(t *testing.T, env SealingEnv) {
	url := env.URL(t)
	kf := keyFile(t)
	openSealed(t, env, url, kf, "").Close() // schema only
	// A row as versions before sealing stored it: the connection's JSON.
	c, plain := secretful("legacy")
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	raw := env.Raw(t, url)
	now := time.Now().UnixMicro()
	if _, err := raw.Exec(`INSERT INTO connections (name, type, config, created_at, updated_at) VALUES ('legacy', 'github', '` +
		string(js) + `', ` + itoa(now) + `, ` + itoa(now) + `)`); err != nil {
		t.Fatal(err)
	}
	db := openSealed(t, env, url, kf, "")
	stored := rawConfig(t, raw, "legacy")
	assertNoSecrets(t, "the legacy row after open", stored, plain)
	if secrets.SealedKeyID(stored) != db.Keys().Current().ID() {
		t.Errorf("legacy row not sealed under the current key: %.20q…", stored)
	}
	assertOnlyConnection(t, db, c)
}

func testRotateKey(t *testing.T, env SealingEnv) {
	ctx := context.Background()
	url := env.URL(t)
	kf := keyFile(t)
	db := openSealed(t, env, url, kf, "")
	oldKey := db.Keys().Current()
	var want []*hookgate.Connection
	for _, name := range []string{"a", "b", "c"} {
		c, _ := secretful(name)
		if err := db.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}
	oldFP := db.Fingerprint("signing-one-a")
	rot, err := db.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Resealed != 3 || rot.KeyID == oldKey.ID() || rot.KeyID != db.Keys().Current().ID() {
		t.Fatalf("rotation = %+v (old key %s, current %s), want 3 re-sealed under a new current key", rot, oldKey.ID(), db.Keys().Current().ID())
	}
	ring, err := secrets.LoadFile(kf)
	if err != nil {
		t.Fatal(err)
	}
	if keys := ring.Keys(); len(keys) != 1 || keys[0].ID() != rot.KeyID {
		t.Fatalf("key file after rotation holds %d keys, first %s; want only %s", len(keys), keys[0].ID(), rot.KeyID)
	}
	raw := env.Raw(t, url)
	for _, c := range want {
		if got := secrets.SealedKeyID(rawConfig(t, raw, c.Name)); got != rot.KeyID {
			t.Errorf("row %s sealed under %s after rotation, want %s", c.Name, got, rot.KeyID)
		}
	}
	if fp := db.Fingerprint("signing-one-a"); fp == oldFP {
		t.Errorf("fingerprint %s unchanged by the rotation", fp)
	}
	// The store goes on storing and reading; so does a store reopened on
	// the file, and the old key opens nothing any more.
	c, _ := secretful("d")
	if err := db.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	want = append(want, c)
	db.Close()
	db = openSealed(t, env, url, kf, "")
	cs, err := db.Connections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cs, want) {
		t.Fatalf("after rotation and reopen: %+v", cs)
	}
	db.Close()
	if db, err := env.Open(url, "", oldKey.String()); err == nil {
		db.Close()
		t.Fatal("the retired key still opens the store")
	}
}

// testRotateWhileWriting: connections written while a rotation runs are
// all sealed under a key the file holds afterwards: nothing written during
// the rotation is lost when the store is reopened on the file.
func testRotateWhileWriting(t *testing.T, env SealingEnv) {
	ctx := context.Background()
	url := env.URL(t)
	kf := keyFile(t)
	db := openSealed(t, env, url, kf, "")
	const writers, writes = 3, 20
	conns := make([]*hookgate.Connection, writers)
	for i := range conns {
		conns[i], _ = secretful("w" + strconv.Itoa(i))
		if err := db.CreateConnection(ctx, conns[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for n := range writes {
				c := *conns[i]
				c.SigningSecrets = []string{"written-" + strconv.Itoa(n)}
				if err := db.UpdateConnection(ctx, &c); err != nil {
					t.Error(err)
					return
				}
				conns[i] = &c
			}
		}()
	}
	close(start)
	for range 2 {
		if _, err := db.RotateKey(ctx); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	db.Close()
	db = openSealed(t, env, url, kf, "")
	cs, err := db.Connections(ctx)
	if err != nil {
		t.Fatalf("after rotating while writing: %v", err)
	}
	if !reflect.DeepEqual(cs, conns) {
		t.Fatalf("read back %+v, want the last writes %+v", cs, conns)
	}
}

// testRotationInterrupted is a crash after the rotation wrote the new key
// next to the old one and before the re-seal committed: the next open
// re-seals every row under the new key, and nothing is lost.
func testRotationInterrupted(t *testing.T, env SealingEnv) {
	ctx := context.Background()
	url := env.URL(t)
	kf := keyFile(t)
	db := openSealed(t, env, url, kf, "")
	c, _ := secretful("primary")
	if err := db.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	old := db.Keys()
	db.Close()
	next, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := secrets.WriteFile(kf, secrets.NewKeyring(next, old.Keys()...)); err != nil {
		t.Fatal(err)
	}
	db = openSealed(t, env, url, kf, "")
	if got := secrets.SealedKeyID(rawConfig(t, env.Raw(t, url), "primary")); got != next.ID() {
		t.Errorf("row sealed under %s after reopen, want the new key %s", got, next.ID())
	}
	cs, err := db.Connections(ctx)
	if err != nil || len(cs) != 1 || !reflect.DeepEqual(cs[0], c) {
		t.Fatalf("read back %+v %v", cs, err)
	}
}

func testRotateEnvRefused(t *testing.T, env SealingEnv) {
	k, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	db := openSealed(t, env, env.URL(t), "", k.String())
	if _, err := db.RotateKey(context.Background()); hookgate.ErrorCode(err) != hookgate.EInvalid {
		t.Fatalf("RotateKey with HOOKGATE_SECRET_KEY = %v, want EInvalid", err)
	} else if strings.Contains(err.Error(), k.String()) {
		t.Fatal("the error quotes the key")
	}
	if db.Keys().Current().ID() != k.ID() {
		t.Fatal("the refused rotation changed the key")
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// assertOnlyConnection checks that db holds c and nothing else, as stored.
func assertOnlyConnection(t *testing.T, db interface {
	Connections(context.Context) ([]*hookgate.Connection, error)
}, c *hookgate.Connection) {
	t.Helper()
	cs, err := db.Connections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || !reflect.DeepEqual(cs[0], c) {
		t.Fatalf("read back %+v, want %+v", cs, c)
	}
}
