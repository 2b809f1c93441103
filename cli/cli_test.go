package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// run runs the command line and returns its exit status and both outputs.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := Run(context.Background(), args, &out, &out)
	return code, out.String()
}

func TestDescribeBuild(t *testing.T) {
	t.Parallel()
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"module version", debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(
			"vcs.revision", "64ebd630afc0e9901c870791004c01aff9b8d3dd", "vcs.time", "2026-12-04T15:00:00Z", "vcs.modified", "false")},
			"devel 64ebd630afc0 2026-12-04T15:00:00Z"},
		{"dirty checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(
			"vcs.revision", "64ebd630afc0e9901c870791004c01aff9b8d3dd", "vcs.time", "2026-12-04T15:00:00Z", "vcs.modified", "true")},
			"devel 64ebd630afc0 2026-12-04T15:00:00Z dirty"},
		{"no VCS", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel (no VCS information"},
	} {
		got := describeBuild(&tc.bi)
		if !strings.HasPrefix(got, tc.want) || (tc.name != "no VCS" && got != tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if strings.Contains(got, "(devel)") {
			t.Errorf("%s: %q names no build", tc.name, got)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	code, a := run(t, "version")
	code2, b := run(t, "--version")
	if code != 0 || code2 != 0 || a != b || !strings.HasPrefix(a, "hookgate ") {
		t.Fatalf("version (%d) %q and --version (%d) %q differ", code, a, code2, b)
	}
}

func TestCLIMessages(t *testing.T) {
	t.Parallel()
	body := filepath.Join(t.TempDir(), "b.json")
	if err := os.WriteFile(body, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	unauthorized := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"unauthorized","message":"missing or wrong bearer token"}`))
	}))
	defer unauthorized.Close()

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"body and body-file", []string{"send", "--type", "github", "--url", "http://" + closed + "/x", "--secret", "s",
			"--body", "{}", "--body-file", body}, 2, []string{"--body or --body-file, not both"}},
		{"unknown type in send", []string{"send", "--type", "githb", "--url", "http://" + closed + "/x", "--secret", "s", "--body", "{}"},
			2, []string{`"githb" has no preset`, "did you mean github"}},
		{"unknown type in verify", []string{"verify", "--type", "strip", "--secret", "s", "--body", "{}"},
			2, []string{"did you mean stripe"}},
		{"send without a secret", []string{"send", "--type", "github", "--url", "http://" + closed + "/x", "--body", "{}"},
			2, []string{"--secret"}},
		{"send basic without a credential", []string{"send", "--type", "internal", "--auth", "basic", "--url", "http://" + closed + "/x", "--body", "{}"},
			2, []string{"--basic USER:PASSWORD"}},
		{"verify without a secret", []string{"verify", "--type", "github", "--body", "x"}, 2, []string{"--secret"}},
		{"send to a stopped server", []string{"send", "--type", "github", "--gateway", "http://" + closed, "--connection", "c",
			"--secret", "s", "--body", "{}"}, 1, []string{"is hookgate serve running?"}},
		{"tail of a stopped server", []string{"tail", "--admin-url", "http://" + closed}, 1, []string{"is hookgate serve running?", "--admin-url"}},
		{"list of a stopped server", []string{"receipts", "list", "--admin-url", "http://" + closed}, 1, []string{"is hookgate serve running?", "--admin-url"}},
		{"401 from the admin API", []string{"receipts", "list", "--admin-url", unauthorized.URL}, 1, []string{"--token", "HOOKGATE_ADMIN_TOKEN"}},
		{"401 to tail", []string{"tail", "--admin-url", unauthorized.URL}, 1, []string{"--token", "HOOKGATE_ADMIN_TOKEN"}},
	} {
		code, out := run(t, tc.args...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d: %s", tc.name, code, tc.code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q: %s", tc.name, w, out)
			}
		}
	}
}
