package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Helpers of the storage fault tests (full disk, PostgreSQL outage): one hookgate
// process with a GitHub connection "primary" and one sink, a ledger of what
// was sent and acknowledged, and the final count of lost and doubled
// deliveries.

const faultSecret = "fault-test-secret"

// faultConfig writes a config for storageURL whose one handler posts to
// sinkURL, and returns its path and the public and admin addresses.
func faultConfig(t *testing.T, dir, storageURL, sinkURL string) (cfgPath, listen, adminAddr string) {
	t.Helper()
	return gatewayConfig(t, dir, "hookgate", storageURL, sinkURL, faultSecret, "{workers: 4, lease: 2s, poll_interval: 100ms}")
}

// ledger counts the deliveries a fault test sent and which were acknowledged
// (answered 2xx), and the status codes it got.
type ledger struct {
	listen string
	client *http.Client
	seq    atomic.Int64

	mu    sync.Mutex
	sent  int
	acked map[string]bool // delivery ids answered 2xx
	codes map[int]int
	// unexpected holds answers that break the contract: a code other than
	// 2xx or 503, a 503 without Retry-After, or a 2xx for a delivery sent
	// while storage was down.
	unexpected []string
	// down is when the test stopped storage (unix nanoseconds), zero while
	// it runs: no delivery sent in between may be acknowledged.
	down atomic.Int64
}

func newLedger(listen string) *ledger {
	return &ledger{listen: listen, client: &http.Client{Timeout: 10 * time.Second},
		acked: map[string]bool{}, codes: map[int]int{}}
}

// send posts one signed delivery with a new id and returns its status (0 when
// no answer came).
func (l *ledger) send(prefix string) int {
	id := fmt.Sprintf("%s-%d", prefix, l.seq.Add(1))
	body := []byte(fmt.Sprintf(`{"action":"opened","delivery":%q,"pad":"%s"}`, id, strings.Repeat("x", 512)))
	req, _ := http.NewRequest("POST", "http://"+l.listen+"/webhooks/github/primary", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-Hub-Signature-256", sign(faultSecret, body))
	l.mu.Lock()
	l.sent++
	l.mu.Unlock()
	down := l.down.Load()
	began := time.Now().UnixNano()
	resp, err := l.client.Do(req)
	if err != nil {
		l.mu.Lock()
		l.unexpected = append(l.unexpected, fmt.Sprintf("%s: no answer: %v", id, err))
		l.mu.Unlock()
		return 0
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.codes[resp.StatusCode]++
	switch {
	case resp.StatusCode/100 == 2:
		l.acked[id] = true
		if down != 0 && began > down && l.down.Load() != 0 {
			l.unexpected = append(l.unexpected, fmt.Sprintf("%s: %d while storage was down", id, resp.StatusCode))
		}
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
	default:
		l.unexpected = append(l.unexpected, fmt.Sprintf("%s: %d (Retry-After %q): %s",
			id, resp.StatusCode, resp.Header.Get("Retry-After"), msg))
	}
	return resp.StatusCode
}

// load sends from workers goroutines until stop is closed, and returns a
// function that waits for them.
func (l *ledger) load(prefix string, workers int, stop <-chan struct{}) (wait func()) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.send(fmt.Sprintf("%s%d", prefix, w))
			}
		}()
	}
	return wg.Wait
}

// burst sends n deliveries from workers goroutines and returns how many
// were not acknowledged.
func (l *ledger) burst(prefix string, n, workers int) int {
	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		refused atomic.Int64
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if l.send(fmt.Sprintf("%s%d", prefix, w))/100 != 2 {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(refused.Load())
}

// summary returns the counts so far.
func (l *ledger) summary() (sent, acked int, codes string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, len(l.acked), fmt.Sprint(l.codes)
}

// counts returns how many deliveries were sent, acknowledged and refused
// with 503 so far.
func (l *ledger) counts() (sent, acked, refused int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, len(l.acked), l.codes[503]
}

// checkAnswers fails the test if any answer broke the contract.
func (l *ledger) checkAnswers(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.unexpected) > 0 {
		t.Fatalf("%d answers other than 2xx or 503 with Retry-After, e.g. %s", len(l.unexpected), l.unexpected[0])
	}
}

// readyz returns the admin API's readiness status and body.
func readyz(adminAddr string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + adminAddr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitReady polls readyz until it answers want, and fails the test after
// within.
func waitReady(t *testing.T, adminAddr string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		code, body := readyz(adminAddr)
		if code == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("readyz answered %d (%s), not %d, for %s", code, body, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settle waits until every acknowledged delivery is stored, acknowledged by
// the sink and delivered to it, and returns how many were delivered more
// than once. It fails the test (after logging the counts) if an acknowledged
// delivery is missing from the store or not delivered within the bound.
func (l *ledger) settle(t *testing.T, name string, p *process, adminAddr string, sink *exclusiveSink, within time.Duration) {
	t.Helper()
	l.mu.Lock()
	acked := make(map[string]bool, len(l.acked))
	for id := range l.acked {
		acked[id] = true
	}
	sent := l.sent
	l.mu.Unlock()
	deadline := time.Now().Add(within)
	for {
		byNonce := listAll(t, adminAddr)
		missing, pending := 0, 0
		for id := range acked {
			r, ok := byNonce[id]
			switch {
			case !ok:
				missing++
			case r.Status != "acknowledged":
				pending++
			}
		}
		if missing == 0 && pending == 0 || time.Now().After(deadline) {
			sink.mu.Lock()
			lost, twice := missing, 0
			for id := range acked {
				r, ok := byNonce[id]
				if !ok {
					continue
				}
				switch n := sink.delivered[r.ID]; {
				case n == 0:
					lost++
				case n > 1:
					twice++
				}
			}
			sink.mu.Unlock()
			t.Logf("%s: sent %d, acknowledged %d, lost %d, delivered twice %d", name, sent, len(acked), lost, twice)
			if lost > 0 || pending > 0 {
				t.Fatalf("%s: %d acknowledged deliveries missing from the store, %d not delivered within %s, %d never reached the sink; hookgate's log ends:\n%s",
					name, missing, pending, within, lost, tail(p.logs.String(), 4<<10))
			}
			if v := sink.violations.Load(); v != 0 {
				t.Fatalf("%s: %d deliveries arrived while the same receipt was in flight elsewhere", name, v)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metric returns the value of one unlabelled sample from the admin API's
// /metrics, or -1 if it is absent.
func metric(t *testing.T, adminAddr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
