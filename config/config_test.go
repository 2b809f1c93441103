package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDefaultsAndKeys(t *testing.T) {
	t.Setenv("HG_TEST_SECRET", "s3cret")
	cfg, missing, err := Parse([]byte(`
listen: ":9000"
webhooks:
  replay_window_seconds: 60
connections:
  - type: github
    name: primary
    signing_secrets: ["${HG_TEST_SECRET}", "${HG_TEST_UNSET}"]
    retry: {max_attempts: 3, initial_interval: 2s}
    routes:
      - events: ["pull_request"]
        handlers: [pr]
handlers:
  - name: pr
    type: http
    url: http://127.0.0.1:9/pr
    timeout: 3s
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0] != "HG_TEST_UNSET" {
		t.Errorf("missing = %v", missing)
	}
	c := cfg.Connections[0]
	if c.SigningSecrets[0] != "s3cret" || c.SigningSecrets[1] != "" {
		t.Errorf("secrets not expanded: %q", c.SigningSecrets)
	}
	if !c.ReadOnly {
		t.Error("file connections must be read-only")
	}
	if c.Retry.MaxAttempts != 3 || time.Duration(c.Retry.InitialInterval) != 2*time.Second {
		t.Errorf("retry = %+v", c.Retry)
	}
	if time.Duration(cfg.Handlers[0].Timeout) != 3*time.Second {
		t.Errorf("timeout = %v", cfg.Handlers[0].Timeout)
	}
	if cfg.Listen != ":9000" || cfg.Webhooks.ReplayWindowSeconds != 60 {
		t.Errorf("explicit values lost: %+v", cfg)
	}
	// Defaults of SPEC §5.
	if cfg.Admin.Listen != "127.0.0.1:8081" || cfg.Storage.URL != "sqlite://hookgate.db" ||
		!*cfg.Webhooks.Enabled || cfg.Webhooks.MaxPayloadBytes != 1048576 ||
		cfg.Webhooks.IdempotencyTTLSeconds != 86400 || cfg.Webhooks.RetentionDays != 30 {
		t.Errorf("defaults wrong: %+v", cfg)
	}
}

func TestParseRejectsUnknownKeys(t *testing.T) {
	for _, doc := range []string{
		"bogus: 1\n",
		"webhooks:\n  replay_window: 5\n",
		"connections:\n  - type: github\n    name: x\n    secret: y\n",
	} {
		if _, _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%q: want unknown field error, got %v", doc, err)
		}
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	cfg, _, err := Parse(nil)
	if err != nil || cfg.Listen != ":8080" {
		t.Fatalf("cfg=%+v err=%v", cfg, err)
	}
}

func TestWebhooksCanBeDisabled(t *testing.T) {
	cfg, _, err := Parse([]byte("webhooks:\n  enabled: false\n"))
	if err != nil || *cfg.Webhooks.Enabled {
		t.Fatalf("enabled should be false: %v", err)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "alpha", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	out, missing := Expand([]byte("x: ${A} y: ${B:-dflt} z: ${C} w: $$HOME v: $PLAIN e: ${EMPTY:-d}"), lookup)
	if string(out) != "x: alpha y: dflt z:  w: $HOME v: $PLAIN e: d" {
		t.Errorf("got %q", out)
	}
	if len(missing) != 1 || missing[0] != "C" {
		t.Errorf("missing = %v", missing)
	}
}

// TestValidateLimits: out-of-range limits are refused, each naming its key;
// zero takes the default.
func TestValidateLimits(t *testing.T) {
	tests := []struct {
		yaml, key string
	}{
		{"webhooks: {max_payload_bytes: 67108865}", "webhooks.max_payload_bytes"},
		{"webhooks: {max_payload_bytes: -5}", "webhooks.max_payload_bytes"},
		{"limits: {max_connections: -1}", "limits.max_connections"},
		{"limits: {inflight_body_bytes: -1}", "limits.inflight_body_bytes"},
		{"limits: {inflight_body_bytes: 1000}", "limits.inflight_body_bytes"},
		{"", ""},
		{"limits: {max_connections: 0, inflight_body_bytes: 0}", ""},
		{"webhooks: {max_payload_bytes: 67108864}\nlimits: {inflight_body_bytes: 67108864}", ""},
	}
	for _, tt := range tests {
		cfg, _, err := Parse([]byte(tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		if tt.key == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.yaml, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%q: err = %v, want one naming %s", tt.yaml, err, tt.key)
		}
	}
	if d := Default(); d.Limits.MaxConnections != 4096 || d.Limits.InflightBodyBytes != 256<<20 {
		t.Fatalf("defaults = %+v", d.Limits)
	}
}

// TestBadDurationNamesKeyAndLine: a value that is not a duration is
// reported with its key, its line and the line itself.
func TestBadDurationNamesKeyAndLine(t *testing.T) {
	t.Parallel()
	_, _, err := Parse([]byte("listen: \":8080\"\ndispatch:\n  workers: 4\n  lease: 5 minutes\n"))
	if err == nil {
		t.Fatal("a bad duration was accepted")
	}
	for _, want := range []string{"line 4", "lease", `"5 minutes"`, "lease: 5 minutes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// TestConnectionSource: file connections know their line, for messages
// that must say where a connection is defined.
func TestConnectionSource(t *testing.T) {
	t.Parallel()
	cfg, _, err := Parse([]byte("connections:\n  - type: github\n    name: a\n    signing_secret: x\n  - {type: github, name: b, signing_secret: \"${HG_UNSET_MULTI}\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.ConnectionSource(0); got != "the config file line 3" {
		t.Errorf("source of a = %q", got)
	}
	if got := cfg.ConnectionSource(1); got != "the config file line 5" {
		t.Errorf("source of b = %q", got)
	}
}

func TestStorageSchema(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s       Storage
		want    string
		wantErr string
	}{
		{Storage{URL: "sqlite://hookgate.db"}, "sqlite://hookgate.db", ""},
		{Storage{URL: "postgres://u@h:5432/db?sslmode=disable", Schema: "hookgate"}, "postgres://u@h:5432/db?search_path=hookgate&sslmode=disable", ""},
		{Storage{URL: "postgres://u@h/db?search_path=hookgate", Schema: "hookgate"}, "postgres://u@h/db?search_path=hookgate", ""},
		{Storage{URL: "postgres://u@h/db?search_path=other", Schema: "hookgate"}, "", "disagree"},
		{Storage{URL: "sqlite://hookgate.db", Schema: "hookgate"}, "", "PostgreSQL only"},
		{Storage{URL: "postgres://u@h/db", Schema: "a; DROP"}, "", "must match"},
	} {
		got, err := tc.s.OpenURL()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: error %v, want %q", tc.s, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.s, got, err, tc.want)
		}
	}
}
