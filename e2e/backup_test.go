package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBackupWhileServingAndRestore: `hookgate backup` copies the database
// while the server runs and takes deliveries; the documented restore (put
// the file in place of hookgate.db, start) brings back every delivery that
// was acknowledged before the backup began.
func TestBackupWhileServingAndRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process; skipped with -short")
	}
	const yaml = "connections:\n  - {type: github, name: gh, signing_secret: s}\n"
	dir := t.TempDir()
	s, _ := serveIn(t, dir, yaml)
	deliver := func(i int) {
		t.Helper()
		body := []byte(fmt.Sprintf(`{"n":%d}`, i))
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.listen+"/webhooks/github/gh", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("d-%d", i))
		req.Header.Set("X-Hub-Signature-256", sign("s", body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delivery %d answered %d", i, resp.StatusCode)
		}
	}
	const before = 25
	for i := 0; i < before; i++ {
		deliver(i)
	}
	// Deliveries keep arriving while the backup runs.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := before; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body := []byte(fmt.Sprintf(`{"n":%d}`, i))
			req, _ := http.NewRequest(http.MethodPost, "http://"+s.listen+"/webhooks/github/gh", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("d-%d", i))
			req.Header.Set("X-Hub-Signature-256", sign("s", body))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	backup := filepath.Join(t.TempDir(), "backup.db")
	out, code := hookgate(t, nil, "backup", "--storage-url", "sqlite://"+filepath.Join(dir, "hookgate.db"), backup)
	close(stop)
	<-done
	if code != 0 || !strings.Contains(out, "backed up") {
		t.Fatalf("backup (%d): %s", code, out)
	}
	if st, err := os.Stat(backup); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", st, err)
	}
	if out, code := hookgate(t, nil, "backup", "--storage-url", "sqlite://"+filepath.Join(dir, "hookgate.db"), backup); code == 0 {
		t.Fatalf("a second backup overwrote the first: %s", out)
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	s.exitWithin(t, 30*time.Second, "SIGTERM")

	// Restore: the backup becomes hookgate.db of a fresh directory.
	restored := t.TempDir()
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, "hookgate.db"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r, _ := serveIn(t, restored, yaml)
	out, code = hookgate(t, []string{"HOOKGATE_ADMIN_URL=http://" + r.adminAddr}, "receipts", "list", "--limit", "500", "--json")
	if code != 0 {
		t.Fatalf("receipts list on the restored database (%d): %s", code, out)
	}
	var page struct {
		Receipts []struct {
			Nonce string `json:"nonce"`
		} `json:"receipts"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, rc := range page.Receipts {
		have[rc.Nonce] = true
	}
	for i := 0; i < before; i++ {
		if !have[fmt.Sprintf("d-%d", i)] {
			t.Fatalf("delivery d-%d, acknowledged before the backup, is not in the restored database (%d receipts)", i, len(page.Receipts))
		}
	}
}
