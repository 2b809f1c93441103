package cli

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVerifyReplayWindowDefault: `hookgate verify` judges a timestamp with
// the window the gateway would use, the preset's (Paddle: 5 s), unless
// --replay-window sets another.
func TestVerifyReplayWindowDefault(t *testing.T) {
	signed := time.Unix(1_750_000_000, 0)
	body := `{"event_id":"evt_1","event_type":"transaction.completed"}`
	pr, err := BuildRequest(SendOptions{Type: "paddle", URL: "http://localhost/", Secret: "pdl_ntfset_test", Body: []byte(body), Now: signed})
	if err != nil {
		t.Fatal(err)
	}
	args := func(age int64, extra ...string) []string {
		a := []string{"verify", "--type", "paddle", "--secret", "pdl_ntfset_test", "--body", body,
			"--header", "Paddle-Signature: " + pr.Header.Get("Paddle-Signature"), "--now", strconv.FormatInt(signed.Unix()+age, 10)}
		return append(a, extra...)
	}
	if code, out := run(t, args(4)...); code != 0 || !strings.Contains(out, "VERIFIED") {
		t.Fatalf("4 s old = %d: %s", code, out)
	}
	if code, out := run(t, args(6)...); code != 1 || !strings.Contains(out, "timestamp_stale") {
		t.Fatalf("6 s old with Paddle's 5 s = %d: %s", code, out)
	}
	if code, out := run(t, args(6, "--replay-window", "60")...); code != 0 {
		t.Fatalf("6 s old with --replay-window 60 = %d: %s", code, out)
	}
}
