package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/store"
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
		t.Fatalf("dispatch phase: %+v", rep.Dispatch)
	}
	if d := rep.Dispatch; d.Rate != rep.GatewaySum.Throughput.Median/2 {
		t.Errorf("dispatch phase paced at %.1f/s, want half the gateway's %.1f/s", d.Rate, rep.GatewaySum.Throughput.Median)
	}
	// The phase reports the rate it got, not only the pace it asked for.
	if d := rep.Dispatch; d.Ingested == 0 || d.Achieved != float64(d.Ingested)/d.Seconds || d.IngestP50ms <= 0 || d.IngestP99ms < d.IngestP50ms {
		t.Errorf("dispatch phase: achieved %.1f/s of %d in %.2fs, ingest p50 %.2fms p99 %.2fms",
			d.Achieved, d.Ingested, d.Seconds, d.IngestP50ms, d.IngestP99ms)
	}
	// Ingest ran alone: the queue it left was drained afterwards, and that
	// rate was measured.
	if rep.ConcurrentDispatch || rep.DrainRate == nil || rep.DrainRate.Median <= 0 {
		t.Errorf("drain after an ingest-only run: concurrent %v, rate %+v", rep.ConcurrentDispatch, rep.DrainRate)
	}
	if rep.Compression < 1.5 {
		t.Errorf("payload-shaped bodies stored at %.2f:1, want them compressed", rep.Compression)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("gateway/baseline %.2f, peak RSS %d MiB", rep.Ratio.Median, rep.PeakRSSBytes>>20)
}

// TestBenchDurableBaseline checks that --durable-baseline measures its third
// target in every run and reports its ratios to the other two.
func TestBenchDurableBaseline(t *testing.T) {
	dir := t.TempDir()
	rep, err := Bench(context.Background(), Config{Concurrency: 8, BodySize: 512, Duration: 200 * time.Millisecond,
		Runs: 2, DispatchDuration: -1, DurableBaseline: true, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Durable) != 2 || rep.DurableSum == nil || rep.DurableRatio == nil || rep.GatewayDurableRatio == nil {
		t.Fatalf("durable baseline not reported: %d runs, %+v", len(rep.Durable), rep.DurableSum)
	}
	for i, r := range rep.Durable {
		if r.Requests == 0 || r.Errors != 0 {
			t.Errorf("durable run %d: %d requests, %d errors", i+1, r.Requests, r.Errors)
		}
	}
	if want := rep.Durable[0].Throughput / rep.Baseline[0].Throughput; rep.DurableRatio.Min > want || rep.DurableRatio.Max < want {
		t.Errorf("durable/baseline %+v does not hold the first run's %.3f", *rep.DurableRatio, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "hookgate-bench-durable-*")); len(left) != 0 {
		t.Errorf("the durable baseline's log was left behind: %v", left)
	}
}

// TestBenchDispatchRate checks that a dispatch rate, when given, paces the
// dispatch phase instead of the measured throughput.
func TestBenchDispatchRate(t *testing.T) {
	rep, err := Bench(context.Background(), Config{Concurrency: 4, BodySize: 512, Duration: 200 * time.Millisecond,
		Runs: 1, DispatchRate: 150, DispatchDuration: 400 * time.Millisecond, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Dispatch; d == nil || d.Rate != 150 || d.Ingested == 0 || d.Delivered < d.Ingested {
		t.Fatalf("dispatch phase at a given rate: %+v", d)
	}
	if d := rep.Dispatch; d.MaxDepth != slices.Max(d.DepthByQuarter[:]) {
		t.Errorf("max depth %d is not the largest of the quarters %v", d.MaxDepth, d.DepthByQuarter)
	}
}

// TestDepthTrace checks that the dispatch phase's queue depth is kept per
// quarter of the phase, so that a report tells a queue that levels off from
// one still growing when the load stops.
func TestDepthTrace(t *testing.T) {
	tr := depthTrace{phase: 60 * time.Second}
	for _, s := range []struct {
		at    time.Duration
		depth int64
	}{
		{0, 0}, {10 * time.Second, 40}, {14 * time.Second, 30}, // first quarter
		{15 * time.Second, 25}, {29 * time.Second, 20}, // second
		{44 * time.Second, 90},                                                    // third
		{45 * time.Second, 100}, {60 * time.Second, 120}, {61 * time.Second, 110}, // last, and after the end
	} {
		tr.add(s.at, s.depth)
	}
	if want := [4]int64{40, 25, 90, 120}; tr.quarters != want {
		t.Errorf("depth by quarter %v, want %v", tr.quarters, want)
	}
	empty := depthTrace{}
	empty.add(time.Second, 7)
	if empty.quarters != [4]int64{0, 0, 0, 7} {
		t.Errorf("a phase of no length counts every sample in the last quarter: %v", empty.quarters)
	}
}

// TestGeneratorBodies checks the generated deliveries: valid JSON objects of
// exactly the asked size, the sink's fields at their fixed offsets, and
// random text when asked for.
func TestGeneratorBodies(t *testing.T) {
	for _, incompressible := range []bool{false, true} {
		g := &generator{prefix: "t", size: 2048, incompressible: incompressible}
		body := g.template()
		g.next(body)
		if len(body) != 2048 || !json.Valid(body) {
			t.Fatalf("incompressible=%v: %d bytes, valid %v: %s", incompressible, len(body), json.Valid(body), body)
		}
		if at, ok := sentTime(body); !ok || time.Since(at) > time.Minute {
			t.Errorf("sent time not readable: %v %v", at, ok)
		}
		if strings.Contains(string(body), "commit ") == incompressible {
			t.Errorf("incompressible=%v: body %.80s…", incompressible, body)
		}
	}
}

// TestSeed fills a small store and checks the variety searches are measured
// against: delivered, dead, filtered and duplicate receipts, over the
// connections asked for.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "seed.db")
	if err := Seed(ctx, SeedConfig{StorageURL: url, Receipts: 1000, Connections: 10, BodySize: 512}); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(f hookgate.ReceiptFilter) int {
		f.Limit = 500
		rs, _, err := db.Receipts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	if n := count(hookgate.ReceiptFilter{Connection: "bench-3"}); n != 100 {
		t.Errorf("bench-3 holds %d receipts, want 100", n)
	}
	for st, want := range map[hookgate.Status]int{hookgate.StatusDuplicate: 10, hookgate.StatusFiltered: 100, hookgate.StatusDead: 2} {
		if n := count(hookgate.ReceiptFilter{Status: st}); n != want {
			t.Errorf("%d %s receipts, want %d", n, st, want)
		}
	}
}

// TestBenchRetentionPrune checks that --retention-prune deletes the receipts
// the runs delivered while the later runs ingest, and reports it.
func TestBenchRetentionPrune(t *testing.T) {
	rep, err := Bench(context.Background(), Config{Concurrency: 4, BodySize: 512, Duration: 300 * time.Millisecond,
		Runs: 2, DispatchDuration: -1, RetentionPrune: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.RetentionPrune
	if p == nil || p.Passes == 0 || p.ReceiptsPruned == 0 {
		t.Fatalf("retention pruning not run or not reported: %+v", p)
	}
	if delivered := rep.Gateway[0].Requests; p.ReceiptsPruned < delivered {
		t.Errorf("pruned %d receipts, fewer than the %d the first run delivered", p.ReceiptsPruned, delivered)
	}
}
