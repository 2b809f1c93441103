package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const rulesConfig = `
unsigned_forwarding: true
handlers:
  - {name: incidents, type: log}
connections:
  - type: internal
    name: pager
    auth: secret
    signature_header: X-Token
    signing_secret: tok
    event_type: body:type
    nonce: body:id
    routes:
      - events: ["alert.*"]
        filter: '!has(body.status) || body.status != "resolved"'
        schema: schemas/alert.json
        validate: sync
        transform: '{title: .title, severity: ({"P1": "critical"}[.priority] // "low")}'
        handlers: [incidents]
`

func writeRulesConfig(t *testing.T, cfg string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	schema := `{"type":"object","required":["id","title"],"properties":{"priority":{"enum":["P1","P2"]}}}`
	if err := os.WriteFile(filepath.Join(dir, "schemas", "alert.json"), []byte(schema), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hookgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRulesTestCommand(t *testing.T) {
	t.Parallel()
	path := writeRulesConfig(t, rulesConfig)
	base := []string{"rules", "test", "--config", path, "--connection", "internal/pager"}

	code, out := run(t, append(base, "--header", "X-Token: tok", "--body", `{"type":"alert.fired","id":"al_1","title":"disk","priority":"P1"}`)...)
	for _, want := range []string{"VERIFIED with secret sec_", "answer           204", "receipt          received", "event type       alert.fired",
		"nonce            al_1", "idempotency key  pager:alert.fired:al_1", "TAKES it", "filter         true", "schema (sync)  valid",
		`transformed    {"severity":"critical","title":"disk"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}

	// Filtered: accepted (exit 0), no route takes it.
	code, out = run(t, append(base, "--skip-verify", "--body", `{"type":"alert.fired","id":"al_2","title":"x","status":"resolved"}`)...)
	if code != 0 || !strings.Contains(out, "verification     skipped") || !strings.Contains(out, "receipt          filtered") || !strings.Contains(out, "filter         false") {
		t.Fatalf("exit %d:\n%s", code, out)
	}

	// The sync schema refuses: 400 with the errors, exit 1.
	code, out = run(t, append(base, "--skip-verify", "--json", "--body", `{"type":"alert.fired","priority":"P9"}`)...)
	var trial struct {
		Status           int
		Error            string
		ValidationErrors []struct{ Path, Message string } `json:"validation_errors"`
	}
	jsonPart := out[:strings.LastIndex(out, "}")+1]
	if err := json.Unmarshal([]byte(jsonPart), &trial); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if code != 1 || trial.Status != 400 || trial.Error != "validation_failed" || len(trial.ValidationErrors) != 2 {
		t.Fatalf("exit %d: %+v\n%s", code, trial, out)
	}

	// A wrong token: not verified, exit 1, the secret is not printed.
	code, out = run(t, append(base, "--header", "X-Token: nope", "--body", `{}`)...)
	if code != 1 || !strings.Contains(out, "NOT VERIFIED") || strings.Contains(out, "tok\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}

	// Usage errors: exit 2.
	for _, args := range [][]string{
		append(base, "--body", "{}", "--body-file", "x"),
		{"rules", "test", "--config", path, "--connection", "pager", "--body", "{}"},
		{"rules", "test", "--config", path, "--connection", "internal/nope", "--body", "{}"},
	} {
		if code, out := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d:\n%s", args, code, out)
		}
	}
	if code, out := run(t, "rules", "test", "--help"); code != 0 || !strings.Contains(out, "Examples:") {
		t.Errorf("--help: exit %d:\n%s", code, out)
	}
}

// TestConfigCheckNamesTheBadExpression: config check and serve refuse a bad
// filter through the same compile, naming connection, route and position.
func TestConfigCheckNamesTheBadExpression(t *testing.T) {
	t.Parallel()
	path := writeRulesConfig(t, strings.Replace(rulesConfig, `body.status != "resolved"`, `body.status !== "resolved"`, 1))
	code, out := run(t, "config", "check", path)
	if code == 0 || !strings.Contains(out, `connection "pager": route 1: filter "!has(body.status) || body.status !== \"resolved\"": line 1, column`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if code, out := run(t, "rules", "test", "--config", path, "--connection", "internal/pager", "--body", "{}"); code != 2 || !strings.Contains(out, "route 1: filter") {
		t.Fatalf("rules test on a bad file: exit %d:\n%s", code, out)
	}
}
