package cli

import (
	"fmt"
	"strings"
	"testing"
)

// TestHandlersListAndReset: `hookgate handlers list` shows each handler of a
// running serve with its circuit; `handlers reset` closes one and refuses an
// unknown name.
func TestHandlersListAndReset(t *testing.T) {
	adminAddr := freeAddr(t)
	startServe(t, fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: %q}
handlers:
  - {name: audit, type: log, circuit: {failure_threshold: 3, reset_timeout: 10m}}
`, adminAddr), adminAddr)
	admin := "--admin-url=http://" + adminAddr
	code, out := run(t, "handlers", "list", admin)
	if code != 0 || !strings.Contains(out, "NAME") || !strings.Contains(out, "audit") || !strings.Contains(out, "closed") {
		t.Fatalf("handlers list = %d:\n%s", code, out)
	}
	if code, out := run(t, "handlers", "list", "--json", admin); code != 0 || !strings.Contains(out, `"consecutive_failures": 0`) {
		t.Fatalf("handlers list --json = %d:\n%s", code, out)
	}
	if code, out := run(t, "handlers", "reset", "audit", admin); code != 0 || !strings.Contains(out, "circuit of audit is closed") {
		t.Fatalf("handlers reset = %d:\n%s", code, out)
	}
	if code, out := run(t, "handlers", "reset", "nope", admin); code != 1 || !strings.Contains(out, `no handler "nope"`) {
		t.Fatalf("handlers reset of an unknown handler = %d:\n%s", code, out)
	}
}
