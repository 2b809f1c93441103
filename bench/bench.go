// Package bench is the engine of `hookgate bench`: it measures hookgate's
// ingest against a bare receiver in the same process and on the same machine,
// so the figures say what storage and the gateway's checks cost, not how fast
// the machine is.
//
// The baseline is the least a webhook receiver can do: net/http, read the
// body, check an HMAC-SHA256 signature, answer 204. The gateway is hookgate
// itself, on a fresh SQLite file or PostgreSQL schema (or any running gateway
// with URL), with one GitHub-style connection routed to an HTTP sink, so its
// dispatcher delivers every receipt while the load runs. Both are driven by
// the same closed-loop load generator with distinct signed deliveries; runs
// alternate (baseline, gateway, baseline, …) so that drift of the machine
// shows up in the spread instead of favouring one side.
package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx", for the bench schema
)

// Config is what to measure. Zero values take the defaults of the issue:
// 64 connections, 2 KiB bodies, 10 s runs, 5 runs of each target.
type Config struct {
	Concurrency int
	BodySize    int
	Duration    time.Duration
	Runs        int
	// Backend is sqlite (a temp file) or postgres (a fresh schema in the
	// database of StorageURL, dropped at the end).
	Backend    string
	StorageURL string
	// URL targets a running gateway instead of starting one; Secret is its
	// connection's GitHub signing secret. Dispatch is not measured then.
	URL    string
	Secret string
	// DispatchDuration is how long the dispatch phase drives the gateway at
	// DispatchRate; 0 means Duration, negative skips it.
	DispatchDuration time.Duration
	// DispatchRate is the dispatch phase's pace in deliveries a second; 0
	// means half the gateway's median throughput in the timed runs. A fixed
	// rate compares builds or machines at the same load, and checks a rate
	// one expects to receive.
	DispatchRate float64
	// DrainTimeout bounds the wait for the dispatch queue to empty after a
	// gateway run (so that the next baseline run is not disturbed).
	DrainTimeout time.Duration
	// DispatchWorkers is the gateway's dispatch.workers (0: its default).
	DispatchWorkers int
	// ConcurrentDispatch keeps the dispatcher delivering during the timed
	// ingest runs. By default it is stopped while they run (ingest alone is
	// measured, the queue grows) and started after each, to measure how fast
	// it drains the queue by itself; the dispatch phase measures both at once.
	ConcurrentDispatch bool
	// Incompressible fills bodies with random text instead of text shaped
	// like a real payload (the store compresses bodies when that pays).
	Incompressible bool
	// DurableBaseline adds a third target to every run, between the baseline
	// and the gateway: the baseline receiver that also appends each delivery
	// to a log and answers only after a flush holding it (durable.go). It
	// shows what durability itself costs on the machine, apart from what
	// hookgate adds to it.
	DurableBaseline bool
	// RetentionPrune runs the store's retention pruning throughout, with a
	// retention of zero, every 100 ms (prune.go), so that ingest is measured
	// while pruning deletes as many receipts as it can.
	RetentionPrune bool
	// Progress receives one line per run; nil discards.
	Progress io.Writer
	// TempDir holds the SQLite file; empty uses os.TempDir.
	TempDir string
}

func (c *Config) defaults() error {
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.BodySize <= 0 {
		c.BodySize = 2048
	}
	if c.BodySize < minBody {
		return hookgate.Errorf(hookgate.EInvalid, "body size must be at least %d bytes", minBody)
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Runs <= 0 {
		c.Runs = 5
	}
	if c.Backend == "" {
		c.Backend = "sqlite"
	}
	if c.DispatchDuration == 0 {
		c.DispatchDuration = c.Duration
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 2 * time.Minute
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	switch {
	case c.URL != "":
		if c.Secret == "" {
			return hookgate.Errorf(hookgate.EInvalid, "--url needs --secret, the connection's signing secret")
		}
	case c.Backend == "sqlite":
	case c.Backend == "postgres":
		if c.StorageURL == "" {
			return hookgate.Errorf(hookgate.EInvalid, "--backend postgres needs --storage-url")
		}
	default:
		return hookgate.Errorf(hookgate.EInvalid, "backend must be sqlite or postgres, not %q", c.Backend)
	}
	return nil
}

// Run is one timed run against one target.
type Run struct {
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput_rps"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Maxms      float64 `json:"max_ms"`
	// DrainSeconds (gateway runs of an in-process gateway) is how long the
	// dispatch queue took to empty after the load stopped, and DrainRate the
	// deliveries per second meanwhile.
	DrainSeconds float64 `json:"drain_seconds,omitempty"`
	DrainRate    float64 `json:"drain_rate_dps,omitempty"`
	// Undrained: the queue was still not empty after the drain timeout.
	Undrained bool `json:"undrained,omitempty"`
}

// Spread is the median and range of one figure over the runs.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summary is a target's figures over its runs.
type Summary struct {
	Throughput Spread `json:"throughput_rps"`
	P50ms      Spread `json:"p50_ms"`
	P99ms      Spread `json:"p99_ms"`
	Maxms      Spread `json:"max_ms"`
	Errors     int64  `json:"errors"`
}

// Dispatch is the dispatch phase: ingest at a fixed rate with the dispatcher
// delivering every receipt to a local HTTP sink.
type Dispatch struct {
	// Rate is the rate the load generator was paced at (Config.DispatchRate,
	// by default half the median ingest throughput); Achieved is what it
	// got, Ingested over Seconds. Achieved falls short of Rate when the
	// gateway's answers take longer than the phase's connections allow at
	// that rate.
	Rate      float64 `json:"ingest_rate_rps"`
	Achieved  float64 `json:"achieved_rate_rps"`
	Seconds   float64 `json:"seconds"`
	Ingested  int64   `json:"ingested"`
	Delivered int64   `json:"delivered"`
	// Ingest latency (request → 2xx) during the phase.
	IngestP50ms float64 `json:"ingest_p50_ms"`
	IngestP99ms float64 `json:"ingest_p99_ms"`
	// MaxDepth is the largest number of deliveries acknowledged and not yet
	// received by the sink (the queue plus those in flight), sampled every
	// 250 ms (more often in a phase shorter than 10 s). DepthByQuarter is
	// the largest of each quarter of the phase: a queue that keeps up levels
	// off, one that falls behind is deepest in the last quarter.
	MaxDepth       int64    `json:"max_queue_depth"`
	DepthByQuarter [4]int64 `json:"max_queue_depth_by_quarter"`
	DrainSeconds   float64  `json:"drain_seconds"`
	// Drained is false when the queue was not empty after DrainTimeout
	// (DrainSeconds is then that timeout, a lower bound).
	Drained bool `json:"drained"`
	// End-to-end latency: signed by the sender → received by the sink.
	P50ms float64 `json:"e2e_p50_ms"`
	P99ms float64 `json:"e2e_p99_ms"`
}

// Report is the result of a benchmark.
type Report struct {
	Target      string  `json:"target"`
	Concurrency int     `json:"concurrency"`
	BodySize    int     `json:"body_size"`
	Duration    string  `json:"duration"`
	Runs        int     `json:"runs"`
	Baseline    []Run   `json:"baseline_runs"`
	Gateway     []Run   `json:"gateway_runs"`
	BaselineSum Summary `json:"baseline"`
	GatewaySum  Summary `json:"gateway"`
	Ratio       Spread  `json:"throughput_ratio"` // gateway/baseline, per run pair
	// The durable baseline's runs and figures (Config.DurableBaseline):
	// DurableRatio is durable baseline/baseline and GatewayDurableRatio
	// gateway/durable baseline, per run.
	Durable             []Run    `json:"durable_baseline_runs,omitempty"`
	DurableSum          *Summary `json:"durable_baseline,omitempty"`
	DurableRatio        *Spread  `json:"durable_baseline_ratio,omitempty"`
	GatewayDurableRatio *Spread  `json:"gateway_durable_ratio,omitempty"`
	// ConcurrentDispatch says the dispatcher delivered during the ingest runs.
	ConcurrentDispatch bool `json:"concurrent_dispatch"`
	// DrainRate is the dispatcher's rate alone, draining the queue an ingest
	// run left (without ConcurrentDispatch).
	DrainRate *Spread `json:"drain_rate_dps,omitempty"`
	// Compression is the body's size over its stored size in the gateway's
	// store, when known (1: stored as received).
	Compression float64   `json:"body_compression,omitempty"`
	Dispatch    *Dispatch `json:"dispatch,omitempty"`
	// PeakRSSBytes is VmHWM of this process: gateway, baseline and load
	// generator together (with URL: the load generator and baseline only).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// GroupCommit is the mean number of writes per commit, when known.
	WritesPerCommit float64 `json:"writes_per_commit,omitempty"`
	// RetentionPrune is what the pruning loop did (Config.RetentionPrune).
	RetentionPrune *RetentionPrune `json:"retention_prune,omitempty"`
}

// BenchSecret signs the deliveries to the in-process gateway and baseline.
const benchSecret = "hookgate-bench-secret"

// Bench runs the benchmark described by cfg.
func Bench(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{Target: cfg.Backend, Concurrency: cfg.Concurrency, BodySize: cfg.BodySize,
		Duration: cfg.Duration.String(), Runs: cfg.Runs}

	base, err := startBaseline(benchSecret)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	var durable *server
	if cfg.DurableBaseline {
		srv, log, err := startDurableBaseline(benchSecret, cfg.TempDir)
		if err != nil {
			return nil, err
		}
		defer log.close()
		defer srv.Close()
		durable = srv
	}

	secret, target := cfg.Secret, cfg.URL
	var gw *benchGateway
	if target == "" {
		secret = benchSecret
		gw, err = startGateway(ctx, cfg)
		if err != nil {
			return nil, err
		}
		defer gw.close()
		target = gw.url
	} else {
		rep.Target = target
	}

	// Distinct deliveries across runs and invocations: a random prefix and
	// a counter make every X-GitHub-Delivery new.
	gen := &generator{prefix: strings.ToLower(rand.Text()[:10]), size: cfg.BodySize, incompressible: cfg.Incompressible}
	rep.ConcurrentDispatch = cfg.ConcurrentDispatch || gw == nil
	if gw != nil && cfg.ConcurrentDispatch {
		gw.startDispatch()
	}
	if gw != nil && cfg.RetentionPrune {
		p := startRetentionPrune(gw.gw.Store())
		defer func() {
			p.close()
			rep.RetentionPrune = &RetentionPrune{ReceiptsPruned: p.pruned.Load(), KeysPruned: p.keys.Load(), Passes: p.passes.Load()}
		}()
	}
	var drainRates []float64
	for i := range cfg.Runs {
		b := drive(ctx, base.url, benchSecret, gen, cfg.Concurrency, cfg.Duration, nil, nil)
		rep.Baseline = append(rep.Baseline, b)
		fmt.Fprintf(cfg.Progress, "run %d/%d baseline: %s\n", i+1, cfg.Runs, b)
		if durable != nil {
			d := drive(ctx, durable.url, benchSecret, gen, cfg.Concurrency, cfg.Duration, nil, nil)
			rep.Durable = append(rep.Durable, d)
			fmt.Fprintf(cfg.Progress, "run %d/%d durable:  %s\n", i+1, cfg.Runs, d)
		}
		before := int64(0)
		if gw != nil {
			before = gw.delivered.Load()
		}
		var acked *atomic.Int64
		if gw != nil {
			acked = &gw.acked
		}
		g := drive(ctx, target, secret, gen, cfg.Concurrency, cfg.Duration, nil, acked)
		if gw != nil {
			// The queue the run left (all of it, without concurrent
			// dispatch) drains before the next baseline run.
			gw.startDispatch()
			start := gw.delivered.Load()
			d, ok, err := gw.drain(ctx, cfg.DrainTimeout)
			if err != nil {
				return nil, err
			}
			g.DrainSeconds, g.Undrained = d.Seconds(), !ok
			if !cfg.ConcurrentDispatch {
				gw.stopDispatch()
				if d > 0 {
					g.DrainRate = float64(gw.delivered.Load()-start) / d.Seconds()
					drainRates = append(drainRates, g.DrainRate)
				}
			}
			if got := gw.delivered.Load() - before; ok && got < g.Requests {
				return nil, fmt.Errorf("run %d: %d deliveries acknowledged but only %d reached the sink", i+1, g.Requests, got)
			}
		}
		rep.Gateway = append(rep.Gateway, g)
		fmt.Fprintf(cfg.Progress, "run %d/%d gateway:  %s\n", i+1, cfg.Runs, g)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if len(drainRates) > 0 {
		sp := spread(drainRates)
		rep.DrainRate = &sp
	}
	rep.BaselineSum, rep.GatewaySum = summarize(rep.Baseline), summarize(rep.Gateway)
	rep.Ratio = ratio(rep.Gateway, rep.Baseline)
	if durable != nil {
		sum := summarize(rep.Durable)
		rep.DurableSum = &sum
		r, g := ratio(rep.Durable, rep.Baseline), ratio(rep.Gateway, rep.Durable)
		rep.DurableRatio, rep.GatewayDurableRatio = &r, &g
	}

	if gw != nil && cfg.DispatchDuration > 0 {
		gw.startDispatch()
		pace := cfg.DispatchRate
		if pace <= 0 {
			pace = rep.GatewaySum.Throughput.Median / 2
		}
		d, err := gw.dispatchPhase(ctx, gen, cfg, pace)
		if err != nil {
			return nil, err
		}
		rep.Dispatch = d
		fmt.Fprintf(cfg.Progress, "dispatch: paced at %.0f/s, got %.0f/s for %.1fs (ingest p50 %.1fms p99 %.1fms), max depth %d (by quarter %v), drained in %.2fs, e2e p50 %.1fms p99 %.1fms\n",
			d.Rate, d.Achieved, d.Seconds, d.IngestP50ms, d.IngestP99ms, d.MaxDepth, d.DepthByQuarter, d.DrainSeconds, d.P50ms, d.P99ms)
	}
	if gw != nil {
		if cs, ok := gw.gw.Store().(interface{ BodyCompression() float64 }); ok {
			rep.Compression = cs.BodyCompression()
		}
		if bs, ok := gw.gw.Store().(interface{ BatchStats() (int64, int64) }); ok {
			if batches, requests := bs.BatchStats(); batches > 0 {
				rep.WritesPerCommit = float64(requests) / float64(batches)
			}
		}
	}
	rep.PeakRSSBytes = PeakRSS()
	return rep, nil
}

// PeakRSS returns VmHWM of this process from /proc/self/status, or 0.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

func (r Run) String() string {
	s := fmt.Sprintf("%8.0f req/s  p50 %6.2fms  p99 %7.2fms  max %7.2fms  errors %d", r.Throughput, r.P50ms, r.P99ms, r.Maxms, r.Errors)
	switch {
	case r.Undrained:
		s += fmt.Sprintf("  queue NOT drained after %.0fs", r.DrainSeconds)
	case r.DrainRate > 0:
		s += fmt.Sprintf("  queue drained in %.2fs (%.0f/s)", r.DrainSeconds, r.DrainRate)
	case r.DrainSeconds > 0:
		s += fmt.Sprintf("  queue drained in %.2fs", r.DrainSeconds)
	}
	return s
}

func summarize(runs []Run) Summary {
	pick := func(f func(Run) float64) Spread {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		return spread(v)
	}
	s := Summary{
		Throughput: pick(func(r Run) float64 { return r.Throughput }),
		P50ms:      pick(func(r Run) float64 { return r.P50ms }),
		P99ms:      pick(func(r Run) float64 { return r.P99ms }),
		Maxms:      pick(func(r Run) float64 { return r.Maxms }),
	}
	for _, r := range runs {
		s.Errors += r.Errors
	}
	return s
}

// ratio is the spread of a's throughput over b's, run by run.
func ratio(a, b []Run) Spread {
	v := make([]float64, len(a))
	for i := range a {
		if b[i].Throughput > 0 {
			v[i] = a[i].Throughput / b[i].Throughput
		}
	}
	return spread(v)
}

func spread(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: m, Min: s[0], Max: s[len(s)-1]}
}

// --- load generator ---

// minBody fits the fixed fields of a generated delivery.
const minBody = 64

// generator makes distinct GitHub-style deliveries of a fixed size. The body
// starts with fixed-width fields the sink reads back without parsing,
// followed by text shaped like a push event's commits (random 40-hex ids,
// URLs, names, messages from a small vocabulary), so that it compresses
// about as well as a real payload does (roughly 2:1 with S2), not like a run
// of one letter:
// {"sent":"<19 digits>","seq":"<19 digits>","pad":"commit 3f2a…: fix retry …"}
// With incompressible set, the text is random base64 instead.
type generator struct {
	prefix         string
	size           int
	incompressible bool
	seq            atomic.Int64
}

const (
	sentAt = len(`{"sent":"`)
	seqAt  = sentAt + 19 + len(`","seq":"`)
)

var fillerWords = strings.Fields("fix add update remove refactor bump test docs build ci config handler webhook " +
	"gateway receipt dispatch retry queue store index merge branch release version api client server error " +
	"timeout the of and to in for on with from")

func (g *generator) template() []byte {
	head := fmt.Sprintf(`{"sent":"%019d","seq":"%019d","pad":"`, 0, 0)
	b := make([]byte, 0, g.size+256)
	b = append(b, head...)
	n := g.size - len(head) - 2
	if g.incompressible {
		for len(b)-len(head) < n {
			b = append(b, rand.Text()...)
		}
	} else {
		for len(b)-len(head) < n {
			id := hexID()
			b = fmt.Appendf(b, "commit %s: %s %s %s in store/%s.go (https://github.com/acme/hookgate/commit/%s) "+
				"by octocat <octocat@example.com> at 2026-11-%02dT%02d:%02d:%02dZ; ",
				id, word(), word(), word(), word(), id, 1+mrand.IntN(28), mrand.IntN(24), mrand.IntN(60), mrand.IntN(60))
		}
	}
	b = append(b[:len(head)+n], `"}`...)
	return b
}

func hexID() string {
	var v [20]byte
	_, _ = rand.Read(v[:])
	return hex.EncodeToString(v[:])
}

func word() string { return fillerWords[mrand.IntN(len(fillerWords))] }

// next stamps body with a new sequence number and the current time, and
// returns the delivery id.
func (g *generator) next(body []byte) string {
	n := g.seq.Add(1)
	putDigits(body[seqAt:seqAt+19], n)
	putDigits(body[sentAt:sentAt+19], time.Now().UnixNano())
	return g.prefix + "-" + strconv.FormatInt(n, 10)
}

func putDigits(dst []byte, v int64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}

func sentTime(body []byte) (time.Time, bool) {
	if len(body) < sentAt+19 {
		return time.Time{}, false
	}
	v, err := strconv.ParseInt(string(body[sentAt:sentAt+19]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, v), true
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// drive runs a closed loop of concurrency workers against target for d (or
// at most lim's rate) and measures each request.
// acked, when set, counts the deliveries answered 2xx as they are answered.
func drive(ctx context.Context, target, secret string, gen *generator, concurrency int, d time.Duration, lim *rate.Limiter, acked *atomic.Int64) Run {
	tr := &http.Transport{
		MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency,
		DisableCompression: true, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()

	lat := make([][]time.Duration, concurrency)
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := gen.template()
			own := make([]time.Duration, 0, 1024)
			for runCtx.Err() == nil {
				if lim != nil && lim.Wait(runCtx) != nil {
					break
				}
				id := gen.next(body)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
				if err != nil {
					errs.Add(1)
					break
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("User-Agent", "GitHub-Hookshot/hookgate-bench")
				req.Header.Set("X-GitHub-Event", "push")
				req.Header.Set("X-GitHub-Delivery", id)
				req.Header.Set("X-Hub-Signature-256", sign(secret, body))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode < 200 || resp.StatusCode > 299 {
					errs.Add(1)
					continue
				}
				if acked != nil {
					acked.Add(1)
				}
				own = append(own, time.Since(t0))
			}
			lat[w] = own
		}()
	}
	wg.Wait()
	if lim != nil {
		// Paced workers stop early when their next slot falls after the
		// deadline; the run still lasted d.
		<-runCtx.Done()
	}
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	r := Run{Requests: int64(len(all)), Errors: errs.Load(), Seconds: elapsed.Seconds()}
	r.Throughput = float64(r.Requests) / elapsed.Seconds()
	r.P50ms, r.P99ms, r.Maxms = percentiles(all)
	return r
}

func percentiles(all []time.Duration) (p50, p99, maxv float64) {
	if len(all) == 0 {
		return 0, 0, 0
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	at := func(q float64) time.Duration { return all[min(len(all)-1, int(q*float64(len(all))))] }
	return ms(at(0.50)), ms(at(0.99)), ms(all[len(all)-1])
}

// --- baseline ---

type server struct {
	srv *http.Server
	url string
}

func (s *server) Close() { _ = s.srv.Close() }

func serve(h http.Handler, path string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = srv.Serve(ln) }()
	return &server{srv: srv, url: "http://" + ln.Addr().String() + path}, nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// startBaseline is the bare receiver: read, check HMAC-SHA256, 204.
func startBaseline(secret string) (*server, error) {
	return serve(receiver(secret, nil), "/webhooks/github/bench")
}

// receiver reads a delivery, checks its HMAC-SHA256 signature and answers
// 204, after keep (when set) returned nil for it; an error of keep answers
// 503, as the gateway does when its store fails.
func receiver(secret string, keep func(id string, body []byte) error) http.Handler {
	key := []byte(secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := bufPool.Get().(*bytes.Buffer)
		defer bufPool.Put(buf)
		buf.Reset()
		if _, err := buf.ReadFrom(io.LimitReader(r.Body, 1<<20+1)); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got, err := hex.DecodeString(strings.TrimPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256="))
		m := hmac.New(sha256.New, key)
		m.Write(buf.Bytes())
		if err != nil || !hmac.Equal(got, m.Sum(nil)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if keep != nil {
			if err := keep(r.Header.Get("X-GitHub-Delivery"), buf.Bytes()); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// --- gateway under test ---

type benchGateway struct {
	gw      *gateway.Gateway
	url     string
	sink    *server
	stop    context.CancelFunc
	done    chan error
	cleanup []func()

	// dispatchStop stops the dispatcher when it runs (startDispatch).
	dispatchStop func()

	acked     atomic.Int64 // deliveries the gateway answered 2xx so far
	delivered atomic.Int64 // received by the sink so far
	mu        sync.Mutex
	e2e       []time.Duration
	recordE2E atomic.Bool
}

func startGateway(ctx context.Context, cfg Config) (_ *benchGateway, err error) {
	g := &benchGateway{}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	g.sink, err = serve(http.HandlerFunc(g.receive), "/sink")
	if err != nil {
		return nil, err
	}
	g.cleanup = append(g.cleanup, g.sink.Close)

	storage := ""
	switch cfg.Backend {
	case "sqlite":
		dir, err := os.MkdirTemp(cfg.TempDir, "hookgate-bench-")
		if err != nil {
			return nil, fmt.Errorf("temp dir: %w", err)
		}
		g.cleanup = append(g.cleanup, func() { os.RemoveAll(dir) })
		storage = "sqlite://" + filepath.Join(dir, "bench.db")
	case "postgres":
		storage, err = postgresSchema(ctx, cfg.StorageURL, &g.cleanup)
		if err != nil {
			return nil, err
		}
	}
	yaml := fmt.Sprintf(`
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
storage: {url: %q}
dispatch: {workers: %d}
unsigned_forwarding: true # the sink is the bench's own receiver
handlers: [{name: sink, type: http, url: %q}]
connections:
  - {type: github, name: bench, signing_secret: %q, routes: [{handlers: [sink]}]}
`, storage, cfg.DispatchWorkers, g.sink.url, benchSecret)
	c, _, err := config.Parse([]byte(yaml))
	if err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The bench starts and stops the dispatcher itself (startDispatch).
	g.gw, err = gateway.New(ctx, c, gateway.Options{Logger: logger, NoDispatch: true})
	if err != nil {
		return nil, err
	}
	g.cleanup = append(g.cleanup, func() { g.gw.Close() })
	ls, err := g.gw.Listen()
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g.stop, g.done = stop, make(chan error, 1)
	go func() { g.done <- g.gw.Serve(runCtx, ls) }()
	g.url = "http://" + ls.Public.Addr().String() + "/webhooks/github/bench"
	return g, nil
}

// receive is the sink handler: it counts deliveries and, in the dispatch
// phase, their end-to-end latency.
func (g *benchGateway) receive(w http.ResponseWriter, r *http.Request) {
	var head [sentAt + 19]byte
	n, _ := io.ReadFull(r.Body, head[:])
	_, _ = io.Copy(io.Discard, r.Body)
	if g.recordE2E.Load() {
		if at, ok := sentTime(head[:n]); ok {
			d := time.Since(at)
			g.mu.Lock()
			g.e2e = append(g.e2e, d)
			g.mu.Unlock()
		}
	}
	g.delivered.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// startDispatch runs the gateway's dispatcher until stopDispatch.
func (g *benchGateway) startDispatch() {
	if g.dispatchStop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.gw.Run(ctx) }()
	g.dispatchStop = func() { cancel(); <-done }
}

// stopDispatch stops the dispatcher and waits for deliveries in flight.
func (g *benchGateway) stopDispatch() {
	if g.dispatchStop != nil {
		g.dispatchStop()
		g.dispatchStop = nil
	}
}

func (g *benchGateway) close() {
	g.stopDispatch()
	if g.stop != nil {
		g.stop()
		<-g.done
	}
	for i := len(g.cleanup) - 1; i >= 0; i-- {
		g.cleanup[i]()
	}
}

// queueDepth counts receipts whose dispatch is not finished (received,
// dispatched or failed: every row with a pending job), exactly, from the
// store's queue statistics (the same figure as the queue-depth metric).
func (g *benchGateway) queueDepth(ctx context.Context) (int64, error) {
	qs, ok := g.gw.Store().(interface {
		QueueStats(context.Context, time.Time) (int64, time.Duration, error)
	})
	if !ok {
		return 0, fmt.Errorf("the store reports no queue statistics")
	}
	n, _, err := qs.QueueStats(ctx, time.Now())
	return n, err
}

// outstanding is how many deliveries the gateway acknowledged that the sink
// has not received yet: the queue, plus the deliveries in flight. Counting
// it costs nothing, unlike the store's exact count, which reads the due index
// and, polled often over a long queue, slows the dispatcher it watches.
func (g *benchGateway) outstanding() int64 { return max(g.acked.Load()-g.delivered.Load(), 0) }

// drain waits until the queue is empty and returns how long that took, or
// limit and ok=false when it did not empty within limit (the bench goes on:
// the figure is reported as a lower bound). It waits on the counters, and
// confirms with the store's exact queue depth once they say the sink has
// everything.
func (g *benchGateway) drain(ctx context.Context, limit time.Duration) (d time.Duration, ok bool, err error) {
	start := time.Now()
	for {
		if g.outstanding() == 0 {
			n, err := g.queueDepth(ctx)
			if err != nil {
				return 0, false, fmt.Errorf("queue depth: %w", err)
			}
			if n == 0 {
				return time.Since(start), true, nil
			}
		}
		if time.Since(start) > limit {
			return limit, false, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// pacedConnections is how many connections the dispatch phase may hold
// open, as a multiple of Config.Concurrency.
const pacedConnections = 4

// dispatchPhase ingests at a fixed rate while the dispatcher delivers to the
// sink, sampling the queue depth, then measures the drain.
func (g *benchGateway) dispatchPhase(ctx context.Context, gen *generator, cfg Config, rps float64) (*Dispatch, error) {
	if rps < 1 {
		rps = 1
	}
	g.mu.Lock()
	g.e2e = g.e2e[:0]
	g.mu.Unlock()
	g.recordE2E.Store(true)
	defer g.recordE2E.Store(false)
	before := g.delivered.Load()

	depths := depthTrace{phase: cfg.DispatchDuration}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		every := min(250*time.Millisecond, max(10*time.Millisecond, cfg.DispatchDuration/40))
		start := time.Now()
		for {
			depths.add(time.Since(start), g.outstanding())
			select {
			case <-sampleCtx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
	// The pace sets the rate, as a provider's deliveries arrive whether or
	// not earlier ones were answered: pacedConnections times the closed
	// loop's connections, so that answers slowed by the dispatcher's share of
	// the machine do not quietly lower the rate offered (with only
	// cfg.Concurrency connections it fell 9–14 % short).
	lim := rate.NewLimiter(rate.Limit(rps), max(1, cfg.Concurrency/8))
	run := drive(ctx, g.url, benchSecret, gen, pacedConnections*cfg.Concurrency, cfg.DispatchDuration, lim, &g.acked)
	stopSampling()
	<-sampled
	drained, ok, err := g.drain(ctx, cfg.DrainTimeout)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	e2e := slices.Clone(g.e2e)
	g.mu.Unlock()
	d := &Dispatch{Rate: rps, Achieved: run.Throughput, Seconds: run.Seconds, Ingested: run.Requests,
		Delivered: g.delivered.Load() - before, IngestP50ms: run.P50ms, IngestP99ms: run.P99ms,
		MaxDepth: slices.Max(depths.quarters[:]), DepthByQuarter: depths.quarters, DrainSeconds: drained.Seconds(), Drained: ok}
	d.P50ms, d.P99ms, _ = percentiles(e2e)
	return d, nil
}

// depthTrace keeps the largest queue depth sampled in each quarter of a
// phase of the given length; samples after its end count in the last.
type depthTrace struct {
	phase    time.Duration
	quarters [4]int64
}

func (t *depthTrace) add(at time.Duration, depth int64) {
	q := 3
	if t.phase > 0 && at < t.phase {
		q = int(4 * at / t.phase)
	}
	t.quarters[q] = max(t.quarters[q], depth)
}

// postgresSchema creates a schema of its own in the database of base and
// returns a storage URL that uses it; cleanup drops it.
func postgresSchema(ctx context.Context, base string, cleanup *[]func()) (string, error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	schema := "hookgate_bench_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", fmt.Errorf("create schema %s: %w", schema, err)
	}
	*cleanup = append(*cleanup, func() {
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("storage url: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
