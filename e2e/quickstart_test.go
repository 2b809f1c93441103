package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hookgate runs the binary with args and returns its output and exit status.
func hookgate(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestQuickStart walks the README's quick start with the real binary:
// serve on defaults, register with `connections add`, deliver with `send`,
// read back with `receipts list` and `show`.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process; skipped with -short")
	}
	dir := t.TempDir()
	listen, adminAddr := freePort(t), freePort(t)
	cfgPath := filepath.Join(dir, "hookgate.yaml")
	// Only the addresses differ from the defaults, so tests can run side by side.
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("listen: %q\nadmin: {listen: %q}\n", listen, adminAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, cfgPath, adminAddr)
	defer p.kill9()
	env := []string{"HOOKGATE_ADMIN_URL=http://" + adminAddr}

	out, code := hookgate(t, env, "connections", "add", "--type", "github", "--name", "primary",
		"--secret", "whsec_PROVIDED_BY_GITHUB", "--nonce-header", "X-GitHub-Delivery", "--signature-header", "X-Hub-Signature-256")
	if code != 0 || strings.Contains(out, "whsec_PROVIDED_BY_GITHUB") {
		t.Fatalf("connections add (%d): %s", code, out)
	}
	body := `{"action":"opened","number":7,"pull_request":{"id":42}}`
	send := []string{"send", "--type", "github", "--gateway", "http://" + listen, "--connection", "primary",
		"--event", "pull_request", "--body", body}
	if out, code := hookgate(t, env, append(send, "--secret", "whsec_PROVIDED_BY_GITHUB")...); code != 0 || !strings.Contains(out, "204") {
		t.Fatalf("send (%d): %s", code, out)
	}
	if out, code := hookgate(t, env, append(send, "--secret", "wrong")...); code != 1 || !strings.Contains(out, "401") {
		t.Fatalf("send with a wrong secret should exit 1 with 401 (%d): %s", code, out)
	}
	out, code = hookgate(t, env, "send", "--type", "github", "--url", "http://"+listen+"/webhooks/github/primary",
		"--secret", "s", "--body", body, "--dry-run")
	if code != 0 || !strings.HasPrefix(out, "curl -i -X POST") || !strings.Contains(out, "X-Hub-Signature-256: sha256=") {
		t.Fatalf("send --dry-run (%d): %s", code, out)
	}

	out, code = hookgate(t, env, "receipts", "list", "--json")
	if code != 0 {
		t.Fatalf("receipts list (%d): %s", code, out)
	}
	var page struct {
		Receipts []map[string]any `json:"receipts"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Receipts) != 2 {
		t.Fatalf("receipts list: %v %s", err, out)
	}
	var accepted string
	for _, r := range page.Receipts {
		if r["event_type"] == "pull_request" && r["status"] != "rejected" {
			accepted = r["id"].(string)
		}
	}
	if accepted == "" {
		t.Fatalf("no accepted receipt in %s", out)
	}
	// No route: the receipt is filtered, and its body is kept exactly.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, code = hookgate(t, env, "receipts", "show", accepted)
		if code != 0 {
			t.Fatalf("receipts show (%d): %s", code, out)
		}
		var r map[string]any
		_ = json.Unmarshal([]byte(out), &r)
		if r["status"] == "filtered" && r["body"] == body {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("receipt: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, code := hookgate(t, env, "receipts", "show", "nope"); code != 1 || !strings.Contains(out, "404") {
		t.Fatalf("show of a missing receipt (%d): %s", code, out)
	}
}

func TestCommandLineContract(t *testing.T) {
	if out, code := hookgate(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "hookgate ") {
		t.Fatalf("version (%d): %s", code, out)
	}
	if _, code := hookgate(t, nil, "no-such-command"); code != 2 {
		t.Fatalf("unknown command exit = %d, want 2", code)
	}
	for _, c := range [][]string{{"serve"}, {"migrate"}, {"send"}, {"tail"}, {"config", "check"},
		{"connections", "add"}, {"connections", "list"}, {"connections", "show"}, {"connections", "rm"},
		{"receipts", "list"}, {"receipts", "show"}, {"receipts", "replay"}, {"receipts", "admit"},
		{"connections", "rotate"}, {"verify"}, {"version"}, {"config"}, {"backup"}} {
		out, code := hookgate(t, nil, append(c, "--help")...)
		if code != 0 || !strings.Contains(out, "Examples:") {
			t.Errorf("%v --help has no example (%d): %s", c, code, out)
		}
	}
	// hookgate verify, with GitHub's published example: 0 verifies, 1 does
	// not (with the reason and trace), 2 usage error.
	ghArgs := func(secret, body string) []string {
		return []string{"verify", "--type", "github", "--secret", secret, "--body", body,
			"--header", "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
	}
	if out, code := hookgate(t, nil, ghArgs("It's a Secret to Everybody", "Hello, World!")...); code != 0 || !strings.Contains(out, "VERIFIED") {
		t.Fatalf("verify of the published example (%d): %s", code, out)
	}
	if out, code := hookgate(t, nil, ghArgs("zz-not-the-secret", "Hello, World!")...); code != 1 || !strings.Contains(out, "signature_mismatch") ||
		!strings.Contains(out, "secrets tried") || strings.Contains(out, "zz-not-the-secret") {
		t.Fatalf("verify with a wrong secret (%d): %s", code, out)
	}
	if out, code := hookgate(t, nil, ghArgs("It's a Secret to Everybody", "Hello, World?")...); code != 1 || !strings.Contains(out, "body changed") {
		t.Fatalf("verify of a changed body (%d): %s", code, out)
	}
	if out, code := hookgate(t, nil, "verify", "--type", "github", "--secret", "s", "--body", "x"); code != 1 || !strings.Contains(out, "signature_missing") {
		t.Fatalf("verify without the header (%d): %s", code, out)
	}
	if out, code := hookgate(t, nil, "verify", "--type", "svix", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"--header", "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek", "--header", "webhook-timestamp: 1614265330",
		"--header", "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "--body", `{"test": 2432232314}`); code != 1 || !strings.Contains(out, "timestamp_stale") {
		t.Fatalf("verify of a stale timestamp (%d): %s", code, out)
	}
	for _, usage := range [][]string{
		{"verify", "--type", "github", "--body", "x"},                    // no secret
		{"verify", "--type", "github", "--secret", "s"},                  // no body
		{"verify", "--type", "nopreset", "--secret", "s", "--body", "x"}, // unknown type, no --auth
		{"verify", "--type", "github", "--secret", "s", "--body", "x", "--header", "no-colon"},
	} {
		if out, code := hookgate(t, nil, usage...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", usage, code, out)
		}
	}

	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("connections:\n  - {type: github, name: gh, signing_secret: \"${QS_SECRET}\"}\n"), 0o600)
	if out, code := hookgate(t, []string{"QS_SECRET=x"}, "config", "check", good); code != 0 {
		t.Fatalf("config check of a good file (%d): %s", code, out)
	}
	if out, code := hookgate(t, []string{"QS_SECRET="}, "config", "check", good); code != 1 || !strings.Contains(out, "QS_SECRET") {
		t.Fatalf("config check with the secret unset should fail naming it (%d): %s", code, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("connections:\n  - {type: github, name: gh, signing_secret: x, sekret: y}\n"), 0o600)
	if out, code := hookgate(t, nil, "config", "check", bad); code != 1 || !strings.Contains(out, "sekret") {
		t.Fatalf("config check of an unknown key (%d): %s", code, out)
	}
	dbPath := filepath.Join(dir, "m.db")
	if out, code := hookgate(t, nil, "migrate", "--storage-url", "sqlite://"+dbPath); code != 0 {
		t.Fatalf("migrate (%d): %s", code, out)
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Fatal("migrate created no database")
	}
}
