package gateway

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// TestMonitoringRules checks the alert rules of docs/monitoring.md: they are
// valid Prometheus rules (promtool, when installed; .ci/run installs it), and
// every metric they use is one a running gateway exports, so a renamed
// metric cannot leave an alert that never fires.
func TestMonitoringRules(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/monitoring.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if block == nil {
		t.Fatal("docs/monitoring.md has no yaml block of rules")
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.UnmarshalWithOptions(block[1], &rules, yaml.Strict()); err != nil {
		t.Fatalf("rules do not parse: %v", err)
	}
	var used []string
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q needs alert, expr, labels.severity and annotations.summary", r.Alert)
			}
			used = append(used, regexp.MustCompile(`hookgate_[a-z_]+`).FindAllString(r.Expr, -1)...)
		}
	}
	if n < 5 {
		t.Fatalf("%d rules; the page promises queue age, dead receipts, circuits, rejection spikes and storage", n)
	}

	// A gateway that has accepted, refused, delivered and failed something
	// exports every family it has.
	ok, down := newSink(t, 200), newSink(t, 503)
	tg := newTestGateway(t, `
unsigned_forwarding: true
handlers:
  - {name: forward, type: http, url: "`+ok.srv.URL+`"}
  - {name: down, type: http, url: "`+down.srv.URL+`", retry: {max_attempts: 1}}
connections:
  - {type: internal, name: m, auth: secret, signature_header: X-Token, signing_secret: tok, nonce_header: X-Nonce, routes: [{handlers: [forward, down]}]}
`)
	tg.post("/webhooks/internal/m", http.Header{"X-Token": {"tok"}, "X-Nonce": {"1"}}, []byte(`{}`))
	tg.post("/webhooks/internal/m", http.Header{"X-Token": {"bad"}}, []byte(`{}`))
	tg.drain()
	var exported []string
	for _, line := range strings.Split(scrape(t, tg), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			exported = append(exported, strings.Fields(name)[0])
		}
	}
	for _, name := range used {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
		if !slices.Contains(exported, base) {
			t.Errorf("a rule uses %s, which hookgate does not export", name)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed: the rules were checked for shape and metric names only")
		return
	}
	file := filepath.Join(t.TempDir(), "hookgate.rules.yml")
	if err := os.WriteFile(file, block[1], 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
