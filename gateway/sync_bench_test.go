package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
)

// BenchmarkSyncRouteLatency reports what a sync route adds to its
// handler's own time: the answer's latency as the sender sees it (HTTP on
// loopback, verification, the durable commit of the receipt and its leased
// job, the inline run) less the time spent in the handler, at 1 and 64
// concurrent senders (SQLite). added_µs is the mean per request.
func BenchmarkSyncRouteLatency(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			var inHandler atomic.Int64 // ns
			// Slots: a run holds its slot until its outcome is committed,
			// after the answer; 64 senders need more than 64 to be sure
			// none is answered as async.
			gw := newSyncGateway(b, sqliteURL, `
limits: {sync_concurrency: 256}
connections:
  - type: internal
    name: cmd
    auth: api_key
    api_key: {value: key-1}
    routes:
      - {mode: sync, handlers: [command]}
`, map[string]hookgate.Sender{"command": hookgate.ReplierFunc(func(ctx context.Context, r *hookgate.Receipt) (hookgate.Reply, bool, error) {
				start := time.Now()
				time.Sleep(time.Millisecond)
				inHandler.Add(int64(time.Since(start)))
				return hookgate.Reply{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"text":"ok"}`)}, false, nil
			})})
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			var total atomic.Int64 // ns of request latency
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						req, _ := http.NewRequest("POST", gw.base+"/webhooks/internal/cmd", strings.NewReader(fmt.Sprintf(`{"n":%d}`, n)))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Authorization", "Bearer key-1")
						start := time.Now()
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						total.Add(int64(time.Since(start)))
						if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
							b.Errorf("answer %d %q: not the handler's reply", resp.StatusCode, resp.Header.Get("Content-Type"))
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			added := float64(total.Load()-inHandler.Load()) / float64(b.N) / 1e3
			b.ReportMetric(added, "added_µs")
			b.ReportMetric(float64(inHandler.Load())/float64(b.N)/1e3, "handler_µs")
		})
	}
}

// BenchmarkAsyncIngestWhileSyncSaturated measures an async connection's
// ingest with every slot of sync work held by a hanging sync handler
// against the same ingest with none held: ratio is the saturated rate over
// the idle one (1 means sync routes at their bound cost async connections
// nothing). 16 concurrent senders, SQLite.
func BenchmarkAsyncIngestWhileSyncSaturated(b *testing.B) {
	const slots, senders = 8, 16
	release := make(chan struct{})
	var released sync.Once
	b.Cleanup(func() { released.Do(func() { close(release) }) })
	gw := newSyncGateway(b, sqliteURL, fmt.Sprintf(`
limits: {sync_concurrency: %d}
connections:
  - type: internal
    name: held
    auth: api_key
    api_key: {value: key-1}
    routes:
      - {mode: sync, sync_timeout: 30s, handlers: [hang]}
  - type: internal
    name: plain
    auth: api_key
    api_key: {value: key-2}
    routes:
      - {handlers: [fast]}
`, slots), map[string]hookgate.Sender{
		"hang": hookgate.SenderFunc(func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) { <-release; return 200, false, nil }),
		"fast": hookgate.SenderFunc(func(ctx context.Context, r *hookgate.Receipt) (int, bool, error) { return 200, false, nil }),
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders + slots}}
	post := func(path, key string, n int64) int {
		req, _ := http.NewRequest("POST", gw.base+path, strings.NewReader(fmt.Sprintf(`{"n":%d,"at":%d}`, n, time.Now().UnixNano())))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	phase := func() time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
					if st := post("/webhooks/internal/plain", "key-2", n); st != 204 {
						b.Errorf("async ingest answered %d", st)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	b.ResetTimer()
	idle := phase()
	b.StopTimer()
	var held sync.WaitGroup
	for i := range slots {
		held.Add(1)
		go func() { defer held.Done(); post("/webhooks/internal/held", "key-1", int64(i)) }()
	}
	for gw.inline.Acquire() { // wait until the held requests took every slot
		gw.inline.Release()
		time.Sleep(time.Millisecond)
	}
	b.StartTimer()
	saturated := phase()
	b.StopTimer()
	released.Do(func() { close(release) })
	held.Wait()
	b.ReportMetric(float64(idle)/float64(saturated), "ratio")
}
