package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/bench"
)

func benchCmd() *cobra.Command {
	var (
		cfg        bench.Config
		asJSON     bool
		cpuProfile string
		seed       int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure ingest against a bare receiver (throughput, latency, dispatch, memory)",
		Long: `Start a gateway in-process on loopback (a temp SQLite file, or a fresh schema with
--backend postgres) and a bare baseline receiver (net/http, HMAC-SHA256 check, 204),
and drive both with distinct signed GitHub-style deliveries, alternating runs.
--durable-baseline adds a third target between them: the bare receiver that also
appends each delivery to a log and answers only after a flush holding it (group
commit, no database), to show what durability alone costs on this machine.
Reports per target throughput, p50/p99/max latency and errors, the ratio
gateway/baseline (median and min–max over the runs), the dispatch phase (ingest paced
at half the gateway's throughput, or at --dispatch-rate, over up to four times
--concurrency connections so that the pace sets the rate, while its dispatcher
delivers to a local HTTP sink: the rate ingested, queue depth, drain time,
end-to-end latency) and the process's peak RSS.

The timed ingest runs measure ingest alone: the dispatcher is stopped while they
run and started after each, and how fast it drains the queue they left is the
dispatch rate reported beside them (--concurrent-dispatch keeps it delivering
during the runs instead). Bodies are text shaped like a real payload, which the
store compresses about 2:1; --incompressible sends random text.

With --url it targets a running gateway instead (a github connection whose signing
secret is --secret); dispatch is not measured then.`,
		Example: `  hookgate bench
  hookgate bench --concurrency 256 --duration 5s --runs 3 --json
  hookgate bench --backend postgres --storage-url postgres://postgres@127.0.0.1:5432/test?sslmode=disable
  hookgate bench --url http://127.0.0.1:8080/webhooks/github/primary --secret "$GITHUB_WEBHOOK_SECRET"
  hookgate bench --seed-receipts 1000000 --storage-url sqlite://big.db   # fill a store, then serve it`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Progress = cmd.ErrOrStderr()
			if seed > 0 {
				if cfg.StorageURL == "" {
					return &exitError{2, fmt.Errorf("--seed-receipts needs --storage-url (sqlite://FILE or postgres://…)")}
				}
				return bench.Seed(cmd.Context(), bench.SeedConfig{StorageURL: cfg.StorageURL, Receipts: seed,
					Connections: 10, BodySize: cfg.BodySize, Progress: cmd.ErrOrStderr()})
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			rep, err := bench.Bench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printBench(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Concurrency, "concurrency", 64, "concurrent connections (closed loop)")
	f.IntVar(&cfg.BodySize, "body-size", 2048, "body size in bytes")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of each run")
	f.IntVar(&cfg.Runs, "runs", 5, "runs of each target (alternating baseline, gateway)")
	f.StringVar(&cfg.Backend, "backend", "sqlite", "storage of the in-process gateway: sqlite or postgres")
	f.StringVar(&cfg.StorageURL, "storage-url", os.Getenv("HOOKGATE_BENCH_STORAGE_URL"), "PostgreSQL database for --backend postgres (a schema is created in it and dropped)")
	f.StringVar(&cfg.URL, "url", "", "target a running gateway's connection URL instead of starting one")
	f.StringVar(&cfg.Secret, "secret", "", "signing secret of the --url connection (GitHub scheme)")
	f.DurationVar(&cfg.DispatchDuration, "dispatch-duration", time.Minute, "length of the dispatch phase: ingest at --dispatch-rate while the dispatcher delivers (negative skips it)")
	f.Float64Var(&cfg.DispatchRate, "dispatch-rate", 0, "pace of the dispatch phase in deliveries/s (default: half the gateway's measured throughput)")
	f.IntVar(&cfg.DispatchWorkers, "dispatch-workers", 0, "dispatch.workers of the in-process gateway (default: the configuration's default, 128)")
	f.BoolVar(&cfg.ConcurrentDispatch, "concurrent-dispatch", false, "keep the dispatcher delivering during the timed ingest runs")
	f.BoolVar(&cfg.DurableBaseline, "durable-baseline", false, "also measure the baseline receiver keeping each delivery in a log flushed before its answer (group commit, no database): what durability alone costs on this machine")
	f.BoolVar(&cfg.Incompressible, "incompressible", false, "random bodies, which storage cannot compress")
	f.BoolVar(&cfg.RetentionPrune, "retention-prune", false, "prune receipts past retention throughout (retention zero: every delivered receipt, every 100 ms), to measure ingest while pruning runs")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", 2*time.Minute, "how long to wait for the dispatch queue to empty after a gateway run")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.IntVar(&seed, "seed-receipts", 0, "instead of measuring, fill --storage-url with this many delivered receipts over 10 connections (for idle-memory and search measurements)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (gateway, baseline and load generator) to this file")
	return cmd
}

func printBench(w io.Writer, r *bench.Report) {
	mode := "ingest alone, the dispatcher stopped"
	if r.ConcurrentDispatch {
		mode = "the dispatcher delivering meanwhile"
	}
	fmt.Fprintf(w, "target %s: %d connections, %d-byte bodies, %d runs of %s each, %s (medians, min–max)\n\n",
		r.Target, r.Concurrency, r.BodySize, r.Runs, r.Duration, mode)
	fmt.Fprintf(w, "%-9s %26s %24s %24s %24s %7s\n", "", "throughput (req/s)", "p50 (ms)", "p99 (ms)", "max (ms)", "errors")
	row := func(name string, s bench.Summary) {
		fmt.Fprintf(w, "%-9s %26s %24s %24s %24s %7d\n", name, spreadString(s.Throughput, 0), spreadString(s.P50ms, 2),
			spreadString(s.P99ms, 2), spreadString(s.Maxms, 1), s.Errors)
	}
	row("baseline", r.BaselineSum)
	if r.DurableSum != nil {
		row("durable", *r.DurableSum)
	}
	row("gateway", r.GatewaySum)
	fmt.Fprintf(w, "\ngateway/baseline throughput: %s\n", spreadString(r.Ratio, 3))
	if r.DurableRatio != nil {
		fmt.Fprintf(w, "durable/baseline throughput: %s (what a flush before each answer costs, without a database)\n", spreadString(*r.DurableRatio, 3))
		fmt.Fprintf(w, "gateway/durable throughput:  %s\n", spreadString(*r.GatewayDurableRatio, 3))
	}
	fmt.Fprintf(w, "p99 bound 2×baseline+10ms:   %.2fms (gateway %.2fms)\n", 2*r.BaselineSum.P99ms.Median+10, r.GatewaySum.P99ms.Median)
	if r.DrainRate != nil {
		fmt.Fprintf(w, "dispatch alone (drain):      %s deliveries/s\n", spreadString(*r.DrainRate, 0))
	}
	if r.WritesPerCommit > 0 {
		fmt.Fprintf(w, "writes per commit (mean):    %.1f\n", r.WritesPerCommit)
	}
	if r.Compression > 0 {
		fmt.Fprintf(w, "bodies stored compressed:    %.2f:1\n", r.Compression)
	}
	if p := r.RetentionPrune; p != nil {
		fmt.Fprintf(w, "retention pruning:           %d receipts and %d expired keys deleted in %d passes\n", p.ReceiptsPruned, p.KeysPruned, p.Passes)
	}
	if d := r.Dispatch; d != nil {
		drained := fmt.Sprintf("drained %.2fs after the load stopped", d.DrainSeconds)
		if !d.Drained {
			drained = fmt.Sprintf("NOT drained %.0fs after the load stopped", d.DrainSeconds)
		}
		fmt.Fprintf(w, "dispatch paced at %.0f req/s, ingested %.0f req/s for %.1fs (ingest p50 %.1fms p99 %.1fms): %d ingested, %d delivered to the sink, max queue depth %d (by quarter of the phase %d/%d/%d/%d), %s, end-to-end p50 %.1fms p99 %.1fms\n",
			d.Rate, d.Achieved, d.Seconds, d.IngestP50ms, d.IngestP99ms, d.Ingested, d.Delivered, d.MaxDepth,
			d.DepthByQuarter[0], d.DepthByQuarter[1], d.DepthByQuarter[2], d.DepthByQuarter[3], drained, d.P50ms, d.P99ms)
		if d.Achieved < 0.95*d.Rate {
			fmt.Fprintf(w, "  the gateway ingested less than the pace asked for: it did not keep up with that rate\n")
		}
	}
	fmt.Fprintf(w, "peak RSS of this process:    %.1f MiB\n", float64(r.PeakRSSBytes)/(1<<20))
}

func spreadString(s bench.Spread, prec int) string {
	return fmt.Sprintf("%.*f (%.*f–%.*f)", prec, s.Median, prec, s.Min, prec, s.Max)
}
