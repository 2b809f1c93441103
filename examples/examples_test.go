// Package examples holds one runnable example per seed document. These
// tests keep the examples from rotting: every examples/*/hookgate.yaml must
// parse (strictly: unknown keys are errors) and compile with the gateway's
// own checks, and every examples/*/run.sh — the commands of the example's
// README, with their expected answers — must pass.
package examples

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
)

// demoSecret is a valid value for every kind of secret the examples use
// (a Standard Webhooks whsec_ secret is also a fine HMAC key, password or
// API key).
const demoSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("*/hookgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d example configs (%v); expected eu-tools and synthorg at least", len(files), files)
	}
	for _, f := range files {
		t.Run(filepath.Dir(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// Set every ${NAME} without a default, as an operator would.
			for _, m := range envRef.FindAllSubmatch(raw, -1) {
				t.Setenv(string(m[1]), demoSecret)
			}
			cfg, missing, err := config.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(missing) > 0 {
				t.Fatalf("unset variables after setting all references: %v", missing)
			}
			if err := gateway.Check(cfg); err != nil {
				t.Fatalf("%s does not compile:\n%v", f, err)
			}
			// Without the variables, secrets come out empty and hookgate
			// must refuse the file (fail closed), not run unauthenticated.
			for _, m := range envRef.FindAllSubmatch(raw, -1) {
				t.Setenv(string(m[1]), "")
			}
			if cfg, _, err := config.Parse(raw); err == nil && len(cfg.Connections) > 0 {
				if gateway.Check(cfg) == nil {
					t.Fatalf("%s compiles with its secrets unset", f)
				}
			}
		})
	}
}

// TestRunScripts runs every examples/*/run.sh: each starts its example on
// free loopback ports with a temp SQLite file, sends what the README sends,
// and exits non-zero when an answer differs from the README's. The binaries
// go to a temp directory, so parallel runs do not share them.
func TestRunScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the example scripts build and start programs")
	}
	scripts, err := filepath.Glob("*/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) < 4 {
		t.Fatalf("found %d run.sh scripts (%v); every example has one", len(scripts), scripts)
	}
	for _, tool := range []string{"bash", "curl", "openssl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the example scripts need %s: %v", tool, err)
		}
	}
	readInputs(t)
	bin := t.TempDir()
	for _, script := range scripts {
		t.Run(filepath.Dir(script), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", script)
			cmd.Env = append(os.Environ(), "HOOKGATE_BIN="+filepath.Join(bin, "hookgate"))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\n%s", script, err, out.String())
			}
			if !bytes.Contains(out.Bytes(), []byte("all answers as expected")) {
				t.Fatalf("%s ended without its success line:\n%s", script, out.String())
			}
		})
	}
}

// readInputs reads what the scripts build and run: every Go source of the
// module, go.mod, go.sum and the examples' files. The scripts read them in
// child processes, which go test's cache does not see; reading them here
// makes a change to any of them rerun the test instead of reporting a
// cached pass.
func readInputs(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != ".." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		inExamples := strings.HasPrefix(filepath.ToSlash(path), "../examples/")
		if filepath.Ext(path) == ".go" || path == "../go.mod" || path == "../go.sum" || inExamples {
			_, err := os.ReadFile(path)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
