// Package examples holds one runnable example per seed document. This test
// keeps the example configuration files from rotting: every
// examples/*/hookgate.yaml must parse (strictly: unknown keys are errors)
// and compile with the gateway's own checks.
package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

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
