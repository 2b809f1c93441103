package execsend

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
)

func receipt() *hookgate.Receipt {
	return &hookgate.Receipt{
		ID: "01890000-0000-7000-8000-000000000001", ConnectionType: "stripe", Connection: "billing",
		EventType: "invoice.paid", IdempotencyKey: "billing:invoice.paid:evt_1",
		Headers: http.Header{"Content-Type": {"application/json"}},
		Body:    []byte(`{"type":"invoice.paid","data":{"id":"in_42"}}`),
	}
}

func newSender(t *testing.T, h hookgate.HandlerConfig) *Sender {
	t.Helper()
	h.Type = "exec"
	s, err := New(h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sh builds a handler that runs script with /bin/sh.
func sh(script string, args ...string) hookgate.HandlerConfig {
	return hookgate.HandlerConfig{Command: append([]string{"sh", "-c", script, "sh"}, args...)}
}

// TestRunGetsBodyFieldsAndReplies: the body arrives on stdin, the receipt's
// fields in the environment and the arguments, and stdout is the reply.
func TestRunGetsBodyFieldsAndReplies(t *testing.T) {
	t.Setenv("HOOKGATE_ADMIN_TOKEN", "adm1n-t0ken") // in hookgate's environment, never the command's
	h := sh(`body=$(cat); printf '{"body":%s,"args":"%s|%s","env":"%s|%s|%s|%s|%s|%s|%s|%s|%s"}' "$body" "$1" "$2" `+
		`"$HOOKGATE_RECEIPT_ID" "$HOOKGATE_IDEMPOTENCY_KEY" "$HOOKGATE_EVENT_TYPE" "$HOOKGATE_CONNECTION" `+
		`"$HOOKGATE_CONNECTION_TYPE" "$HOOKGATE_CONTENT_TYPE" "$INVOICE" "$STATIC" "$HOOKGATE_ADMIN_TOKEN"`,
		"--event={{event_type}}", "{{body:data.id}}")
	h.Env = map[string]string{"INVOICE": "inv-{{body:data.id}}", "STATIC": "fixed"}
	s := newSender(t, h)
	r := receipt()
	var replier hookgate.Replier = s
	reply, retry, err := replier.SendReply(context.Background(), r)
	if err != nil || retry {
		t.Fatalf("SendReply: %v (retry %v)", err, retry)
	}
	want := `{"body":` + string(r.Body) + `,"args":"--event=invoice.paid|in_42","env":"` + r.ID +
		`|billing:invoice.paid:evt_1|invoice.paid|billing|stripe|application/json|inv-in_42|fixed|"}`
	if string(reply.Body) != want {
		t.Fatalf("reply = %s\nwant    %s", reply.Body, want)
	}
	if reply.ContentType != "application/json" || reply.StatusCode != 0 {
		t.Fatalf("reply content type %q, status %d", reply.ContentType, reply.StatusCode)
	}
	code, retry, err := s.Send(context.Background(), r)
	if code != 0 || retry || err != nil {
		t.Fatalf("Send = %d, %v, %v", code, retry, err)
	}
}

// TestExitCodes: 0 succeeds, 64, 65 and 78 are final, anything else is
// retried; the error carries the tail of stderr.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	for code, wantRetry := range map[int]bool{0: false, 1: true, 2: true, 75: true, 64: false, 65: false, 78: false, 126: true, 127: true, 255: true} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			s := newSender(t, sh(`cat >/dev/null; echo "reason $0 $1" >&2; exit `+strconv.Itoa(code), "x"))
			_, retry, err := s.Send(context.Background(), receipt())
			if code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || retry != wantRetry {
				t.Fatalf("exit %d: retry %v, err %v; want retry %v", code, retry, err, wantRetry)
			}
			if msg := err.Error(); !strings.Contains(msg, "status "+strconv.Itoa(code)) || !strings.Contains(msg, "reason sh x") {
				t.Fatalf("error %q", msg)
			}
		})
	}
}

// TestOutputIsBounded: a command that writes megabytes is read to the end
// (it never blocks on a full pipe); the reply keeps MaxReply bytes and the
// error only the tail of stderr.
func TestOutputIsBounded(t *testing.T) {
	t.Parallel()
	s := newSender(t, sh(`head -c 2000000 /dev/zero | tr '\0' 'a'; head -c 2000000 /dev/zero | tr '\0' 'e' >&2; echo LAST >&2; exit 1`))
	reply, retry, err := s.SendReply(context.Background(), receipt())
	if !retry || err == nil || len(reply.Body) != MaxReply {
		t.Fatalf("reply %d bytes, retry %v, err %.80v", len(reply.Body), retry, err)
	}
	if n := len(err.Error()); n > maxStderr+100 || !strings.HasSuffix(err.Error(), "eeeLAST") {
		t.Fatalf("error of %d bytes ends %q", n, err.Error()[max(0, n-20):])
	}
}

// TestTimeoutKillsTheProcessGroup: at the timeout the command and the
// children it started are killed, and the delivery is retried.
func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	h := sh(`sleep 60 & echo $! > "$1"; sleep 60`, pidFile)
	h.Timeout = hookgate.Duration(300 * time.Millisecond)
	s := newSender(t, h)
	start := time.Now()
	_, retry, err := s.Send(context.Background(), receipt())
	if !retry || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "process group was killed") {
		t.Fatalf("retry %v, err %v", retry, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Send took %v after a 300ms timeout", took)
	}
	assertGone(t, pidFile)
}

// TestContextCancelKillsTheProcessGroup: the dispatcher's deadline (the
// handler timeout it applies) kills the group as well.
func TestContextCancelKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	s := newSender(t, sh(`sleep 60 & echo $! > "$1"; sleep 60`, pidFile))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, retry, err := s.Send(ctx, receipt()); !retry || err == nil {
		t.Fatalf("retry %v, err %v", retry, err)
	}
	assertGone(t, pidFile)
}

// TestLeftoverChildDoesNotHoldTheDelivery: a command that exits 0 but
// leaves a child holding its stdout is done at once, and the child is
// killed with its group.
func TestLeftoverChildDoesNotHoldTheDelivery(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	s := newSender(t, sh(`sleep 60 & echo $! > "$1"; echo done`, pidFile))
	start := time.Now()
	reply, retry, err := s.SendReply(context.Background(), receipt())
	if err != nil || retry || string(reply.Body) != "done\n" || reply.ContentType != "text/plain; charset=utf-8" {
		t.Fatalf("reply %q (%s), retry %v, err %v", reply.Body, reply.ContentType, retry, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Send took %v", took)
	}
	assertGone(t, pidFile)
}

// TestCommandIgnoringStdin: a command that never reads its (large) stdin
// still succeeds.
func TestCommandIgnoringStdin(t *testing.T) {
	t.Parallel()
	r := receipt()
	r.Body = []byte(`{"pad":"` + strings.Repeat("x", 4<<20) + `"}`)
	if _, retry, err := newSender(t, sh(`exit 0`)).Send(context.Background(), r); err != nil || retry {
		t.Fatalf("retry %v, err %v", retry, err)
	}
}

// TestProgramRemovedAfterLoad: a program that disappears is retried (a
// deploy may put it back), not dead.
func TestProgramRemovedAfterLoad(t *testing.T) {
	t.Parallel()
	prog := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSender(t, hookgate.HandlerConfig{Command: []string{prog}})
	if _, _, err := s.Send(context.Background(), receipt()); err != nil {
		t.Fatal(err)
	}
	os.Remove(prog)
	if _, retry, err := s.Send(context.Background(), receipt()); err == nil || !retry {
		t.Fatalf("retry %v, err %v", retry, err)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		h    hookgate.HandlerConfig
		want string
	}{
		{hookgate.HandlerConfig{}, "command is required"},
		{hookgate.HandlerConfig{Command: []string{""}}, "command is required"},
		{hookgate.HandlerConfig{Command: []string{"no-such-program-hookgate"}}, "no-such-program-hookgate"},
		{hookgate.HandlerConfig{Command: []string{"/nonexistent/bin/hook"}}, "/nonexistent/bin/hook"},
		{hookgate.HandlerConfig{Command: []string{"{{event_type}}"}}, "cannot use placeholders"},
		{hookgate.HandlerConfig{Command: []string{"sh", "{{evnt_type}}"}}, "argument 1"},
		{hookgate.HandlerConfig{Command: []string{"sh"}, Env: map[string]string{"BAD-NAME": "x"}}, "not a variable name"},
		{hookgate.HandlerConfig{Command: []string{"sh"}, Env: map[string]string{"1X": "x"}}, "not a variable name"},
		{hookgate.HandlerConfig{Command: []string{"sh"}, Env: map[string]string{"HOOKGATE_EVENT_TYPE": "x"}}, "set by hookgate"},
		{hookgate.HandlerConfig{Command: []string{"sh"}, Env: map[string]string{"X": "{{nope}}"}}, "unknown placeholder"},
	} {
		_, err := New(tt.h)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%v) = %v, want an error containing %q", tt.h.Command, err, tt.want)
		}
	}
}

// assertGone waits for the process whose pid is in pidFile to be gone (or
// a zombie: dead, waiting for init to reap it).
func assertGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return // gone
		}
		// pid (comm) STATE …
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %s still runs: %s", pid, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkRun is the cost of one delivery to a trivial command.
func BenchmarkRun(b *testing.B) {
	s, err := New(hookgate.HandlerConfig{Command: []string{"true"}})
	if err != nil {
		b.Fatal(err)
	}
	r := receipt()
	for b.Loop() {
		if _, _, err := s.Send(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}
