package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is one `hookgate serve` whose log can be read while it runs.
type server struct {
	cmd               *exec.Cmd
	logs              *syncBuffer
	done              chan struct{}
	listen, adminAddr string
}

// serveFile starts `hookgate serve --config` on a file holding yaml plus
// free loopback addresses, and waits until it is ready.
func serveFile(t *testing.T, yaml string) (*server, string) {
	t.Helper()
	return serveIn(t, t.TempDir(), yaml)
}

// serveIn is serveFile in dir, where the default SQLite file hookgate.db lives.
func serveIn(t *testing.T, dir, yaml string) (*server, string) {
	t.Helper()
	s := &server{logs: &syncBuffer{}, done: make(chan struct{}), listen: freePort(t), adminAddr: freePort(t)}
	path := filepath.Join(dir, "hookgate.yaml")
	writeConfig(t, path, s, yaml)
	s.cmd = exec.Command(binary, "serve", "--config", path)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
	s.waitLog(t, "hookgate serving")
	return s, path
}

func writeConfig(t *testing.T, path string, s *server, yaml string) {
	t.Helper()
	full := fmt.Sprintf("listen: %q\nadmin: {listen: %q}\n%s", s.listen, s.adminAddr, yaml)
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the server's log contains want; it fails the test
// if the server exits or 30 s pass first.
func (s *server) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.logs.String(), want) {
		select {
		case <-s.done:
			t.Fatalf("hookgate exited before logging %q:\n%s", want, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hookgate did not log %q:\n%s", want, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitWithin waits for the process to end; it fails the test if it takes
// longer than bound. bound is below the 20 s shutdown grace, the time a
// server that waits on a stream or an unfinished request would take.
func (s *server) exitWithin(t *testing.T, bound time.Duration, why string) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(bound):
		t.Fatalf("hookgate still running %s after %s:\n%s", bound, why, s.logs.String())
	}
}

// TestCtrlCClosesEventStreams: an attached event stream (hookgate tail)
// does not hold shutdown up; the client sees the stream end.
func TestCtrlCClosesEventStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process; skipped with -short")
	}
	s, _ := serveFile(t, "")
	tail := exec.Command(binary, "tail", "--admin-url", "http://"+s.adminAddr)
	tailOut := &syncBuffer{}
	tail.Stdout, tail.Stderr = tailOut, tailOut
	// A raw subscriber too, to know the stream is open before the signal.
	resp, err := http.Get("http://" + s.adminAddr + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, ": connected") {
		t.Fatalf("event stream did not open: %q %v", line, err)
	}
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	tailDone := make(chan error, 1)
	go func() { tailDone <- tail.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(tailOut.String(), "watching receipt transitions"); {
		if time.Now().After(deadline) {
			t.Fatalf("tail did not attach: %s", tailOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	_ = s.cmd.Process.Signal(syscall.SIGINT)
	s.exitWithin(t, 10*time.Second, "one SIGINT with event streams attached")
	select {
	case err := <-tailDone:
		if err == nil || !strings.Contains(tailOut.String(), "closed the event stream") {
			t.Fatalf("tail should say the server closed the stream and exit 1 (%v): %s", err, tailOut.String())
		}
	case <-time.After(10 * time.Second):
		_ = tail.Process.Kill()
		t.Fatal("tail kept running after the server stopped")
	}
}

// TestSecondSignalExitsAtOnce: while shutdown waits for a delivery in
// flight (a destination that does not answer, with a 2-minute handler
// timeout), a second Ctrl-C ends the process at once.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process; skipped with -short")
	}
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
	}))
	defer sink.Close()
	defer close(release)
	s, _ := serveFile(t, fmt.Sprintf(`signing_secret: out-secret
handlers: [{name: slow, type: http, url: %q, timeout: 2m}]
connections:
  - {type: github, name: gh, signing_secret: s, routes: [{handlers: [slow]}]}
`, sink.URL))
	body := []byte(`{"zen":"x"}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.listen+"/webhooks/github/gh", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "d1")
	req.Header.Set("X-Hub-Signature-256", sign("s", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delivery answered %d", resp.StatusCode)
	}
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatalf("the delivery never reached the destination:\n%s", s.logs.String())
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	s.waitLog(t, "press Ctrl-C again")
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	s.exitWithin(t, 10*time.Second, "a second SIGINT")
	if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Fatalf("exit after the second signal: %v", s.cmd.ProcessState)
	}
}

// TestSIGHUPReload: SIGHUP swaps in the file's new connections; a bad file
// is refused and the running configuration stays in force.
func TestSIGHUPReload(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process; skipped with -short")
	}
	one := "connections:\n  - {type: github, name: one, signing_secret: s}\n"
	s, path := serveFile(t, one)
	status := func(name string) int {
		t.Helper()
		resp, err := http.Post("http://"+s.listen+"/webhooks/github/"+name, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := status("two"); st != http.StatusNotFound {
		t.Fatalf("connection two before the reload: %d", st)
	}
	writeConfig(t, path, s, one+"  - {type: github, name: two, signing_secret: s}\n")
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(t, "config reloaded")
	if st := status("two"); st != http.StatusUnauthorized {
		t.Fatalf("connection two after the reload answered %d, want 401 (it exists, the request is unsigned)", st)
	}
	writeConfig(t, path, s, one+"  - {type: github, name: two, signing_secret: s, sekret: typo}\n")
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(t, "config reload refused")
	if !strings.Contains(s.logs.String(), "sekret") {
		t.Errorf("the refusal does not say what is wrong:\n%s", s.logs.String())
	}
	if st := status("two"); st != http.StatusUnauthorized {
		t.Fatalf("after a refused reload connection two answered %d, want 401", st)
	}
}

// TestServeLogsInConfiguredFormat: with log.format json, every line serve
// writes, from start-up warnings to shutdown, is a JSON object.
func TestServeLogsInConfiguredFormat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process; skipped with -short")
	}
	s, _ := serveFile(t, "log: {format: json}\nconnections:\n  - {type: github, name: gh, signing_secret: \"s${HG_E2E_SURELY_UNSET}\"}\n")
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	s.exitWithin(t, 15*time.Second, "SIGINT")
	out := strings.TrimSpace(s.logs.String())
	if !strings.Contains(out, "HG_E2E_SURELY_UNSET") {
		t.Fatalf("no warning about the unset variable:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("not a JSON log line: %q", line)
		}
	}
}
