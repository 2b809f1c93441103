package gateway

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/secrets"
	"github.com/hookgate/hookgate/store/storetest"
)

// rawConnectionConfig reads a connection's stored config straight from the
// database, as anyone holding a copy of it would.
func rawConnectionConfig(t *testing.T, storageURL, name string) string {
	t.Helper()
	driver, dsn := "pgx", storageURL
	if path, ok := strings.CutPrefix(storageURL, "sqlite://"); ok {
		driver, dsn = "sqlite", path+"?_pragma=busy_timeout(10000)"
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var config string
	if err := raw.QueryRow(`SELECT config FROM connections WHERE name = '` + name + `'`).Scan(&config); err != nil {
		t.Fatalf("raw connection row %s: %v", name, err)
	}
	return config
}

// TestAdminFingerprintKeyed: the API shows a secret by an id and a
// fingerprint that nobody can compute from a guessed secret without the
// server's key (SPEC §9): not a plain hash of it.
func TestAdminFingerprintKeyed(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "")
	const secret = "hunter2"
	var view struct {
		Secrets []struct{ ID, Fingerprint string }
		APIKey  map[string]string `json:"api_key"`
	}
	if st := tg.api("POST", "/api/v1/connections", map[string]any{"type": "github", "name": "gh", "signing_secret": secret}, &view); st != 201 {
		t.Fatal(st)
	}
	if len(view.Secrets) != 1 {
		t.Fatalf("view = %+v", view)
	}
	fp := view.Secrets[0].Fingerprint
	sum := sha256.Sum256([]byte(secret))
	plain := hex.EncodeToString(sum[:])
	digits := fp[strings.LastIndex(fp, ":")+1:]
	if len(digits) < 8 || strings.Contains(plain, digits) {
		t.Fatalf("fingerprint %q is the unkeyed SHA-256 of the secret (%s…): a guess can be confirmed offline", fp, plain[:12])
	}
	var added map[string]string
	tg.api("POST", "/api/v1/connections/github/gh/secrets", map[string]any{"secret": "second"}, &added)
	if added["fingerprint"] != tg.Fingerprint("second") || added["fingerprint"] == fp {
		t.Errorf("added secret's fingerprint %q, want the keyed %q", added["fingerprint"], tg.Fingerprint("second"))
	}
}

// TestRotateKeyKeepsVerifying: the rotate-key route re-seals every
// stored connection under a new key inside the running server, which goes on
// verifying and storing; a restart on the rotated key file reads them all.
func TestRotateKeyKeepsVerifying(t *testing.T) {
	backends(t, func(t *testing.T, storage func(testing.TB) string) {
		url := storage(t)
		keyFile := filepath.Join(t.TempDir(), "hookgate.key")
		yaml := "storage:\n  secret_key_file: " + keyFile + "\n"
		tg := newTestGatewayOn(t, yaml, url)
		body := []byte(`{"ref":"main"}`)
		for _, name := range []string{"gh1", "gh2"} {
			if st := tg.api("POST", "/api/v1/connections", map[string]any{"type": "github", "name": name, "signing_secret": "secret-" + name}, nil); st != 201 {
				t.Fatal(st)
			}
			if st, b := tg.post("/webhooks/github/"+name, githubHeaders("secret-"+name, body), body); st != 204 {
				t.Fatalf("before rotation: %d %s", st, b)
			}
		}
		before, err := secrets.LoadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		oldID := before.Current().ID()
		if got := secrets.SealedKeyID(rawConnectionConfig(t, url, "gh1")); got != oldID {
			t.Fatalf("row sealed under %q, want %q", got, oldID)
		}

		var rot secrets.Rotation
		if st := tg.api("POST", "/api/v1/secrets/rotate-key", map[string]any{}, &rot); st != 200 || rot.Resealed != 2 {
			t.Fatalf("rotate-key = %d %+v, want 200 with 2 re-sealed", st, rot)
		}
		after, err := secrets.LoadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		newID := after.Current().ID()
		if newID == oldID || len(after.Keys()) != 1 {
			t.Fatalf("key file after rotation: %d keys, current %s (old %s)", len(after.Keys()), newID, oldID)
		}
		for _, name := range []string{"gh1", "gh2"} {
			if got := secrets.SealedKeyID(rawConnectionConfig(t, url, name)); got != newID {
				t.Errorf("%s sealed under %q after rotation, want %q", name, got, newID)
			}
			if st, b := tg.post("/webhooks/github/"+name, githubHeaders("secret-"+name, body), body); st != 204 {
				t.Fatalf("after rotation: %d %s", st, b)
			}
		}
		// The server stores under the new key without a restart.
		if st := tg.api("POST", "/api/v1/connections/github/gh1/secrets", map[string]any{"secret": "secret-gh1-next"}, nil); st != 201 {
			t.Fatalf("add secret after rotation = %d", st)
		}
		if got := secrets.SealedKeyID(rawConnectionConfig(t, url, "gh1")); got != newID {
			t.Errorf("update after rotation sealed under %q, want %q", got, newID)
		}
		// A restart on the same database and key file reads everything.
		restarted := newTestGatewayOn(t, yaml, url)
		for _, s := range []string{"secret-gh1", "secret-gh1-next"} {
			if st, b := restarted.post("/webhooks/github/gh1", githubHeaders(s, body), body); st != 204 {
				t.Fatalf("after restart, %s: %d %s", s, st, b)
			}
		}
	})
}

// TestLearnedSecretSealed: a secret learned in a handshake (Asana's
// X-Hook-Secret) is stored sealed, like any other.
func TestLearnedSecretSealed(t *testing.T) {
	t.Parallel()
	url := sqliteURL(t)
	tg := newTestGatewayOn(t, "", url)
	const secret = "asana-learned-secret-51d0"
	if st := tg.api("POST", "/api/v1/connections", map[string]any{"type": "asana", "name": "tasks"}, nil); st != 201 {
		t.Fatal(st)
	}
	st, b := tg.post("/webhooks/asana/tasks", http.Header{"X-Hook-Secret": {secret}}, nil)
	if st != http.StatusOK {
		t.Fatalf("handshake = %d %s", st, b)
	}
	if c, err := tg.Connection("asana", "tasks"); err != nil || len(c.Secrets()) != 1 {
		t.Fatalf("connection after the handshake: %v %v", c, err)
	}
	if stored := rawConnectionConfig(t, url, "tasks"); strings.Contains(stored, secret) || !secrets.IsSealed(stored) {
		t.Fatalf("the learned secret is stored in clear: %.60q…", stored)
	}
}

// TestPostgresGatewayNeedsKey: a gateway on PostgreSQL without
// HOOKGATE_SECRET_KEY or storage.secret_key_file refuses to start, saying
// what to set, instead of making up a key other instances would not have.
func TestPostgresGatewayNeedsKey(t *testing.T) {
	url := storetest.PostgresURL(t)
	cfg, _, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = url
	gw, err := New(context.Background(), cfg, Options{})
	if err == nil {
		gw.Close()
		t.Fatal("gateway started on PostgreSQL without a secret key")
	}
	if !strings.Contains(err.Error(), "HOOKGATE_SECRET_KEY") || !strings.Contains(err.Error(), "secret_key_file") {
		t.Fatalf("error = %v, want one naming HOOKGATE_SECRET_KEY and storage.secret_key_file", err)
	}
}

// TestCheckNeedsPostgresKey: `hookgate config check` refuses what serve
// refuses: PostgreSQL without a key, and key material that does not parse
// (without quoting it).
func TestCheckNeedsPostgresKey(t *testing.T) {
	t.Parallel()
	cfg, _, err := config.Parse([]byte("storage: {url: \"postgres://hookgate@db.invalid/hookgate\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(cfg); err == nil || !strings.Contains(err.Error(), "HOOKGATE_SECRET_KEY") {
		t.Fatalf("Check(postgres without a key) = %v", err)
	}
	cfg.Storage.SecretKeyFile = "/etc/hookgate/hookgate.key"
	if err := Check(cfg); err != nil {
		t.Fatalf("Check(postgres with a key file) = %v", err)
	}
	cfg.Storage.SecretKey = "not-a-key-material-xyz"
	if err := Check(cfg); err == nil || strings.Contains(err.Error(), "not-a-key-material-xyz") {
		t.Fatalf("Check(bad HOOKGATE_SECRET_KEY) = %v, want an error that does not quote it", err)
	}
}
