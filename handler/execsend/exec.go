// Package execsend is the "exec" handler: it runs a command for each
// receipt, with the body on stdin and the receipt's fields in its
// environment and arguments. No shell is involved: command is an argv list.
//
// Exit codes decide what happens next (the sysexits.h meanings):
//
//	0                        success; stdout is the reply
//	64 EX_USAGE, 65 EX_DATAERR, 78 EX_CONFIG
//	                         refused: not retried, the receipt goes to dead
//	anything else            retried with backoff (75 EX_TEMPFAIL is the
//	                         conventional "try again later"), as are a
//	                         timeout, a signal and a command that cannot start
package execsend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/handler/placeholder"
)

// Limits on what a command may hand back.
const (
	// MaxReply bounds the stdout kept as the reply; the rest is read and
	// dropped, so a chatty command never blocks on a full pipe.
	MaxReply = 64 << 10
	// maxStderr bounds the tail of stderr kept for the error.
	maxStderr = 2 << 10
	// DefaultTimeout applies when the handler sets none.
	DefaultTimeout = 30 * time.Second
)

// Exit codes that mean "do not retry" (sysexits.h): the command looked at
// the delivery or its own setup and will never accept it as it is.
const (
	ExitUsage   = 64 // EX_USAGE
	ExitDataErr = 65 // EX_DATAERR
	ExitConfig  = 78 // EX_CONFIG
)

// The environment variables every run gets.
const (
	EnvReceiptID      = "HOOKGATE_RECEIPT_ID"
	EnvIdempotencyKey = "HOOKGATE_IDEMPOTENCY_KEY"
	EnvEventType      = "HOOKGATE_EVENT_TYPE"
	EnvConnection     = "HOOKGATE_CONNECTION"
	EnvConnectionType = "HOOKGATE_CONNECTION_TYPE"
	EnvContentType    = "HOOKGATE_CONTENT_TYPE"
)

// inherited are the only variables passed on from hookgate's own
// environment, which holds secrets (admin token, signing secrets) that a
// command has no business seeing. Anything else goes through env.
var inherited = []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// Sender runs one command per receipt.
type Sender struct {
	path    string                  // the resolved command
	args    []*placeholder.Template // command[1:]
	env     []envVar                // configured, in a fixed order
	base    []string                // inherited variables
	timeout time.Duration
}

type envVar struct {
	name  string
	value *placeholder.Template
}

// New builds the handler from its configuration: command (argv; the first
// element a program on PATH or a path, the others may use placeholders), env
// (NAME: value with placeholders) and timeout (default 30s). The program
// must exist and be executable now, so a typo fails at load.
func New(h hookgate.HandlerConfig) (*Sender, error) {
	if len(h.Command) == 0 || h.Command[0] == "" {
		return nil, errors.New("command is required: the program and its arguments as a list, e.g. [/usr/local/bin/on-order, --event, \"{{event_type}}\"]")
	}
	if strings.Contains(h.Command[0], "{{") {
		return nil, errors.New("command: the program (first element) cannot use placeholders")
	}
	path, err := exec.LookPath(h.Command[0])
	if err != nil {
		return nil, fmt.Errorf("command %q: %w", h.Command[0], err)
	}
	if !filepath.IsAbs(path) {
		// LookPath found it relative to the working directory (./x): pin
		// it, so a later chdir cannot change which program runs.
		if path, err = filepath.Abs(path); err != nil {
			return nil, fmt.Errorf("command %q: %w", h.Command[0], err)
		}
	}
	s := &Sender{path: path, timeout: time.Duration(h.Timeout)}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	for i, a := range h.Command[1:] {
		t, err := placeholder.Parse(a)
		if err != nil {
			return nil, fmt.Errorf("command argument %d: %w", i+1, err)
		}
		s.args = append(s.args, t)
	}
	names := make([]string, 0, len(h.Env))
	for k := range h.Env {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !validEnvName(k) {
			return nil, fmt.Errorf("env: %q is not a variable name (letters, digits and _, not starting with a digit)", k)
		}
		if strings.HasPrefix(k, "HOOKGATE_") {
			return nil, fmt.Errorf("env: %s: HOOKGATE_ variables are set by hookgate", k)
		}
		t, err := placeholder.Parse(h.Env[k])
		if err != nil {
			return nil, fmt.Errorf("env: %s: %w", k, err)
		}
		s.env = append(s.env, envVar{name: k, value: t})
	}
	for _, k := range inherited {
		if v, ok := os.LookupEnv(k); ok && h.Env[k] == "" {
			s.base = append(s.base, k+"="+v)
		}
	}
	return s, nil
}

// Send runs the command; see SendReply.
func (s *Sender) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	_, retry, err := s.SendReply(ctx, r)
	return 0, retry, err
}

// SendReply runs the command with the body on stdin and returns its stdout
// (the first MaxReply bytes) as the reply. At the timeout, or when ctx ends,
// the command's whole process group is killed, children included; so is
// anything the command leaves running in its group when it exits.
func (s *Sender) SendReply(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	fields := placeholder.For(r)
	args := make([]string, len(s.args))
	for i, t := range s.args {
		args[i] = t.Expand(fields)
	}
	cmd := exec.CommandContext(ctx, s.path, args...)
	cmd.Env = s.environ(r, fields)
	cmd.Stdin = bytes.NewReader(r.Body)
	stdout := &capped{max: MaxReply}
	stderr := &tail{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	ownGroup(cmd)
	// A grandchild that keeps stdout open must not keep the delivery
	// waiting: once the command has exited (or been killed), its pipes are
	// closed after this grace.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		killGroup(cmd.Process.Pid)
	}
	reply := hookgate.Reply{Body: stdout.buf.Bytes()}
	reply.ContentType = sniff(reply.Body)
	var exit *exec.ExitError
	switch {
	case err == nil || errors.Is(err, exec.ErrWaitDelay):
		// Exit 0; a pipe left open by a (now killed) child is not the
		// command's failure.
		return reply, false, nil
	case ctx.Err() != nil:
		return reply, true, fmt.Errorf("%s: %w after %v (its process group was killed)%s", s.name(), ctx.Err(), s.timeout, stderr.suffix())
	case errors.As(err, &exit):
		code := exit.ExitCode()
		if code < 0 {
			return reply, true, fmt.Errorf("%s: %v%s", s.name(), exit, stderr.suffix())
		}
		retry := code != ExitUsage && code != ExitDataErr && code != ExitConfig
		return reply, retry, fmt.Errorf("%s exited with status %d%s", s.name(), code, stderr.suffix())
	default:
		// It could not start (removed, no longer executable): retried,
		// since a deploy may put it back.
		return reply, true, fmt.Errorf("run %s: %w", s.name(), err)
	}
}

func (s *Sender) name() string { return filepath.Base(s.path) }

// environ is the command's environment: the inherited variables, the
// configured ones, then hookgate's own (which nothing can override).
func (s *Sender) environ(r *hookgate.Receipt, fields *placeholder.Fields) []string {
	env := make([]string, 0, len(s.base)+len(s.env)+6)
	env = append(env, s.base...)
	for _, v := range s.env {
		env = append(env, v.name+"="+v.value.Expand(fields))
	}
	ct := r.Headers.Get("Content-Type")
	return append(env,
		EnvReceiptID+"="+r.ID,
		EnvIdempotencyKey+"="+placeholder.Clean(r.IdempotencyKey),
		EnvEventType+"="+placeholder.Clean(r.EventType),
		EnvConnection+"="+r.Connection,
		EnvConnectionType+"="+r.ConnectionType,
		EnvContentType+"="+placeholder.Clean(ct),
	)
}

// sniff names the reply's content type: JSON when stdout is a JSON
// document, otherwise what net/http would guess (text/plain for text).
func sniff(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
		return "application/json"
	}
	return http.DetectContentType(b)
}

func validEnvName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// capped keeps the first max bytes written and drops the rest.
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// tail keeps the last max bytes written.
type tail struct {
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// suffix is ": <stderr tail>" for an error message, or "".
func (t *tail) suffix() string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(t.buf), "\uFFFD"))
	if s == "" {
		return ""
	}
	return ": " + placeholder.Clean(s)
}
