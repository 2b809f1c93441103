package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionStamped: a build stamped the way packaging/build-release.sh
// and the Dockerfile stamp it names that version in `version` and
// `--version`. (The release flags -trimpath -s -w change nothing here and
// cost a full rebuild of every dependency, so this build omits them.)
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary; skipped with -short")
	}
	script, err := os.ReadFile("../packaging/build-release.sh")
	if err != nil {
		t.Fatal(err)
	}
	const stamp = "-X github.com/hookgate/hookgate/cli.Version="
	if !strings.Contains(string(script), stamp) || !strings.Contains(string(script), "-trimpath") || !strings.Contains(string(script), "-s -w") {
		t.Fatalf("build-release.sh no longer stamps the version with %q, -trimpath, -s -w", stamp)
	}
	bin := filepath.Join(t.TempDir(), "hookgate")
	build := exec.Command("go", "build", "-ldflags", stamp+"v9.8.7-test", "-o", bin, "../cmd/hookgate")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || string(out) != "hookgate v9.8.7-test\n" {
			t.Errorf("%v: %q %v", args, out, err)
		}
	}
}

// TestSystemdUnit: the unit parses (systemd-analyze verify) and its sandbox
// keeps the exposure systemd-analyze security reports at 2.0 or below.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: skipping the systemd unit check")
	}
	raw, err := os.ReadFile("../packaging/hookgate.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart exists: point it at the binary built here.
	unit := filepath.Join(t.TempDir(), "hookgate.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/hookgate", binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	if out, err := exec.Command(analyze, "security", "--offline=true", "--threshold=20", unit).CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze security: exposure above 2.0 (%v)\n%s", err, out)
	}
}
