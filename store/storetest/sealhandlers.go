package storetest

import (
	"context"
	"testing"

	hookgate "github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/secrets"
)

func rawHandler(t *testing.T, env SealingEnv, url, name string) string {
	t.Helper()
	var config string
	if err := env.Raw(t, url).QueryRow(`SELECT config FROM handlers WHERE name = '` + name + `'`).Scan(&config); err != nil {
		t.Fatalf("raw handler row %s: %v", name, err)
	}
	return config
}

// testHandlerSecretsSealed: a run-time handler's signing secret and header
// values are sealed in its row, the row does not open in another handler's
// row, and a key rotation re-seals handler rows too.
func testHandlerSecretsSealed(t *testing.T, env SealingEnv) {
	ctx := context.Background()
	url := env.URL(t)
	kf := keyFile(t)
	db := openSealed(t, env, url, kf, "")
	h := &hookgate.HandlerConfig{Name: "notify", Type: "http", URL: "http://10.0.0.5/",
		SigningSecret: "handler-signing-secret", Headers: map[string]string{"Authorization": "Bearer handler-header-token"}}
	plain := []string{h.SigningSecret, "handler-header-token"}
	if err := db.CreateHandler(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateHandler(ctx, &hookgate.HandlerConfig{Name: "other", Type: "http", URL: "http://10.0.0.6/"}); err != nil {
		t.Fatal(err)
	}
	stored := rawHandler(t, env, url, "notify")
	assertNoSecrets(t, "the handler row", stored, plain)
	if got := secrets.SealedKeyID(stored); got != db.Keys().Current().ID() {
		t.Errorf("handler row sealed under %q, want the current key", got)
	}
	rot, err := db.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := secrets.SealedKeyID(rawHandler(t, env, url, "notify")); got != rot.KeyID {
		t.Errorf("handler row sealed under %s after rotation, want %s", got, rot.KeyID)
	}
	hs, err := db.Handlers(ctx)
	if err != nil || len(hs) != 2 || hs[0].SigningSecret != h.SigningSecret || hs[0].Headers["Authorization"] != h.Headers["Authorization"] {
		t.Fatalf("after rotation: %+v %v", hs, err)
	}
	// notify's sealed config copied into other's row does not open there.
	if _, err := env.Raw(t, url).Exec(`UPDATE handlers SET config = '` + rawHandler(t, env, url, "notify") + `' WHERE name = 'other'`); err != nil {
		t.Fatal(err)
	}
	_, err = db.Handlers(ctx)
	if err == nil {
		t.Fatal("a sealed handler config moved to another handler's row opened")
	}
	assertNoSecrets(t, "the error", err.Error(), plain)
}
