package logsend

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/hookgate/hookgate"
)

// TestSendLogsOneLine: the log handler always succeeds and writes one
// structured line that names the receipt, without its body or headers
// (they may carry personal data or credentials).
func TestSendLogsOneLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := &Sender{Name: "debug", Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	r := &hookgate.Receipt{ID: "r1", Connection: "primary", EventType: "push", IdempotencyKey: "primary:push:n1",
		Headers: http.Header{"Authorization": {"Bearer s3cret"}}, Body: []byte(`{"email":"someone@example.com"}`)}
	code, retry, err := s.Send(context.Background(), r)
	if code != 0 || retry || err != nil {
		t.Fatalf("Send = %d, %v, %v; want 0, false, nil", code, retry, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines: %q", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"level": "INFO", "handler": "debug", "receipt": "r1", "connection": "primary",
		"event_type": "push", "idempotency_key": "primary:push:n1", "bytes": float64(len(r.Body))}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if strings.Contains(lines[0], "s3cret") || strings.Contains(lines[0], "someone@example.com") {
		t.Errorf("log line carries the body or headers: %s", lines[0])
	}
}
