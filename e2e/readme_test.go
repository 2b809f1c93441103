package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readmeBlock is one fenced block of README.md marked for the quick-start
// test by the HTML comment on the line before it:
//
//	<!-- quickstart -->             run it; it must exit 0
//	<!-- quickstart exit=N -->      run it; it must exit N
//	<!-- quickstart:serve -->       run it in the background; it starts a server
//	<!-- quickstart:file NAME -->   write it to NAME
//	<!-- quickstart:build -->       the build command (the test uses the binary TestMain built)
//
// Full lines starting with "# " inside a run block are output the block must
// print (up to a trailing "…").
type readmeBlock struct {
	kind, arg string
	exit      int
	line      int
	text      string
}

var quickstartMarker = regexp.MustCompile(`^<!-- quickstart(?::(serve|file|build))?(?: (\S+))? -->$`)

func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	sc := bufio.NewScanner(bytes.NewReader(raw))
	var pending *readmeBlock
	var in bool
	var body strings.Builder
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case in && line == "```":
			in = false
			pending.text = body.String()
			blocks = append(blocks, *pending)
			pending = nil
		case in:
			body.WriteString(line + "\n")
		case pending != nil && strings.HasPrefix(line, "```"):
			in = true
			body.Reset()
		case pending != nil:
			t.Fatalf("README.md:%d: a quickstart marker must be followed at once by a fenced block", pending.line)
		default:
			if m := quickstartMarker.FindStringSubmatch(line); m != nil {
				pending = &readmeBlock{kind: m[1], arg: m[2], line: n}
				if pending.kind == "" {
					pending.kind = "run"
					if code, ok := strings.CutPrefix(m[2], "exit="); ok {
						pending.exit, _ = strconv.Atoi(code)
					}
				}
			}
		}
	}
	if pending != nil {
		t.Fatalf("README.md:%d: unterminated quickstart block", pending.line)
	}
	return blocks
}

// TestREADMEQuickStart runs the README's quick start, block by block, as a
// new user would: the commands are read from README.md itself, so the README
// cannot drift from the product. Only addresses differ, so the test can run
// beside other servers: the default ports of the README (localhost:8080,
// 127.0.0.1:8081) and its forwarding target (127.0.0.1:9000) are replaced by
// free loopback ports, the first `serve` (no --config) gets the same
// addresses through HOOKGATE_CONFIG, and a file the README writes gets them
// appended.
func TestREADMEQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real process; skipped with -short")
	}
	for _, tool := range []string{"bash", "curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README's quick start uses %s, which is not installed here", tool)
		}
	}
	blocks := readmeBlocks(t, "../README.md")
	kinds := map[string]int{}
	for _, b := range blocks {
		kinds[b.kind]++
	}
	if kinds["serve"] < 2 || kinds["run"] < 5 || kinds["file"] < 1 || kinds["build"] != 1 {
		t.Fatalf("README quick start markers went missing: %v", kinds)
	}

	dir := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(dir, "hookgate")); err != nil {
		t.Fatal(err)
	}
	listen, adminAddr := freePort(t), freePort(t)
	addrs := fmt.Sprintf("\nlisten: %q\nadmin: {listen: %q}\n", listen, adminAddr)
	base := filepath.Join(t.TempDir(), "addresses.yaml")
	if err := os.WriteFile(base, []byte(addrs), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var forwarded []http.Header
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		forwarded = append(forwarded, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	local := strings.NewReplacer("localhost:8080", listen, "127.0.0.1:8081", adminAddr,
		"127.0.0.1:9000", strings.TrimPrefix(sink.URL, "http://"))
	env := append(os.Environ(), "HOOKGATE_CONFIG="+base, "HOOKGATE_ADMIN_URL=http://"+adminAddr,
		"HOOKGATE_GATEWAY_URL=http://"+listen)

	var server *readmeServer
	defer func() {
		if server != nil {
			server.stop(t)
		}
	}()
	for _, b := range blocks {
		text := local.Replace(b.text)
		switch b.kind {
		case "build":
			if !strings.Contains(text, "go build -o hookgate ./cmd/hookgate") {
				t.Fatalf("README.md:%d: the build block changed; update TestMain's build to match:\n%s", b.line, text)
			}
		case "file":
			if err := os.WriteFile(filepath.Join(dir, b.arg), []byte(text+addrs), 0o600); err != nil {
				t.Fatal(err)
			}
		case "serve":
			if server != nil {
				server.stop(t) // the README's Ctrl-C
			}
			server = startReadmeServer(t, dir, env, text, adminAddr, b.line)
		case "run":
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", text)
			cmd.Dir, cmd.Env = dir, env
			out, err := cmd.CombinedOutput()
			cancel()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != b.exit {
				t.Fatalf("README.md:%d exited %d, want %d:\n%s\n--- output:\n%s", b.line, code, b.exit, text, out)
			}
			for _, line := range strings.Split(text, "\n") {
				want, ok := strings.CutPrefix(line, "# ")
				want = strings.TrimSuffix(want, "…")
				if ok && !strings.Contains(string(out), want) {
					t.Fatalf("README.md:%d: output lacks %q:\n%s", b.line, want, out)
				}
			}
		}
	}
	// The last delivery went through the file's route: forwarded, signed.
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(forwarded)
		var signed bool
		if n > 0 {
			signed = forwarded[0].Get("Webhook-Signature") != "" && forwarded[0].Get("Hookgate-Event-Type") == "pull_request"
		}
		mu.Unlock()
		if n > 0 {
			if !signed {
				t.Fatalf("forwarded without a signature: %v", forwarded[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the README's route forwarded nothing; server log:\n%s", server.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readmeServer is a serve block running in its own process group, so the
// README's Ctrl-C can be sent to the shell and the server alike.
type readmeServer struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

func startReadmeServer(t *testing.T, dir string, env []string, text, adminAddr string, line int) *readmeServer {
	t.Helper()
	cmd := exec.Command("bash", "-e", "-c", text)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s := &readmeServer{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("README.md:%d: the server exited:\n%s", line, s.logs.String())
		default:
		}
		if resp, err := http.Get("http://" + adminAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("README.md:%d: the server did not become ready:\n%s", line, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop presses Ctrl-C (SIGINT to the process group) and waits for a clean exit.
func (s *readmeServer) stop(t *testing.T) {
	t.Helper()
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		t.Fatalf("the server did not stop on Ctrl-C:\n%s", s.logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
