package gateway

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
)

// TestCodeConnectionsReadOnly: connections of a configuration built in code
// (no ReadOnly set by the caller) are read-only in the admin API, as those
// of a file are, and the caller's config is left as it was.
func TestCodeConnectionsReadOnly(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Storage.URL = sqliteURL(t)
	cfg.Connections = []hookgate.Connection{{Type: "github", Name: "coded", SigningSecret: "s"}}
	gw, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	err = gw.UpdateConnection(context.Background(), &hookgate.Connection{Type: "github", Name: "coded", SigningSecret: "other"})
	if hookgate.ErrorCode(err) != hookgate.EReadOnly {
		t.Fatalf("update of a code connection: %v, want read_only", err)
	}
	if err := gw.DeleteConnection(context.Background(), "github", "coded"); hookgate.ErrorCode(err) != hookgate.EReadOnly {
		t.Fatalf("delete of a code connection: %v, want read_only", err)
	}
	if cfg.Connections[0].ReadOnly {
		t.Error("New changed the caller's config")
	}
}

// TestHandleRefusedChangesNothing: a Go handler whose name the file uses is
// refused, and the gateway goes on compiling (a later Handle works).
func TestHandleRefusedChangesNothing(t *testing.T) {
	t.Parallel()
	tg := newTestGateway(t, "signing_secret: "+hookgateSecret+"\nhandlers:\n  - {name: fwd, type: http, url: \"http://127.0.0.1:9/\"}\n")
	noop := hookgate.SenderFunc(func(context.Context, *hookgate.Receipt) (int, bool, error) { return 0, false, nil })
	if err := tg.Handle("fwd", noop); err == nil {
		t.Fatal("a Go handler took the name of a file handler")
	}
	if err := tg.Handle("bad name", noop); err == nil {
		t.Fatal("a Go handler with an invalid name was accepted")
	}
	if err := tg.Handle("nil", nil); err == nil {
		t.Fatal("a nil Sender was accepted")
	}
	if err := tg.Handle("audit", noop); err != nil {
		t.Fatalf("Handle after a refusal: %v", err)
	}
	if _, source, err := tg.Handler("audit"); err != nil || source != sourceCode {
		t.Fatalf("audit: %s %v", source, err)
	}
	if _, source, _ := tg.Handler("fwd"); source != sourceFile {
		t.Fatalf("fwd is now %s", source)
	}
}

// TestNewFromFileRefusesUnsetVariables: a secret from an unset variable
// would be empty.
func TestNewFromFileRefusesUnsetVariables(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hookgate.yaml")
	t.Setenv("HOOKGATE_TEST_UNSET_SECRET", "")
	writeFile(t, file, "storage: {url: \"sqlite://"+filepath.Join(dir, "h.db")+"\"}\nconnections:\n  - {type: github, name: p, signing_secret: \"${HOOKGATE_TEST_UNSET_SECRET}\"}\n")
	if _, err := NewFromFile(context.Background(), file, Options{Logger: slog.New(slog.DiscardHandler)}); err == nil {
		t.Fatal("NewFromFile accepted a file with an unset secret variable")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
