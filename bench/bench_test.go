package bench

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// TestBench runs the whole benchmark briefly, so that it cannot rot. It
// asserts that the machinery works (requests were answered, the queue
// drained), never a speed.
func TestBench(t *testing.T) {
	d := 300 * time.Millisecond
	if v := os.Getenv("HOOKGATE_BENCH_DURATION"); v != "" {
		d, _ = time.ParseDuration(v)
	}
	rep, err := Bench(context.Background(), Config{Concurrency: 8, BodySize: 512, Duration: d, Runs: 1, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Baseline) != 1 || len(rep.Gateway) != 1 {
		t.Fatalf("runs: %d baseline, %d gateway", len(rep.Baseline), len(rep.Gateway))
	}
	if rep.Baseline[0].Requests == 0 || rep.Gateway[0].Requests == 0 {
		t.Errorf("no requests answered: %+v", rep)
	}
	if rep.BaselineSum.Errors+rep.GatewaySum.Errors != 0 {
		t.Errorf("errors: baseline %d, gateway %d", rep.BaselineSum.Errors, rep.GatewaySum.Errors)
	}
	if rep.Dispatch == nil || rep.Dispatch.Delivered < rep.Dispatch.Ingested {
		t.Errorf("dispatch phase: %+v", rep.Dispatch)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("gateway/baseline %.2f, peak RSS %d MiB", rep.Ratio.Median, rep.PeakRSSBytes>>20)
}
