package gateway

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
)

// TestCheckRefusesWhatServeRefuses: every file that New (serve) refuses
// before binding, Check (config check) refuses with the same reason, and a
// file Check passes, New accepts.
func TestCheckRefusesWhatServeRefuses(t *testing.T) {
	t.Parallel()
	const forward = "handlers:\n  - {name: out, type: http, url: \"http://127.0.0.1:9/x\"}\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"admin on all interfaces without a token", "admin: {listen: \"0.0.0.0:0\"}\n", "set admin.token"},
		{"unsupported storage", "storage: {url: \"mysql://u@h/db\"}\n", "storage url must start with"},
		{"http handler without a signing secret", forward, `handler "out" would forward requests unsigned`},
		{"handler secret from an unset variable", "signing_secret: \"${HG_CHECK_UNSET}\"\n" + forward, "unsigned_forwarding: true"},
		{"bad trusted proxy", "trusted_proxies: [\"not-an-ip\"]\n", "trusted_proxies"},
		{"connection without a secret", "connections:\n  - {type: github, name: gh}\n", `connection "gh"`},
		{"opted out of signing", "unsigned_forwarding: true\n" + forward, ""},
		{"signed forwarding", "signing_secret: s3cret\n" + forward, ""},
		{"handler's own secret", "handlers:\n  - {name: out, type: http, url: \"http://127.0.0.1:9/x\", signing_secret: s}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			head := "listen: \"127.0.0.1:0\"\n"
			if !strings.Contains(tc.yaml, "admin:") {
				head += "admin: {listen: \"127.0.0.1:0\"}\n"
			}
			cfg, _, err := config.Parse([]byte(head + tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(cfg.Storage.URL, "mysql") {
				cfg.Storage.URL = "sqlite://" + filepath.Join(t.TempDir(), "hg.db")
			}
			checkErr := Check(cfg)
			gw, newErr := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if newErr == nil {
				_, newErr = gw.Listen()
				gw.Close()
			}
			if tc.want == "" {
				if checkErr != nil || newErr != nil {
					t.Fatalf("check: %v; serve: %v", checkErr, newErr)
				}
				return
			}
			if checkErr == nil || !strings.Contains(checkErr.Error(), tc.want) {
				t.Errorf("config check = %v, want %q", checkErr, tc.want)
			}
			if newErr == nil || !strings.Contains(newErr.Error(), tc.want) {
				t.Errorf("serve = %v, want %q", newErr, tc.want)
			}
		})
	}
}

// TestDuplicateNameSaysWhereEachCopyLives: a file connection whose name a
// run-time (stored) connection already uses is refused with the file line,
// the database, and the command that removes the stored copy.
func TestDuplicateNameSaysWhereEachCopyLives(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := "sqlite://" + filepath.Join(dir, "hg.db")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg, _, err := config.Parse([]byte("admin: {listen: \"127.0.0.1:0\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = dbURL
	gw, err := New(context.Background(), cfg, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.AddConnection(context.Background(), &hookgate.Connection{Type: "github", Name: "primary", SigningSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	gw.Close()

	path := filepath.Join(dir, "hookgate.yaml")
	os.WriteFile(path, []byte("admin: {listen: \"127.0.0.1:0\"}\nconnections:\n  - type: github\n    name: primary\n    signing_secret: s\n"), 0o600)
	cfg, _, err = config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.URL = dbURL
	_, err = New(context.Background(), cfg, Options{Logger: logger})
	if err == nil {
		t.Fatal("serve accepted a file connection whose name is stored too")
	}
	for _, want := range []string{path + " line 4", "stored in the database", "hookgate connections rm github primary"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
