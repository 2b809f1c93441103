package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// faultSink is the destination of the fault tests: it records each delivery
// by the id the sender put in the body, when it first arrived, how many times
// it arrived, and whether it arrived while the same receipt was still in
// flight (two processes handling it at once).
type faultSink struct {
	delay      atomic.Int64 // per delivery, nanoseconds
	mu         sync.Mutex
	inFlight   map[string]bool
	count      map[string]int
	first      map[string]time.Time
	violations atomic.Int64
}

func newFaultSink() *faultSink {
	return &faultSink{inFlight: map[string]bool{}, count: map[string]int{}, first: map[string]time.Time{}}
}

func (s *faultSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Delivery string `json:"delivery"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	receipt := r.Header.Get("Hookgate-Receipt-Id")
	s.mu.Lock()
	if s.inFlight[receipt] {
		s.violations.Add(1)
	}
	s.inFlight[receipt] = true
	s.mu.Unlock()
	time.Sleep(time.Duration(s.delay.Load()))
	s.mu.Lock()
	delete(s.inFlight, receipt)
	s.count[body.Delivery]++
	if _, ok := s.first[body.Delivery]; !ok {
		s.first[body.Delivery] = time.Now()
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// load sends signed GitHub deliveries to the ingress addresses, round
// robin, from 16 senders, until stop; it records the ids answered 2xx.
type load struct {
	secret   string
	addrs    []string
	prefix   string
	sent     atomic.Int64
	mu       sync.Mutex
	accepted map[string]bool
	stop     atomic.Bool
	wg       sync.WaitGroup
}

func startLoad(secret, prefix string, addrs ...string) *load {
	l := &load{secret: secret, addrs: addrs, prefix: prefix, accepted: map[string]bool{}}
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range 16 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; !l.stop.Load() && i < 20000; i++ {
				id := fmt.Sprintf("%s-w%d-%d", l.prefix, w, i)
				body := []byte(fmt.Sprintf(`{"action":"opened","delivery":%q,"pad":"%s"}`, id, strings.Repeat("x", 512)))
				addr := l.addrs[(w+i)%len(l.addrs)]
				req, _ := http.NewRequest("POST", "http://"+addr+"/webhooks/github/primary", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Delivery", id)
				req.Header.Set("X-GitHub-Event", "pull_request")
				req.Header.Set("X-Hub-Signature-256", sign(l.secret, body))
				l.sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(10 * time.Millisecond) // that process is dead: nothing promised
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					l.mu.Lock()
					l.accepted[id] = true
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

func (l *load) end() map[string]bool {
	l.stop.Store(true)
	l.wg.Wait()
	return l.accepted
}

// outcome waits until every accepted delivery reached the sink, failing
// after limit, and answers how long that took from since and how many
// arrived more than once.
func (s *faultSink) outcome(t *testing.T, accepted map[string]bool, since time.Time, limit time.Duration) (took time.Duration, twice int) {
	t.Helper()
	deadline := since.Add(limit)
	for {
		s.mu.Lock()
		var missing int
		var last time.Time
		for id := range accepted {
			at, ok := s.first[id]
			if !ok {
				missing++
			} else if at.After(last) {
				last = at
			}
		}
		if missing == 0 {
			for id := range accepted {
				if s.count[id] > 1 {
					twice++
				}
			}
			s.mu.Unlock()
			return max(0, last.Sub(since)), twice
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged deliveries did not reach the handler within %v", missing, len(accepted), limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// undelivered counts the accepted deliveries the sink has not seen.
func (s *faultSink) undelivered(accepted map[string]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range accepted {
		if _, ok := s.first[id]; !ok {
			n++
		}
	}
	return n
}

// gatewayConfig writes a config for one process, with dispatch settings
// dispatch (a YAML mapping), and returns its path and its ingress and admin
// addresses.
func gatewayConfig(t *testing.T, dir, name, storage, sinkURL, secret, dispatch string) (path, listen, admin string) {
	t.Helper()
	listen, admin = freePort(t), freePort(t)
	cfg := fmt.Sprintf(`
listen: %q
admin: {listen: %q}
storage: {url: %q}
dispatch: %s
log: {level: warn}
unsigned_forwarding: true  # the test sink does not verify
handlers:
  - {name: sink, type: http, url: %q, timeout: 5s}
connections:
  - type: github
    name: primary
    signing_secret: %s
    routes: [{handlers: [sink]}]
`, listen, admin, storage, dispatch, sinkURL, secret)
	path = filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, listen, admin
}

// crashDispatch are the dispatch settings of the crash tests.
const crashDispatch = "{workers: 16, poll_interval: 200ms}"

// postgresDatabase creates a database of the test's own on the shared
// server (HOOKGATE_TEST_POSTGRES_URL) and drops it when the test ends. It
// skips the test when the variable is unset.
func postgresDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("HOOKGATE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("HOOKGATE_TEST_POSTGRES_URL not set: skipping the PostgreSQL fault test")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := fmt.Sprintf("hg_crash_%d", rand.Uint64()%1e12)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestSIGKILLRounds kills hookgate with SIGKILL twice, once during ingest
// (requests, commits and dispatches in flight) and once while it dispatches a
// backlog with ingest stopped, and restarts it each time: no acknowledged
// delivery is lost, each reaches the handler within 30 s of the restart, and
// no receipt is handled twice at once.
func TestSIGKILLRounds(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test runs real processes; skipped with -short")
	}
	storages := map[string]func(t *testing.T, dir string) string{
		"sqlite":   func(t *testing.T, dir string) string { return "sqlite://" + filepath.Join(dir, "hookgate.db") },
		"postgres": func(t *testing.T, dir string) string { return postgresDatabase(t) },
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			storage := storages[name](t, dir)
			sink := newFaultSink()
			dest := httptest.NewServer(sink)
			defer dest.Close()
			const secret = "fault-test-secret"
			cfgPath, listen, admin := gatewayConfig(t, dir, "hookgate", storage, dest.URL, secret, crashDispatch)
			p := start(t, dir, cfgPath, admin)
			defer func() { p.kill9() }()
			for _, round := range []string{"ingest", "dispatch"} {
				l := startLoad(secret, round, listen)
				switch round {
				case "ingest":
					sink.delay.Store(int64(2 * time.Millisecond))
					time.Sleep(1500 * time.Millisecond)
					p.kill9() // mid-load
					l.end()
				case "dispatch":
					// A backlog builds up behind a slow destination, then
					// ingest stops and the process dies while dispatching.
					sink.delay.Store(int64(50 * time.Millisecond)) // 16 workers: 320 a second
					time.Sleep(1500 * time.Millisecond)
					l.end()
					time.Sleep(300 * time.Millisecond)
					p.kill9()
					if n := sink.undelivered(l.accepted); n == 0 {
						t.Logf("dispatch round: the backlog was delivered before the kill (a slow machine)")
					} else {
						t.Logf("dispatch round: %d acknowledged deliveries not yet delivered at the kill", n)
					}
					sink.delay.Store(int64(2 * time.Millisecond))
				}
				accepted := l.accepted
				if len(accepted) < 50 {
					t.Fatalf("%s round: only %d deliveries accepted (of %d sent); the load did not run:\n%s", round, len(accepted), l.sent.Load(), p.logs)
				}
				p = start(t, dir, cfgPath, admin)
				restarted := time.Now()
				took, twice := sink.outcome(t, accepted, restarted, 30*time.Second)
				t.Logf("%s %s round: sent %d, acknowledged %d, lost 0, delivered twice %d; all delivered %v after the restart",
					name, round, l.sent.Load(), len(accepted), twice, took.Round(10*time.Millisecond))
			}
			if v := sink.violations.Load(); v != 0 {
				t.Fatalf("%d deliveries arrived while the same receipt was in flight elsewhere", v)
			}
		})
	}
}

// TestPostgresInstancesKilled runs three hookgate processes on one
// PostgreSQL database under load, kills one with SIGKILL, and keeps the
// load on the others: nothing acknowledged is lost, no receipt is handled by
// two processes at once, and the dead one's receipts reach the handler
// within 30 s of the kill (its leases expire and the others take them over).
func TestPostgresInstancesKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test runs real processes; skipped with -short")
	}
	storage := postgresDatabase(t)
	dir := t.TempDir()
	sink := newFaultSink()
	sink.delay.Store(int64(5 * time.Millisecond))
	dest := httptest.NewServer(sink)
	defer dest.Close()
	const secret = "fault-test-secret"
	var (
		procs   []*process
		listens []string
	)
	for i := range 3 {
		cfgPath, listen, admin := gatewayConfig(t, dir, fmt.Sprint("hookgate", i), storage, dest.URL, secret, crashDispatch)
		p := start(t, dir, cfgPath, admin)
		defer p.kill9()
		procs, listens = append(procs, p), append(listens, listen)
	}
	l := startLoad(secret, "multi", listens...)
	time.Sleep(1500 * time.Millisecond)
	procs[0].kill9()
	killed := time.Now()
	time.Sleep(time.Second)
	accepted := l.end()
	if len(accepted) < 50 {
		t.Fatalf("only %d deliveries accepted (of %d sent); the load did not run", len(accepted), l.sent.Load())
	}
	took, twice := sink.outcome(t, accepted, killed, 30*time.Second)
	if v := sink.violations.Load(); v != 0 {
		t.Fatalf("%d deliveries arrived while the same receipt was in flight in another process", v)
	}
	t.Logf("3 processes, one killed: sent %d, acknowledged %d, lost 0, delivered twice %d; all delivered %v after the kill",
		l.sent.Load(), len(accepted), twice, took.Round(10*time.Millisecond))
}
